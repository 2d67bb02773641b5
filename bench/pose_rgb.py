"""Benchmark: RGB-only refinement of the estimated camera poses against the camera head alone.

Windows of 2 views with no depth and no poses (``--views`` overrides): synthetic tabletop
validation windows as ``nova3r eval --data synthetic:1500000-... --no-depth --unposed``
renders them (256x192; seeds from 1,500,000, ``--windows``), or real 7-Scenes frames 20
recorded frames apart at 640x480 (``--data DIR``). The decoded points and the head's poses
come from ``infer`` without refinement (``--points``, ``--steps``). In the same process,
per window the median of ``--repeats`` runs after ``--warmup``, then the mean over windows:

- ``head_ms``: ``infer`` without refinement (what the poses cost without it);
- ``refine_ms``: :func:`nova3r_ros.model.pose_rgb.refine_rgb_views` with the defaults
  (direct 6-DoF alignment over the decoded plane and objects, then ECC, then the joint
  refinement of the poses and the plane's normal where the pair's matches do not fix it);
- ``previous_ms``: the same with the settings before the direct alignment (ECC alone on
  every level, no check against the essential matrix's matches, the wider search for
  every pair that needs it);
- ``no_recheck_ms``: the defaults without the second look at weak alignments
  (``recheck_share=0``);
- ``serial_ms``: the defaults on one thread (:mod:`nova3r_ros.model.cpu_threads` off: SIFT
  per view and the alignment starts one after another; the same poses);
- ``matcher_ms``: the defaults with a learned matcher (its matching included;
  :mod:`nova3r_ros.model.pose_rgb_learned`): by default the packaged checkpoint's where its
  ``matcher.json`` lists the CPU (since session 53), else ``--matcher DIR``; ``--matcher
  none`` leaves it out.

Target: refinement <= 0.5 s for 2 views on the 2-core CPU, judged on what runs by default
(``matcher_ms`` where the packaged matcher runs on the CPU by default, else
``refine_ms``). Prints ratio lines and ``name=value`` lines, with the poses' rotation
errors (informative only).

Usage: PYTHONPATH=bench:. python bench/pose_rgb.py [--views N] [--windows N] [--data DIR]
           [--points N] [--steps N] [--warmup N] [--repeats N] [--threads N]
           [--matcher DIR|default|none]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from _timing import median_ms

from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model import cpu_threads
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint, matcher_by_default
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.matcher_files import load_matcher
from nova3r_ros.model.pose_rgb import ECC_ONLY, RgbPoseConfig, refine_rgb_views

TARGET_MS = 500.0  # 2 views on the 2-core CPU
SEED = 1_500_000  # validation seeds (the benchmark's are 1,000,000-1,000,099)
THREADS_CAP = cpu_threads.MAX_THREADS  # the threads the defaults may use
STRIDE = 10  # positions in the dev sequence (every 2nd recorded frame): 20 frames apart


def windows(n_views: int, count: int, data: str | None):
    """Yield (window without depth or poses, true camera-to-world poses)."""
    if data:
        from nova3r_ros.synth.sevenscenes import SevenScenesSequence

        seq = SevenScenesSequence(data)
        span = (n_views - 1) * STRIDE
        for start in np.linspace(0, len(seq) - 1 - span, count).astype(int):
            idx = [int(start) + i * STRIDE for i in range(n_views)]
            window, gt = seq.window(idx, known_poses=True)
            yield strip_inputs(window, depth=True, poses=True), list(gt.T_world_cam)
        return
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_window

    cfg = benchmark_config(n_views, family="tabletop", height=192, width=256)
    for seed in range(SEED, SEED + count):
        window, gt = generate_window(seed, cfg)
        yield strip_inputs(window, depth=True, poses=True), list(gt.T_world_cam)


def time_window(model, window, T_true, head_cfg, args) -> dict[str, float]:
    """Return one window's timings (ms) and mean pairwise rotation errors (deg)."""
    head = infer(model, window, head_cfg)
    T_head, points = np.stack(head.T_ref_cam), head.points.astype(np.float64)
    images, K = [v.image for v in window.views], np.stack(head.K)
    row = {"head_ms": median_ms(lambda: infer(model, window, head_cfg), 0, args.repeats)}
    settings = (("refine_ms", RgbPoseConfig()), ("previous_ms", ECC_ONLY),
                ("no_recheck_ms", RgbPoseConfig(recheck_share=0.0)),
                ("serial_ms", RgbPoseConfig()))  # fmt: skip
    if args.net is not None:
        settings += (("matcher_ms", RgbPoseConfig()),)
    for name, cfg in settings:
        net = args.net if name == "matcher_ms" else None
        cpu_threads.MAX_THREADS = 1 if name == "serial_ms" else THREADS_CAP
        row[name] = median_ms(lambda c=cfg, n=net: refine_rgb_views(T_head, images, K, points,
                                                                    c, matcher=n),
                              args.warmup, args.repeats)  # fmt: skip
        out = refine_rgb_views(T_head, images, K, points, cfg, matcher=net)
        cpu_threads.MAX_THREADS = THREADS_CAP
        r, _ = metrics.pairwise_pose_errors(list(out.T_ref_cam), T_true)
        row[name.replace("_ms", "_rot_err_deg")] = float(np.mean(r))
    return row


def main() -> None:
    """Run the benchmark and print its lines."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--data", default=None, help="7-Scenes-style sequence folder")
    ap.add_argument("--points", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--matcher", default="default",
                    help="time the defaults with this matcher too ('default': the packaged "
                    "one where it runs on the CPU by default; 'none': no matcher)")  # fmt: skip
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    by_default = matcher_by_default(PACKAGED_CHECKPOINT, "cpu")
    folder = {"default": PACKAGED_CHECKPOINT if by_default else None, "none": None}.get(
        args.matcher, args.matcher)  # fmt: skip
    args.net = None if folder is None else load_matcher(folder, "cpu")[0]
    args.judged = "matcher_ms" if args.matcher == "default" and by_default else "refine_ms"
    model = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
    head_cfg = InferenceConfig(n_points=args.points, steps=args.steps, seed=0, refine_poses=False)
    rows = [time_window(model, w, T, head_cfg, args) for w, T in windows(args.views, args.windows,
                                                                        args.data)]  # fmt: skip
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    w0 = next(iter(windows(args.views, 1, args.data)))[0].views[0]
    print(f"# device: cpu ({os.cpu_count()} cores); {len(rows)} windows of {args.views} views "
          f"{w0.width}x{w0.height} ({'real: ' + args.data if args.data else 'synthetic'}); "
          f"{args.points} points, {args.steps} steps")  # fmt: skip
    ref, head, prev = mean["refine_ms"], mean["head_ms"], mean["previous_ms"]
    print(f"ratio: refinement {ref:.1f} ms = {ref / head:.2f} x the head alone ({head:.1f} ms)")
    print(f"ratio: refinement / previous settings = {ref / prev:.2f} ({prev:.1f} ms)")
    ser = mean["serial_ms"]
    print(f"ratio: refinement / the same on one thread = {ref / ser:.2f} ({ser:.1f} ms)")
    nore = mean["no_recheck_ms"]
    print(f"ratio: refinement / without the second look at weak alignments = "
          f"{ref / nore:.2f} ({nore:.1f} ms)")  # fmt: skip
    if "matcher_ms" in mean:
        mat = mean["matcher_ms"]
        print(f"ratio: refinement with the learned matcher / without = {mat / ref:.2f}"
              f" ({mat:.1f} ms)")  # fmt: skip
    judged = mean[args.judged]
    what = "the packaged matcher, the default" if args.judged == "matcher_ms" else "no matcher"
    target = (f"<= {TARGET_MS:.0f} ms for 2 views ({what}: {judged:.1f} ms): "
              + ("met" if judged <= TARGET_MS else "not met"))  # fmt: skip
    print(f"# target {target}" if args.views == 2 else "# target is for 2 views")
    for k, v in mean.items():
        print(f"{k}={v:.3f}")


if __name__ == "__main__":
    main()
