"""``nova3r demo``: a synthetic multi-camera tabletop bag through the node, scored.

Steps (each prints progress): 1. make a small bag (:mod:`nova3r_ros.bags.make`: 2 RGB-D
cameras on a rig turning 20 degrees over 4 steps, realsense-like 16UC1 depth, TF rooted
at ``map``; procedural objects only, nothing outside the package); 2. run the node on
it in process, lock-step (:mod:`nova3r_ros.ros.lockstep`; model backend with the
packaged checkpoint on the CPU, 2-keyframe windows); 3. score every window against
the bag's sidecar beside the depth-only oracle (:mod:`nova3r_ros.eval.bag_eval`);
4. write ``OUT/cloud.ply`` (the last window's published cloud: x y z rgb, ``observed``,
``confidence``; world frame ``map``), ``OUT/occupancy.png``, ``OUT/reconstruction.png``,
``OUT/metrics.json`` (the table's rows + what ran), and print a short table.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHORT_KEYS = (
    ("fscore@1cm", "F@1cm"),
    ("fscore@2cm", "F@2cm"),
    ("precision@1cm", "P@1cm"),
    ("recall@1cm", "R@1cm"),
    ("hidden_recall@2cm", "hidden R@2cm"),
    ("completed_share@2cm", "completed share@2cm"),
    ("published", "published"),
)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs (defaults: the ``make demo`` run)."""

    out: str = "out/demo"
    cameras: int = 2
    steps: int = 4
    window_size: int = 2
    height: int = 192
    width: int = 256
    seed: int = 1_200_012  # a tabletop with 7 objects (procedural), not a benchmark seed
    backend: str = "model"
    device: str = "cpu"
    n_points: int = 4096
    ode_steps: int = 6


def _prepare_out(out: Path) -> Path:
    """Create ``out``; an old demo bag in it is replaced. ValueError if ``out`` is a file."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is an existing file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    bag = out / "bag"
    if bag.exists():
        if not (bag / "ground_truth.json").is_file():
            raise ValueError(
                f"{bag} exists and is not a demo bag; remove it or pick another --out"
            )
        shutil.rmtree(bag)
    return bag


def short_table(result: dict[str, dict]) -> str:
    """Return a small markdown table of the demo's headline metrics."""
    keys = [(k, n) for k, n in SHORT_KEYS if any(k in m for m in result.values())]
    lines = ["| method | " + " | ".join(n for _, n in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for method, m in result.items():
        cells = [f"{m[k]:.3f}" if isinstance(m.get(k), float) and m[k] == m[k] else "-"
                 for k, _ in keys]  # fmt: skip
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_demo(cfg: DemoConfig, log=None) -> dict:
    """Run the demo (module docstring); return the metrics document."""
    from nova3r_ros.bags.make import BagOptions, make_synthetic
    from nova3r_ros.bags.sequence import SequenceConfig
    from nova3r_ros.bags.sidecar import read_sidecar
    from nova3r_ros.core.ply import write_ply
    from nova3r_ros.demo_figures import occupancy_figure, reconstruction_figure
    from nova3r_ros.eval.bag_eval import bag_sequence, score_node, to_reconstruction
    from nova3r_ros.ros.lockstep import run_lockstep

    def say(text: str) -> None:
        (log or (lambda s: print(s, file=sys.stderr, flush=True)))(text)

    t0 = time.perf_counter()
    out = Path(cfg.out)
    bag = _prepare_out(out)
    say(f"[demo 1/4] making a synthetic {cfg.cameras}-camera tabletop bag ({cfg.steps} steps)")
    seq_cfg = SequenceConfig(cameras=cfg.cameras, steps=cfg.steps, height=cfg.height,
                             width=cfg.width, seed=cfg.seed)  # fmt: skip
    make_synthetic(bag, seq_cfg, BagOptions(depth_encoding="16UC1"), log=say)
    t_bag = time.perf_counter() - t0
    say(
        f"[demo 2/4] running the node ({cfg.backend} backend, {cfg.device}, {cfg.n_points} "
        f"points, {cfg.ode_steps} ODE steps) on it in lock-step; first the model loads"
    )
    side = read_sidecar(bag)
    params = {"backend": cfg.backend, "device": cfg.device, "n_points": cfg.n_points,
              "ode_steps": cfg.ode_steps}  # fmt: skip
    run = run_lockstep(str(bag), side, cfg.window_size, params, log=say)
    t_node = time.perf_counter() - t0 - t_bag
    say(f"[demo 3/4] scoring {len(run.steps)} windows against the bag's ground truth")
    seq = bag_sequence(str(bag))
    published = {s: to_reconstruction(w.points, w.colors, w.observed, w.confidence,
                                      w.T_world_cams) for s, w in run.windows.items()}  # fmt: skip
    label = f"node ({run.backend})"
    result, per_window = score_node(seq, published, cfg.window_size, label=label, log=say)
    result = {"oracle (depth only)": result["oracle"], label: result[label]}
    say("[demo 4/4] writing cloud.ply, reconstruction.png, occupancy.png, metrics.json")
    last = run.windows.get(run.steps[-1]) if run.steps else None
    cams = []
    if last is not None:
        write_ply(out / "cloud.ply", last.points, last.colors,
                  extra={"observed": last.observed.astype(np.float32),
                         "confidence": last.confidence})  # fmt: skip
        Ks = {v.camera: v.K for v in seq.views}
        names = side.camera_names
        for i, T in enumerate(last.T_world_cams[-len(names):]):  # fmt: skip
            cams.append((T, Ks[names[i % len(names)]], cfg.width, cfg.height))
        n_done = int(last.observed.size - last.observed.sum())
        reconstruction_figure(out / "reconstruction.png", last.points, last.observed, cams,
                              seq.side.points, f"published cloud of the last window: "
                              f"{len(last.points)} points, {n_done} completed")  # fmt: skip
    info = run.grid_info or {"resolution": 0.05, "origin": (0.0, 0.0)}
    xy = np.array([T[:2, 3] for T, *_ in cams]).reshape(-1, 2)
    occupancy_figure(out / "occupancy.png", run.grid, info["resolution"], info["origin"], xy,
                     "~/occupancy after the last window")  # fmt: skip
    doc = {
        "methods": result,
        "windows": len(run.steps),
        "windows_failed": {str(k): v for k, v in run.failed.items()},
        "bag": str(bag),
        "config": cfg.__dict__,
        "seconds": {"make_bag": t_bag, "node": t_node, "total": time.perf_counter() - t0},
        "per_window": per_window,
    }
    (out / "metrics.json").write_text(json.dumps(doc, indent=1, default=float))
    return doc
