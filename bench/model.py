"""Benchmark: model inference speed (``infer`` end to end) against the depth backend.

Times ``infer(model, window, InferenceConfig(n_points, steps, sampler))`` (prepare,
encode, decode and the copy back; CUDA is synchronised inside ``infer``) on synthetic
256x192 RGB-D windows with known intrinsics and poses (``benchmark_config``; 8 and 16
views reuse the 4-view config), median of ``--repeats`` runs after ``--warmup`` runs,
with the peak GPU memory per case (``torch.cuda.max_memory_allocated``, weights
included). Baseline in the same process: the pixel-aligned depth backend
(``reconstruct(window, "depth")``, numpy on the CPU) on the same windows.

Headline cases: on CUDA, 8 views x 16,384 points with the quality and the fast
preset (targets <= 100 ms, <= 30 ms, <= 4 GB); on the CPU, 2 views x 4,096 points
with the fast preset (target <= 3 s), malloc tuned as ``pipeline.load_model`` tunes it on a
CPU (:mod:`nova3r_ros.model.cpu_memory`; ``bench/cpu_memory.py`` times that against glibc's
defaults). Then a table over 1/2/4/8/16 views x 4k/16k/64k
points with the quality preset (on the CPU only ``CPU_TABLE`` unless ``--full``).
Ends with ``name=value`` lines.

Usage: PYTHONPATH=. python bench/model.py [--device auto|cuda|cpu]
           [--checkpoint DIR | --config tiny] [--warmup N] [--repeats N] [--full]
           [--quality-steps 25] [--quality-sampler euler] [--fast-steps 6]
           [--fast-sampler euler] [--threads N] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from _timing import median_ms

from nova3r_ros.model.checkpoint import load_checkpoint
from nova3r_ros.model.config import CONFIGS
from nova3r_ros.model.cpu_memory import keep_freed_memory
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.network import Nova3r
from nova3r_ros.pipeline import DepthBackendConfig, reconstruct
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

# Decoding presets: (ODE steps, sampler). Change here or with --{quality,fast}-{steps,sampler}.
QUALITY = (25, "euler")  # the evaluation settings (README results)
FAST = (6, "euler")  # the fast preset: beats the oracle F@1cm at 1/2/4 views (README)
CHECKPOINT = Path(__file__).resolve().parents[1] / "nova3r_ros/model/checkpoints/base"
HEIGHT, WIDTH = 192, 256
VIEWS = (1, 2, 4, 8, 16)
POINTS = (4_096, 16_384, 65_536)
CPU_TABLE = ((1, 4_096), (2, 4_096), (4, 4_096))  # the CPU table without --full
GPU_HEADLINE = ((8, 16_384, "quality"), (8, 16_384, "fast"))
CPU_HEADLINE = ((2, 4_096, "fast"),)
TARGETS_MS = {("cuda", 8, 16_384, "quality"): 100, ("cuda", 8, 16_384, "fast"): 30,
              ("cpu", 2, 4_096, "fast"): 3_000}  # fmt: skip
TARGET_GPU_MEM_GB = 4.0


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores, {torch.get_num_threads()} threads"


def make_window(n_views: int, device: torch.device, seed: int):
    """Return a 256x192 RGB-D window with known K and poses (8/16 views: the 4-view config)."""
    cfg = benchmark_config(min(n_views, 4), height=HEIGHT, width=WIDTH, device=str(device))
    if n_views > 4:
        cfg = cfg.replace(n_views=n_views)
    return generate_window(seed, cfg)[0]


def kpts(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    ap.add_argument("--checkpoint", default=str(CHECKPOINT), help="checkpoint directory")
    ap.add_argument("--config", choices=("tiny",), help="random tiny model (quick CPU check)")
    ap.add_argument("--warmup", type=int, default=None, help="default 3 on cuda, 1 on cpu")
    ap.add_argument("--repeats", type=int, default=None, help="default 10 on cuda, 3 on cpu")
    ap.add_argument("--full", action="store_true", help="the whole table on the CPU too")
    ap.add_argument("--quality-steps", type=int, default=QUALITY[0])
    ap.add_argument("--quality-sampler", default=QUALITY[1], choices=("euler", "heun"))
    ap.add_argument("--fast-steps", type=int, default=FAST[0])
    ap.add_argument("--fast-sampler", default=FAST[1], choices=("euler", "heun"))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--seed", type=int, default=0, help="synthetic window seed")
    args = ap.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but no CUDA device is available")
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    kept = keep_freed_memory() if not cuda else False  # as pipeline.load_model does on a CPU
    warmup = args.warmup if args.warmup is not None else (3 if cuda else 1)
    repeats = args.repeats or (10 if cuda else 3)
    presets = {"quality": (args.quality_steps, args.quality_sampler),
               "fast": (args.fast_steps, args.fast_sampler)}  # fmt: skip

    if args.config:
        torch.manual_seed(0)
        model, source = Nova3r(CONFIGS[args.config]).to(device).eval(), f"random {args.config}"
    else:
        model, source = load_checkpoint(args.checkpoint, device), args.checkpoint
    mcfg = model.cfg
    dev = "gpu" if cuda else "cpu"
    prefix = dev if not args.config else f"{args.config}_{dev}"
    print(f"# device: {device_name(device)}")
    print(f"# model: {source} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
          f"parameters in all modules, input {mcfg.image_width}x{mcfg.image_height}, max_views "
          f"{mcfg.max_views}, local_context {getattr(mcfg, 'local_context', 0)})")  # fmt: skip
    print("# presets: " + ", ".join(f"{k} {s} {m}" for k, (s, m) in presets.items()))
    print(f"# windows: {WIDTH}x{HEIGHT} RGB-D, known K and poses, seed {args.seed}; "
          f"median of {repeats} after {warmup} warm-up")  # fmt: skip
    print(f"# load average at start: {os.getloadavg()[0]:.2f} (other load skews CPU timings)")
    if not cuda:
        print(f"# malloc keeps freed memory (model.cpu_memory, as the product on a CPU): {kept}")

    windows: dict[int, object] = {}
    depth_ms: dict[int, float] = {}
    results: dict[tuple[int, int, str], tuple[float, float | None]] = {}

    def window(v: int):
        if v not in windows:
            windows[v] = make_window(v, device, args.seed)
            depth_ms[v] = median_ms(lambda: reconstruct(windows[v], "depth", DepthBackendConfig()),
                                max(warmup, 1), max(repeats, 3))  # fmt: skip
        return windows[v]

    def case(v: int, n: int, preset: str) -> tuple[float, float | None]:
        key = (v, n, preset)
        if key not in results:
            w = window(v)
            steps, sampler = presets[preset]
            icfg = InferenceConfig(n_points=n, steps=steps, sampler=sampler)
            if cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
            ms = median_ms(lambda: infer(model, w, icfg), warmup, repeats)
            mem = torch.cuda.max_memory_allocated(device) / 1e9 if cuda else None
            results[key] = (ms, mem)
            print(f"  {v:2d} views {n:6d} points {preset:7s}: {ms:9.1f} ms"
                  + (f", peak {mem:.2f} GB" if mem is not None else ""), flush=True)  # fmt: skip
        return results[key]

    headline = GPU_HEADLINE if cuda else CPU_HEADLINE
    figures: dict[str, float] = {}
    print("\n## Headline")
    rows: list[tuple[int, int, str]] = []
    for v, n, preset in headline:
        if v > mcfg.max_views:
            print(f"  skipped {v} views: the model's max_views is {mcfg.max_views}")
            continue
        ms, _ = case(v, n, preset)
        name = f"{prefix}_{v}v_{kpts(n)}_{preset}"
        figures[f"{name}_ms"] = ms
        figures[f"{name}_vs_depth_backend_ratio"] = ms / depth_ms[v]
        rows.append((v, n, preset))
    if cuda and rows:
        figures[f"{prefix}_peak_mem_gb"] = max(results[r][1] for r in rows)

    table = [(v, n) for v in VIEWS for n in POINTS] if cuda or args.full else CPU_TABLE
    table = [(v, n) for v, n in table if v <= mcfg.max_views]
    print("\n## Table (quality preset)")
    for v, n in table:
        ms, mem = case(v, n, "quality")
        figures.setdefault(f"{prefix}_{v}v_{kpts(n)}_quality_ms", ms)
        if cuda:
            figures.setdefault(f"{prefix}_{v}v_{kpts(n)}_quality_peak_mem_gb", mem)
    for v in sorted(depth_ms):
        figures[f"depth_backend_{v}v_ms"] = depth_ms[v]

    mem_col = " peak GPU mem (GB) |" if cuda else ""
    print(f"\n| views | points | preset (steps, sampler) | model (ms) | depth backend (ms) "
          f"| model / depth |{mem_col} target |")  # fmt: skip
    print("|---:|---:|---|---:|---:|---:|" + ("---:|" if cuda else "") + "---|")
    ordered = rows + [(v, n, "quality") for v, n in table if (v, n, "quality") not in rows]
    for v, n, preset in ordered:
        ms, mem = results[(v, n, preset)]
        steps, sampler = presets[preset]
        target = TARGETS_MS.get((device.type, v, n, preset))
        tgt = f"<= {target} ms" if target else ""
        if cuda and (v, n, preset) in rows:
            tgt += f", <= {TARGET_GPU_MEM_GB:g} GB"
        mem_cell = f" {mem:.2f} |" if cuda else ""
        print(f"| {v} | {n:,} | {preset} ({steps}, {sampler}) | {ms:.1f} | {depth_ms[v]:.1f} "
              f"| {ms / depth_ms[v]:.1f} |{mem_cell} {tgt} |")  # fmt: skip

    print(f"\n# load average at end: {os.getloadavg()[0]:.2f}")
    for name, value in figures.items():
        print(f"{name}={value:.3f}" if value < 100 else f"{name}={value:.1f}")


if __name__ == "__main__":
    main()
