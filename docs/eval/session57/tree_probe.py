"""Probe (session 57): what the consistency vote (``pose_rgb_align.consistent_tree``) sees.

For each synthetic RGB-only 4-view window (tabletop, as ``scripts/rgb_pose_ab.py`` renders
it), the defaults with the packaged matcher run with the vote wrapped: every aligned pair
(edge) is printed with its score and its rotation error against the true relative pose,
and the greedy placement (each view from its best-scoring pair) and the vote's tree with
the rotation error of every view pair after each (degrees, ``metrics.pairwise_pose_errors``
order). Diagnosis only.

The joint refinement (step 5-6) and the polish on the learned matches are wrapped too:
the pair errors after each, and whether it was kept.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session57/tree_probe.py FIRST LAST
"""

from __future__ import annotations

import sys

import numpy as np

from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model import pose_rgb
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.pose_rgb_align import angle_deg
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window


def main() -> None:
    """Print the vote's inputs and outcome per window."""
    first, last = int(sys.argv[1]), int(sys.argv[2])
    model = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    cfg = InferenceConfig(n_points=1024, steps=4, seed=0, refine_poses=False)
    seen = {}
    inner = pose_rgb.consistent_tree

    def wrapped(edges, P, anchor, max_deg):
        seen["edges"], seen["P"], seen["anchor"] = dict(edges), P.copy(), anchor.copy()
        Q, new = inner(edges, P, anchor, max_deg)
        seen["Q"], seen["new"] = Q.copy(), new.copy()
        return Q, new

    pose_rgb.consistent_tree = wrapped
    joint, polish = pose_rgb._joint, pose_rgb.polish_window

    def joint_wrapped(*args, **kwargs):
        res = joint(*args, **kwargs)
        seen["joint"] = res[0].copy(), res[1]
        return res

    def polish_wrapped(*args, **kwargs):
        res = polish(*args, **kwargs)
        seen["polish"] = res[0].copy(), res[1]
        return res

    pose_rgb._joint, pose_rgb.polish_window = joint_wrapped, polish_wrapped
    for seed in range(first, last + 1):
        window, gt = generate_window(seed, benchmark_config(4, family="tabletop", height=192,
                                                            width=256))  # fmt: skip
        inputs = strip_inputs(window, depth=True, poses=True)
        head = infer(model, inputs, cfg)
        seen.clear()
        out = pose_rgb.refine_rgb_views(np.stack(head.T_ref_cam), [v.image for v in inputs.views],
                                        np.stack(head.K), head.points.astype(np.float64),
                                        matcher=model.matcher)  # fmt: skip
        G = list(gt.T_world_cam)
        final = metrics.pairwise_pose_errors(list(out.T_ref_cam), G)[0]
        if "edges" not in seen:
            print(f"{seed} no vote; final {np.round(final, 1).tolist()}")
            continue
        greedy = metrics.pairwise_pose_errors(list(seen["P"]), G)[0]
        tree = metrics.pairwise_pose_errors(list(seen["Q"]), G)[0]
        print(f"{seed} anchors {seen['anchor'].tolist()} -> {seen['new'].tolist()}")
        for (a, b), (s, T) in seen["edges"].items():
            true = np.linalg.inv(G[b]) @ G[a]
            err = angle_deg(T[:3, :3] @ true[:3, :3].T)
            print(f"   edge {a}-{b} score {s:.3f} rot err {err:.1f}")
        print(f"   greedy {np.round(greedy, 1).tolist()}  tree {np.round(tree, 1).tolist()}"
              f"  final {np.round(final, 1).tolist()}")  # fmt: skip
        for step in ("joint", "polish"):
            if step in seen:
                err = metrics.pairwise_pose_errors(list(seen[step][0]), G)[0]
                print(f"   after {step} (kept {seen[step][1]}) {np.round(err, 1).tolist()}")


if __name__ == "__main__":
    main()
