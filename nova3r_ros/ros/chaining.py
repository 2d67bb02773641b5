"""Windows chained into one world: each window checked and refined against the map so far.

The world anchor (:mod:`.world`) gives a window a first placement ``T_world_out``: through
the views it shares with the window before it (``chain``), or, with none shared, the
camera's latest accepted world pose (``camera``: the camera assumed static). With metric
depth, :class:`MapChainer` then aligns the window's newest accepted views to a surface map
of every view accepted so far (point-to-plane ICP, coarse to fine, Huber weights), from
that placement and from the camera's latest pose, and decides:

- ``refined``: the best hypothesis agrees with the map (at least ``min_agreement`` of the
  points near the map lie on its surface): its correction is applied (unless it is below
  a tenth of a voxel and 0.2 deg: the map's own noise); the correction of a chained
  placement is the chain's **drift** (metres, degrees), reported per window;
- ``relocalised``: the same, but the placement came from another hypothesis than the
  chain's, or the window before was not placed (tracking was lost and found again);
- ``unchecked``: too few points near the map (new ground), or without depth only one
  shared view to check the placement by (:meth:`MapChainer.check_shared`): a chained
  placement is kept as it is; a camera-only placement fails;
- ``failed``: no hypothesis agrees with the map. The window is not placed:
  :class:`ChainError` (the node publishes nothing of it and counts it).

A newest view whose estimated pose failed the backend's checks is aligned to the map on
its own (:meth:`MapChainer.place_view`, from the failed estimate and from the camera's
latest pose): if that agrees with the map, the view gets that pose (TF, map, the next
window's chaining) and is counted as rescued; its points stay out of the cloud (the
backend left them out). Otherwise it is withheld: no TF, no points.

Accepted views are fused into the map (a voxel grid of points and normals, ``voxel`` m).

Frames: world (z up, metres), OpenCV optical camera frames; ``T_a_b`` maps points in
frame b into frame a (4x4 float64). ROS-free: numpy and scipy only; the map itself is
:mod:`.surface_map`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from nova3r_ros.core.transforms import project_to_so3, rotation_angle_deg
from nova3r_ros.pipeline import PipelineError
from nova3r_ros.ros.surface_map import MapCheck, SurfaceMap, view_surface


class ChainError(PipelineError):
    """A window could not be placed in the world (no hypothesis agrees with the map)."""


@dataclass(frozen=True)
class ChainConfig:
    """Settings of the map alignment (metres; shares in 0..1).

    ``gates``: ICP association distances, coarse to fine; the last one is the inlier
    distance of the checks. ``near``: a point within this of the map overlaps it.
    ``min_overlap``: share of a view's points that must overlap the map for a check.
    ``min_agreement``: share of the overlapping points that must be inliers (the
    core's view check uses the same 0.6). ``damping``: share of the ICP system's mean
    eigenvalue added to it, so that a direction the surface does not pin down (a plane,
    a corridor) stays where the placement put it. ``min_constraint``: for a view found
    on the map on its own (:meth:`MapChainer.place_view`), the smallest eigenvalue of
    its inliers' mean ``n n^T`` (0 for one plane, 1/3 for three orthogonal ones).
    ``shared_max_deg`` / ``shared_max_spread``: without depth (no map),
    :meth:`MapChainer.check_shared`'s bounds on a shared view's placed pose.
    """

    voxel: float = 0.02
    gates: tuple[float, ...] = (0.10, 0.05, 0.025)
    iterations: int = 12
    near: float = 0.08
    min_overlap: float = 0.25
    min_agreement: float = 0.6
    damping: float = 1e-3
    min_constraint: float = 0.005  # a rescued view's surface must pin its pose down
    max_points: int = 4000  # of the window's newest views, for the alignment
    max_map_points: int = 400_000  # the map keeps the most recently seen voxels
    relocalise_m: float = 0.10  # a correction larger than this (or relocalise_deg) ...
    relocalise_deg: float = 10.0  # ... is a relocalisation, not drift
    noise_m: float = 0.002  # corrections within this and noise_deg are not applied: ...
    noise_deg: float = 0.2  # ... below a tenth of a voxel the map's averaging dominates
    shared_max_deg: float = 10.0  # no map: a shared view's placed pose may turn this much
    shared_max_spread: float = 0.5  # ... and move this share of the shared centres' spread


def _motion(T: np.ndarray) -> tuple[float, float]:
    """Return (translation m, rotation deg) of a 4x4 world correction at the origin."""
    return float(np.linalg.norm(T[:3, 3])), float(rotation_angle_deg(T[:3, :3]))


@dataclass
class ChainStats:
    """Counters of :class:`MapChainer` for /diagnostics (cumulative; ``*_last``: last window)."""

    windows_chained: int = 0  # placed from shared views (then refined or unchecked)
    windows_map_tracked: int = 0  # placed from the camera's last pose, refined by the map
    windows_relocalised: int = 0
    windows_unchecked: int = 0
    windows_not_placed: int = 0
    windows_shared_disagree: int = 0  # no map (no depth): shared views disagree, not placed
    views_shared_dropped: int = 0  # no map: a shared view left out of the chaining
    views_tf_withheld: int = 0  # views whose pose failed its checks (no TF, no points)
    views_rescued: int = 0  # views whose failed pose was found again on the map (TF again)
    drift_last_m: float = 0.0
    drift_last_deg: float = 0.0
    drift_max_m: float = 0.0
    drift_max_deg: float = 0.0
    map_agreement_last: float = float("nan")
    map_points: int = 0
    chain_last: str = ""
    extra: dict = field(default_factory=dict)


class MapChainer:
    """Places windows in the world against the map of the accepted views (module docstring).

    Call :meth:`place` then :meth:`accept` from the worker thread; :meth:`values` from any.
    """

    def __init__(self, config: ChainConfig | None = None) -> None:
        self.config = config or ChainConfig()
        self.map = SurfaceMap(self.config.voxel, self.config.max_map_points)
        self.stats = ChainStats()
        self._lost = False
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget the map (the counters are kept)."""
        self.map.clear()
        self._lost = False

    def place(
        self,
        T_world_out: np.ndarray,
        basis: str,
        surfaces: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
        T_world_last: list[np.ndarray | None],
    ) -> tuple[np.ndarray, str]:
        """Return the window's checked ``T_world_out`` (4x4) and how it was placed.

        Args:
            T_world_out: the anchor's placement of the window's output frame.
            basis: how the anchor placed it: ``first`` (the window defined the world),
                ``chain`` (shared views) or ``camera`` (the camera's last pose).
            surfaces: per newest accepted view (depth (H, W) m, K 3x3, T_out_cam 4x4).
            T_world_last: per such view its camera's latest accepted world pose, or None.

        Raises:
            ChainError: no hypothesis agrees with the map (the window is not placed).

        """
        cfg = self.config
        if basis == "first" or len(self.map) == 0 or not surfaces:
            return T_world_out, "first window" if basis == "first" else "no map check"
        rng = np.random.default_rng(0)
        src = []
        for depth, K, T_out_cam in surfaces:
            p, _ = view_surface(depth, K, T_world_out @ T_out_cam)
            src.append(p)
        src = np.concatenate(src)
        if len(src) > cfg.max_points:
            src = src[rng.choice(len(src), cfg.max_points, replace=False)]
        guesses = [("chain" if basis == "chain" else "camera", np.eye(4))]
        for (_, _, T_out_cam), T_last in zip(surfaces, T_world_last, strict=True):
            if T_last is not None and basis == "chain":  # the camera did not move
                guesses.append(("camera", T_last @ np.linalg.inv(T_world_out @ T_out_cam)))
                break
        before = self.map.check(src, np.eye(4), cfg.gates[-1], cfg.near)
        tried = []
        for name, T0 in guesses:
            c = self.map.align(src, T0, cfg)
            tried.append((name, c))
            if name == "chain" and self._agrees(c):
                break  # the chain's own hypothesis is fine: no need for another
        good = [(n, c) for n, c in tried if self._agrees(c)]
        with self._lock:
            s = self.stats
            s.map_agreement_last = before.agreement
            if good:
                name, c = max(good, key=lambda nc: (nc[1].agreement, -nc[1].rmse))
                dt, dr = _motion(c.T)
                if dt <= cfg.noise_m and dr <= cfg.noise_deg:
                    c.T = np.eye(4)  # agrees as placed (below the map's resolution)
                reloc = (
                    self._lost
                    or name != guesses[0][0]
                    or (basis == "chain" and (dt > cfg.relocalise_m or dr > cfg.relocalise_deg))
                )
                if basis == "chain" and not reloc:
                    s.windows_chained += 1
                    s.drift_last_m, s.drift_last_deg = dt, dr
                    s.drift_max_m, s.drift_max_deg = (
                        max(s.drift_max_m, dt),
                        max(s.drift_max_deg, dr),
                    )
                elif not reloc:
                    s.windows_map_tracked += 1
                s.windows_relocalised += int(reloc)
                s.map_agreement_last = c.agreement
                self._lost = False
                how = (
                    f"{'relocalised' if reloc else 'refined'} on the map from the {name} "
                    f"guess ({dt * 100:.1f} cm, {dr:.1f} deg; {c.agreement:.2f} agree)"
                )
                s.chain_last = how
                return c.T @ T_world_out, how
            if basis == "chain" and before.overlap < cfg.min_overlap:
                s.windows_chained += 1
                s.windows_unchecked += 1
                s.chain_last = f"chained, unchecked (overlap {before.overlap:.2f})"
                return T_world_out, s.chain_last
            s.windows_not_placed += 1
            self._lost = True
            best = max((c for _, c in tried), key=lambda c: c.agreement)
            s.chain_last = (
                f"not placed: no guess agrees with the map (best: overlap "
                f"{best.overlap:.2f}, agreement {best.agreement:.2f})"
            )
        raise ChainError(f"window {s.chain_last}")

    def check_shared(
        self,
        T_world_out: np.ndarray,
        T_out_shared: list[np.ndarray],
        T_world_shared: list[np.ndarray],
        with_scale: bool,
    ) -> tuple[np.ndarray, str]:
        """Check a chained placement by its shared views, where no map can (no depth).

        The views a window shares with the window before it fix its placement
        (:func:`~nova3r_ros.ros.world.align_poses`); with two or more, each view placed
        by it must land on its remembered world pose: within ``shared_max_deg`` and
        within ``shared_max_spread`` of the shared centres' spread (the centres' RMS
        distance from their mean; unchecked where the centres coincide). A view that
        does not is left out of the placement if at least two others agree (counted in
        ``views_shared_dropped``); when no two agree, the window is not placed.

        Args:
            T_world_out: the anchor's placement (4x4, Sim(3) without depth).
            T_out_shared: the shared views' camera-to-output poses in this window.
            T_world_shared: the same views' remembered camera-to-world poses.
            with_scale: Sim(3) (normalised scale) rather than rigid.

        Returns:
            (the placement, kept or refitted without the disagreeing views, how).

        Raises:
            ChainError: the shared views disagree (counted in ``windows_shared_disagree``
                and ``windows_not_placed``).

        """
        from nova3r_ros.ros.world import align_poses  # world imports nothing from here

        if len(T_out_shared) < 2:  # nothing to check it by: counted as chained, unchecked
            with self._lock:
                self.stats.windows_chained += 1
                self.stats.windows_unchecked += 1
                self.stats.chain_last = "chained through one shared view, unchecked"
            return T_world_out, "one shared view: unchecked"
        keep = list(range(len(T_out_shared)))
        T = np.asarray(T_world_out, np.float64)
        while True:
            deg, rel = _shared_residuals(T, [T_out_shared[i] for i in keep],
                                         [T_world_shared[i] for i in keep])  # fmt: skip
            bad = (deg > self.config.shared_max_deg) | (rel > self.config.shared_max_spread)
            if not bad.any():
                dropped = len(T_out_shared) - len(keep)
                how = (f"{len(keep)} shared views agree (max {deg.max():.1f} deg, "
                       f"{rel.max():.2f} of their spread)")  # fmt: skip
                how += f"; {dropped} disagreeing left out" if dropped else ""
                with self._lock:
                    self.stats.views_shared_dropped += dropped
                    self.stats.windows_chained += 1
                    self.stats.chain_last = f"chained, checked by its shared views: {how}"
                    self._lost = False
                return T, how
            if len(keep) <= 2:
                break
            keep.pop(int(np.argmax(np.maximum(deg / self.config.shared_max_deg,
                                              rel / self.config.shared_max_spread))))  # fmt: skip
            T = align_poses([T_out_shared[i] for i in keep], [T_world_shared[i] for i in keep],
                            with_scale)  # fmt: skip
        with self._lock:
            s = self.stats
            s.windows_not_placed += 1
            s.windows_shared_disagree += 1
            s.chain_last = (f"not placed: the shared views disagree ({deg.max():.1f} deg, "
                            f"{rel.max():.2f} of their spread)")  # fmt: skip
            self._lost = True
        raise ChainError(f"window {s.chain_last}")

    def place_view(
        self, depth: np.ndarray, K: np.ndarray, guesses: list[np.ndarray]
    ) -> np.ndarray | None:
        """Return a view's camera-to-world pose found on the map, or None.

        For a view whose estimated pose failed the backend's checks: aligned to the map
        from each guess (4x4 camera-to-world; e.g. the failed estimate placed in the
        world, the camera's latest accepted pose); the best that agrees with the map is
        returned (``views_rescued`` counts it), None when none does, when its surface does
        not pin the pose down (``min_constraint``: a plane agrees anywhere on a floor), or
        when there is no map.
        """
        if len(self.map) == 0:
            return None
        best = None
        for T0 in guesses:
            src, _ = view_surface(depth, K, T0)
            if len(src) > self.config.max_points:
                rng = np.random.default_rng(0)
                src = src[rng.choice(len(src), self.config.max_points, replace=False)]
            c = self.map.align(src, np.eye(4), self.config)
            pinned = c.constraint >= self.config.min_constraint  # a plane fits anywhere
            if self._agrees(c) and pinned and (best is None or c.agreement > best[0].agreement):
                best = (c, T0)
        if best is None:
            return None
        with self._lock:
            self.stats.views_rescued += 1
        return best[0].T @ best[1]

    def rescue(self, failed: list[int], views, ok: list[bool], T_world_cams, last_pose):
        """Place the views ``failed`` (indices) on the map; return the indices placed.

        ``views``: the window's views (``depth``, ``K``, ``camera``); ``ok`` and
        ``T_world_cams`` (their world poses, the failed estimates for those) are updated
        in place; ``last_pose(camera)`` gives a camera's latest accepted pose or None.
        """
        placed = []
        for n in failed:
            last = last_pose(views[n].camera)
            guesses = [T_world_cams[n]] + ([] if last is None else [last])
            T = self.place_view(views[n].depth, views[n].K, guesses)
            if T is not None:
                R = project_to_so3(T[:3, :3])
                ok[n], T_world_cams[n] = True, np.r_[np.c_[R, T[:3, 3]], [[0, 0, 0, 1.0]]]
                placed.append(n)
        return placed

    def _agrees(self, c: MapCheck) -> bool:
        cfg = self.config
        return c.overlap >= cfg.min_overlap and c.agreement >= cfg.min_agreement

    def accept(self, surfaces: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Fuse views (depth (H, W) m, K 3x3, T_world_cam 4x4) into the map."""
        for depth, K, T_world_cam in surfaces:
            self.map.add(*view_surface(depth, K, T_world_cam))
        with self._lock:
            self.stats.map_points = len(self.map)

    def withheld(self, n: int) -> None:
        """Count ``n`` views whose pose failed its checks (no TF, no points)."""
        with self._lock:
            self.stats.views_tf_withheld += int(n)

    def values(self) -> dict[str, object]:
        """Return the counters as flat diagnostics values, keys ``chain/<counter>``."""
        with self._lock:
            d = dict(vars(self.stats))
        d.pop("extra", None)
        return {f"chain/{k}": v for k, v in d.items()}


def _shared_residuals(
    T_world_out: np.ndarray, T_out: list[np.ndarray], T_world: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per shared view: rotation error (deg) and centre error / the centres' spread.

    ``T_world_out`` may hold a scale (Sim(3)); the spread is the RMS distance of the
    remembered centres from their mean; where it is ~0 the centre error is 0 (unchecked).
    """
    A = np.asarray(T_world_out, np.float64)
    scale = float(np.cbrt(np.linalg.det(A[:3, :3])))
    R = A[:3, :3] / scale
    known = np.array([np.asarray(T, np.float64)[:3, 3] for T in T_world])
    placed = np.array([A[:3, :3] @ np.asarray(T, np.float64)[:3, 3] + A[:3, 3] for T in T_out])
    deg = np.array([rotation_angle_deg(np.asarray(Tw)[:3, :3].T @ R @ np.asarray(To)[:3, :3])
                    for To, Tw in zip(T_out, T_world, strict=True)])  # fmt: skip
    spread = float(np.sqrt(np.mean(np.sum((known - known.mean(0)) ** 2, axis=1))))
    err = np.linalg.norm(placed - known, axis=1)
    rel = err / spread if spread > 1e-9 else np.full(len(T_out), np.nan)
    return deg, np.nan_to_num(rel, nan=0.0)


def view_pose_ok(stats: dict, n_views: int) -> list[bool]:
    """Return per view whether its estimated pose passed the backend's checks.

    Reads ``pose_ok_<i>`` from ``Reconstruction.stats`` (the model backend's pose
    refinement writes it); a view without that entry passed (nothing checked it).
    """
    return [float(stats.get(f"pose_ok_{i}", 1.0)) >= 0.5 for i in range(n_views)]
