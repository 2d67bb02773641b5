"""Session 41 probe: the head's points chosen by their probability of lying within 2 or 3 cm.

A head point's confidence is its existence probability times the probability that its
depth lies within ``hidden_head.DEPTH_TOLERANCE_M`` (5 cm, shipped) of the surface, from
the Laplace scale the head predicts. With a 2 or 3 cm tolerance the confidence ranks far
and uncertain points lower. This probe sets the module's tolerance (the head reads it at
call time) and scores the published cloud at several thresholds on the 7-Scenes dev
frames (validation only; issue 6's protocol, stride 4, 4,096 points, 6 steps): F@2cm,
hidden recall@5cm, completed precision@5cm; ``observed_only`` on the same windows.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session41/tolerance_probe.py
       <dev frames> VIEWS WINDOWS TOL:THRESHOLD [TOL:THRESHOLD ...]
"""

import sys
from dataclasses import replace

import numpy as np

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.model import hidden_head
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

KEYS = ("fscore@2cm", "hidden_recall@5cm", "completed_precision@5cm", "fscore@5cm", "unjudged")


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = [tuple(float(x) for x in s.split(":")) for s in sys.argv[4:]]
    base = ModelBackendConfig("nova3r_ros/model/checkpoints/base", "cpu", 4096, 6)
    names = ["observed_only"] + [f"tol{t:g}:{p:g}" for t, p in settings]
    rows = {n: [] for n in names}
    for window, gt, _, frames in sevenscenes_windows(path, views, windows, 4,
                                                     log=lambda s: None):  # fmt: skip
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points

        def score(backend, name, _w=window, _g=gt, _c=cams, _o=observed, _f=frames):
            pts = in_world(reconstruct(_w, "model", backend), _g)
            rows[name].append(
                frustum.frustum_metrics(pts, _g.points, _c, _o, frustum.REAL_THRESHOLDS_CM, _f)
            )

        score(replace(base, force_gate=True, fusion_sigmas=0.0), "observed_only")
        for (tol, p), name in zip(settings, names[1:], strict=True):
            hidden_head.DEPTH_TOLERANCE_M = tol
            score(replace(base, hidden_min_probability=p, hidden_single_view_min_probability=p),
                  name)  # fmt: skip
        hidden_head.DEPTH_TOLERANCE_M = 0.05
    print(f"{views} view(s), {windows} windows: " + " ".join(KEYS))
    for name in names:
        print(f"  {name:14s} " + " ".join(f"{np.nanmean([r[k] for r in rows[name]]):.4f}"
                                          for k in KEYS))  # fmt: skip


if __name__ == "__main__":
    main()
