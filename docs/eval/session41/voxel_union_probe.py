"""Session 41 probe: the voxel prototype's points added to the shipped published cloud.

For each window (VIEWS views, default 1), the shipped published cloud (4,096 points, 6
steps) and the prototype's completed points (``voxel_completion_probe.py``'s network; every
view's depth taken every ``step``-th pixel to about 160 x 120, placed by the known poses)
are scored by issue 6's protocol
(``frustum_metrics``): the shipped cloud, and the cloud with the prototype's points of
occupancy probability above each threshold added (``voxel_far``: only those farther
than ``FAR_M`` from every point of the shipped cloud, i.e. where they add a surface).
Rooms: validation seeds 1,500,000+ of ``benchmark_config(1, family="room")``; real: the
7-Scenes dev frames (validation only, stride 4).

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:docs/eval/session41 python
       docs/eval/session41/voxel_union_probe.py WEIGHTS (room:FIRST-LAST | 7scenes:DIR)
       [WINDOWS] [DEVICE] [VIEWS]
"""

import sys

import numpy as np
import torch
from safetensors.torch import load_file
from scipy.spatial import cKDTree
from voxel_completion_probe import VoxelNet, completed_points

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import DataSpec, sevenscenes_windows, synthetic_windows
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct
from nova3r_ros.synth.config import benchmark_config

THRESHOLDS = (0.5, 0.7, 0.85)
FAR_M = 0.05  # shipped+voxel_far: only the prototype's points farther than this from the cloud
KEYS = ("fscore@2cm", "fscore@5cm", "hidden_recall@5cm", "completed_precision@5cm",
        "unjudged")  # fmt: skip


def voxel_points(net, window, T_world_cam, device, thr: float) -> np.ndarray:
    """(N, 3) the prototype's completed points in view 0's optical frame (metres).

    Every view's depth, taken every ``step``-th pixel, placed by ``T_world_cam`` (V, 4, 4).
    """
    depth = np.stack([np.asarray(v.depth, np.float32) for v in window.views])
    step = max(1, round(depth.shape[2] / 160))
    d = torch.from_numpy(np.ascontiguousarray(depth[:, step // 2 :: step, step // 2 :: step]))
    K = torch.tensor(np.stack([np.asarray(v.K, np.float32) for v in window.views]))
    K[:, :2] /= step
    T = np.asarray(T_world_cam, np.float64)
    T_ref = torch.tensor(np.linalg.inv(T[0]) @ T, dtype=torch.float32)
    with torch.no_grad():
        pts = completed_points(net, d[None].to(device), K[None].to(device), thr,
                               T_ref[None].to(device))[0]  # fmt: skip
    return pts.cpu().numpy().astype(np.float64)


def main() -> None:
    """Command line (module docstring)."""
    weights, data = sys.argv[1], sys.argv[2]
    windows = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    views = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    net = VoxelNet()
    net.load_state_dict(load_file(weights))
    net = net.to(device).eval()
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", device, 4096, 6)
    if data.startswith("7scenes:"):
        items = sevenscenes_windows(data[8:], views, windows, 4, log=lambda s: None)
    else:
        first, last = (int(x) for x in data[5:].split("-"))
        items = synthetic_windows(DataSpec("synthetic", first, last),
                                  benchmark_config(views, family="room"))  # fmt: skip
    names = ["shipped"] + [
        f"{kind}@{t}" for kind in ("voxel", "shipped+voxel", "shipped+voxel_far")
        for t in THRESHOLDS
    ]  # fmt: skip
    rows = {n: [] for n in names}
    for window, gt, complete, frames in items:
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        rec = reconstruct(window, "model", backend)
        shipped = in_world(rec, gt)
        T = np.asarray(gt.T_world_cam[0], np.float64)
        taus = frustum.SYNTHETIC_THRESHOLDS_CM if complete else frustum.REAL_THRESHOLDS_CM
        judge = None if complete else frames

        def score(pts, name, _c=cams, _o=observed, _g=gt, _t=taus, _j=judge):
            rows[name].append(frustum.frustum_metrics(pts, _g.points, _c, _o, _t, _j))

        score(shipped, "shipped")
        for t in THRESHOLDS:
            vox = voxel_points(net, window, gt.T_world_cam, device, t) @ T[:3, :3].T + T[:3, 3]
            score(np.concatenate([observed, vox]), f"voxel@{t}")
            score(np.concatenate([shipped, vox]), f"shipped+voxel@{t}")
            far = cKDTree(shipped).query(vox)[0] > FAR_M if len(vox) else np.zeros(0, bool)
            score(np.concatenate([shipped, vox[far]]), f"shipped+voxel_far@{t}")
    print(f"{data} {views} view(s), {len(rows['shipped'])} windows: " + " ".join(KEYS))
    for name in names:
        print(f"  {name:20s} " + " ".join(f"{np.nanmean([r[k] for r in rows[name]]):.4f}"
                                          for k in KEYS))  # fmt: skip


if __name__ == "__main__":
    main()
