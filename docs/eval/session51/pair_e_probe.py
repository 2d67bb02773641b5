"""Probe (diagnosis only): refined pairs against their essential matrices and matches.

In RGB-only windows, how far each placed pair's refined rotation is from the truth,
against the rotation of the pair's essential matrix from SIFT's and from the learned
matcher's matches (the same head prior and thresholds), and how many of each pair's
matches the refined and the true poses explain.

Usage: OMP_NUM_THREADS=1 PYTHONPATH=. python docs/eval/session51/pair_e_probe.py FIRST LAST V
"""

from __future__ import annotations

import itertools
import json
import sys
from multiprocessing import Pool

import numpy as np

from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.matcher_files import load_matcher
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
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


def _angle(R):
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


def _tdir(t_est, t_true):
    c = t_est @ t_true / (np.linalg.norm(t_est) * np.linalg.norm(t_true) + 1e-12)
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def _init():
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    W["model"] = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    W["net"] = load_matcher(PACKAGED_CHECKPOINT, "cpu")[0]


def window(task):
    """Return one record per view pair of the window ``task`` = (seed, views)."""
    seed, V = task
    cfg = RgbPoseConfig()
    window, gt = generate_window(seed, benchmark_config(V, family="tabletop", height=192,
                                                        width=256))  # fmt: skip
    inputs = strip_inputs(window, depth=True, poses=True)
    head = infer(W["model"], inputs, InferenceConfig(n_points=1024, steps=4, seed=0,
                                                      refine_poses=False))  # fmt: skip
    T, pts, K = np.stack(head.T_ref_cam), head.points.astype(np.float64), np.stack(head.K)
    images = [v.image for v in inputs.views]
    out = refine_rgb_views(T, images, K, pts, cfg, matcher=W["net"])
    G = [np.asarray(g) for g in gt.T_world_cam]
    feats = [sift_features(im, cfg.max_width, cfg.min_width, cfg.n_features, cfg.contrast)
             for im in images]  # fmt: skip
    learned = LearnedMatches(W["net"], images, K)
    rows = []
    for a, b in itertools.combinations(range(V), 2):
        true = np.linalg.inv(G[b]) @ G[a]
        est = np.linalg.inv(out.T_ref_cam[b]) @ out.T_ref_cam[a]
        T_head = np.linalg.inv(T[b]) @ T[a]
        row = {"seed": seed, "a": a, "b": b, "ok": bool(out.ok[a] and out.ok[b]),
               "refined_rot": _angle(est[:3, :3] @ true[:3, :3].T),
               "refined_tdir": _tdir(est[:3, 3], true[:3, 3]),
               "head_rot": _angle(T_head[:3, :3] @ true[:3, :3].T)}  # fmt: skip
        m = match(feats[a][1], feats[b][1], cfg.ratio)
        x_a, x_b = normalise(feats[a][0][m[:, 0]], K[a]), normalise(feats[b][0][m[:, 1]], K[b])
        thr = cfg.threshold_px / float(np.mean([K[a][0, 0], K[a][1, 1]]))
        _, l_a, l_b, l_thr = learned(a, b)
        for name, xa, xb, th in (("sift", x_a, x_b, thr), ("learned", l_a, l_b, l_thr)):
            pose = supported_pair_pose(xa, xb, T_head, th, cfg)
            row[f"{name}_n"] = len(xa)
            row[f"{name}_truth_explains"] = explained(true[:3, :3], true[:3, 3], xa, xb, th)
            row[f"{name}_refined_explains"] = explained(est[:3, :3], est[:3, 3], xa, xb, th)
            if pose is not None:
                row[f"{name}_inliers"] = int(pose.inliers.sum())
                row[f"{name}_rot"] = _angle(pose.R @ true[:3, :3].T)
                row[f"{name}_tdir"] = _tdir(pose.t, true[:3, 3])
        rows.append(row)
    return rows


if __name__ == "__main__":
    first, last, V = map(int, sys.argv[1:4])
    with Pool(2, _init) as pool:
        for rows in pool.imap(window, [(s, V) for s in range(first, last + 1)]):
            for r in rows:
                print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                                  for k, v in r.items()}), flush=True)  # fmt: skip
