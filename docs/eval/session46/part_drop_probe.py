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
from completed_parts import in_holes, part_labels

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

REAL_CM = frustum.REAL_THRESHOLDS_CM
KEYS = ("fscore@2cm", "fscore@5cm", "hidden_recall@5cm", "completed_precision@5cm", "unjudged")
CKPT = "nova3r_ros/model/checkpoints/base"


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    backend = ModelBackendConfig(CKPT, "cpu", 4096, 6)
    gated = ModelBackendConfig(CKPT, "cpu", 4096, 6, force_gate=True, fusion_sigmas=0.0)
    names = ("observed_only", "shipped", "no_planes_in_holes", "no_head_own", "neither")
    rows = {n: [] for n in names}
    for window, gt, _, frames in sevenscenes_windows(path, views, windows, 4,
                                                     log=lambda s: None):  # fmt: skip
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        label = part_labels(rec.stats, len(pts))
        hole_planes = (label == 0) & in_holes(pts, window, cams)
        head_own = label == 2
        clouds = {"observed_only": in_world(reconstruct(window, "model", gated), gt),
                  "shipped": pts, "no_planes_in_holes": pts[~hole_planes],
                  "no_head_own": pts[~head_own],
                  "neither": pts[~(hole_planes | head_own)]}  # fmt: skip
        ref = np.asarray(gt.points, np.float64)
        for name, cloud in clouds.items():
            rows[name].append(frustum.frustum_metrics(cloud, ref, cams, observed, REAL_CM, frames))
    print(f"{views} view(s), {windows} windows: " + " ".join(KEYS))
    for name in names:
        means = [np.nanmean([r[k] for r in rows[name]]) for k in KEYS]
        print(f"  {name:20s} " + " ".join(f"{m:.4f}" for m in means))


if __name__ == "__main__":
    main()
