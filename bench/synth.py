"""Benchmark: synthetic window generation throughput (render + ground truth).

Times ``generate_batch`` for 4-view tabletop windows (random views, 100,000 ground-truth
points with visibility labels) at 128x96 and 256x192 on one device, and in the same
process a baseline that builds one window at a time and renders its views one by one
(the per-view unbatched path).

Then the training configuration (:data:`TRAIN_VIEWS` views of :data:`TRAIN_RES`, the model's
input size, with :data:`TRAIN_GT_POINTS` ground-truth points, as ``train/loop.py`` uses):
the benchmark tabletop config at that size, the training mix
(:func:`~nova3r_ros.synth.training_mix.training_config`, a new config drawn per batch
from a fixed seed, so the timed batches cycle through families, modes and camera ranges)
in this process, the training mix with its scene layout in worker processes
(:class:`ScenePool`, as in training; ``synth_train_mix_windows_per_s``) and each family
of the mix alone, plus the CPU time of building one scene (numpy layout and cameras, no
rendering) per family. Ends with ``name=value`` lines.

Usage: python bench/synth.py [--device cuda|cpu] [--threads N] [--batch-size B]
                             [--seconds 5] [--gt-points 100000] [--cases all|base|train]
                             [--workers N] [--mesh-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch

from nova3r_ros.synth import SynthConfig, benchmark_config, generate_batch
from nova3r_ros.synth.generate import build_scene
from nova3r_ros.synth.scene_pool import Prefetcher, ScenePool, default_workers
from nova3r_ros.synth.training_mix import FAMILY_WEIGHTS, training_config

RESOLUTIONS = ((128, 96), (256, 192))
TRAIN_VIEWS = 4  # train/loop.py draws 1, 1, 2 or 4 views; 4 is the costliest
TRAIN_RES = (128, 96)  # width x height, the model's input size (model/config.py)
TRAIN_GT_POINTS = 4096  # TrainConfig.n_points


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
    ap.add_argument("--cases", choices=("all", "base", "train"), default="all")
    ap.add_argument("--mesh-dir", default=None, help="also time the mix with these meshes")
    ap.add_argument("--train-size", default="x".join(map(str, TRAIN_RES)),
                    help="WxH of the training cases: the model's input size (256x192 for "
                    "a model from `python -m nova3r_ros.model.upscale`)")  # fmt: skip
    ap.add_argument("--workers", type=int, default=-1,
                    help="scene-layout processes, training mix (-1: cores - 1)")  # fmt: skip
    args = ap.parse_args()
    device = torch.device(args.device)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    bs = args.batch_size or (64 if device.type == "cuda" else 2)
    results: dict[str, object] = {}
    if args.cases in ("all", "base"):
        base_cases(args, device, bs, results)
    if args.cases in ("all", "train"):
        train_cases(args, device, bs, results)
    results["batch_size"] = bs
    results["threads"] = threads
    results["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    for k, v in results.items():
        print(f"{k}={v}")


def base_cases(args, device: torch.device, bs: int, results: dict) -> None:
    """Time the original cases: 4-view tabletop, batched vs per-view, at two resolutions."""
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
    results["views"] = 4
    results["gt_points"] = args.gt_points


def pooled_throughput(cfgs, bs: int, workers: int, seconds: float, device) -> float:
    """Windows/s of the training mix with scene layout in a :class:`ScenePool` (prefetched).

    The layout of the next two batches runs in ``workers`` processes while the device
    renders the current one, as in training (``train/data.py``); pool start-up is not timed.
    """
    with ScenePool(workers) as pool:
        pre = Prefetcher(pool, lambda i: ([i * bs + k for k in range(bs)], cfgs[i % len(cfgs)]))
        pre.start()

        def step(_i):
            seeds, cfg, built = pre.next()
            return generate_batch(seeds, config=cfg, built=built)

        for _ in range(3):  # worker start-up (spawn + imports) and CUDA warm-up
            step(0)
        return throughput(step, bs, seconds, device)


def train_cases(args, device: torch.device, bs: int, results: dict) -> None:
    """Time training-size windows: benchmark tabletop, the training mix, each family."""
    w, h = (int(v) for v in args.train_size.split("x"))
    size = dict(height=h, width=w, n_gt_points=TRAIN_GT_POINTS, device=str(device))
    tabletop = benchmark_config(TRAIN_VIEWS, **size)
    rng = np.random.default_rng(0)
    mix = [training_config(rng, TRAIN_VIEWS, h, w, TRAIN_GT_POINTS, device=str(device))
           for _ in range(64)]  # fmt: skip

    def run(cfgs):
        return lambda i: generate_batch(i * bs, batch_size=bs, config=cfgs[i % len(cfgs)])

    fast = throughput(run([tabletop]), bs, args.seconds, device)
    mixed = throughput(run(mix), bs, args.seconds, device)
    workers = args.workers if args.workers >= 0 else default_workers()
    pooled = pooled_throughput(mix, bs, workers, args.seconds, device) if workers else mixed
    print(f"train size {w}x{h}, {TRAIN_VIEWS} views, {TRAIN_GT_POINTS} GT points (B={bs}): "
          f"tabletop benchmark {fast:.1f} windows/s, training mix {mixed:.1f} in process, "
          f"{pooled:.1f} with scene layout in {workers} worker processes")  # fmt: skip
    results["synth_train_benchmark_tabletop_windows_per_s"] = round(fast, 2)
    results["synth_train_mix_in_process_windows_per_s"] = round(mixed, 2)
    results["synth_train_mix_windows_per_s"] = round(pooled, 2)
    results["synth_train_mix_workers"] = workers
    results["synth_train_mix_pool_vs_in_process"] = round(pooled / mixed, 2)
    results["synth_train_mix_vs_benchmark_tabletop"] = round(pooled / fast, 3)
    if args.mesh_dir and workers:  # as training draws them: YCB meshes mixed into the scenes
        meshes = [replace(c, mesh_dir=args.mesh_dir) for c in mix]
        rate = pooled_throughput(meshes, bs, workers, args.seconds, device)
        print(f"training mix with meshes from {args.mesh_dir}: {rate:.1f} windows/s")
        results["synth_train_mix_meshes_windows_per_s"] = round(rate, 2)
    for family in FAMILY_WEIGHTS:
        cfgs = [c for c in mix if c.family == family] or [
            training_config(rng, TRAIN_VIEWS, h, w, TRAIN_GT_POINTS, device=str(device),
                            family=family)]  # fmt: skip
        rate = throughput(run(cfgs), bs, args.seconds / 2, device)
        t0 = time.perf_counter()
        for s in range(20):
            build_scene(s, cfgs[0])
        results[f"synth_train_mix_{family}_windows_per_s"] = round(rate, 2)
        results[f"synth_build_ms_{family}"] = round((time.perf_counter() - t0) / 20 * 1e3, 2)
    results["train_views"] = TRAIN_VIEWS
    results["train_resolution"] = f"{w}x{h}"
    results["train_gt_points"] = TRAIN_GT_POINTS


if __name__ == "__main__":
    main()
