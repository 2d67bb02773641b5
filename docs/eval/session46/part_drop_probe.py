"""Session 46 probe: F@2cm with the least precise parts of the completion left out.

``scripts/completed_parts.py`` (1 view) finds the plane points that project into a depth
hole of every view right to 2 cm for 0.26 of them, the hidden-surface head's own points
(not snapped onto a plane) for about 0.3, the rest for about 0.58. This drops those parts
from the shipped cloud of each dev window and scores it by the protocol beside the
shipped cloud and ``observed_only``.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session46/part_drop_probe.py
       <dev frames> VIEWS WINDOWS
"""

import sys

import numpy as np
from completed_parts import in_holes, protocol_scores, shipped_windows

from nova3r_ros.pipeline import ModelBackendConfig

KEYS = ("fscore@2cm", "fscore@5cm", "hidden_recall@5cm", "completed_precision@5cm", "unjudged")
CKPT = "nova3r_ros/model/checkpoints/base"


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    backend = ModelBackendConfig(CKPT, "cpu", 4096, 6)
    names = ("observed_only", "shipped", "no_planes_in_holes", "no_head_own", "neither")
    rows = {n: [] for n in names}
    for w in shipped_windows(path, views, windows, backend, baseline=True):
        pts, label = w.pts, w.label
        hole_planes = (label == 0) & in_holes(pts, w.window, w.cams)
        head_own = label == 2
        clouds = {"observed_only": w.observed_only, "shipped": pts,
                  "no_planes_in_holes": pts[~hole_planes], "no_head_own": pts[~head_own],
                  "neither": pts[~(hole_planes | head_own)]}  # fmt: skip
        for name, cloud in clouds.items():
            rows[name].append(protocol_scores(w, cloud))
    print(f"{views} view(s), {windows} windows: " + " ".join(KEYS))
    for name in names:
        means = [np.nanmean([r[k] for r in rows[name]]) for k in KEYS]
        print(f"  {name:20s} " + " ".join(f"{m:.4f}" for m in means))


if __name__ == "__main__":
    main()
