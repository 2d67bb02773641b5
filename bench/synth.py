"""Benchmark: synthetic window generation throughput (render + ground truth).

Times ``generate_batch`` for 4-view tabletop windows (random views, 100,000 ground-truth
points with visibility labels) at 128x96 and 256x192 on one device, and in the same
process a baseline that builds one window at a time and renders its views one by one
(the per-view unbatched path). Ends with ``name=value`` lines.

Usage: python bench/synth.py [--device cuda|cpu] [--threads N] [--batch-size B]
                             [--seconds 5] [--gt-points 100000]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from nova3r_ros.synth import SynthConfig, generate_batch

RESOLUTIONS = ((128, 96), (256, 192))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(fn, n_per_call: int, seconds: float, device: torch.device) -> float:
    """Windows per second of ``fn(call_index)`` (after one warm-up call), >= 2 timed calls."""
    fn(10_000_000)
    sync(device)
    calls, t0 = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - t0 < seconds:
        fn(calls)
        calls += 1
    sync(device)
    return calls * n_per_call / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 64 on cuda, 2 on cpu")
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum timed seconds per case")
    ap.add_argument("--gt-points", type=int, default=100_000)
    args = ap.parse_args()
    device = torch.device(args.device)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    bs = args.batch_size or (64 if device.type == "cuda" else 2)
    results: dict[str, object] = {}
    for w, h in RESOLUTIONS:
        cfg = SynthConfig(n_views=4, width=w, height=h, n_gt_points=args.gt_points,
                          device=str(device))  # fmt: skip

        def batched(i, cfg=cfg):
            return generate_batch(i * bs, batch_size=bs, config=cfg)

        def baseline(i, cfg=cfg):
            return generate_batch([i], config=cfg, view_chunk=1)

        fast = throughput(batched, bs, args.seconds, device)
        slow = throughput(baseline, 1, args.seconds, device)
        print(f"{w}x{h}: batched (B={bs}) {fast:.1f} windows/s, per-view baseline {slow:.1f}")
        results[f"synth_windows_per_s_{w}x{h}"] = round(fast, 2)
        results[f"synth_baseline_windows_per_s_{w}x{h}"] = round(slow, 2)
        results[f"synth_speedup_vs_baseline_{w}x{h}"] = round(fast / slow, 2)
    results["synth_speedup_vs_baseline"] = results["synth_speedup_vs_baseline_128x96"]
    results["batch_size"] = bs
    results["views"] = 4
    results["gt_points"] = args.gt_points
    results["threads"] = threads
    results["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    for k, v in results.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
