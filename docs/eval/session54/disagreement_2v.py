"""2-view windows: the placement's disagreement with the head's guess against its error.

Input: ``pairs_dump.py``'s JSON lines of 2-view windows. Usage: python disagreement_2v.py F
"""

import gzip
import json
import sys

import numpy as np


def ang(R):
    """Return a rotation matrix's angle in degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


rows = [
    json.loads(line)
    for line in (gzip.open if sys.argv[1].endswith(".gz") else open)(sys.argv[1], "rt")
]
X = []
for r in rows:
    G = [np.array(g) for g in r["G"]]
    H = [np.array(h) for h in r["head"]]
    F = [np.array(f) for f in r["final"]]
    tru = np.linalg.inv(G[1]) @ G[0]
    h = np.linalg.inv(H[1]) @ H[0]
    f = np.linalg.inv(F[1]) @ F[0]
    X.append(
        (
            r["seed"],
            ang(h[:3, :3] @ tru[:3, :3].T),
            ang(f[:3, :3] @ tru[:3, :3].T),
            ang(f[:3, :3] @ h[:3, :3].T),
            r["ok"][1],
            ang(tru[:3, :3]),
        )
    )
X = np.array(X)
print(
    "windows",
    len(X),
    "final RRA@15",
    np.mean(X[:, 2] <= 15),
    "head RRA@15",
    np.mean(X[:, 1] <= 15),
)
for lo, hi in [(0, 10), (10, 15), (15, 20), (20, 25), (25, 30), (30, 40), (40, 180)]:
    m = (X[:, 3] >= lo) & (X[:, 3] < hi) & (X[:, 4] > 0)
    print(
        f"placed, disagree {lo}-{hi}: {m.sum():3d} windows, right {np.sum(X[m, 2] <= 15):3d},"
        f" wrong {np.sum(X[m, 2] > 15):3d}; head right among them {np.sum(X[m, 1] <= 15)}"
    )
