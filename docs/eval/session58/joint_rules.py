"""Score rules that choose between the joint step's result and the poses before it.

Reads :mod:`joint_probe`'s JSON lines; for windows where the joint step was kept, a rule
sees the signals of ``final`` (``T+polish``, what the defaults publish) and ``alt``
(``P+polish``) and picks one. Prints RRA@15 / RTA@15 / AUC@30 pooled over the windows
(as ``nova3r eval`` averages them) per rule, and the windows it makes better / worse.

Usage: PYTHONPATH=. python docs/eval/session58/joint_rules.py FILE.jsonl [FILE ...]
"""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np

from nova3r_ros.eval import metrics


def _ratio_drop(f: dict, a: dict, least: int, ratio: float) -> bool:
    """Return whether some pair explaining ``least`` learned matches at alt keeps < ratio."""
    return any(k_a >= least and k_f < ratio * k_a
               for k_f, k_a in zip(f["learned"], a["learned"], strict=True))  # fmt: skip


def _product_gain(f: dict, a: dict) -> float:
    """Return alt's support over final's: the product of learned and SIFT ratios (+1 each)."""
    return ((sum(a["learned"]) + 1) / (sum(f["learned"]) + 1)
            * (sum(a["sift"]) + 1) / (sum(f["sift"]) + 1))  # fmt: skip


RULES = {
    "default": lambda f, a: False,
    "oracle": None,
    "more learned": lambda f, a: sum(a["learned"]) > sum(f["learned"]),
    "more learned+10%": lambda f, a: sum(a["learned"]) > 1.1 * sum(f["learned"]),
    "more sift": lambda f, a: sum(a["sift"]) > sum(f["sift"]),
    "lower loss": lambda f, a: a["loss"] < f["loss"] and a["loss_pairs"] >= f["loss_pairs"],
    "pair drop 20/0.5": lambda f, a: _ratio_drop(f, a, 20, 0.5),
    "pair drop 10/0.5": lambda f, a: _ratio_drop(f, a, 10, 0.5),
    "pair drop 20/0.7": lambda f, a: _ratio_drop(f, a, 20, 0.7),
    "pair drop 10/0.7": lambda f, a: _ratio_drop(f, a, 10, 0.7),
    "min pair learned": lambda f, a: min(a["learned"]) > min(f["learned"]),
    "learned x sift >= 1.05": lambda f, a: _product_gain(f, a) >= 1.05,
    "learned x sift >= 1.1 (shipped)": lambda f, a: _product_gain(f, a) >= 1.1,
    "learned x sift >= 1.2": lambda f, a: _product_gain(f, a) >= 1.2,
}


def _score(e: dict) -> dict:
    return metrics.pose_metrics_from_errors(np.array(e["rot"]), np.array(e["trans"]))


def main() -> None:
    """Print every rule's pooled numbers."""
    recs = []
    for path in sys.argv[1:]:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt") as f:
            recs += [json.loads(line) for line in f]
    print(f"{len(recs)} windows, joint kept in {sum(r['kept'] for r in recs)}")
    keys = ("rra@15", "rta@15", "auc@30")
    for name, rule in RULES.items():
        tot = np.zeros(3)
        better = worse = 0
        for r in recs:
            base = _score(r["final"])
            pick = base
            if r["kept"] and "learned" in r["final"]:
                alt = _score(r["alt"])
                if rule is None:
                    use = alt["rra@15"] + alt["auc@30"] > base["rra@15"] + base["auc@30"]
                else:
                    use = rule(r["final"], r["alt"])
                pick = alt if use else base
            better += pick["rra@15"] > base["rra@15"]
            worse += pick["rra@15"] < base["rra@15"]
            tot += [pick[k] for k in keys]
        m = tot / len(recs)
        print(f"{name:32s} {m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f}  better {better} worse {worse}")


if __name__ == "__main__":
    main()
