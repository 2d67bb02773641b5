"""Views no pair placed, polished alone from the head's guess on their learned matches.

Needs ``polish_unplaced_probe.patch`` applied to ``model/pose_rgb_polish.py`` (not in the
package). Usage: python polish_unplaced_probe.py VIEWS SEED ... (2 processes, CPU).
"""

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
from nova3r_ros.model.pose_rgb_align import dominant_plane
from nova3r_ros.model.pose_rgb_learned import LearnedMatches
from nova3r_ros.model.pose_rgb_polish import polish_unplaced
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

W = {}
SETS = {
    "s64": (64.0, 32.0, 16.0, 8.0, 4.0, 2.0),
    "s16": (16.0, 8.0, 4.0, 2.0),
    "s128": (128.0, 64.0, 32.0, 16.0, 8.0, 4.0, 2.0),
}


def ang(R):
    """Return a rotation matrix's angle in degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


def _init():
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    W["model"] = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    W["net"] = load_matcher(PACKAGED_CHECKPOINT, "cpu")[0]


def errs(T, G):
    """Return every view pair's rotation error (deg) of poses T against the truth G."""
    V = len(G)
    e = []
    for a in range(V):
        for b in range(a + 1, V):
            est = np.linalg.inv(T[b]) @ T[a]
            tru = np.linalg.inv(G[b]) @ G[a]
            e.append(round(ang(est[:3, :3] @ tru[:3, :3].T), 1))
    return e


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
    G = [np.asarray(g) for g in gt.T_world_cam]
    out = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), matcher=W["net"])
    row = {"seed": seed, "ok": out.ok.tolist(), "base": errs(out.T_ref_cam, G)}
    if out.ok.all():
        return row
    learned = LearnedMatches(W["net"], images, K)
    plane = dominant_plane(pts)
    for name, sc in SETS.items():
        for g in (0.15, 0.5):
            P, moved = polish_unplaced(out.T_ref_cam.copy(), out.ok, learned, plane, sc, g)
            row[f"{name}_g{g}"] = [moved, errs(P, G)]
    return row


if __name__ == "__main__":
    V = int(sys.argv[1])
    seeds = [int(s) for s in sys.argv[2:]]
    with Pool(2, _init) as pool:
        for r in pool.imap(window, [(s, V) for s in seeds]):
            print(json.dumps(r), flush=True)
