"""What the worker does with one window: backend, world anchoring, crop, occupancy (ROS-free).

Pose sources, decided per window from what TF knew about every view:
    ``tf_world``: every view's camera-to-world pose is known. The depth backend
        (or the model with depth) takes them as inputs and answers in the world
        frame; the model without depth predicts poses and is scaled onto the
        known ones by a Sim(3) of the camera centres (metric). Nothing is
        re-published on TF.
    ``tf_rig``: extrinsics in ``rig_frame`` are known but not the rig's motion.
        The depth backend fuses the newest keyframe's cameras in the rig frame;
        the model predicts the whole window and the newest keyframe's predicted
        poses are Sim(3)-aligned onto the extrinsics (metric from the rig).
    ``estimated``: nothing known. The model predicts poses (normalised scale
        unless depth is given); the depth backend reconstructs the newest frame
        of a single camera.
Outputs not in the world frame are anchored by :class:`~nova3r_ros.ros.world.WorldAnchor`;
with metric depth the placement is checked and refined against the map of the views
accepted so far (:class:`~nova3r_ros.ros.chaining.MapChainer`), without depth a window
chained through shared views is checked by them (``check_shared``), and a window that
agrees with no placement raises :class:`~nova3r_ros.ros.chaining.ChainError` (nothing of
it is published; the fallback backend is not tried). Views whose estimated pose failed the
backend's checks (``pose_ok_<i>`` 0 in ``rec.stats``) are left out of ``T_world_cams``,
``tf``, the map and the occupancy rays (the backend leaves their points out).
Occupancy: rays to observed points carve free space; completed points (``observed``
False) only occupy their voxel, and only at ``confidence >= min_confidence``.
A camera whose world pose TF knows for a view is never published as an estimate
(``Result.tf`` lists only cameras TF did not resolve).
Backend failure: an exception of the backend (CUDA out of memory, a bug) costs one
window, never the node: the window is reconstructed again by ``fallback`` (the depth
backend: the observed-only cloud, under the depth backend's pose rules) and the
result says why in ``backend_error``; without a fallback, or when it fails too, the
exception goes to the caller (one failed window).
Two steps: :meth:`Processor.process_cloud` (cloud, poses: what the cloud waits for)
and :meth:`Processor.update_map` (occupancy, run after the cloud is published);
:meth:`Processor.process` does both.
Frames: every output array is in the world frame (metres when ``scale_mode`` is
"metric"); ``T_world_cam`` maps OpenCV optical-frame points into the world.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from nova3r_ros.core.camera import Undistorter
from nova3r_ros.core.occupancy import (
    OccupancyGrid2D,
    OccupancyMap,
    first_in_cell,
    voxel_centres,
)
from nova3r_ros.core.pointcloud import crop_box
from nova3r_ros.core.transforms import project_to_so3, transform_points
from nova3r_ros.core.types import View, Window
from nova3r_ros.pipeline import DEFAULT_MIN_CONFIDENCE, PipelineError
from nova3r_ros.ros.backend import Backend, free_accelerator_memory
from nova3r_ros.ros.chaining import ChainError, MapChainer, view_pose_ok
from nova3r_ros.ros.keyframes import Keyframe
from nova3r_ros.ros.world import WorldAnchor, align_poses


@dataclass(frozen=True)
class ProcessorConfig:
    """Options of the post-processing (metres, world frame)."""

    world_frame: str = "map"
    frame_prefix: str = "nova3r/"
    crop_lo: tuple[float, float, float] = (-1e4, -1e4, -1e4)
    crop_hi: tuple[float, float, float] = (1e4, 1e4, 1e4)
    resolution: float = 0.05
    z_min: float = 0.05
    z_max: float = 2.0
    max_range: float = 5.0
    voxels: bool = True
    min_confidence: float = (
        DEFAULT_MIN_CONFIDENCE  # completed (not observed) points below it occupy nothing
    )
    ray_cell_voxels: float = 1.0  # rays to one point per cube of this edge (voxels); 0 = all


@dataclass
class Result:
    """One window's outputs, everything in the world frame, stamped with the window's stamp."""

    stamp: int
    frame: str
    points: np.ndarray
    colors: np.ndarray
    observed: np.ndarray
    confidence: np.ndarray
    T_world_cams: list[np.ndarray]
    view_cameras: list[str]
    tf: list[tuple[np.ndarray, str]]
    grid: OccupancyGrid2D | None
    voxels: np.ndarray | None
    scale_mode: str
    pose_source: str
    anchoring: str
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)  # the backend's (rec.stats)
    backend_error: str = ""  # the primary backend's failure; the cloud is the fallback's
    map_input: tuple | None = field(default=None, repr=False)  # for Processor.update_map


def _rigid(T: np.ndarray) -> np.ndarray:
    out = np.array(T, np.float64)
    out[:3, :3] = project_to_so3(out[:3, :3])
    return out


class Processor:
    """Turns keyframe windows into :class:`Result` s; keeps the world and the map between them.

    Call :meth:`process` from one thread (the worker); :meth:`reset` from any.
    """

    def __init__(
        self, backend: Backend, config: ProcessorConfig, fallback: Backend | None = None
    ) -> None:
        self.backend = backend
        self.fallback = fallback
        self.config = config
        self.anchor = WorldAnchor()
        self.chainer = MapChainer()
        self.map = OccupancyMap(config.resolution, max_range=config.max_range or None)
        self._undistorters: dict[str, Undistorter] = {}
        self._lock = threading.Lock()
        self._reset_pending = False
        self._epoch = 0  # counts resets: a map update from before a reset is dropped

    def reset(self) -> bool:
        """Clear the map and world anchoring; True if done now, False if before the next window."""
        if self._lock.acquire(blocking=False):
            try:
                self._clear()
            finally:
                self._lock.release()
            return True
        self._reset_pending = True
        return False

    def _clear(self) -> None:
        self.anchor.reset()
        self.chainer.reset()
        self.map.clear()
        self._reset_pending = False
        self._epoch += 1

    def _view(self, kf: Keyframe, i: int, backend: Backend, T_world_cam=None) -> View:
        f = kf.group.frames[i]
        image, depth, K = f.image, f.depth, None
        if f.intrinsics is not None:
            K = f.intrinsics.K
            if f.intrinsics.is_distorted:
                u = self._undistorters.get(f.camera)
                if u is None or u.camera != f.intrinsics:
                    u = self._undistorters[f.camera] = Undistorter(f.intrinsics)
                image = u.image(image)
                depth = None if depth is None else u.depth(depth)
        if backend.needs_depth and depth is None:
            raise PipelineError(f"camera {f.camera} gave no depth; the depth backend needs it")
        return View(image=image, depth=depth, K=K, T_world_cam=T_world_cam, stamp=f.stamp,
                    frame_id=f.frame_id, camera=f.camera)  # fmt: skip

    def process(self, keyframes: list[Keyframe]) -> Result:
        """Reconstruct the window of ``keyframes`` (oldest first), map included; PipelineError."""
        return self.update_map(self.process_cloud(keyframes))

    def process_cloud(self, keyframes: list[Keyframe]) -> Result:
        """Return the window's cloud and poses; grid and voxels wait for :meth:`update_map`.

        The node publishes this result at once and updates the map after, so the
        occupancy update is off the cloud's latency path.
        """
        with self._lock:
            if self._reset_pending:
                self._clear()
            try:
                return self._process(keyframes, self.backend)
            except ChainError:
                raise  # the window's placement failed, not the backend
            except Exception as exc:
                if self.fallback is None or self.fallback is self.backend:
                    raise
                free_accelerator_memory()
                try:
                    result = self._process(keyframes, self.fallback)
                except Exception:
                    raise exc from None  # the window fails with the backend's own reason
                result.backend_error = f"{type(exc).__name__}: {exc}"
                return result

    def update_map(self, result: Result) -> Result:
        """Integrate ``result`` into the occupancy map; fill its ``grid`` and ``voxels``.

        Metric results only (normalised scale withholds the map); a result made
        before a :meth:`reset` is not integrated. Adds ``occupancy`` to its timings.
        """
        t0 = time.perf_counter()
        with self._lock:
            if self._reset_pending:
                self._clear()
            if result.map_input is None or result.map_input[0] != self._epoch:
                return result
            _, points, observed, confidence, views, T_world_cams = result.map_input
            result.map_input = None
            cfg = self.config
            completed = ~observed & (confidence >= cfg.min_confidence)
            self._integrate(points[observed], points[completed], views, T_world_cams)
            result.grid = self.map.to_grid(cfg.z_min, cfg.z_max)
            if cfg.voxels:
                result.voxels = voxel_centres(self.map.occupied(), cfg.resolution).astype(
                    np.float32
                )
        result.timings["occupancy"] = time.perf_counter() - t0
        result.timings["total"] = result.timings.get("total", 0.0) + result.timings["occupancy"]
        return result

    def _process(self, keyframes: list[Keyframe], backend: Backend) -> Result:
        t0 = time.perf_counter()
        cfg = self.config
        items = [(kf, i) for kf in keyframes for i in range(len(kf.group.frames))]
        world = [kf.T_world_cams[i] for kf, i in items]
        if all(T is not None for T in world):
            source = "tf_world"
        elif all(kf.T_rig_cams[i] is not None for kf, i in items):
            source = "tf_rig"
        else:
            source = "estimated"
        if backend.needs_depth and source != "tf_world":
            items = [(keyframes[-1], i) for i in range(len(keyframes[-1].group.frames))]
            if source == "estimated" and len(items) > 1:
                raise PipelineError(
                    "the depth backend fuses several cameras only with their poses from TF "
                    "(world_frame or rig_frame); set rig_frame or use backend 'model'"
                )
        keys = [(kf.group.frames[i].camera, kf.group.frames[i].stamp) for kf, i in items]
        known = {
            "tf_world": [kf.T_world_cams[i] for kf, i in items],
            "tf_rig": [kf.T_rig_cams[i] for kf, i in items],
        }.get(source)
        posed_input = known is not None and (backend.needs_depth or source == "tf_world")
        views = [self._view(kf, i, backend, known[n] if posed_input else None)
                 for n, (kf, i) in enumerate(items)]  # fmt: skip
        window = Window(views)
        if source == "tf_world" and not backend.needs_depth and not window.has_depth:
            posed_input = False  # the model predicts; its poses are scaled onto TF's below
            window = Window([View(v.image, v.depth, v.K, None, v.stamp, v.frame_id, v.camera)
                             for v in views])  # fmt: skip
        rec = backend.run(window)
        t1 = time.perf_counter()
        T_out_cams = [np.asarray(T) for T in rec.T_ref_cam]
        points, scale_mode, note = rec.points, rec.scale_mode, ""
        if known is not None and not posed_input:  # Sim(3) onto the known extrinsics
            sel = range(len(items)) if source == "tf_world" else [
                n for n, (kf, _) in enumerate(items) if kf is keyframes[-1]]  # fmt: skip
            S = align_poses(  # scale only once: never rescale a metric output
                [T_out_cams[n] for n in sel], [known[n] for n in sel], rec.scale_mode != "metric"
            )
            points = transform_points(S, points)
            T_out_cams = [_rigid(S @ T) for T in T_out_cams]
            centres = np.array([known[n][:3, 3] for n in sel])
            scaled = len(sel) >= 2 and float(np.ptp(centres, axis=0).max()) > 1e-6
            scale_mode = "metric" if scaled or window.has_depth else rec.scale_mode
            kind = "Sim(3)" if rec.scale_mode != "metric" else "rigid"
            note = f"; predicted poses {kind}-aligned to {len(sel)} known camera poses"
        ok = [True] * len(items) if posed_input else view_pose_ok(rec.stats, len(items))
        fresh = [n for n, (kf, _) in enumerate(items) if kf is keyframes[-1] and ok[n]]
        if source == "tf_world":
            T_world_out, how = np.eye(4), f"poses from TF in {cfg.world_frame}"
            T_world_cams = known  # the known poses, not their predicted copies
        else:
            T_world_out = self.anchor.anchor(
                keys, T_out_cams, points, scale_mode == "metric", source == "tf_rig"
            )
            how = self.anchor.how
            if scale_mode == "metric" and window.has_depth:  # checked against the map
                T_world_out, placed = self.chainer.place(
                    T_world_out, self.anchor.basis,
                    [(views[n].depth, views[n].K, T_out_cams[n]) for n in fresh],
                    [self.anchor.camera_pose(views[n].camera) for n in fresh],
                )  # fmt: skip
                how += f"; {placed}"
            elif self.anchor.basis == "chain":  # no depth, no map: the shared views agree?
                idx, known_world = self.anchor.shared
                T_world_out, checked = self.chainer.check_shared(
                    T_world_out, [T_out_cams[n] for n in idx], known_world,
                    scale_mode != "metric",
                )  # fmt: skip
                how += f"; {checked}"
            T_world_cams = [_rigid(T_world_out @ T) for T in T_out_cams]
            points = transform_points(T_world_out, points)
            if scale_mode == "metric" and window.has_depth:
                fresh += self.chainer.rescue(
                    [n for n, (kf, _) in enumerate(items) if kf is keyframes[-1] and not ok[n]],
                    views, ok, T_world_cams, self.anchor.camera_pose,
                )  # fmt: skip
                self.chainer.accept([(views[n].depth, views[n].K, T_world_cams[n])
                                     for n in fresh])  # fmt: skip
        accepted = [n for n in range(len(items)) if ok[n]]  # failed poses: no TF, no rays
        self.chainer.withheld(len(items) - len(accepted))
        views, items = [views[n] for n in accepted], [items[n] for n in accepted]
        T_world_cams = [T_world_cams[n] for n in accepted]
        self.anchor.remember([keys[n] for n in accepted], T_world_cams)
        keep = _crop(points, cfg.crop_lo, cfg.crop_hi)  # None: nothing to crop, no copies
        points = np.asarray(points if keep is None else points[keep], np.float32)
        pick = (lambda a: a) if keep is None else (lambda a: a[keep])
        observed, confidence = pick(rec.observed), pick(rec.confidence)
        t2 = time.perf_counter()
        map_input = None
        if scale_mode == "metric":
            map_input = (self._epoch, points, observed, confidence, views, T_world_cams)
        timings = dict(rec.timings)
        timings.update(backend=t1 - t0, anchor=t2 - t1, total=t2 - t0)
        newest: dict[str, tuple[np.ndarray, str]] = {}
        if source != "tf_world":
            for (kf, i), v, T in zip(items, views, T_world_cams, strict=True):
                if kf is not keyframes[-1]:
                    continue  # TF at the window's stamp: the newest views only
                if kf.T_world_cams[i] is not None:
                    newest.pop(v.camera, None)  # TF knows this camera: never an estimate
                    continue
                child = cfg.frame_prefix + (v.frame_id or f"{v.camera}_optical_frame")
                newest[v.camera] = (T, child)
        return Result(
            stamp=window.stamp, frame=cfg.world_frame, points=points, colors=pick(rec.colors),
            observed=observed, confidence=confidence, T_world_cams=T_world_cams,
            view_cameras=[v.camera for v in views], tf=list(newest.values()), grid=None,
            voxels=None, scale_mode=scale_mode, pose_source=source, anchoring=how + note,
            timings=timings, stats=dict(getattr(rec, "stats", {}) or {}), map_input=map_input,
        )  # fmt: skip

    def _integrate(self, seen: np.ndarray, hidden: np.ndarray, views, T_world_cams) -> None:
        """Carve free space along rays to observed points; hidden points are occupied only.

        ``hidden``: the completed points of at least ``min_confidence`` (the caller drops
        the others); no ray goes to them, so a completion never carves free space.

        Rays go to one observed point per cube of ``ray_cell_voxels`` voxels (the first
        in it; every point when 0), from the newest camera that sees it: a subset of
        all the rays, so never more free space. Every point's voxel is occupied.
        """
        cell = self.config.ray_cell_voxels * self.config.resolution
        ends = seen[first_in_cell(seen, cell)] if cell > 0 else seen
        cam = _assign_cameras(ends, views, T_world_cams, self.config.resolution)
        centres = np.array([T[:3, 3] for T in T_world_cams], np.float64).reshape(-1, 3)
        rayed = cam >= 0
        self.map.integrate(
            ends[rayed], centres, cam[rayed], occupied_only=np.concatenate([seen, hidden])
        )


def _crop(points: np.ndarray, lo, hi) -> np.ndarray | None:
    """Return the crop box's keep mask (N,) bool, or None when every point lies inside.

    Per-column 1D reductions (a (N, 3) axis-0 reduction is ~10x slower); NaN points
    fail the tests and go to ``crop_box``, which drops them.
    """
    if len(points) == 0:
        return crop_box(points, lo, hi)
    cols = [points[:, k] for k in range(3)]
    if all(c.min() >= lo[k] and c.max() <= hi[k] for k, c in enumerate(cols)):
        return None
    return crop_box(points, lo, hi)


def _assign_cameras(points: np.ndarray, views, T_world_cams, resolution: float) -> np.ndarray:
    """Return per point (N,) the index of a view that sees it, or -1.

    A view sees a world point when it projects inside its image in front of the
    camera and, where the view has depth, lies within ``max(2 res, 3 %)`` of the
    measured depth. Newer views (later in the list) are preferred.
    """
    out = np.full(points.shape[0], -1, np.int64)
    for n in range(len(views) - 1, -1, -1):
        v, T = views[n], T_world_cams[n]
        todo = np.nonzero(out < 0)[0]
        if v.K is None or todo.size == 0:
            continue
        p = (points[todo].astype(np.float64) - T[:3, 3]) @ T[:3, :3]  # world -> camera
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.rint(v.K[0, 0] * p[:, 0] / z + v.K[0, 2])
            r = np.rint(v.K[1, 1] * p[:, 1] / z + v.K[1, 2])
        ok = (z > 0) & (u >= 0) & (u < v.width) & (r >= 0) & (r < v.height)
        if v.depth is not None:
            d = np.zeros_like(z)
            d[ok] = v.depth[r[ok].astype(np.int64), u[ok].astype(np.int64)]
            ok &= (d > 0) & (np.abs(z - d) <= np.maximum(2 * resolution, 0.03 * z))
        out[todo[ok]] = n
    return out
