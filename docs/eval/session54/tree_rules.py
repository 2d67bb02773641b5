import json, itertools, sys
import numpy as np
def ang(R): return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))
import gzip
rows = [json.loads(l) for l in (gzip.open if sys.argv[1].endswith(".gz") else open)(sys.argv[1], "rt")]
def trees(r, rule, max_deg=5.0):
    V = r["V"]; P = np.array(r["P"]) if r["P"] else np.array(r["final"]); anchor = r["anchor"] or r["anchor_final"]
    edges = {(a, b): (s, np.array(M)) for a, b, s, M in r["edges"]}
    both = {}
    for (a, b), (s, T) in edges.items():
        both.setdefault(b, []).append((a, T, s)); both.setdefault(a, []).append((b, np.linalg.inv(T), s))
    placed = {0} | {v for v in range(1, V) if anchor[v] >= 0}
    opts = {v: [o for o in both.get(v, []) if o[0] in placed] for v in range(1, V) if anchor[v] >= 0}
    views = sorted(opts)
    if not views: return P
    best = None
    for choice in itertools.product(*[opts[v] for v in views]):
        parent = dict(zip(views, choice))
        Q, depth = P.copy(), {0: 0}
        for _ in views:
            for v in views:
                if v not in depth and parent[v][0] in depth:
                    Q[v] = Q[parent[v][0]] @ np.linalg.inv(parent[v][1]); depth[v] = depth[parent[v][0]] + 1
        if len(depth) <= len(views): continue
        good = sum(ang((np.linalg.inv(Q[b]) @ Q[a])[:3, :3] @ T[:3, :3].T) <= max_deg for (a, b), (_, T) in edges.items())
        n_full = sum(parent[v][2] >= 1.0 for v in views)
        ssum = sum(parent[v][2] for v in views); smin = min(parent[v][2] for v in views)
        rot = sum(ang(parent[v][1][:3, :3]) for v in views)  # total rotation carried by the tree's edges
        dep = -sum(depth.values()); same = all(parent[v][0] == anchor[v] for v in views)
        if rule == "shipped": key = (good, n_full, dep, same, ssum)
        elif rule == "score": key = (good, n_full, ssum, dep, same)
        elif rule == "minscore": key = (good, n_full, smin, dep, same)
        elif rule == "rot": key = (good, n_full, -rot, dep, same)
        elif rule == "rot_only": key = (good, -rot, n_full, dep, same)
        elif rule == "score_first": key = (good, ssum, n_full, dep)
        if best is None or key > best[0]: best = key, Q
    return best[1]
def score(Q, G):
    V = len(G); e = []
    for a in range(V):
        for b in range(a + 1, V):
            est = np.linalg.inv(Q[b]) @ Q[a]; tru = np.linalg.inv(G[b]) @ G[a]
            e.append(ang(est[:3, :3] @ tru[:3, :3].T))
    return np.array(e)
for rule in ["shipped", "score", "minscore", "rot", "rot_only", "score_first"]:
    errs = []; bad = []
    for r in rows:
        G = [np.array(g) for g in r["G"]]
        e = score(trees(r, rule), G); errs.append(e)
        if (e > 15).any(): bad.append(r["seed"])
    E = np.concatenate(errs)
    print(f"{rule:12s} pre-joint RRA@15 {np.mean(E <= 15):.3f}  @5 {np.mean(E <= 5):.3f} windows bad {len(bad)}")
E = np.concatenate([score([np.array(x) for x in r["final"]], [np.array(g) for g in r["G"]]) for r in rows])
print("final (after joint)", f"{np.mean(E <= 15):.3f}", f"{np.mean(E <= 5):.3f}")
# oracle: the tree with the fewest pairs past 15 degrees
def oracle(r):
    V = r["V"]; P = np.array(r["P"]) if r["P"] else np.array(r["final"]); anchor = r["anchor"] or r["anchor_final"]
    G = [np.array(g) for g in r["G"]]
    edges = {(a, b): (s, np.array(M)) for a, b, s, M in r["edges"]}
    both = {}
    for (a, b), (s, T) in edges.items():
        both.setdefault(b, []).append((a, T, s)); both.setdefault(a, []).append((b, np.linalg.inv(T), s))
    placed = {0} | {v for v in range(1, V) if anchor[v] >= 0}
    opts = {v: [o for o in both.get(v, []) if o[0] in placed] for v in range(1, V) if anchor[v] >= 0}
    views = sorted(opts); best = None
    if not views: return P
    for choice in itertools.product(*[opts[v] for v in views]):
        parent = dict(zip(views, choice)); Q, depth = P.copy(), {0: 0}
        for _ in views:
            for v in views:
                if v not in depth and parent[v][0] in depth:
                    Q[v] = Q[parent[v][0]] @ np.linalg.inv(parent[v][1]); depth[v] = depth[parent[v][0]] + 1
        if len(depth) <= len(views): continue
        k = (score(Q, G) <= 15).sum()
        if best is None or k > best[0]: best = k, Q
    return best[1]
E = np.concatenate([score(oracle(r), [np.array(g) for g in r["G"]]) for r in rows])
print("oracle tree pre-joint", f"{np.mean(E <= 15):.3f}")
# how many bad final windows have a view with no edge at all
nod = sum(1 for r in rows if any(a < 0 for a in (r["anchor"] or r["anchor_final"])))
print("windows with an unplaced view", nod, "of", len(rows))
