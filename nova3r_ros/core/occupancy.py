"""Voxel occupancy with ray-cast free space, and its projection to a 2D grid (numpy only).

Frames: everything is in one gravity-aligned world frame (z up, e.g. ``map``),
in metres. A voxel index ``(i, j, k)`` (int64) is the cube
``origin + [i, i+1) x [j, j+1) x [k, k+1) * voxel_size``; its centre is
``origin + (index + 0.5) * voxel_size``. Voxel index arrays are returned unique
and sorted lexicographically by (i, j, k). Indices must lie in [-2**20, 2**20)
on each axis (packed into one int64 key internally).

Free space: for each ray from a camera centre to an observed point, the voxels the
segment crosses up to ``truncation`` metres short of the point are free (exact grid
traversal, vectorised Amanatides-Woo in :mod:`nova3r_ros.core.voxel_traversal`:
every voxel whose interior the segment passes through). Voxels holding an observed
point are occupied; occupied wins over free. For dense clouds, carving along the
rays to :func:`first_in_cell` points only is much cheaper and frees a subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nova3r_ros.core.checks import as_points, positive
from nova3r_ros.core.voxel_traversal import pack as _pack
from nova3r_ros.core.voxel_traversal import traverse as _traverse
from nova3r_ros.core.voxel_traversal import unpack as _unpack


def _vec3(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a finite 3-vector, got {x!r}")
    return a


def _indices(idx, name: str) -> np.ndarray:
    a = np.asarray(idx)
    if a.size == 0:
        return np.zeros((0, 3), np.int64)
    if a.ndim != 2 or a.shape[1] != 3 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be integer voxel indices (M, 3), got {a.dtype} {a.shape}")
    return a.astype(np.int64)


def occupied_voxels(
    points: np.ndarray, voxel_size: float, origin: Sequence[float] = (0.0, 0.0, 0.0)
) -> np.ndarray:
    """Return unique voxel indices (M, 3) int64 of the voxels holding world points (N, 3)."""
    p = as_points(points, "points", np.float64)
    vs, o = positive(voxel_size, "voxel_size"), _vec3(origin, "origin")
    idx = np.floor((p - o) / vs).astype(np.int64)
    return _unpack(np.unique(_pack(idx)))


def voxel_centres(
    indices: np.ndarray, voxel_size: float, origin: Sequence[float] = (0.0, 0.0, 0.0)
) -> np.ndarray:
    """Return world coordinates (M, 3) float64 of the centres of voxels ``indices`` (M, 3) int."""
    idx = _indices(indices, "indices")
    vs, o = positive(voxel_size, "voxel_size"), _vec3(origin, "origin")
    return (idx + 0.5) * vs + o


def _rays(camera_centres, points, point_cam_index) -> tuple[np.ndarray, np.ndarray]:
    """Return (ray origins (N, 3), ray ends (N, 3)) float64 from the accepted input forms."""
    C = np.asarray(camera_centres, dtype=np.float64)
    C = as_points(C[None] if C.ndim == 1 else C, "camera_centres", np.float64)
    per_camera = isinstance(points, list | tuple) and all(np.ndim(p) == 2 for p in points)
    if per_camera and len(points) > 0:  # [(N0, 3), (N1, 3), ...], one array per camera
        if point_cam_index is not None:
            raise ValueError("give points as one (N, 3) array with point_cam_index, or a list")
        if len(points) != C.shape[0]:
            raise ValueError(f"{len(points)} point arrays for {C.shape[0]} camera centres")
        pts = [as_points(p, f"points[{i}]", np.float64) for i, p in enumerate(points)]
        cam = np.repeat(np.arange(len(pts)), [p.shape[0] for p in pts])
        P = np.concatenate(pts) if pts else np.zeros((0, 3))
    else:
        P = as_points(points, "points", np.float64)
        if point_cam_index is None:
            if C.shape[0] != 1:
                raise ValueError("point_cam_index is required with more than one camera")
            cam = np.zeros(P.shape[0], np.int64)
        else:
            cam = np.asarray(point_cam_index)
            if cam.shape != (P.shape[0],) or not np.issubdtype(cam.dtype, np.integer):
                raise ValueError(
                    f"point_cam_index must be integer ({P.shape[0]},), got {cam.dtype} {cam.shape}"
                )
            if cam.size and (cam.min() < 0 or cam.max() >= C.shape[0]):
                raise ValueError(f"point_cam_index must lie in [0, {C.shape[0]}), out of range")
    return C[cam], P


def first_in_cell(points: np.ndarray, cell: float) -> np.ndarray:
    """Return sorted indices (M,) int64 of the first point (N, 3) in each cube of edge ``cell``.

    Cubes are ``floor(p / cell)`` in the points' frame (metres). Carving along the rays
    to these points only is much cheaper for dense clouds, and frees a subset of what
    all rays would free (the rays kept are input rays).
    """
    p = as_points(points, "points", np.float64)
    if p.shape[0] == 0:
        return np.zeros(0, np.int64)
    idx = np.floor(p / positive(cell, "cell")).astype(np.int64)
    idx -= idx.min(axis=0)
    span = idx.max(axis=0) + 1
    if float(np.prod(span, dtype=np.float64)) < 2.0**62:
        first = np.unique((idx[:, 0] * span[1] + idx[:, 1]) * span[2] + idx[:, 2],
                          return_index=True)[1]  # fmt: skip
    else:  # a huge box: compare rows instead of packed keys
        first = np.unique(idx, axis=0, return_index=True)[1]
    return np.sort(first)


def _carve_keys(camera_centres, points, point_cam_index, voxel_size, origin, max_range, trunc):
    """Return (occupied keys, free keys), unique int64, free excluding occupied."""
    vs, o = positive(voxel_size, "voxel_size"), _vec3(origin, "origin")
    trunc = vs if trunc is None else float(trunc)
    if not np.isfinite(trunc) or trunc < 0:
        raise ValueError(f"truncation must be finite and >= 0 metres, got {trunc}")
    if max_range is not None:
        max_range = positive(max_range, "max_range")
    c, p = _rays(camera_centres, points, point_cam_index)
    length = np.linalg.norm(p - c, axis=1)
    in_range = np.ones(p.shape[0], bool) if max_range is None else length <= max_range
    occ = np.unique(_pack(np.floor((p[in_range] - o) / vs).astype(np.int64)))
    free_len = length - trunc
    if max_range is not None:
        free_len = np.minimum(free_len, max_range)
    ok = free_len > 0
    c, p, length, free_len = c[ok], p[ok], length[ok], free_len[ok]
    e = c + (p - c) * (free_len / length)[:, None]
    free = _traverse((c - o) / vs, (e - o) / vs)
    return occ, np.setdiff1d(free, occ, assume_unique=True)


def carve_free_space(
    camera_centres: np.ndarray | Sequence[Sequence[float]],
    points: np.ndarray | Sequence[np.ndarray],
    point_cam_index: np.ndarray | None,
    voxel_size: float,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    max_range: float | None = None,
    truncation: float | None = None,
) -> np.ndarray:
    """Return voxels (F, 3) int64 seen free by rays from camera centres to observed points.

    Args:
        camera_centres: (C, 3) camera centres in the world frame (metres).
        points: observed world points, either (N, 3) with ``point_cam_index`` or a
            list of C arrays (Ni, 3), one per camera (then ``point_cam_index`` is None).
        point_cam_index: (N,) int, the camera that observed each point; may be None
            with a single camera.
        voxel_size: voxel edge in metres.
        origin: world position of voxel (0, 0, 0)'s minimum corner.
        max_range: rays longer than this carve only their first ``max_range`` metres
            and their endpoints are not occupied; None = no limit.
        truncation: each ray stops this far short of its point (default voxel_size).

    Returns:
        Unique free voxel indices, sorted, excluding every voxel holding an
        (in-range) point. Each voxel whose interior the truncated segment crosses
        is free (exact traversal; a voxel the segment only touches at an edge or
        corner may or may not count, as floating-point rounding decides).

    """
    _, free = _carve_keys(
        camera_centres, points, point_cam_index, voxel_size, origin, max_range, truncation
    )
    return _unpack(free)


@dataclass
class OccupancyGrid2D:
    """A 2D occupancy grid with nav_msgs/OccupancyGrid semantics.

    Attributes:
        data: int8 (H, W), row-major; row r covers y in ``origin_y + [r, r+1) * res``
            and column c covers x in ``origin_x + [c, c+1) * res`` (row 0 at the
            origin). Values: -1 unknown, 0 free, 100 occupied (0..100 allowed).
        resolution: cell edge in metres.
        origin_xy: (x, y) of cell (0, 0)'s minimum corner in the grid's frame.
        origin_z: height of the grid plane in the grid's frame (metres).

    """

    data: np.ndarray
    resolution: float
    origin_xy: tuple[float, float]
    origin_z: float = 0.0

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 2 or not np.issubdtype(data.dtype, np.integer):
            raise ValueError(
                f"grid data must be an integer (H, W) array, got {data.dtype} {data.shape}"
            )
        if np.any((data != -1) & ((data < 0) | (data > 100))):
            raise ValueError("grid data values must be -1 (unknown) or 0..100")
        self.data = data.astype(np.int8, copy=False)
        self.resolution = positive(self.resolution, "resolution")
        xy = np.asarray(self.origin_xy, dtype=np.float64)
        if xy.shape != (2,) or not np.all(np.isfinite(xy)) or not np.isfinite(self.origin_z):
            raise ValueError(f"origin must be finite (x, y) and z, got {self.origin_xy!r}")
        self.origin_xy = (float(xy[0]), float(xy[1]))
        self.origin_z = float(self.origin_z)

    @property
    def height(self) -> int:
        """Return the number of rows (cells along y)."""
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        """Return the number of columns (cells along x)."""
        return int(self.data.shape[1])


def grid_from_voxels(
    occupied_idx: np.ndarray,
    free_idx: np.ndarray,
    voxel_size: float,
    origin: Sequence[float],
    z_min: float,
    z_max: float,
    bounds_xy: Sequence[float] | None = None,
) -> OccupancyGrid2D:
    """Project the voxels of a height band onto the XY plane of the gravity-aligned frame.

    Args:
        occupied_idx: (M, 3) int occupied voxel indices.
        free_idx: (F, 3) int free voxel indices.
        voxel_size: voxel edge in metres (= the grid's resolution).
        origin: world position of voxel (0, 0, 0)'s minimum corner (z up).
        z_min, z_max: the band; only voxels with centre z in [z_min, z_max] count.
        bounds_xy: optional (x_min, y_min, x_max, y_max) metres; the grid then covers
            the voxel columns meeting this box and drops the others. None = the grid
            covers the columns of all given voxels (whatever their height).

    Returns:
        OccupancyGrid2D whose cell (row, col) is the voxel column (i, j) =
        (col + i0, row + j0): 100 if any occupied voxel of the band is in it, else 0
        if any free voxel of the band is, else -1. ``origin_z`` is ``z_min``.

    """
    occ, free = _indices(occupied_idx, "occupied_idx"), _indices(free_idx, "free_idx")
    vs, o = positive(voxel_size, "voxel_size"), _vec3(origin, "origin")
    z_min, z_max = float(z_min), float(z_max)
    if not (np.isfinite(z_min) and np.isfinite(z_max) and z_min <= z_max):
        raise ValueError(f"need finite z_min <= z_max, got {z_min}, {z_max}")
    if bounds_xy is None:
        every = np.concatenate([occ, free])
        if every.shape[0] == 0:
            return OccupancyGrid2D(np.zeros((0, 0), np.int8), vs, (o[0], o[1]), z_min)
        lo, hi = every[:, :2].min(axis=0), every[:, :2].max(axis=0)
    else:
        b = np.asarray(bounds_xy, dtype=np.float64)
        if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
            raise ValueError(f"bounds_xy must be finite (x_min, y_min, x_max, y_max), got {b}")
        lo = np.floor((b[:2] - o[:2]) / vs).astype(np.int64)
        hi = np.ceil((b[2:] - o[:2]) / vs).astype(np.int64) - 1
    W, H = (hi - lo + 1).tolist()
    data = np.full((H, W), -1, np.int8)
    for idx, value in ((free, 0), (occ, 100)):  # occupied written last: it wins
        zc = o[2] + (idx[:, 2] + 0.5) * vs
        ij = idx[:, :2] - lo
        sel = (zc >= z_min) & (zc <= z_max) & np.all((ij >= 0) & (ij < [W, H]), axis=1)
        data[ij[sel, 1], ij[sel, 0]] = value
    origin_xy = (float(o[0] + lo[0] * vs), float(o[1] + lo[1] * vs))
    return OccupancyGrid2D(data, vs, origin_xy, z_min)


class OccupancyMap:
    """Accumulates occupied and free voxels over many updates (world frame, z up).

    Rule: a voxel ever observed occupied stays occupied until :meth:`clear`; free
    voxels are the union of every update's carved free space minus the occupied
    ones (occupied wins, so a moved obstacle leaves a trace until cleared).

    Args:
        voxel_size: voxel edge in metres.
        origin: world position of voxel (0, 0, 0)'s minimum corner.
        max_range: passed to :func:`carve_free_space` (None = unlimited).
        truncation: passed to :func:`carve_free_space` (None = voxel_size).

    """

    def __init__(
        self,
        voxel_size: float,
        origin: Sequence[float] = (0.0, 0.0, 0.0),
        max_range: float | None = None,
        truncation: float | None = None,
    ) -> None:
        self.voxel_size = positive(voxel_size, "voxel_size")
        self.origin = _vec3(origin, "origin")
        self.max_range = None if max_range is None else positive(max_range, "max_range")
        self.truncation = truncation
        self.clear()

    def clear(self) -> None:
        """Forget all evidence."""
        self._occ = np.zeros(0, np.int64)
        self._free = np.zeros(0, np.int64)

    def integrate(
        self,
        points_world: np.ndarray | Sequence[np.ndarray],
        camera_centres: np.ndarray | Sequence[Sequence[float]],
        point_cam_index: np.ndarray | None = None,
        occupied_only: np.ndarray | None = None,
    ) -> None:
        """Add one update: world points (N, 3) seen from camera centres (C, 3), metres.

        ``point_cam_index`` (N,) int names each point's camera; see
        :func:`carve_free_space` for the accepted forms. ``occupied_only`` (M, 3):
        more world points whose voxels are occupied, with no ray (no free space).
        """
        occ, free = _carve_keys(
            camera_centres,
            points_world,
            point_cam_index,
            self.voxel_size,
            self.origin,
            self.max_range,
            self.truncation,
        )
        if occupied_only is not None and len(occupied_only):
            more = occupied_voxels(occupied_only, self.voxel_size, self.origin)
            occ = np.union1d(occ, _pack(more))
            free = np.setdiff1d(free, occ, assume_unique=True)
        self._occ = np.union1d(self._occ, occ)
        self._free = np.setdiff1d(np.union1d(self._free, free), self._occ, assume_unique=True)

    def occupied(self) -> np.ndarray:
        """Return occupied voxel indices (M, 3) int64, sorted."""
        return _unpack(self._occ)

    def free(self) -> np.ndarray:
        """Return free voxel indices (F, 3) int64, sorted, disjoint from :meth:`occupied`."""
        return _unpack(self._free)

    def to_grid(
        self, z_min: float, z_max: float, bounds_xy: Sequence[float] | None = None
    ) -> OccupancyGrid2D:
        """Project the band [z_min, z_max] (metres, world z) to a grid; see grid_from_voxels."""
        return grid_from_voxels(
            self.occupied(), self.free(), self.voxel_size, self.origin, z_min, z_max, bounds_xy
        )
