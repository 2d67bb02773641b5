"""Session 44 probe: how much F@2cm a cleaner observed part could give (real dev frames).

The shipped published cloud (4,096 points, 6 steps) of the 7-Scenes dev windows (issue 6's
protocol, stride 4; validation only) is scored by the protocol (``frustum_metrics``: the
16,384-point subsample and the judged rule of ``nova3r eval``) as published and with its
observed part changed by an oracle that knows the reference:

- ``obs_drop2``: observed points farther than 2 cm from the (full) reference dropped;
- ``obs_drop3``: the same at 3 cm;
- ``obs_snap``: observed points within 5 cm of the reference moved onto their nearest
  reference point (perfect denoising of the depth).

And with a rule the node could apply, observed points near a depth edge dropped:

- ``edge_K_S``: observed points within one ``spacing`` cube of a pixel whose depth differs
  from a neighbour within K pixels by more than S times its depth (flying pixels and the
  blurred sides of silhouettes).

If even ``obs_drop2`` adds little, no cleanup of the depth can close issue 11's F@2cm gap.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session44/observed_oracle_probe.py
       <dev frames> VIEWS WINDOWS
"""

import sys

import numpy as np
import torch
from completed_parts import protocol_scores, shipped_windows
from scipy.spatial import cKDTree

from nova3r_ros.pipeline import ModelBackendConfig

KEYS = ("fscore@2cm", "precision@2cm", "recall@2cm", "fscore@5cm", "hidden_recall@5cm")
EDGES = ((2, 0.03), (2, 0.06), (4, 0.06))


def edge_points(view, K: np.ndarray, gt_pose: np.ndarray, k: int, step: float) -> np.ndarray:
    """World points (N, 3) of the view's pixels within k px of a relative depth step > step."""
    d = torch.as_tensor(np.asarray(view.depth, np.float32))
    valid = d > 0
    big = torch.where(valid, d, torch.full_like(d, 1e3))[None, None]
    small = torch.where(valid, d, torch.zeros_like(d))[None, None]
    mx = torch.nn.functional.max_pool2d(small, 2 * k + 1, 1, k)[0, 0]
    mn = -torch.nn.functional.max_pool2d(-big, 2 * k + 1, 1, k)[0, 0]
    edge = valid & (((mx - d) > step * d) | ((d - mn) > step * d))
    v, u = torch.nonzero(edge, as_tuple=True)
    z = d[v, u].numpy().astype(np.float64)
    K = np.asarray(K, np.float64)
    x = (u.numpy() - K[0, 2]) * z / K[0, 0]
    y = (v.numpy() - K[1, 2]) * z / K[1, 1]
    pc = np.stack([x, y, z], 1)
    return pc @ gt_pose[:3, :3].T + gt_pose[:3, 3]


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", "cpu", 4096, 6)
    names = ["observed_only", "shipped", "obs_drop2", "obs_drop3", "obs_snap"]
    names += [f"edge_{k}_{s}" for k, s in EDGES]
    rows = {n: [] for n in names}
    shares = {n: [] for n in names}
    for w in shipped_windows(path, views, windows, backend, baseline=True):
        pts, obs, ref, gt = w.pts, w.label < 0, w.ref, w.gt
        d, idx = cKDTree(ref).query(pts)
        snapped = pts.copy()
        near = obs & (d < 0.05)
        snapped[near] = ref[idx[near]]
        clouds = {
            "shipped": pts,
            "obs_drop2": pts[~obs | (d < 0.02)],
            "obs_drop3": pts[~obs | (d < 0.03)],
            "obs_snap": snapped,
        }
        spacing = backend.output_spacing
        for k, s in EDGES:
            per_view = zip(w.window.views, gt.K, gt.T_world_cam, strict=True)
            e = np.concatenate([edge_points(v, Kv, np.asarray(p), k, s) for v, Kv, p in per_view])
            near_e = (
                cKDTree(e).query(pts, distance_upper_bound=spacing)[0] < spacing
                if len(e)
                else np.zeros(len(pts), bool)
            )
            clouds[f"edge_{k}_{s}"] = pts[~(obs & near_e)]
        clouds["observed_only"] = w.observed_only
        for name, cloud in clouds.items():
            rows[name].append(protocol_scores(w, cloud))
            shares[name].append(1 - len(cloud) / len(pts))
    print(f"{views} view(s), {windows} windows: " + " ".join(KEYS) + " dropped_share")
    for name in names:
        means = [np.nanmean([r[k] for r in rows[name]]) for k in KEYS]
        print(
            f"  {name:14s} "
            + " ".join(f"{m:.4f}" for m in means)
            + f" {np.mean(shares[name]):.3f}"
        )


if __name__ == "__main__":
    main()
