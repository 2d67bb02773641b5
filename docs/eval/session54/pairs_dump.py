"""Dump RGB-only windows' aligned pairs (before the tree step) and their truths.

Usage: python pairs_dump.py FIRST LAST VIEWS > pairs.jsonl (2 processes, CPU, the
packaged model and matcher; consistent_tree is wrapped to record its input).
"""

import json
import sys
from multiprocessing import Pool

import cv2
import numpy as np

from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model import pose_rgb
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.matcher_files import load_matcher
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

W, CAP = {}, {}
_orig = pose_rgb.consistent_tree


def _cap(edges, P, anchor, max_deg, *a, **k):
    """Record the tree step's input, then run it."""
    CAP["edges"] = {kk: (float(v[0]), v[1].tolist()) for kk, v in edges.items()}
    CAP["P"] = P.tolist()
    CAP["anchor"] = anchor.tolist()
    return _orig(edges, P, anchor, max_deg, *a, **k)


pose_rgb.consistent_tree = _cap


def _init():
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    W["model"] = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    W["net"] = load_matcher(PACKAGED_CHECKPOINT, "cpu")[0]


def window(args):
    """Decode and refine one (seed, views) window; return its record."""
    seed, V = args
    window, gt = generate_window(
        seed, benchmark_config(V, family="tabletop", height=192, width=256)
    )
    inputs = strip_inputs(window, depth=True, poses=True)
    head = infer(
        W["model"], inputs, InferenceConfig(n_points=1024, steps=4, seed=0, refine_poses=False)
    )
    T, pts, K = np.stack(head.T_ref_cam), head.points.astype(np.float64), np.stack(head.K)
    images = [v.image for v in inputs.views]
    CAP.clear()
    out = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), matcher=W["net"])
    return {
        "seed": seed,
        "V": V,
        "G": [np.asarray(g).tolist() for g in gt.T_world_cam],
        "head": T.tolist(),
        "final": out.T_ref_cam.tolist(),
        "ok": out.ok.tolist(),
        "anchor_final": out.anchor.tolist(),
        "edges": [[a, b, s, M] for (a, b), (s, M) in CAP.get("edges", {}).items()],
        "P": CAP.get("P"),
        "anchor": CAP.get("anchor"),
        "kept": bool(out.joint_kept) if hasattr(out, "joint_kept") else None,
    }


if __name__ == "__main__":
    a, b, V = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with Pool(2, _init) as pool:
        for r in pool.imap(window, [(s, V) for s in range(a, b + 1)]):
            print(json.dumps(r), flush=True)
