"""Session 46 probe: the voxel head's occupancy as a filter of the other completed points.

Issue 11's F@2cm target on the real dev frames is not met, and an oracle that drops the
published cloud's completed points more than 2 cm from the reference would meet it
(README). This probe asks whether the voxel completion head's cell occupancy tells those
points apart: for every completed point of the shipped cloud (planes, the hidden-surface
head, sides; no voxel points) it looks up the head's occupancy probability of the 10 cm
cell the point lies in (``own``) and the largest over that cell's 3 x 3 x 3 neighbourhood
(``near``), then drops the completed points under a threshold and scores the cloud by the
protocol (``frustum_metrics``: 16,384-point subsample, judged rule), beside the shipped
cloud, ``observed_only`` and two oracles (completed points more than 2 / 5 cm from the
reference dropped).

Frames: the head's grid is built as the pipeline builds it (view 0's optical frame
levelled by view 0's support plane), from the window's full-size depth and the
reconstruction's poses and intrinsics; points are looked up in the reference frame.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session46/voxel_filter_probe.py
       <dev frames> VIEWS WINDOWS HEAD_DIR [--data-kind 7scenes|rooms]
"""

import argparse

import numpy as np
import torch
from completed_parts import part_labels

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.model.gravity import window_down
from nova3r_ros.model.voxel_completion import (
    crop_box,
    grid_inputs,
    grid_poses,
    grid_rotation,
    subsampled,
)
from nova3r_ros.model.voxel_files import load_voxel_head
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

REAL_CM = frustum.REAL_THRESHOLDS_CM
KEYS = ("fscore@2cm", "fscore@5cm", "precision@2cm", "hidden_recall@5cm",
        "completed_precision@5cm", "unjudged")  # fmt: skip
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)
CKPT = "nova3r_ros/model/checkpoints/base"


@torch.no_grad()
def cell_probabilities(head, depth, K, T_ref_cam, points_ref):
    """(N,) own-cell and (N,) 3x3x3-max occupancy for reference-frame points (N, 3).

    ``depth`` (V, H, W) full size, ``K`` (V, 3, 3), ``T_ref_cam`` (V, 4, 4). Points outside
    the network's crop get probability 0.
    """
    cfg = head.config
    down = window_down(depth, K)
    d, Ks = subsampled(depth.float(), K, cfg.input_width)
    T_grid = grid_poses(T_ref_cam, down)
    x = grid_inputs(d[None], Ks[None], T_grid[None], cfg)[0]
    box = crop_box(x, cfg)
    logit, _ = head(x[(slice(None), *box)][None])
    prob = torch.sigmoid(logit[0].float())
    near = torch.nn.functional.max_pool3d(prob[None, None], 3, 1, 1)[0, 0]
    R = grid_rotation(down)
    p_grid = points_ref.float() @ R.T  # pts_ref = pts_grid @ R
    start = torch.tensor([s.start for s in box], dtype=torch.float32)
    idx = torch.floor((p_grid - torch.tensor(cfg.lower_m)) / cfg.cell_m - start).long()
    dims = torch.tensor(prob.shape)
    inside = ((idx >= 0) & (idx < dims)).all(1)
    i = idx.clamp(torch.zeros(3, dtype=torch.long), dims - 1)
    own = torch.where(inside, prob[i[:, 0], i[:, 1], i[:, 2]], 0.0)
    nb = torch.where(inside, near[i[:, 0], i[:, 1], i[:, 2]], 0.0)
    return own.numpy(), nb.numpy()


def main() -> None:
    """Command line (module docstring)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("views", type=int)
    ap.add_argument("windows", type=int)
    ap.add_argument("head")
    args = ap.parse_args()
    head = load_voxel_head(args.head, "cpu").eval()
    backend = ModelBackendConfig(CKPT, "cpu", 4096, 6)
    gated = ModelBackendConfig(CKPT, "cpu", 4096, 6, force_gate=True, fusion_sigmas=0.0)
    names = ["observed_only", "shipped", "oracle_2cm", "oracle_5cm"]
    names += [f"{kind}_{t}" for kind in ("own", "near") for t in THRESHOLDS]
    rows = {n: [] for n in names}
    dropped = {n: [] for n in names}
    for window, gt, _, frames in sevenscenes_windows(args.data, args.views, args.windows, 4,
                                                     log=lambda s: None):  # fmt: skip
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        comp = part_labels(rec.stats, len(pts)) >= 0
        depth = torch.stack([torch.as_tensor(np.asarray(v.depth), dtype=torch.float32)
                             for v in window.views])  # fmt: skip
        K = torch.as_tensor(np.stack(rec.K), dtype=torch.float32)
        T = torch.as_tensor(np.stack(rec.T_ref_cam), dtype=torch.float32)
        own, near = cell_probabilities(head, depth, K, T, torch.as_tensor(rec.points))
        ref = np.asarray(gt.points, np.float64)
        err = nn_distances(pts, ref)
        clouds = {"shipped": pts,
                  "observed_only": in_world(reconstruct(window, "model", gated), gt),
                  "oracle_2cm": pts[~(comp & (err > 0.02))],
                  "oracle_5cm": pts[~(comp & (err > 0.05))]}  # fmt: skip
        for t in THRESHOLDS:
            clouds[f"own_{t}"] = pts[~(comp & (own < t))]
            clouds[f"near_{t}"] = pts[~(comp & (near < t))]
        for name, cloud in clouds.items():
            rows[name].append(frustum.frustum_metrics(cloud, ref, cams, observed, REAL_CM, frames))
            dropped[name].append(1 - len(cloud) / len(pts))
        c = comp.nonzero()[0]
        print(f"  window: completed {len(c)}, right@2cm {np.mean(err[c] <= 0.02):.3f}; "
              f"own prob right@2 {np.mean(own[c][err[c] <= 0.02]):.3f} "
              f"wrong>5 {np.mean(own[c][err[c] > 0.05]):.3f}", flush=True)  # fmt: skip
    print(f"{args.views} view(s), {args.windows} windows: " + " ".join(KEYS) + " dropped_share")
    for name in names:
        means = [np.nanmean([r[k] for r in rows[name]]) for k in KEYS]
        print(f"  {name:14s} " + " ".join(f"{m:.4f}" for m in means)
              + f" {np.mean(dropped[name]):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
