"""``nova3r eval``: run methods on the same windows and write ``metrics.json``.

Every window comes with depth (so that the observed and hidden sets, defined by the
valid input depth, exist); methods that take RGB only get the window with its depth
stripped. Methods:

    ``oracle``         raw pixel-aligned back-projection with the true poses
    ``oracle_merged``  the same, merged per 5 mm voxel
    ``tsdf``           Open3D TSDF fusion with the true poses
    ``opencv_sift``    classical poses from the images (SIFT + E + PnP), poses only
    ``o3d_odometry``   Open3D RGB-D odometry of each view against view 0, poses only
    ``colmap``         pycolmap SfM on the images (known intrinsics; metric scale from
                       view 0's depth when the window has depth), poses only
    ``no_motion``      identity poses (the floor a pose method must beat), poses only
    ``model_head``     the network's camera head alone (no depth refinement), poses only
    ``observed_only``  the published cloud with the gate forced and the views not fused:
                       each view's depth as it is (the never-worse baseline, what
                       publishing the depth gives)
    ``observed_fused`` the same with the views' measurements of one surface fused
                       (model.observed_fusion): the published cloud's observed part
    ``model``          the published cloud (``pipeline.reconstruct``, model backend)
    ``model_raw``      the decoder's points alone (no depth consistency, no composition)
    ``model_snapped``  the decoder's points after depth consistency (the published cloud of
                       the sessions before the frustum protocol)

With ``pose_reference`` (7scenes data) the pose metrics are scored against another
reference's poses of the same frames (:mod:`nova3r_ros.eval.pose_reference`; each row then
names the file under ``pose_reference``), the geometry against the recorded poses.

Targets: ``frustum`` (default; :mod:`nova3r_ros.eval.frustum`) or ``full`` (the whole
ground-truth surface, the protocol of the first sessions). ``metrics.json`` maps each
method to one flat dict of DESIGN.md's keys, averaged over windows (NaN entries, e.g.
hidden recall with nothing hidden, are skipped); the ``model`` row also carries
``gated`` (share of windows that published observed points only) and
``confidence_ece@5cm`` (pooled over windows).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nova3r_ros.core.types import GroundTruth, Reconstruction, View, Window
from nova3r_ros.eval import baselines, frustum, scoring
from nova3r_ros.eval.data import (
    EvalItem,
    bag_windows,
    parse_data,
    sevenscenes_pose_truths,
    sevenscenes_windows,
    synthetic_windows,
)

MODEL_METHODS = ("observed_only", "observed_fused", "model", "model_raw", "model_snapped",
                 "model_head")  # fmt: skip
GEOMETRY_METHODS = ("oracle", "oracle_merged", "tsdf", *MODEL_METHODS[:-1])
POSE_METHODS = ("opencv_sift", "o3d_odometry", "colmap", "no_motion", "model_head")
METHODS = (*GEOMETRY_METHODS, *POSE_METHODS)
STAT_KEYS = ("gated", "observed_conflict", "completed", "completed_candidates", "plane_points",
             "hidden_points", "hidden_snapped_points", "side_points", "voxel_points", "planes",
             "views_rejected", "views_refined", "views_pose_failed", "open_pixels")  # fmt: skip


@dataclass
class EvalConfig:
    """What to evaluate.

    Attributes:
        data: ``synthetic:FIRST-LAST`` (seed range; training uses seeds < 1,000,000),
            ``7scenes:DIR`` or ``bag:PATH`` (see :mod:`nova3r_ros.eval.data`).
        n_views: views per window (the amodal benchmark uses 1, 2 and 4).
        spread: azimuth range (deg) the synthetic views cover; None = the benchmark's.
        windows: how many windows of a 7-Scenes sequence (evenly spaced starts).
        stride: positions apart, in the sequence's sorted frame list, of a window's views.
        target: "frustum" or "full" (module docstring).
        family: "tabletop" or "room".
        reference: 7-Scenes data: "tsdf" (the fused reference) or "measured" (only its
            points that some frame measured; :mod:`nova3r_ros.eval.reference`).
        methods: subset of ``METHODS``.
        height, width: image size.
        rgb_only: methods see no depth (the oracle still defines the hidden set).
        unposed: methods see no camera poses (the model must estimate them).
        mesh_dir: optional OBJ directory for the scenes; mesh_names: which of them.
        out: directory for ``metrics.json`` and ``per_window.json``.
        pose_reference: 7scenes data only: a file of other reference poses for the
            sequence (:mod:`.pose_reference`); the pose metrics are scored against them,
            the geometry against the recorded poses. pose_reference_sequence: which of
            its sequences (None: its only one).

    """

    data: str = "synthetic:1000000-1000099"
    n_views: int = 1
    spread: float | None = None
    windows: int = 10
    stride: int = 10
    target: str = "frustum"
    family: str = "tabletop"
    reference: str = "tsdf"
    methods: Sequence[str] = ("oracle", "oracle_merged", "tsdf", "opencv_sift")
    height: int = 192
    width: int = 256
    rgb_only: bool = False
    unposed: bool = False
    mesh_dir: str | None = None
    mesh_names: Sequence[str] | None = None
    out: str | None = None
    pose_reference: str | None = None
    pose_reference_sequence: str | None = None
    model_fn: Callable[[Window, str], Reconstruction] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.source = parse_data(self.data)
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; expected some of {METHODS}")
        if self.windows < 1 or self.n_views < 1 or self.stride < 1:
            raise ValueError("windows, n_views and stride must be >= 1")
        from nova3r_ros.synth.config import FAMILIES

        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.target not in scoring.TARGETS:
            raise ValueError(f"target must be one of {scoring.TARGETS}, got {self.target!r}")
        if self.reference not in ("tsdf", "measured"):
            raise ValueError(f"reference must be 'tsdf' or 'measured', got {self.reference!r}")
        if self.reference == "measured" and self.source.kind != "7scenes":
            raise ValueError("reference 'measured' needs 7scenes: data (synthetic and bag "
                             "data have their own surface)")  # fmt: skip
        if self.pose_reference_sequence is not None and self.pose_reference is None:
            raise ValueError("--pose-reference-sequence needs --pose-reference")
        if self.pose_reference is not None and self.source.kind != "7scenes":
            raise ValueError("--pose-reference needs 7scenes: data (synthetic and bag windows "
                             "have exact poses)")  # fmt: skip
        wanted = sorted(set(self.methods) & set(MODEL_METHODS))
        if wanted and self.model_fn is None:
            raise ValueError(f"method {wanted[0]!r} needs a model (checkpoint) to run")


def strip_inputs(window: Window, depth: bool, poses: bool) -> Window:
    """Return the window without depth and/or without known poses."""
    return Window([View(v.image, None if depth else v.depth, v.K,
                        None if poses else v.T_world_cam, v.stamp, v.frame_id, v.camera)
                   for v in window.views])  # fmt: skip


def _run_method(method: str, window: Window, inputs: Window, gt: GroundTruth, cfg):
    """Run one geometry method (``inputs`` is the window as the method may see it)."""
    if method == "oracle":
        return baselines.oracle_raw(window, gt)
    if method == "oracle_merged":
        return baselines.oracle_merged(window, gt)
    if method == "tsdf":
        return baselines.tsdf(window, gt)
    return cfg.model_fn(inputs, method)


def reconstructions(window: Window, gt: GroundTruth, cfg: EvalConfig) -> dict:
    """Run every configured geometry method on one window: name -> Reconstruction."""
    inputs = strip_inputs(window, depth=cfg.rgb_only, poses=cfg.unposed)
    return {m: _run_method(m, window, inputs, gt, cfg) for m in cfg.methods
            if m not in POSE_METHODS}  # fmt: skip


def _pose_method(method: str, window: Window, inputs: Window, gt: GroundTruth, cfg):
    """Camera-to-reference poses of a poses-only method."""
    if method == "opencv_sift":
        return baselines.classical_poses(window, gt.K)
    if method == "o3d_odometry":
        return baselines.odometry_poses(window, gt.K)
    if method == "colmap":
        from nova3r_ros.eval.colmap_poses import colmap_poses

        return colmap_poses(inputs, gt.K)  # without depth (--rgb-only) the SfM scale stays
    if method == "no_motion":
        return [np.eye(4) for _ in window.views]
    return cfg.model_fn(inputs, method).T_ref_cam


def evaluate_window(item: EvalItem, cfg: EvalConfig, calibration: list | None = None,
                    pose_truth: list[np.ndarray] | None = None) -> dict:  # fmt: skip
    """Run every configured method on one window; return method -> metrics (+ seconds).

    ``calibration``, if given, collects (confidence, correct) arrays of the model's
    completed points (pooled into ``confidence_ece@5cm`` by :func:`evaluate`).
    ``pose_truth``: the views' camera-to-world poses in another reference, which the pose
    metrics are scored against (``cfg.pose_reference``); None: the window's own.
    """
    window, gt, complete, judge_frames = item
    t0 = time.perf_counter()
    oracle = baselines.oracle_raw(window, gt)  # also defines the observed (non-hidden) set
    oracle_seconds = time.perf_counter() - t0
    frustum_target = cfg.target == "frustum"
    cameras = scoring.region_cameras(window, gt) if frustum_target else None
    inputs = strip_inputs(window, depth=cfg.rgb_only, poses=cfg.unposed)
    results: dict[str, dict] = {}
    pose_gt = gt if pose_truth is None else replace(gt, T_world_cam=pose_truth)
    for method in cfg.methods:
        t0 = time.perf_counter()
        if method in POSE_METHODS:
            m = scoring.pose_metrics(_pose_method(method, window, inputs, gt, cfg), pose_gt)
            m["scale_mode"] = "normalized"
        else:
            rec = oracle if method == "oracle" else _run_method(method, window, inputs, gt, cfg)
            if frustum_target:
                m = scoring.frustum_scores(rec, gt, cameras, oracle.points, complete,
                                           judge_frames)  # fmt: skip
            else:
                m = scoring.geometry_metrics(rec, gt, oracle.points, cfg.family, complete)
            if method in MODEL_METHODS and not inputs.has_poses:  # known poses would score 1
                m.update(scoring.pose_metrics(rec.T_ref_cam, pose_gt))
            m.update({k: float(rec.stats[k]) for k in STAT_KEYS if k in rec.stats})
            if (method == "model" and calibration is not None and frustum_target
                    and rec.scale_mode == "metric"):  # fmt: skip
                frames = None if complete else judge_frames
                calibration.append(scoring.confidence_samples(rec, gt, cameras, frames))
            m["scale_mode"] = rec.scale_mode
        if pose_truth is not None:
            m["pose_reference"] = str(cfg.pose_reference)
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
    truths = None  # another reference's poses per window (cfg.pose_reference)
    if src.kind == "synthetic":
        from nova3r_ros.synth.config import benchmark_config

        extra = {} if cfg.spread is None else {"azimuth_spread_deg": cfg.spread}
        synth_cfg = benchmark_config(
            cfg.n_views, family=cfg.family, height=cfg.height, width=cfg.width,
            mesh_dir=cfg.mesh_dir, mesh_names=cfg.mesh_names, **extra,
        )  # fmt: skip
        source, total = synthetic_windows(src, synth_cfg), src.last - src.first + 1
    elif src.kind == "7scenes":
        if cfg.pose_reference is not None:  # checked before the reference surface is built
            from nova3r_ros.eval.pose_reference import load_pose_reference

            poses = load_pose_reference(cfg.pose_reference, cfg.pose_reference_sequence)
            truths = sevenscenes_pose_truths(src.path, cfg.n_views, cfg.windows, cfg.stride,
                                             poses)  # fmt: skip
        source = sevenscenes_windows(src.path, cfg.n_views, cfg.windows, cfg.stride, log=log,
                                     reference=cfg.reference)  # fmt: skip
        total = cfg.windows
    else:
        source, total = bag_windows(src.path, cfg.n_views), None
    per_window, examples, calibration = [], [], []
    for i, item in enumerate(source):
        per_window.append(evaluate_window(item, cfg, calibration, truths[i] if truths else None))
        if i == 0 and cfg.out:
            examples.append((item.window, item.gt))
        if total and (i + 1) % max(1, total // 10) == 0:
            log(f"[eval] {i + 1}/{total} windows")
    if not per_window:
        raise ValueError(f"no windows in {cfg.data}")
    result = average(per_window)
    if calibration and "model" in result:
        conf = np.concatenate([c for c, _ in calibration])
        correct = np.concatenate([ok for _, ok in calibration])
        result["model"]["confidence_ece@5cm"] = frustum.calibration_error(conf, correct)
        result["model"]["confidence_points"] = int(conf.size)
    if cfg.out:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result, indent=1, sort_keys=True))
        (out / "per_window.json").write_text(json.dumps(per_window))
        from nova3r_ros.eval.report import write_report

        write_report(out, result, cfg, examples[0] if examples else None)
    return result
