"""Session 47 probe: can view 1's single-view decode, registered onto view 0's, pose it.

Issue 12, RGB-only synthetic tabletop windows of 2 views (256x192, the packaged model,
2,048 points, 4 steps). A pose cue independent of the table's texture: the model decodes
each view alone (its points in that camera's frame); a trimmed Sim(3) ICP (70 % nearest
pairs, 30 iterations) registers view 1's cloud onto view 0's frame, onto the joint decode
(``joint``) or onto view 0's own single-view decode (``single0``), from the shipped
refined pose, the head's guess, the identity, and the refined pose orbited by +-30/60
degrees about the camera's y axis. Solutions with a scale outside 0.5-2 are dropped (the
ICP can shrink a cloud onto a patch). Scores each start's result and the start of least
residual (RRA/RTA@15 of the pair) beside the shipped refinement.

Usage: PYTHONPATH=. python docs/eval/session47/cloud_registration_probe.py FIRST-LAST
"""

import json
import sys

import numpy as np
import torch
from scipy.spatial import cKDTree

from nova3r_ros.core.transforms import sim3_scale, umeyama
from nova3r_ros.core.types import Window
from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
from nova3r_ros.model.pose_rgb_align import axis_rotation
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window


def icp_sim3(src: np.ndarray, dst: np.ndarray, T0: np.ndarray, iters: int = 30,
             trim: float = 0.7):  # fmt: skip
    """Trimmed Sim(3) ICP from ``T0``: (T (4, 4) rigid part, scale, trimmed mean residual).

    A registration that collapses the cloud (degenerate for ``umeyama``) returns scale 0.
    """
    tree = cKDTree(dst)
    S = np.asarray(T0, np.float64)  # Sim(3): [[s R, t], [0, 1]]
    for _ in range(iters):
        d, j = tree.query(src @ S[:3, :3].T + S[:3, 3])
        keep = d <= np.quantile(d, trim)
        try:
            S = umeyama(src[keep], dst[j[keep]])
        except ValueError:  # collapsed onto a point or a line: a scale of 0, dropped
            return np.eye(4), 0.0, float("inf")
    d, _ = tree.query(src @ S[:3, :3].T + S[:3, 3])
    s = sim3_scale(S)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = S[:3, :3] / s, S[:3, 3]
    return T, s, float(np.sort(d)[: int(trim * len(d))].mean())


def main() -> int:
    """Command line (module docstring)."""
    first, last = (int(x) for x in sys.argv[1].split("-"))
    torch.set_num_threads(2)
    model = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    cfg = InferenceConfig(n_points=2048, steps=4, seed=0, refine_poses=False)
    rows = []
    for seed in range(first, last + 1):
        window, gt = generate_window(seed, benchmark_config(2, family="tabletop", height=192,
                                                            width=256))  # fmt: skip
        inputs = strip_inputs(window, depth=True, poses=True)
        head = infer(model, inputs, cfg)
        T_head, pts = np.stack(head.T_ref_cam), head.points.astype(np.float64)
        ref = refine_rgb_views(T_head, [v.image for v in inputs.views], np.stack(head.K), pts,
                               RgbPoseConfig())  # fmt: skip
        rot, trans = metrics.pairwise_pose_errors(list(ref.T_ref_cam), list(gt.T_world_cam))
        singles = [infer(model, Window([v]), cfg).points.astype(np.float64)
                   for v in inputs.views]  # fmt: skip
        starts = {"refined": ref.T_ref_cam[1], "head": T_head[1], "identity": np.eye(4)}
        for deg in (-60, -30, 30, 60):
            T = ref.T_ref_cam[1].copy()
            T[:3, :3] = axis_rotation(np.array([0.0, 1.0, 0.0]), deg) @ T[:3, :3]
            starts[f"orbit{deg}"] = T
        row = {"seed": seed, "shipped": [round(float(rot[0]), 2), round(float(trans[0]), 2)]}
        for target, cloud in (("joint", pts), ("single0", singles[0])):
            res = {}
            for name, T0 in starts.items():
                T, s, r = icp_sim3(singles[1], cloud, T0)
                if 0.5 <= s <= 2.0:
                    er, et = metrics.pairwise_pose_errors([np.eye(4), T], list(gt.T_world_cam))
                    res[name] = (r, float(er[0]), float(et[0]))
            best = min(res, key=lambda k: res[k][0]) if res else None
            row[target] = {"from_refined": [round(x, 2) for x in res.get("refined", ())[1:]],
                           "least_residual": [best, *(round(x, 2) for x in res[best][1:])]
                           if best else None}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"shipped refinement: RRA@15 {np.mean([r['shipped'][0] < 15 for r in rows]):.3f}"
          f" RTA@15 {np.mean([r['shipped'][1] < 15 for r in rows]):.3f}")  # fmt: skip
    for target in ("joint", "single0"):
        for key in ("from_refined", "least_residual"):
            errs = [r[target][key][-2:] if r[target][key] else (180, 180) for r in rows]
            print(f"{target} {key}: RRA@15 {np.mean([e[0] < 15 for e in errs]):.3f} "
                  f"RTA@15 {np.mean([e[1] < 15 for e in errs]):.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
