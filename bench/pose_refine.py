"""Benchmark: depth refinement of the estimated camera poses against the camera head alone.

One unposed RGB-D window (8 views on CUDA, 2 on the CPU; ``--views`` overrides): real
7-Scenes frames 20 recorded frames apart (``--data``, default the dev sequence in
``shared/data``) at 640x480, or, without them, a synthetic room sweep (seed 1,500,000,
``moving`` rig, 320x240). In the same process, medians of ``--repeats`` runs after
``--warmup``:

- ``head_ms``: ``infer`` without pose refinement, decoder off (the observed-only cloud):
  the camera head's poses and what they cost (prepare, encoder, head, publishing);
- ``refine_ms``: :func:`nova3r_ros.model.pose_views.refine_views` alone on the head's
  guess (chained ICP from the guess and from no motion, then joint refinement), on the
  model's device; ``chain_ms`` the chained stage alone (``use_joint=False``);
- ``infer_refined_ms``: ``infer`` with refinement (what the node runs, decoder off).

``--previous`` times the settings before issue 12's cut (chain levels at strides (8, 4, 2),
joint levels at strides (4, 2, 1) with (6, 6, 6) steps) instead of the defaults.

Targets: refinement <= 20 ms per 8-view window on the H200, <= 0.5 s for 2 views on the
2-core CPU. Prints a ratio line (refinement / head) and ``name=value`` lines, with the
refined poses' errors against the recorded ones (informative only).

Usage: PYTHONPATH=bench:. python bench/pose_refine.py [--device auto|cuda|cpu]
           [--views N] [--data DIR] [--checkpoint DIR] [--warmup N] [--repeats N]
           [--threads N] [--previous]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from _timing import median_ms

from nova3r_ros.core.types import View, Window
from nova3r_ros.eval import metrics
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.pose_joint import JointConfig
from nova3r_ros.model.pose_refine import RefineConfig
from nova3r_ros.model.pose_views import CHAIN, refine_views
from nova3r_ros.model.published_cloud import PublishConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "7scenes-redkitchen-dev"
STRIDE = 10  # positions in the dev sequence (every 2nd recorded frame): 20 frames apart
TARGET_MS = {"cuda": (8, 20.0), "cpu": (2, 500.0)}
#: ``--previous``: the refinement's settings before the cut of issue 12.
PREVIOUS = {"chain": RefineConfig(),
            "joint": JointConfig(strides=(4, 2, 1), max_dist=(0.05, 0.03, 0.02),
                                 iterations=(6, 6, 6))}  # fmt: skip


def real_window(path: Path, n: int) -> tuple[Window, list[np.ndarray]]:
    """Return ``n`` views of the sequence ``STRIDE`` apart (poses withheld) and their poses."""
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    seq = SevenScenesSequence(path)
    start = max(0, (len(seq) - 1 - (n - 1) * STRIDE) // 2)
    window, gt = seq.window([start + i * STRIDE for i in range(n)])
    return window, list(gt.T_world_cam)


def synthetic_window(n: int) -> tuple[Window, list[np.ndarray]]:
    """Return a synthetic room sweep of ``n`` views (poses withheld) and its poses."""
    from nova3r_ros.synth.config import SynthConfig
    from nova3r_ros.synth.generate import generate_window

    cfg = SynthConfig(family="room", n_views=n, mode="moving", azimuth_spread_deg=20.0,
                      height=240, width=320, with_depth=True, known_poses=True)  # fmt: skip
    window, gt = generate_window(1_500_000, cfg)
    views = [View(v.image, v.depth, v.K, None, v.stamp, v.frame_id, v.camera)
             for v in window.views]  # fmt: skip
    return Window(views), list(gt.T_world_cam)


def main() -> None:
    """Run the benchmark and print its lines."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    ap.add_argument("--views", type=int, default=None, help="views (default 8 CUDA, 2 CPU)")
    ap.add_argument("--data", default=str(DATA), help="7-Scenes-style sequence folder")
    ap.add_argument("--checkpoint", default=str(PACKAGED_CHECKPOINT))
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--previous", action="store_true", help="the settings before issue 12's cut")
    args = ap.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    n = args.views or TARGET_MS[device.type][0]
    warmup = args.warmup if args.warmup is not None else (3 if cuda else 1)
    repeats = args.repeats or (20 if cuda else 5)
    if Path(args.data).is_dir():
        window, T_true = real_window(Path(args.data), n)
        source = f"7-Scenes {args.data}, {STRIDE * 2} recorded frames apart"
    else:
        window, T_true = synthetic_window(n)
        source = "synthetic room sweep, seed 1500000"
    model = load_checkpoint(args.checkpoint, device)
    gate = PublishConfig(force_gate=True)
    head_cfg = InferenceConfig(refine_poses=False, publish=gate, depth_consistency=None)
    full_cfg = InferenceConfig(refine_poses=True, publish=gate, depth_consistency=None)
    threads = torch.get_num_threads()
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {threads} threads"
    print(f"# device: {name}; window: {n} views {window.views[0].width}x"
          f"{window.views[0].height} RGB-D, poses withheld ({source})")  # fmt: skip
    settings = PREVIOUS if args.previous else {}
    chain, joint = settings.get("chain", CHAIN), settings.get("joint", JointConfig())
    print(f"# settings: {'previous' if args.previous else 'default'} (chain strides "
          f"{chain.strides} steps {chain.iterations}; joint strides {joint.strides} steps "
          f"{joint.iterations}; infer_refined_ms always the defaults)")  # fmt: skip
    print(f"# median of {repeats} after {warmup} warm-up; load average "
          f"{os.getloadavg()[0]:.2f} at start (other load skews CPU timings)")  # fmt: skip

    head = infer(model, window, head_cfg)
    T_head = np.stack(head.T_ref_cam)
    depth = torch.from_numpy(np.stack([v.depth for v in window.views])).to(device)
    K = torch.from_numpy(np.stack([v.K for v in window.views])).float().to(device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def timed(fn):
        def run():
            out = fn()
            sync()
            return out

        return median_ms(run, warmup, repeats)

    head_ms = timed(lambda: infer(model, window, head_cfg))
    refine_ms = timed(lambda: refine_views(T_head, depth, K, **settings))
    chain_ms = timed(lambda: refine_views(T_head, depth, K, use_joint=False, **settings))
    full_ms = timed(lambda: infer(model, window, full_cfg))
    vp = refine_views(T_head, depth, K, **settings)
    T_ref_true = [np.linalg.inv(T_true[0]) @ T for T in T_true]
    err_head = metrics.pose_metrics(list(T_head), T_ref_true)
    err_ref = metrics.pose_metrics(list(vp.T_ref_cam), T_ref_true)
    views_target, target = TARGET_MS[device.type]
    ok = "ok" if n == views_target and refine_ms <= target else "-"
    print(f"ratio: refinement {refine_ms:.1f} ms = {refine_ms / head_ms:.2f} x the head alone "
          f"({head_ms:.1f} ms) for {n} views; target {target:.0f} ms for {views_target} views "
          f"on {device.type}: {ok}")  # fmt: skip
    lines = {
        "device": device.type,
        "views": n,
        "head_ms": round(head_ms, 2),
        "refine_ms": round(refine_ms, 2),
        "chain_ms": round(chain_ms, 2),
        "joint_ms": round(refine_ms - chain_ms, 2),
        "infer_refined_ms": round(full_ms, 2),
        "refine_over_head": round(refine_ms / head_ms, 3),
        "views_ok": int(vp.ok.sum()),
        "joint_kept": int(vp.joint),
        "min_confidence": round(float(vp.confidence.min()), 3),
        "head_auc30": round(err_head.get("auc@30", float("nan")), 3),
        "refined_auc30": round(err_ref.get("auc@30", float("nan")), 3),
        "refined_rra5": round(err_ref.get("rra@5", float("nan")), 3),
        "refined_rta5": round(err_ref.get("rta@5", float("nan")), 3),
    }
    for k, v in lines.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
