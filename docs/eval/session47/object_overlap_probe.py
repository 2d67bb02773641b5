"""Session 47 probe: does the objects' overlap between two views flag a wrong RGB-only pose.

Issue 12, RGB-only synthetic tabletop windows of 2 views (as ``nova3r eval --data
synthetic:... --no-depth --unposed`` renders them, 256x192; the packaged model, 1,024
points, 4 steps). The shipped refinement (``refine_rgb_views``, defaults) gives view 1's
pose. An object mask per view (pixels more than 1.5 cm nearer than the view's dominant
plane) and the object pixels' 3D points carry view 0's objects into view 1 under a
candidate pose; the score is the share landing on view 1's object pixels (``gt``, ``decoded``:
the mean of both directions; ``decdepth``: view 0 -> view 1 only). Candidates: the refined
pose and the true pose (its translation scaled to the refined one's length).

Modes (argument 2):
- ``gt``: masks and 3D points from the ground-truth depth (an upper bound);
- ``decoded``: masks from a single-view decode of each view (the decoded points nearer than
  their plane by 5 % of its distance, splatted on 8 px cells), points from the true depth;
- ``decdepth``: true masks, view 0's object points at the depth the pipeline gives a pixel
  (the joint decode's nearest point on a 4 px grid, else the decoded plane), in the
  decode's scale, as the refinement sees them.

Prints one JSON line per window, then how often the true pose scores 0.1 above the refined
one among wrong (rotation or translation direction > 15 degrees) and right pairs.

Usage: PYTHONPATH=. python docs/eval/session47/object_overlap_probe.py FIRST-LAST MODE
"""

import json
import sys

import numpy as np
import torch

from nova3r_ros.core.types import Window
from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
from nova3r_ros.model.pose_rgb_align import dominant_plane, point_depth
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window


def backproject(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W, 3) camera-frame points of a depth image."""
    H, W = depth.shape
    v, u = np.mgrid[0:H, 0:W]
    return np.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], -1)


def object_mask(depth: np.ndarray, K: np.ndarray):
    """(mask (H, W) of pixels > 1.5 cm nearer than the dominant plane, points (H, W, 3))."""
    P = backproject(depth, K)
    ok = depth > 0
    pts = P[ok]
    n, d, _ = dominant_plane(pts[:: max(1, len(pts) // 5000)])
    return ok & ((d - P @ n) > 0.015), P


def decoded_mask(p: np.ndarray, K: np.ndarray, hw, cell: int = 8):
    """Object mask (H, W) from a single-view decode ``p`` (camera frame), 8 px cells."""
    n, d, _ = dominant_plane(p)
    obj = p[(d - p @ n) > 0.05 * d]
    H, W = hw
    m = np.zeros((H, W), bool)
    obj = obj[obj[:, 2] > 0.05]
    u = (obj[:, 0] / obj[:, 2] * K[0, 0] + K[0, 2]).astype(int)
    v = (obj[:, 1] / obj[:, 2] * K[1, 1] + K[1, 2]).astype(int)
    ins = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    for uu, vv in zip(u[ins], v[ins], strict=True):
        u0, v0 = uu // cell * cell, vv // cell * cell
        m[v0 : v0 + cell, u0 : u0 + cell] = True
    return m


def overlap(mask_a, P_a, mask_b, T_a_b, K_b) -> float:
    """Share of view a's object points that land on view b's object pixels (T_a_b: b in a)."""
    T_b_a = np.linalg.inv(T_a_b)
    q = P_a[mask_a] @ T_b_a[:3, :3].T + T_b_a[:3, 3]
    q = q[q[:, 2] > 0.05]
    H, W = mask_b.shape
    u = np.round(q[:, 0] / q[:, 2] * K_b[0, 0] + K_b[0, 2]).astype(int)
    v = np.round(q[:, 1] / q[:, 2] * K_b[1, 1] + K_b[1, 2]).astype(int)
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    if inside.sum() < 20:
        return float("nan")
    return float(mask_b[v[inside], u[inside]].mean())


def decoded_depth_points(pts: np.ndarray, mask: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W, 3) view 0's object pixels at the joint decode's depth (else its plane's)."""
    vv, uu = np.nonzero(mask)
    px = np.stack([uu, vv], 1).astype(np.float64) + 0.5
    z = point_depth(pts, np.eye(4), K, px, 4.0)
    n, d, _ = dominant_plane(pts)
    rays = np.stack([(px[:, 0] - K[0, 2]) / K[0, 0], (px[:, 1] - K[1, 2]) / K[1, 1],
                     np.ones(len(px))], 1)  # fmt: skip
    z = np.where(np.isfinite(z), z, d / (rays @ n))
    P = np.zeros((*mask.shape, 3))
    P[vv, uu] = rays * z[:, None]
    return P


def score_window(model, cfg, seed: int, mode: str) -> dict:
    """One window's record (module docstring)."""
    window, gt = generate_window(seed, benchmark_config(2, family="tabletop", height=192,
                                                        width=256))  # fmt: skip
    inputs = strip_inputs(window, depth=True, poses=True)
    head = infer(model, inputs, cfg)
    pts = head.points.astype(np.float64)
    ref = refine_rgb_views(np.stack(head.T_ref_cam), [v.image for v in inputs.views],
                           np.stack(head.K), pts, RgbPoseConfig())  # fmt: skip
    rot, trans = metrics.pairwise_pose_errors(list(ref.T_ref_cam), list(gt.T_world_cam))
    T_true = np.linalg.inv(gt.T_world_cam[0]) @ gt.T_world_cam[1]
    K0, K1 = window.views[0].K, window.views[1].K
    m0, P0 = object_mask(window.views[0].depth, K0)
    m1, P1 = object_mask(window.views[1].depth, K1)
    T_ref = ref.T_ref_cam[1].copy()
    if mode == "decdepth":  # the decode's scale: the true direction at the refined length
        P0 = decoded_depth_points(pts, m0, K0)
        T_t = T_true.copy()
        T_t[:3, 3] *= np.linalg.norm(T_ref[:3, 3]) / np.linalg.norm(T_true[:3, 3])
        s_true, s_ref = overlap(m0, P0, m1, T_t, K1), overlap(m0, P0, m1, T_ref, K1)
    else:  # metric: the refined direction at the true length
        if mode == "decoded":
            m0, m1 = (decoded_mask(infer(model, Window([v]), cfg).points.astype(np.float64),
                                   v.K, v.image.shape[:2]) for v in inputs.views)  # fmt: skip
        T_ref[:3, 3] *= np.linalg.norm(T_true[:3, 3]) / max(np.linalg.norm(T_ref[:3, 3]), 1e-9)
        s_true = (overlap(m0, P0, m1, T_true, K1)
                  + overlap(m1, P1, m0, np.linalg.inv(T_true), K0)) / 2  # fmt: skip
        s_ref = (overlap(m0, P0, m1, T_ref, K1)
                 + overlap(m1, P1, m0, np.linalg.inv(T_ref), K0)) / 2  # fmt: skip
    return {"seed": seed, "rot": round(float(rot[0]), 2), "tr": round(float(trans[0]), 2),
            "objects0": round(float(m0.mean()), 4), "objects1": round(float(m1.mean()), 4),
            "s_true": round(s_true, 3), "s_ref": round(s_ref, 3)}  # fmt: skip


def main() -> int:
    """Command line (module docstring)."""
    first, last = (int(x) for x in sys.argv[1].split("-"))
    mode = sys.argv[2]
    torch.set_num_threads(2)
    model = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    cfg = InferenceConfig(n_points=1024, steps=4, seed=0, refine_poses=False)
    rows = []
    for seed in range(first, last + 1):
        rows.append(score_window(model, cfg, seed, mode))
        print(json.dumps(rows[-1]), flush=True)
    bad = [r for r in rows if r["rot"] > 15 or r["tr"] > 15]
    good = [r for r in rows if not (r["rot"] > 15 or r["tr"] > 15)]
    print(f"{mode}: wrong pairs {len(bad)}, true pose 0.1 above the refined one in "
          f"{sum(r['s_true'] > r['s_ref'] + 0.1 for r in bad)}; right pairs {len(good)}, in "
          f"{sum(r['s_true'] > r['s_ref'] + 0.1 for r in good)}")  # fmt: skip
    print("right pairs' refined score, 10th/25th/50th percentile:",
          np.round(np.nanpercentile([r["s_ref"] for r in good], [10, 25, 50]), 3),
          "; wrong pairs':", sorted(r["s_ref"] for r in bad))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
