"""Probe (diagnosis only): whether a wrongly placed RGB-only pair is the truth's planar twin.

For each window (2 views, matcher on), the pair's E pose from the matches that stand for it
(the learned matcher's where they stand in, else SIFT's), a homography fitted to its
inliers and decomposed (``cv2.decomposeHomographyMat``, normalised coordinates), and per
solution with the points in front: its rotation error against the truth, the angle of its
plane normal to the decoded plane's (camera a) and to the true table's. Also the refined
pose's error, for reference.

Usage: OMP_NUM_THREADS=1 PYTHONPATH=. python docs/eval/session52/planar_twin_probe.py SEED...
"""

from __future__ import annotations

import json
import sys
from multiprocessing import Pool

import cv2
import numpy as np

from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.matcher_files import load_matcher
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
from nova3r_ros.model.pose_rgb_align import angle_deg, dominant_plane
from nova3r_ros.model.pose_rgb_epipolar import (
    explained,
    match,
    normalise,
    sift_features,
    supported_pair_pose,
)
from nova3r_ros.model.pose_rgb_learned import LearnedMatches
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

W: dict = {}


def _nangle(n1, n2):
    c = abs(float(n1 @ n2) / (np.linalg.norm(n1) * np.linalg.norm(n2)))
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def _init():
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    W["model"] = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    W["net"] = load_matcher(PACKAGED_CHECKPOINT, "cpu")[0]


def window(seed):
    """Return the record of one 2-view window (module docstring)."""
    cfg = RgbPoseConfig()
    win, gt = generate_window(seed, benchmark_config(2, family="tabletop", height=192,
                                                     width=256))  # fmt: skip
    inputs = strip_inputs(win, depth=True, poses=True)
    head = infer(W["model"], inputs, InferenceConfig(n_points=1024, steps=4, seed=0,
                                                      refine_poses=False))  # fmt: skip
    T, pts, K = np.stack(head.T_ref_cam), head.points.astype(np.float64), np.stack(head.K)
    images = [v.image for v in inputs.views]
    out = refine_rgb_views(T, images, K, pts, cfg, matcher=W["net"])
    G = [np.asarray(g) for g in gt.T_world_cam]
    true = np.linalg.inv(G[1]) @ G[0]
    est = np.linalg.inv(out.T_ref_cam[1]) @ out.T_ref_cam[0]
    T_head = np.linalg.inv(T[1]) @ T[0]
    n_dec = dominant_plane(pts)[0]  # view 0's frame = camera a
    n_true = G[0][:3, :3].T @ np.array([0.0, 0.0, 1.0])  # the table (world z up), camera a
    feats = [sift_features(im, cfg.max_width, cfg.min_width, cfg.n_features, cfg.contrast)
             for im in images]  # fmt: skip
    m = match(feats[0][1], feats[1][1], cfg.ratio)
    x_a, x_b = normalise(feats[0][0][m[:, 0]], K[0]), normalise(feats[1][0][m[:, 1]], K[1])
    thr = cfg.threshold_px / float(np.mean([K[0][0, 0], K[0][1, 1]]))
    pose = supported_pair_pose(x_a, x_b, T_head, thr, cfg)
    _, l_a, l_b, l_thr = LearnedMatches(W["net"], images, K)(0, 1)
    l_pose = supported_pair_pose(l_a, l_b, T_head, l_thr, cfg)
    k_l = 0 if l_pose is None else int(l_pose.inliers.sum())
    src = "sift"
    if k_l >= cfg.learned_min_inliers and (pose is None or k_l > pose.inliers.sum()):
        pose, x_a, x_b, thr, src = l_pose, l_a, l_b, l_thr, "learned"
    row = {"seed": seed, "refined_rot": angle_deg(est[:3, :3] @ true[:3, :3].T),
           "head_rot": angle_deg(T_head[:3, :3] @ true[:3, :3].T), "source": src,
           "decoded_vs_true_normal": _nangle(n_dec, n_true), "n_matches": len(x_a),
           "truth_explains": explained(true[:3, :3], true[:3, 3], x_a, x_b, thr)}  # fmt: skip
    if pose is None:
        return row
    inl = pose.inliers
    row.update(
        e_rot=angle_deg(pose.R @ true[:3, :3].T),
        e_inliers=int(inl.sum()),
        e_explains=explained(pose.R, pose.t, x_a, x_b, thr),
    )
    H, mask = cv2.findHomography(x_a[inl], x_b[inl], cv2.RANSAC, thr)
    if H is None:
        return row
    row["h_inlier_share"] = float(mask.mean())
    _, Rs, ts, ns = cv2.decomposeHomographyMat(H, np.eye(3))
    sols = []
    for R, t, n in zip(Rs, ts, ns, strict=True):
        n = n.ravel()
        front = float(((np.c_[x_a[inl], np.ones(inl.sum())] @ n) > 0).mean())
        sols.append({"rot": round(angle_deg(R @ true[:3, :3].T), 1),
                     "vs_e": round(angle_deg(R @ pose.R.T), 1),
                     "n_vs_decoded": round(_nangle(n, n_dec), 1),
                     "n_vs_true": round(_nangle(n, n_true), 1), "front": round(front, 2),
                     "explains": explained(R, t.ravel(), x_a, x_b, thr)})  # fmt: skip
    row["solutions"] = sols
    return row


if __name__ == "__main__":
    seeds = [int(s) for s in sys.argv[1:]]
    with Pool(2, _init) as pool:
        for r in pool.imap(window, seeds):
            print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                              for k, v in r.items()}), flush=True)  # fmt: skip
