"""Compare RGB-only pose refinement settings on the same synthetic windows (A/B).

Each window (tabletop, as ``nova3r eval --data synthetic:... --no-depth --unposed``
renders it) runs the model once without refinement; the head's poses and the decoded
points then go through :func:`nova3r_ros.model.pose_rgb.refine_rgb_views` with each
setting, so the settings see identical inputs. Prints RRA/RTA@15, AUC@30 and the mean
refinement time per setting, as ``nova3r eval`` averages them over windows.

Settings: ``current`` (the defaults), ``pairs`` (the pairwise placement without the joint
refinement of all views and the plane's normal: session 19's settings) and ``previous``
(ECC alone on every level, no check against the essential matrix's matches, the wider
search for every pair that needs it: before the direct alignment).

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python scripts/rgb_pose_ab.py --seeds FIRST-LAST
           [--views 2 4] [--points 1024] [--steps 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.pose_rgb import ECC_ONLY, PAIRS_ONLY, RgbPoseConfig, refine_rgb_views
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

SETTINGS = {"current": RgbPoseConfig(), "pairs": PAIRS_ONLY, "previous": ECC_ONLY}
KEYS = ("rra@15", "rta@15", "auc@30")


def main() -> int:
    """Run the comparison; exit code 2 on a bad seed range."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", required=True, help="FIRST-LAST")
    ap.add_argument("--views", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--points", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    try:
        first, last = (int(x) for x in args.seeds.split("-"))
    except ValueError:
        print(f"error: --seeds must be FIRST-LAST, got {args.seeds!r}", file=sys.stderr)
        return 2
    if not 0 <= first <= last or (last >= 1_000_000 and first <= 1_000_099):
        print("error: a seed range of >= 0, not the benchmark's 1,000,000-1,000,099",
              file=sys.stderr)  # fmt: skip
        return 2
    model = load_checkpoint(PACKAGED_CHECKPOINT, args.device)
    cfg = InferenceConfig(n_points=args.points, steps=args.steps, seed=0, refine_poses=False)
    print(f"# seeds {first}-{last}, {args.points} points, {args.steps} steps, {args.device}")
    print("| views | setting | RRA@15 | RTA@15 | AUC@30 | refine s |")
    print("|---|---|---|---|---|---|")
    for V in args.views:
        synth = benchmark_config(V, family="tabletop", height=192, width=256)
        scores = {name: [] for name in SETTINGS}
        secs = {name: [] for name in SETTINGS}
        for seed in range(first, last + 1):
            window, gt = generate_window(seed, synth)
            inputs = strip_inputs(window, depth=True, poses=True)
            head = infer(model, inputs, cfg)
            T, pts = np.stack(head.T_ref_cam), head.points.astype(np.float64)
            images = [v.image for v in inputs.views]
            for name, setting in SETTINGS.items():
                t0 = time.perf_counter()
                out = refine_rgb_views(T, images, np.stack(head.K), pts, setting)
                secs[name].append(time.perf_counter() - t0)
                scores[name].append(metrics.pose_metrics(list(out.T_ref_cam), gt.T_world_cam))
        for name in SETTINGS:
            m = [np.mean([s[k] for s in scores[name]]) for k in KEYS]
            print(f"| {V} | {name} | " + " | ".join(f"{x:.3f}" for x in m)
                  + f" | {np.mean(secs[name]):.2f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
