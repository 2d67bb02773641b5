"""Session 40 probe: the observed points on the window's large planes projected onto them.

Scores, by issue 6's protocol on the 7-Scenes dev frames (validation only; true poses,
stride 4, 1 cm cubes), the observed points fused as shipped (6 sigmas) against the same
points where those within TOL of one of the window's planes
(:func:`~nova3r_ros.model.plane_completion.find_planes`, its defaults but every plane
kept), with a surface normal within 30 degrees of the plane's, are moved onto it.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session40/plane_snap_probe.py
       <dev frames> VIEWS WINDOWS TOLS(m, comma-separated; 0 = not moved)
"""

import math
import sys

import numpy as np
import torch

from nova3r_ros.core.types import Reconstruction
from nova3r_ros.eval import baselines, scoring
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.model.measurement import sanitize
from nova3r_ros.model.observed_points import observed_cloud
from nova3r_ros.model.plane_completion import MAX_NORMAL_DEG, PlaneConfig, find_planes


def onto_planes(pts: torch.Tensor, normals: torch.Tensor, tol: float) -> torch.Tensor:
    """Return ``pts`` (M, 3) with each near-plane point moved onto its nearest plane."""
    if tol <= 0:
        return pts
    planes = find_planes(pts, PlaneConfig(max_oblique_deg=45.0))
    if not planes:
        return pts
    n = torch.stack([p[0].float() for p in planes])  # (P, 3)
    d = torch.tensor([p[1] for p in planes], dtype=torch.float32)
    s = pts @ n.T + d  # (M, P) signed distances
    ok = (s.abs() <= tol) & ((normals @ n.T).abs() >= math.cos(math.radians(MAX_NORMAL_DEG)))
    dist = torch.where(ok, s.abs(), torch.inf)
    best = dist.argmin(1)
    moved = ok.any(1)
    shift = s.gather(1, best[:, None])[:, 0]
    out = pts - shift[:, None] * n[best]
    return torch.where(moved[:, None], out, pts)


def main() -> None:
    """Print F@2cm, F@5cm, precision@2cm and recall@2cm per tolerance."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tols = [float(x) for x in sys.argv[4].split(",")]
    scores = {t: [] for t in tols}
    for window, gt, complete, frames in sevenscenes_windows(path, views, windows, 4,
                                                            log=lambda s: None):  # fmt: skip
        oracle = baselines.oracle_raw(window, gt)
        cameras = scoring.region_cameras(window, gt)
        poses = [np.asarray(T, float) for T in gt.T_world_cam]
        T_ref = [np.linalg.inv(poses[0]) @ T for T in poses]
        depth = sanitize(torch.as_tensor(np.stack([np.asarray(v.depth) for v in window.views]),
                                         dtype=torch.float32))  # fmt: skip
        K = torch.as_tensor(np.stack([np.asarray(k) for k in gt.K]), dtype=torch.float32)
        T = torch.as_tensor(np.stack(T_ref), dtype=torch.float32)
        images = torch.as_tensor(np.stack([np.asarray(v.image) for v in window.views]))
        pts, rgb, normals = observed_cloud(depth, K, T, images, 0.01, with_normals=True,
                                           fuse_sigmas=6.0)  # fmt: skip
        for t in tols:
            p = onto_planes(pts, normals, t).numpy()
            rec = Reconstruction(p, rgb.numpy(), np.ones(len(p), bool),
                                 np.ones(len(p), np.float32), T_ref,
                                 [np.asarray(k, float) for k in gt.K], "metric")  # fmt: skip
            scores[t].append(scoring.frustum_scores(rec, gt, cameras, oracle.points, complete,
                                                    frames))  # fmt: skip
    keys = ("fscore@2cm", "fscore@5cm", "precision@2cm", "recall@2cm")
    for t in tols:
        means = " ".join(f"{k}={np.nanmean([r[k] for r in scores[t]]):.4f}" for k in keys)
        print(views, windows, t, means, flush=True)


if __name__ == "__main__":
    main()
