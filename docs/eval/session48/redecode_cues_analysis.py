"""Analyse ``redecode_cues_probe.py`` records: each candidate pose and selection rules.

Prints RRA@15 / RTA@15 / AUC@30 over all view pairs (as ``nova3r eval`` pools them) for
the head's guess T0, the shipped refinement T1, the ``rgb_redecode`` option T2, a third
decode T3, the head's guess decoded and refined TH, the camera head's output given T2,
the better of T2 / TH by the truth (an oracle, the ceiling of any choice), and rules that
choose between T2 and TH from what the node has (checks, stability, agreement).

Usage: python docs/eval/session48/redecode_cues_analysis.py FILE.jsonl [...]
"""

from __future__ import annotations

import json
import sys

import numpy as np


def score(pairs: list[tuple[float, float]]) -> str:
    """'RRA@15 / RTA@15 / AUC@30' of (rotation, translation-direction) errors in degrees."""
    r, t = np.array(pairs).T
    worst = np.maximum(r, t)
    hist, _ = np.histogram(worst, bins=np.arange(31))
    auc = np.mean(np.cumsum(hist) / worst.size)
    return f"{np.mean(r < 15):.3f} / {np.mean(t < 15):.3f} / {auc:.3f}"


def pairs_of(err: dict) -> list[tuple[float, float]]:
    """Return the (rotation, translation) error pairs of one pose's record."""
    return list(zip(err["rot"], err["trans"], strict=True))


def worst(err: dict) -> float:
    """Return the window's largest pairwise error (degrees)."""
    return max(max(err["rot"]), max(err["trans"]))


def mean_conf(checks: dict) -> float:
    """Mean confidence of views 1.. (view 0 is always 1)."""
    return float(np.mean(checks["confidence"][1:]))


RULES = {
    "T2 (rgb_redecode)": lambda r: "T2",
    "TH if its confidence is higher": lambda r: "TH"
    if mean_conf(r["checks"]["TH"]) > mean_conf(r["checks"]["T2"]) else "T2",
    "TH if T2 moves > 5 deg in a third decode": lambda r: "TH"
    if worst(r["diff"]["T2T3"]) > 5 else "T2",
    "TH if T2 fails a check": lambda r: "TH"
    if not all(r["checks"]["T2"]["ok"]) and all(r["checks"]["TH"]["ok"]) else "T2",
    "TH if its head-given drift is smaller": lambda r: "TH"
    if worst(r["head_given"]["TH"]) < worst(r["head_given"]["T2"]) else "T2",
}  # fmt: skip


def main() -> int:
    """Print the table for the files given."""
    recs = []
    for path in sys.argv[1:]:
        with open(path) as f:
            recs += [json.loads(line) for line in f]
    if not recs:
        print("error: no records", file=sys.stderr)
        return 2
    print(f"# {len(recs)} windows, {recs[0]['views']} views")
    print("| pose | RRA@15 / RTA@15 / AUC@30 |\n|---|---|")
    for k in ("T0", "T1", "T2", "T3", "TH"):
        print(f"| {k} | {score([p for r in recs for p in pairs_of(r['err'][k])])} |")
    hg = [p for r in recs for p in pairs_of(r["head_given_err"]["T2"])]
    print(f"| camera head given T2 | {score(hg)} |")
    best = [p for r in recs for p in pairs_of(min((r["err"]["T2"], r["err"]["TH"]), key=worst))]
    print(f"| better of T2 / TH (oracle) | {score(best)} |")
    for name, rule in RULES.items():
        chosen = [p for r in recs for p in pairs_of(r["err"][rule(r)])]
        print(f"| rule: {name} | {score(chosen)} |")
    # how the cues separate right from wrong T2 (worst pair error > 15 degrees)
    print("\n| cue (median) | T2 right | T2 wrong |\n|---|---|---|")
    right = [r for r in recs if worst(r["err"]["T2"]) <= 15]
    wrong = [r for r in recs if worst(r["err"]["T2"]) > 15]
    cues = {
        "T2 -> T3 movement (deg)": lambda r: worst(r["diff"]["T2T3"]),
        "T1 -> T2 movement (deg)": lambda r: worst(r["diff"]["T1T2"]),
        "T2 vs TH (deg)": lambda r: worst(r["diff"]["T2TH"]),
        "head given T2: drift (deg)": lambda r: worst(r["head_given"]["T2"]),
        "T2 confidence": lambda r: mean_conf(r["checks"]["T2"]),
    }
    for name, cue in cues.items():
        a = np.median([cue(r) for r in right]) if right else float("nan")
        b = np.median([cue(r) for r in wrong]) if wrong else float("nan")
        print(f"| {name} | {a:.2f} | {b:.2f} |")
    print(f"\n{len(right)} right, {len(wrong)} wrong (worst pair > 15 degrees)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
