"""Fit the published cloud's confidence model on validation windows; report the gate statistics.

Only windows that the default gate lets through are fitted: the confidence of a
gated window's points is never published.

Validation windows only (seeds from 1,500,000; never the benchmark seeds 1,000,000-
1,000,099, never real frames): for each window the decoder's points (seeded) are
decoded once, made depth-consistent and passed through ``publish`` with the gate off
and ``min_confidence`` 0, so every completion candidate comes back with its features.
Label: within 5 cm of the ground-truth complete surface. A logistic regression
(IRLS, L2) is fitted on the first half of the windows and its expected calibration
error is measured on the second half; the fit on all windows is written as
``calibration.json`` into the checkpoint (``--write``). The gate statistics
(agreement, free share, near points) of every window are printed as quantiles, so the
gate's thresholds can be chosen on validation data.

Usage: PYTHONPATH=. python scripts/calibrate_confidence.py --checkpoint DIR
       [--windows 40] [--families tabletop room] [--write] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from nova3r_ros.eval.frustum import calibration_error
from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.model.checkpoint import CALIBRATION_FILE, load_checkpoint
from nova3r_ros.model.completed_confidence import FEATURES, Calibration
from nova3r_ros.model.inference import InferenceConfig, infer, placed_views
from nova3r_ros.model.published_cloud import PublishConfig, publish
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

VALIDATION_SEED = 1_500_000
TAU = 0.05


def window_samples(model, window, gt, steps: int, points: int):
    """Features (C, F), labels (C,) and gate stats of one validation window."""
    dev = next(model.parameters()).device
    raw = infer(model, window, InferenceConfig(n_points=points, steps=steps, publish=None,
                                               depth_consistency=None))  # fmt: skip
    cand = infer(model, window, InferenceConfig(n_points=points, steps=steps, publish=None))
    T0 = window.views[0].T_world_cam
    to_ref = np.linalg.inv(T0)

    def ref(p):
        return torch.from_numpy((p @ to_ref[:3, :3].T + to_ref[:3, 3]).astype(np.float32)).to(dev)

    T = torch.from_numpy(placed_views(window)).float().to(dev)
    depth = torch.from_numpy(np.stack([v.depth for v in window.views])).to(dev)
    K = torch.from_numpy(np.stack([v.K for v in window.views])).float().to(dev)
    rgb = torch.from_numpy(np.stack([v.image for v in window.views])).to(dev)
    open_gate = PublishConfig(min_confidence=0.0, gate_min_agreement=0.0, gate_min_near_share=0.0,
                              gate_max_free=1.0)  # fmt: skip
    pub = publish(ref(raw.points), ref(cand.points), depth, K, T, rgb, open_gate,
                  keep_features=True)  # fmt: skip
    completed = ~pub.observed.cpu().numpy()
    pts = pub.points.cpu().numpy()[completed].astype(np.float64)
    world = pts @ T0[:3, :3].T + T0[:3, 3]
    label = nn_distances(world, gt.points.astype(np.float64)) < TAU
    feats = pub.features.cpu().numpy().astype(np.float64)
    return feats, label, pub.stats


def default_gate(stats: dict) -> bool:
    """Whether the default PublishConfig's gate rejects a window with these statistics."""
    cfg = PublishConfig()
    return bool(stats["near_share"] < cfg.gate_min_near_share
                or stats["agreement"] < cfg.gate_min_agreement
                or stats["free_share"] > cfg.gate_max_free)  # fmt: skip


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50):
    """Weights (F,) and bias of a logistic regression (IRLS with an L2 penalty)."""
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(a @ w, -30, 30)))
        g = a.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        h = (a * (p * (1 - p))[:, None]).T @ a + l2 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def fit_isotonic(score: np.ndarray, y: np.ndarray, bins: int = 20):
    """Knots (x, y) of a monotone map score -> share correct (quantile bins, PAV)."""
    edges = np.unique(np.quantile(score, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, len(edges) - 2)
    xs, ys, ws = [], [], []
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.any():
            xs.append(float(score[sel].mean()))
            ys.append(float(y[sel].mean()))
            ws.append(float(sel.sum()))
    blocks = [[x, yv, w, 1] for x, yv, w in zip(xs, ys, ws, strict=True)]
    merged = []
    for blk in blocks:  # pool adjacent violators
        merged.append(blk)
        while len(merged) > 1 and merged[-2][1] > merged[-1][1]:
            b2, b1 = merged.pop(), merged.pop()
            w = b1[2] + b2[2]
            merged.append([(b1[0] * b1[2] + b2[0] * b2[2]) / w,
                           (b1[1] * b1[2] + b2[1] * b2[2]) / w, w, 0])  # fmt: skip
    kx = [b[0] for b in merged]
    ky = [b[1] for b in merged]
    keep = [0] + [i for i in range(1, len(kx)) if kx[i] > kx[i - 1] + 1e-9]
    kx, ky = [kx[i] for i in keep], [ky[i] for i in keep]
    return (kx, ky) if len(kx) >= 2 else ([], [])


def main(argv=None) -> int:
    """Fit, report and (with --write) store the calibration; see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--windows", type=int, default=40, help="windows per view count and family")
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--families", nargs="+", default=["tabletop", "room"])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--points", type=int, default=16_384)
    ap.add_argument("--mesh-dir", default=None)
    ap.add_argument("--write", action="store_true", help="write calibration.json")
    ap.add_argument("--out", default=None, help="directory for calibration_report.json")
    args = ap.parse_args(argv)
    model = load_checkpoint(args.checkpoint, args.device)
    feats, labels, group, stats = [], [], [], []
    seed = VALIDATION_SEED
    for family in args.families:
        for v in args.views:
            cfg = benchmark_config(v, family=family, mesh_dir=args.mesh_dir)
            for i in range(args.windows):
                window, gt = generate_window(seed, cfg)
                seed += 1
                f, y, st = window_samples(model, window, gt, args.steps, args.points)
                gated = default_gate(st)
                stats.append(
                    {
                        "family": family,
                        "views": v,
                        "gated_by_default": gated,
                        "positive_share": float(y.mean()) if len(y) else None,
                        **st,
                    }
                )
                if gated:  # its completions are never published: not part of the fit
                    continue
                feats.append(f)
                labels.append(y)
                group.append(np.full(len(y), i % 2))
            print(f"[calibrate] {family} {v} view(s): {args.windows} windows", file=sys.stderr)
    if not feats:
        print("calibrate: every validation window was gated; nothing to fit", file=sys.stderr)
        return 1
    x, y, half = np.concatenate(feats), np.concatenate(labels), np.concatenate(group)
    w, b = fit_logistic(x[half == 0], y[half == 0].astype(float))
    first = Calibration(tuple(w), b)
    kx, ky = fit_isotonic(first.score(torch.from_numpy(x[half == 0])).numpy(), y[half == 0])
    first = Calibration(tuple(w), b, knots_x=tuple(kx), knots_y=tuple(ky))
    held = first.confidence(torch.from_numpy(x[half == 1])).numpy()
    report = {
        "features": list(FEATURES),
        "points": len(y),
        "positive_share": float(y.mean()),
        "heldout_ece@5cm": calibration_error(held, y[half == 1]),
        "heldout_share_above_0.5": float((held >= 0.5).mean()),
        "heldout_precision_above_0.5": float(y[half == 1][held >= 0.5].mean())
        if (held >= 0.5).any()
        else float("nan"),
        "windows_gated_by_default": {
            fam: float(np.mean([s["gated_by_default"] for s in stats if s["family"] == fam]))
            for fam in args.families
        },
    }
    kept = [s for s in stats if not s["gated_by_default"]]
    fam = np.concatenate([np.full(len(lab), s["family"]) for lab, s in
                          zip(labels, kept, strict=True)])  # fmt: skip
    for name in args.families:
        sel = fam[half == 1] == name
        report[f"heldout_ece@5cm_{name}"] = calibration_error(held[sel], y[half == 1][sel])
    for key in ("agreement", "free_share", "near_points"):
        vals = np.array([s[key] for s in stats if key in s], float)
        report[key + "_quantiles"] = {q: float(np.quantile(vals, q)) for q in (0.01, 0.05, 0.5)}
    w_all, b_all = fit_logistic(x, y.astype(float))
    logistic = Calibration(tuple(float(v) for v in w_all), b_all)
    kx, ky = fit_isotonic(logistic.score(torch.from_numpy(x)).numpy(), y)
    calib = Calibration(logistic.weights, b_all,
                        f"validation seeds {VALIDATION_SEED}+ ({', '.join(args.families)}; "
                        f"{args.views} views; {len(y)} points)", tuple(kx), tuple(ky))  # fmt: skip
    report["weights"], report["bias"] = list(calib.weights), calib.bias
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "calibration_report.json").write_text(json.dumps(report, indent=1))
        (Path(args.out) / "calibration_windows.json").write_text(json.dumps(stats))
    if args.write:
        calib.save(Path(args.checkpoint) / CALIBRATION_FILE)
        print(f"wrote {Path(args.checkpoint) / CALIBRATION_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
