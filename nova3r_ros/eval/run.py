"""``nova3r eval``: run methods on the same synthetic windows and write ``metrics.json``.

Every window is generated with depth (so that the hidden set, defined by the
valid input depth, exists); methods that take RGB only get the window with its
depth stripped. Methods:

    ``oracle``         raw pixel-aligned back-projection with the true poses
    ``oracle_merged``  the same, merged per 5 mm voxel
    ``tsdf``           Open3D TSDF fusion with the true poses
    ``colmap``         classical poses from the images (SIFT + E + PnP), poses only
    ``model``          the network, through ``pipeline.reconstruct`` (model backend)

``metrics.json`` maps each method to one flat dict of DESIGN.md's keys, averaged
over windows (NaN entries, e.g. hidden recall with nothing hidden, are skipped).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nova3r_ros.core.occupancy import grid_from_voxels, occupied_voxels
from nova3r_ros.core.transforms import se3_inverse, transform_points
from nova3r_ros.core.types import GroundTruth, Reconstruction, View, Window
from nova3r_ros.eval import baselines, metrics
from nova3r_ros.eval.data import bag_windows, parse_data, sevenscenes_windows, synthetic_windows

GEOMETRY_METHODS = ("oracle", "oracle_merged", "tsdf", "model")
METHODS = (*GEOMETRY_METHODS, "colmap")
GRID_BAND = {"tabletop": (0.01, 0.5), "room": (0.1, 1.8)}  # z band (m) of the 2D grid


@dataclass
class EvalConfig:
    """What to evaluate.

    Attributes:
        data: ``synthetic:FIRST-LAST`` (seed range; training uses seeds < 1,000,000),
            ``7scenes:DIR`` or ``bag:PATH`` (see :mod:`nova3r_ros.eval.data`).
        n_views: views per window (the amodal benchmark uses 1, 2 and 4).
        spread: azimuth range (deg) the synthetic views cover; None = the benchmark's.
        windows: how many windows of a 7-Scenes sequence.
        family: "tabletop" or "room".
        methods: subset of ``METHODS``.
        height, width: image size.
        rgb_only: methods see no depth (the oracle still defines the hidden set).
        unposed: methods see no camera poses (the model must estimate them).
        mesh_dir: optional OBJ directory for the scenes; mesh_names: which of them.
        out: directory for ``metrics.json`` and ``per_window.json``.

    """

    data: str = "synthetic:1000000-1000099"
    n_views: int = 1
    spread: float | None = None
    windows: int = 10
    family: str = "tabletop"
    methods: Sequence[str] = ("oracle", "oracle_merged", "tsdf", "colmap")
    height: int = 192
    width: int = 256
    rgb_only: bool = False
    unposed: bool = False
    mesh_dir: str | None = None
    mesh_names: Sequence[str] | None = None
    out: str | None = None
    model_fn: Callable[[Window], Reconstruction] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.source = parse_data(self.data)
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; expected some of {METHODS}")
        if self.windows < 1 or self.n_views < 1:
            raise ValueError("windows and n_views must be >= 1")
        if self.family not in GRID_BAND:
            raise ValueError(f"family must be one of {sorted(GRID_BAND)}, got {self.family!r}")
        if "model" in self.methods and self.model_fn is None:
            raise ValueError("method 'model' needs a model (checkpoint) to run")


def strip_inputs(window: Window, depth: bool, poses: bool) -> Window:
    """Return the window without depth and/or without known poses."""
    return Window([View(v.image, None if depth else v.depth, v.K,
                        None if poses else v.T_world_cam, v.stamp, v.frame_id, v.camera)
                   for v in window.views])  # fmt: skip


def _gt_in_frame(rec: Reconstruction, gt: GroundTruth) -> np.ndarray:
    """GT points expressed in the reconstruction's frame (world, or view 0's optical frame)."""
    if rec.frame == "reference":
        return transform_points(se3_inverse(gt.T_world_cam[0]), gt.points)
    return gt.points


def geometry_metrics(
    rec: Reconstruction,
    gt: GroundTruth,
    observed_world: np.ndarray,
    family: str,
    complete: bool = True,
) -> dict[str, float]:
    """All cloud metrics of one method on one window.

    With ``complete`` False (real data: the reference is a fusion of observed
    surfaces) hidden recall and the occupancy IoUs are not defined and left out.
    """
    gt_pts = _gt_in_frame(rec, gt)
    observed = observed_world
    if rec.frame == "reference":
        observed = transform_points(se3_inverse(gt.T_world_cam[0]), observed_world)
    centre = np.zeros(3) if rec.frame == "reference" else gt.T_world_cam[0][:3, 3]
    out: dict[str, float] = {}
    if len(rec) == 0:
        return {"fscore@1cm": 0.0, "fscore@2cm": 0.0, "fscore@5cm": 0.0}
    out.update(metrics.normalized_fscores(rec.points, gt_pts, centre))
    out.update(metrics.density_metrics(rec.points))
    if rec.scale_mode == "metric":
        out.update(metrics.metric_geometry(rec.points, gt_pts))
        if not complete:
            return out
        out.update(metrics.hidden_recall(rec.points, gt_pts, observed))
        for cm in (2, 5):
            out[f"voxel_iou@{cm}cm"] = metrics.voxel_iou(rec.points, gt_pts, cm / 100)
        if rec.frame != "reference":
            out["grid_iou"] = _grid_iou(rec.points, gt.points, family)
    return out


def _grid_iou(pred_world: np.ndarray, gt_world: np.ndarray, family: str, res: float = 0.02):
    z_min, z_max = GRID_BAND[family]
    lo, hi = gt_world.min(0), gt_world.max(0)
    bounds = (lo[0], lo[1], hi[0], hi[1])
    empty = np.zeros((0, 3), np.int64)
    grids = [
        grid_from_voxels(occupied_voxels(p, res), empty, res, (0, 0, 0), z_min, z_max, bounds)
        for p in (pred_world, gt_world)
    ]
    return metrics.grid_iou(grids[0].data, grids[1].data)


def pose_metrics(T_pred: Sequence[np.ndarray], gt: GroundTruth) -> dict[str, float]:
    """Pose metrics of one window (empty for a single view)."""
    if len(gt.T_world_cam) < 2:
        return {}
    out = metrics.pose_metrics(T_pred, gt.T_world_cam)
    if len(gt.T_world_cam) >= 3:
        out["ate"] = metrics.ate(T_pred, gt.T_world_cam)
    return out


def _run_method(method: str, window: Window, inputs: Window, gt: GroundTruth, cfg):
    """Run one geometry method (``inputs`` is the window as the method may see it)."""
    if method == "oracle":
        return baselines.oracle_raw(window, gt)
    if method == "oracle_merged":
        return baselines.oracle_merged(window, gt)
    if method == "tsdf":
        return baselines.tsdf(window, gt)
    return cfg.model_fn(inputs)


def reconstructions(window: Window, gt: GroundTruth, cfg: EvalConfig) -> dict:
    """Run every configured geometry method on one window: name -> Reconstruction."""
    inputs = strip_inputs(window, depth=cfg.rgb_only, poses=cfg.unposed)
    return {m: _run_method(m, window, inputs, gt, cfg) for m in cfg.methods if m != "colmap"}


def evaluate_window(
    window: Window, gt: GroundTruth, cfg: EvalConfig, complete: bool = True
) -> dict[str, dict]:
    """Run every configured method on one window; return method -> metrics (+ seconds)."""
    t0 = time.perf_counter()
    oracle = baselines.oracle_raw(window, gt)  # also defines the observed (non-hidden) set
    oracle_seconds = time.perf_counter() - t0
    inputs = strip_inputs(window, depth=cfg.rgb_only, poses=cfg.unposed)
    results: dict[str, dict] = {}
    for method in cfg.methods:
        t0 = time.perf_counter()
        if method == "colmap":
            m = pose_metrics(baselines.classical_poses(window, gt.K), gt)
            m["scale_mode"] = "normalized"
        else:
            rec = oracle if method == "oracle" else _run_method(method, window, inputs, gt, cfg)
            m = geometry_metrics(rec, gt, oracle.points, cfg.family, complete)
            if method == "model" and not inputs.has_poses:  # known poses would score 1
                m.update(pose_metrics(rec.T_ref_cam, gt))
            m["scale_mode"] = rec.scale_mode
        m["seconds"] = time.perf_counter() - t0 + (oracle_seconds if method == "oracle" else 0)
        results[method] = m
    return results


def average(per_window: list[dict[str, dict]]) -> dict[str, dict]:
    """Average numeric metrics per method over windows, skipping NaN entries."""
    out: dict[str, dict] = {}
    for method in per_window[0]:
        rows = [w[method] for w in per_window]
        keys = sorted({k for r in rows for k in r})
        avg: dict[str, object] = {"method": method, "windows": len(rows)}
        for k in keys:
            vals = [r[k] for r in rows if k in r]
            if isinstance(vals[0], str):
                avg[k] = vals[0]
                continue
            finite = [float(v) for v in vals if not math.isnan(float(v))]
            avg[k] = float(np.mean(finite)) if finite else float("nan")
        out[method] = avg
    return out


def evaluate(cfg: EvalConfig, log: Callable[[str], None] = print) -> dict[str, dict]:
    """Evaluate every method on the windows of ``cfg.data``; write and return the metrics."""
    src = cfg.source
    if src.kind == "synthetic":
        from nova3r_ros.synth.config import benchmark_config

        extra = {} if cfg.spread is None else {"azimuth_spread_deg": cfg.spread}
        synth_cfg = benchmark_config(
            cfg.n_views, family=cfg.family, height=cfg.height, width=cfg.width,
            mesh_dir=cfg.mesh_dir, mesh_names=cfg.mesh_names, **extra,
        )  # fmt: skip
        source, total = synthetic_windows(src, synth_cfg), src.last - src.first + 1
    elif src.kind == "7scenes":
        source, total = sevenscenes_windows(src.path, cfg.n_views, cfg.windows), cfg.windows
    else:
        source, total = bag_windows(src.path, cfg.n_views), None
    per_window, examples = [], []
    for i, (window, gt, complete) in enumerate(source):
        per_window.append(evaluate_window(window, gt, cfg, complete))
        if i == 0 and cfg.out:
            examples.append((window, gt))
        if total and (i + 1) % max(1, total // 10) == 0:
            log(f"[eval] {i + 1}/{total} windows")
    if not per_window:
        raise ValueError(f"no windows in {cfg.data}")
    result = average(per_window)
    if cfg.out:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result, indent=1, sort_keys=True))
        (out / "per_window.json").write_text(json.dumps(per_window))
        from nova3r_ros.eval.report import write_report

        write_report(out, result, cfg, examples[0] if examples else None)
    return result
