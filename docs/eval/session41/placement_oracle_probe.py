"""Session 41 probe: how much F@2cm perfect placement of the completed points would give.

For the 7-Scenes dev windows of issue 6's protocol (validation only; stride 4), the
shipped published cloud (4,096 points, 6 steps) is scored by the protocol
(``frustum_metrics``, the same 16,384-point subsample and judged rule as ``nova3r eval``)
as published and with its completed points (every non-observed part) changed:

- ``shipped``: as published.
- ``snap5``: completed points within 5 cm of the (full) reference moved onto their nearest
  reference point; the rest kept where they are (perfect 2 cm placement of what is right
  to 5 cm today).
- ``snap5_drop``: as ``snap5``, and completed points farther than 5 cm dropped (perfect
  placement and perfect selection of today's completion).
- ``drop``: completed points farther than 2 cm from the reference dropped, the rest kept
  (perfect selection at 2 cm, no moving).
- ``observed``: the published cloud's observed part alone.
- ``without_<part>`` / ``filter2_<part>``: one part (planes, snapped, head) removed, or only
  its points farther than 2 cm from the reference removed.

What the rows bound: if even ``snap5_drop`` stays under ``observed_only`` + 0.03 at 2 cm,
placing today's completed points better cannot reach issue 11's F@2cm target: the
completion must also cover more.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session41/placement_oracle_probe.py
       <dev frames> VIEWS WINDOWS [DEVICE]
"""

import sys

import numpy as np
from completed_parts import PARTS, protocol_scores, shipped_windows
from scipy.spatial import cKDTree

from nova3r_ros.pipeline import ModelBackendConfig

VARIANTS = ("observed_only", "shipped", "observed", "drop", "snap5", "snap5_drop")
PART_VARIANTS = tuple(f"{how}_{part}" for part in PARTS[:3] for how in ("without", "filter2"))
KEYS = ("fscore@2cm", "precision@2cm", "recall@2cm", "fscore@5cm", "hidden_recall@5cm")


def variants(pts: np.ndarray, label: np.ndarray, ref_tree: cKDTree, ref: np.ndarray) -> dict:
    """Return the published points (world) changed as the module docstring says."""
    comp = label >= 0
    d, idx = ref_tree.query(pts)
    snapped = pts.copy()
    near5 = comp & (d < 0.05)
    snapped[near5] = ref[idx[near5]]
    out = {}
    for i, part in enumerate(PARTS[:3]):  # planes, snapped, head: one part removed / filtered
        out[f"without_{part}"] = pts[label != i]
        out[f"filter2_{part}"] = pts[(label != i) | (d < 0.02)]
    return out | {
        "shipped": pts,
        "observed": pts[~comp],
        "drop": pts[~comp | (d < 0.02)],
        "snap5": snapped,
        "snap5_drop": snapped[~comp | near5],
    }


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", device, 4096, 6)
    rows: dict[str, list[dict]] = {v: [] for v in VARIANTS + PART_VARIANTS}
    for w in shipped_windows(path, views, windows, backend, baseline=True):
        clouds = variants(w.pts, w.label, cKDTree(w.ref), w.ref)
        clouds["observed_only"] = w.observed_only
        for name, cloud in clouds.items():
            rows[name].append(protocol_scores(w, cloud))
    print(f"{views} view(s), {windows} windows: " + " ".join(KEYS))
    for name in VARIANTS + PART_VARIANTS:
        means = [np.nanmean([r[k] for r in rows[name]]) for k in KEYS]
        print(f"  {name:13s} " + " ".join(f"{m:.4f}" for m in means))


if __name__ == "__main__":
    main()
