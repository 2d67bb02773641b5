"""Benchmark: CPU inference with malloc keeping the memory it frees, against glibc's defaults.

Times ``infer`` (the fast preset by default: 2 views x 4,096 points, 6 Euler steps; the
synthetic 256x192 RGB-D window of ``bench/model.py``) in one process: first with glibc's
malloc as it starts (the baseline), then after
:func:`nova3r_ros.model.cpu_memory.keep_freed_memory`, which ``pipeline.load_model``
calls for a CPU model. The tuning is process-wide and cannot be undone, so the baseline
always runs first; each phase has its own warm-up. Per phase: the median wall time of
``--repeats`` runs and, over those runs, the mean page faults (minor) and system CPU
seconds per window. The model and the window are the same objects in both phases.

Usage: PYTHONPATH=bench:. python bench/cpu_memory.py [--views 2] [--points 4096]
           [--steps 6] [--warmup 1] [--repeats 5] [--threads N] [--seed 0]
Ends with ``name=value`` lines.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import torch
from model import CHECKPOINT, make_window

from nova3r_ros.model.checkpoint import load_checkpoint
from nova3r_ros.model.cpu_memory import is_kept, keep_freed_memory
from nova3r_ros.model.inference import InferenceConfig, infer


def phase(fn, warmup: int, repeats: int) -> tuple[float, float, float]:
    """Return (median ms, mean minor page faults, mean system seconds) of ``fn()`` per run."""
    for _ in range(warmup):
        fn()
    times, faults, system = [], [], []
    for _ in range(repeats):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        times.append((t1 - t0) * 1e3)
        faults.append(r1.ru_minflt - r0.ru_minflt)
        system.append(r1.ru_stime - r0.ru_stime)
    return statistics.median(times), statistics.fmean(faults), statistics.fmean(system)


def main() -> int:
    """Run both phases and print the comparison (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--points", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.views < 1 or args.points < 1 or args.steps < 1 or args.repeats < 1 or args.warmup < 0:
        ap.error("--views, --points, --steps and --repeats must be >= 1, --warmup >= 0")
    if is_kept():
        ap.error("malloc is already tuned in this process: the baseline would not be glibc's")
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    cpu = torch.device("cpu")
    model = load_checkpoint(CHECKPOINT, cpu)
    window = make_window(args.views, cpu, args.seed)
    cfg = InferenceConfig(n_points=args.points, steps=args.steps, sampler="euler")
    print(
        f"# CPU, {torch.get_num_threads()} threads; {args.views} views x {args.points:,} points,"
        f" {args.steps} steps; median of {args.repeats} after {args.warmup} warm-up per phase"
    )
    print(f"# load average at start: {os.getloadavg()[0]:.2f} (other load skews CPU timings)")

    base = phase(lambda: infer(model, window, cfg), args.warmup, args.repeats)
    print(f"  glibc defaults     : {base[0]:8.1f} ms, {base[1]:9.0f} page faults, "
          f"{base[2]:.2f} s system per window", flush=True)  # fmt: skip
    kept = keep_freed_memory()
    tuned = phase(lambda: infer(model, window, cfg), args.warmup, args.repeats)
    print(f"  keep freed memory  : {tuned[0]:8.1f} ms, {tuned[1]:9.0f} page faults, "
          f"{tuned[2]:.2f} s system per window (tuned: {kept})")  # fmt: skip
    print(f"  ratio (defaults / kept): {base[0] / tuned[0]:.2f}x")
    print(f"# load average at end: {os.getloadavg()[0]:.2f}")
    name = f"cpu_{args.views}v_{args.points}p_{args.steps}s"
    print(f"malloc_tuned={int(kept)}")
    print(f"{name}_defaults_ms={base[0]:.1f}")
    print(f"{name}_kept_ms={tuned[0]:.1f}")
    print(f"{name}_defaults_vs_kept_ratio={base[0] / tuned[0]:.3f}")
    print(f"{name}_defaults_page_faults={base[1]:.0f}")
    print(f"{name}_kept_page_faults={tuned[1]:.0f}")
    print(f"{name}_defaults_system_s={base[2]:.3f}")
    print(f"{name}_kept_system_s={tuned[2]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
