"""Choose the depth-consistency thresholds on validation windows (never the eval seeds).

Decodes each synthetic RGB-D window once (posed, as in the benchmark), then applies
every candidate :class:`DepthConsistency` to the same decoded points and prints the
mean metric-geometry scores per candidate, beside the raw decoder output and the
pixel-aligned oracle. Validation seeds start at 1,500,000: apart from training
(< 1,000,000) and from ``nova3r eval``'s benchmark seeds (1,000,000-1,000,099).

Usage: PYTHONPATH=. python scripts/tune_consistency.py [--views 1 2 4] [--windows 40]
           [--first 1500000] [--device auto] [--checkpoint DIR] [--no-grid]
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from nova3r_ros.eval import baselines, metrics
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.depth_consistency import DepthConsistency, apply_depth_consistency
from nova3r_ros.model.inference import InferenceConfig, infer, placed_views
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

KEYS = ("fscore@1cm", "precision@1cm", "recall@1cm", "hidden_recall@1cm",
        "hidden_recall@2cm", "fscore@2cm", "duplication")  # fmt: skip


def candidates(grid: bool = True) -> dict[str, DepthConsistency | None]:
    """Raw output, the defaults, and a grid over the snap and plane distances."""
    out: dict[str, DepthConsistency | None] = {"raw": None, "default": DepthConsistency()}
    if not grid:
        return out
    for snap, plane in itertools.product((0.02, 0.03, 0.04), (0.0, 0.02, 0.03, 0.04, 0.05)):
        out[f"snap{snap}_plane{plane}"] = DepthConsistency(snap_m=snap, plane_m=plane)
    return out


def score(pred: np.ndarray, gt: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Metric-geometry keys of one cloud against the GT (world frame, metres)."""
    m = metrics.metric_geometry(pred, gt)
    m.update(metrics.hidden_recall(pred, gt, observed))
    m.update(metrics.density_metrics(pred))
    return m


def _score_job(job):
    name, pred, gt, observed = job
    return name, score(pred, gt, observed)


def main() -> None:
    """Decode, apply the candidates, print a table per view count."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--windows", type=int, default=40)
    ap.add_argument("--first", type=int, default=1_500_000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--checkpoint", default=str(PACKAGED_CHECKPOINT))
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--no-grid", action="store_true", help="only the raw output and the defaults")
    args = ap.parse_args()
    dev = (
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    model = load_checkpoint(args.checkpoint, dev)
    cands = candidates(not args.no_grid)
    raw_cfg = InferenceConfig(depth_consistency=None)
    for n_views in args.views:
        synth = benchmark_config(n_views, family="tabletop", height=192, width=256)
        jobs = []
        for seed in range(args.first, args.first + args.windows):
            window, gt = generate_window(seed, synth)
            oracle = baselines.oracle_raw(window, gt).points
            rec = infer(model, window, raw_cfg)  # world frame (posed)
            T0 = window.views[0].T_world_cam
            ref = torch.from_numpy((rec.points - T0[:3, 3]) @ T0[:3, :3]).float().to(dev)
            T_rel = placed_views(window)  # every view: the windows are posed
            views = window.views[: len(T_rel)]
            arrays = ([v.depth for v in views], [v.K for v in views], T_rel)
            tensors = [torch.from_numpy(np.stack(a)).float().to(dev) for a in arrays]
            jobs.append(("oracle", oracle, gt.points, oracle))
            for name, cfg in cands.items():
                pts = rec.points.astype(np.float64)
                if cfg is not None:
                    out = apply_depth_consistency(
                        ref, *tensors, cfg, torch.Generator(dev).manual_seed(0)
                    )
                    pts = out[0].cpu().numpy().astype(np.float64) @ T0[:3, :3].T + T0[:3, 3]
                jobs.append((name, pts, gt.points, oracle))
        table: dict[str, list[dict]] = {}
        with ProcessPoolExecutor(args.workers) as pool:
            for name, m in pool.map(_score_job, jobs, chunksize=4):
                table.setdefault(name, []).append(m)
        print(f"\n## {n_views} view(s), {args.windows} windows from seed {args.first}\n")
        print("| candidate | " + " | ".join(KEYS) + " |")
        print("|---" * (len(KEYS) + 1) + "|")
        for name, rows in table.items():
            vals = " | ".join(f"{np.nanmean([r.get(k, np.nan) for r in rows]):.3f}" for k in KEYS)
            print(f"| {name} | {vals} |", flush=True)


if __name__ == "__main__":
    main()
