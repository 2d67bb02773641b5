"""Where the learned matcher's essential matrix is wrong: planar matches (issue 12, session 49).

For 2-view synthetic RGB-only tabletop windows (decoded on the CPU, 1,024 points, 4 steps,
as scripts/rgb_pose_ab.py does), per window: the refinement's rotation error without and
with the matcher; for the learned matches and for SIFT's, the essential matrix's rotation
error (pair_pose from the head's guess, as the refinement fits it), its inliers, the
matches, and the inliers of a homography fitted to the same matches (RANSAC, the same
threshold). One JSON line per window.

Usage: PYTHONPATH=. python docs/eval/session49/learned_planar_probe.py MATCHER_DIR FIRST-LAST \
           OUT.jsonl
"""

import json
import sys

import cv2
import numpy as np
import torch

from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.matcher_files import load_matcher
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
from nova3r_ros.model.pose_rgb_epipolar import match, normalise, pair_pose, sift_features
from nova3r_ros.model.pose_rgb_learned import LearnedMatches
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window


def rot_err(Ra, Rb) -> float:
    """Return the angle (degrees) between rotations Ra and Rb."""
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1))))


def fit(x_a, x_b, thr, T_head, R_true):
    """(E rotation error, E inliers, matches, H inliers) of normalised matches."""
    n = len(x_a)
    if n < 8:
        return None, 0, n, 0
    pose = pair_pose(x_a, x_b, T_head[:3, :3], T_head[:3, 3], thr)
    _, mask = cv2.findHomography(x_a, x_b, cv2.RANSAC, thr)
    h_in = 0 if mask is None else int(mask.sum())
    if pose is None:
        return None, 0, n, h_in
    return round(rot_err(pose.R, R_true), 2), int(pose.inliers.sum()), n, h_in


def main() -> None:
    """Write one JSON line per window (module docstring)."""
    torch.set_num_threads(1)
    net = load_matcher(sys.argv[1], "cpu")[0]
    first, last = (int(x) for x in sys.argv[2].split("-"))
    model = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    cfg = InferenceConfig(n_points=1024, steps=4, seed=0, refine_poses=False)
    syn = benchmark_config(2, family="tabletop", height=192, width=256)
    pc = RgbPoseConfig()
    with open(sys.argv[3], "w") as out:
        for seed in range(first, last + 1):
            w, gt = generate_window(seed, syn)
            inp = strip_inputs(w, depth=True, poses=True)
            h = infer(model, inp, cfg)
            T, K = np.stack(h.T_ref_cam), np.stack(h.K)
            pts, imgs = h.points.astype(np.float64), [v.image for v in inp.views]
            R_true = (np.linalg.inv(gt.T_world_cam[1]) @ gt.T_world_cam[0])[:3, :3]
            T_head = np.linalg.inv(T[1]) @ T[0]
            rec = {"seed": seed, "head": round(rot_err(T_head[:3, :3], R_true), 2)}
            for name, m in (("sift", None), ("learned", net)):
                o = refine_rgb_views(T, imgs, K, pts, pc, matcher=m)
                r, _ = metrics.pairwise_pose_errors(list(o.T_ref_cam), list(gt.T_world_cam))
                rec[f"final_{name}"] = round(float(r[0]), 2)
                rec[f"ok_{name}"] = bool(o.ok[1])
                if m is not None:
                    rec["stood_in"] = o.learned_pairs
            _, la, lb, lthr = LearnedMatches(net, imgs, K)(0, 1)
            rec["learned"] = fit(la, lb, lthr, T_head, R_true)
            f = [sift_features(im, pc.max_width, pc.min_width, pc.n_features, pc.contrast)
                 for im in imgs]  # fmt: skip
            mm = match(f[0][1], f[1][1], pc.ratio)
            thr = pc.threshold_px / float(np.mean([K[0][0, 0], K[0][1, 1]]))
            rec["sift"] = fit(normalise(f[0][0][mm[:, 0]], K[0]),
                              normalise(f[1][0][mm[:, 1]], K[1]), thr, T_head, R_true)  # fmt: skip
            out.write(json.dumps(rec) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
