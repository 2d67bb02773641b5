"""Session 39 probe: the observed points alone, fused at several tolerances, on 7-Scenes.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session39/fusion_dev_probe.py
       <dev frames> VIEWS SIGMAS(comma-separated) WINDOWS
Scores :func:`observed_cloud` with ``fuse_sigmas`` (true poses, 1 cm cubes) by issue 6's
protocol (``--stride 4``), as ``nova3r eval``'s ``observed_fused`` would.
"""

import sys

import numpy as np
import torch

from nova3r_ros.core.types import Reconstruction
from nova3r_ros.eval import baselines, scoring
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.model.measurement import sanitize
from nova3r_ros.model.observed_points import observed_cloud


def reconstruction(window, gt, sigmas: float) -> Reconstruction:
    """Return the window's observed points fused at ``sigmas`` (0 = each view's depth as it is)."""
    poses = [np.asarray(T, float) for T in gt.T_world_cam]
    T_ref = [np.linalg.inv(poses[0]) @ T for T in poses]
    stack = np.stack([np.asarray(v.depth) for v in window.views])
    depth = sanitize(torch.as_tensor(stack, dtype=torch.float32))
    K = torch.as_tensor(np.stack([np.asarray(k) for k in gt.K]), dtype=torch.float32)
    T = torch.as_tensor(np.stack(T_ref), dtype=torch.float32)
    images = torch.as_tensor(np.stack([np.asarray(v.image) for v in window.views]))
    pts, rgb = observed_cloud(depth, K, T, images, 0.01, fuse_sigmas=sigmas)
    n = len(pts)
    return Reconstruction(pts.numpy(), rgb.numpy(), np.ones(n, bool), np.ones(n, np.float32),
                          T_ref, [np.asarray(k, float) for k in gt.K], "metric")  # fmt: skip


def main() -> None:
    """Print F@2cm, F@5cm, precision@2cm and recall@2cm per tolerance."""
    path, views = sys.argv[1], int(sys.argv[2])
    settings = [float(x) for x in sys.argv[3].split(",")]
    windows = int(sys.argv[4])
    scores = {s: [] for s in settings}
    for window, gt, complete, frames in sevenscenes_windows(path, views, windows, 4,
                                                            log=lambda s: None):  # fmt: skip
        oracle = baselines.oracle_raw(window, gt)
        cameras = scoring.region_cameras(window, gt)
        for s in settings:
            rec = reconstruction(window, gt, s)
            scores[s].append(scoring.frustum_scores(rec, gt, cameras, oracle.points, complete,
                                                    frames))  # fmt: skip
    keys = ("fscore@2cm", "fscore@5cm", "precision@2cm", "recall@2cm")
    for s in settings:
        means = " ".join(f"{k}={np.nanmean([r[k] for r in scores[s]]):.4f}" for k in keys)
        print(views, windows, s, means, flush=True)


if __name__ == "__main__":
    main()
