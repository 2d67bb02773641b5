"""Replay the consistency tree's choice offline over recorded view pairs (4-view windows).

Input: ``pairs_dump.py``'s JSON lines (gzip or not). Prints RRA@15 / RRA@5 before the joint
step for the shipped order of tie-breaks and alternatives, the refinement's final RRA, the
best possible tree (oracle), and with ``--failures`` each failing window's category.
Usage: python tree_rules.py PAIRS.jsonl[.gz] [--failures]
"""

import gzip
import itertools
import json
import sys

import numpy as np


def ang(R):
    """Return a rotation matrix's angle in degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


def load(path):
    """Return the recorded windows of ``path``."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rt") as f:
        return [json.loads(line) for line in f]


def spanning_trees(r):
    """Yield (parent, poses, depth) of every tree from view 0 through the recorded pairs.

    ``parent``: view -> (other view, T_view_other, score); no tree where no view was placed.
    """
    V = r["V"]
    P = np.array(r["P"]) if r["P"] else np.array(r["final"])
    anchor = r["anchor"] or r["anchor_final"]
    both = {}
    for a, b, s, M in r["edges"]:
        T = np.array(M)
        both.setdefault(b, []).append((a, T, s))
        both.setdefault(a, []).append((b, np.linalg.inv(T), s))
    placed = {0} | {v for v in range(1, V) if anchor[v] >= 0}
    opts = {
        v: [o for o in both.get(v, []) if o[0] in placed] for v in range(1, V) if anchor[v] >= 0
    }
    views = sorted(opts)
    for choice in itertools.product(*[opts[v] for v in views]) if views else []:
        parent = dict(zip(views, choice, strict=True))
        Q, depth = P.copy(), {0: 0}
        for _ in views:
            for v in views:
                if v not in depth and parent[v][0] in depth:
                    Q[v] = Q[parent[v][0]] @ np.linalg.inv(parent[v][1])
                    depth[v] = depth[parent[v][0]] + 1
        if len(depth) > len(views):  # else a cycle
            yield parent, Q, depth


def start_poses(r):
    """Return the poses before the tree step (the final ones where none was recorded)."""
    return np.array(r["P"]) if r["P"] else np.array(r["final"])


def trees(r, rule, max_deg=5.0):
    """Return the poses placed along the tree ``rule`` prefers (shipped: the package's)."""
    anchor = r["anchor"] or r["anchor_final"]
    edges = {(a, b): (s, np.array(M)) for a, b, s, M in r["edges"]}
    best = None
    for parent, Q, depth in spanning_trees(r):
        views = sorted(parent)
        good = sum(
            ang((np.linalg.inv(Q[b]) @ Q[a])[:3, :3] @ T[:3, :3].T) <= max_deg
            for (a, b), (_, T) in edges.items()
        )
        n_full = sum(parent[v][2] >= 1.0 for v in views)
        ssum = sum(parent[v][2] for v in views)
        smin = min(parent[v][2] for v in views)
        rot = sum(ang(parent[v][1][:3, :3]) for v in views)  # rotation the tree's edges carry
        dep = -sum(depth.values())
        same = all(parent[v][0] == anchor[v] for v in views)
        if rule == "shipped":
            key = (good, n_full, dep, same, ssum)
        elif rule == "score":
            key = (good, n_full, ssum, dep, same)
        elif rule == "minscore":
            key = (good, n_full, smin, dep, same)
        elif rule == "rot":
            key = (good, n_full, -rot, dep, same)
        elif rule == "rot_only":
            key = (good, -rot, n_full, dep, same)
        elif rule == "score_first":
            key = (good, ssum, n_full, dep)
        if best is None or key > best[0]:
            best = key, Q
    return start_poses(r) if best is None else best[1]


def score(Q, G):
    """Return every view pair's rotation error (deg) of poses Q against the truth G."""
    V = len(G)
    e = []
    for a in range(V):
        for b in range(a + 1, V):
            est = np.linalg.inv(Q[b]) @ Q[a]
            tru = np.linalg.inv(G[b]) @ G[a]
            e.append(ang(est[:3, :3] @ tru[:3, :3].T))
    return np.array(e)


def oracle(r):
    """Return the poses of the tree with the most pairs within 15 degrees of the truth."""
    G = [np.array(g) for g in r["G"]]
    best = None
    for _, Q, _ in spanning_trees(r):
        k = (score(Q, G) <= 15).sum()
        if best is None or k > best[0]:
            best = k, Q
    return start_poses(r) if best is None else best[1]


def summary(rows):
    """Print the rules' RRA before the joint step, the final and the oracle's."""
    for rule in ["shipped", "score", "minscore", "rot", "rot_only", "score_first"]:
        errs = []
        bad = []
        for r in rows:
            G = [np.array(g) for g in r["G"]]
            e = score(trees(r, rule), G)
            errs.append(e)
            if (e > 15).any():
                bad.append(r["seed"])
        E = np.concatenate(errs)
        print(
            f"{rule:12s} pre-joint RRA@15 {np.mean(E <= 15):.3f}  @5 {np.mean(E <= 5):.3f}"
            f" windows bad {len(bad)}"
        )
    E = np.concatenate(
        [score([np.array(x) for x in r["final"]], [np.array(g) for g in r["G"]]) for r in rows]
    )
    print("final (after joint)", f"{np.mean(E <= 15):.3f}", f"{np.mean(E <= 5):.3f}")
    E = np.concatenate([score(oracle(r), [np.array(g) for g in r["G"]]) for r in rows])
    print("oracle tree pre-joint", f"{np.mean(E <= 15):.3f}")
    # how many bad final windows have a view with no edge at all
    nod = sum(1 for r in rows if any(a < 0 for a in (r["anchor"] or r["anchor_final"])))
    print("windows with an unplaced view", nod, "of", len(rows))


def failures(rows):
    """Print each window with a pair past 15 degrees and its category, then the counts."""
    cats = {}
    for r in rows:
        G = [np.array(g) for g in r["G"]]
        fe = score([np.array(x) for x in r["final"]], G)
        if (fe <= 15).all():
            continue
        anchor = r["anchor"] or r["anchor_final"]
        unpl = [v for v in range(r["V"]) if anchor[v] < 0]
        sh = score(trees(r, "shipped"), G)
        orc = score(oracle(r), G)
        edges = {
            (a, b): (
                round(s, 2),
                round(ang(np.array(M)[:3, :3] @ (np.linalg.inv(G[b]) @ G[a])[:3, :3].T), 1),
            )
            for a, b, s, M in r["edges"]
        }
        c = (
            "unplaced"
            if unpl
            else (
                "tree"
                if (orc <= 15).sum() > (sh <= 15).sum()
                else ("joint_broke" if (sh <= 15).sum() > (fe <= 15).sum() else "no_right_tree")
            )
        )
        cats.setdefault(c, []).append(r["seed"])
        print(
            r["seed"],
            c,
            "unplaced",
            unpl,
            "final",
            np.round(fe, 1).tolist(),
            "shipped",
            np.round(sh, 1).tolist(),
            "oracle",
            np.round(orc, 1).tolist(),
            "edges",
            edges,
        )
    print({k: len(v) for k, v in cats.items()})


if __name__ == "__main__":
    recorded = load(sys.argv[1])
    failures(recorded) if "--failures" in sys.argv else summary(recorded)
