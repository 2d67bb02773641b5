"""The reference surface of a real RGB-D sequence: TSDF fusion of all its frames, cached.

Every frame of the sequence is fused with its ground-truth poses (a dense TSDF in torch:
1.5 cm voxels, truncation 4 voxels, depth <= 4 m, weight 1 per observation) and the zero
set is extracted as points (world frame, metres): one point per voxel edge the signed
distance changes sign along, where both ends were observed and lie inside the
truncation band, linearly interpolated. Torch only, so it runs on the GPU machine too;
on a CPU it takes about a minute for 100 VGA frames, so the points are cached in
``$NOVA3R_CACHE`` (default ``~/.cache/nova3r``) under a key made of the fusion
parameters and the bytes of every depth, pose and intrinsics file: a changed file gives
a new key, never a stale reference.

The fusion also leaves surfaces that no frame measured: behind a silhouette, one frame's
band of negative distance behind the front surface (up to the truncation distance, 6 cm)
meets what a frame from another place saw there as free space, and the zero set runs
along the silhouette a few centimetres behind it, like a side wall (a card with no
thickness seen from two places 10 cm apart gets zero crossings 4.5-6 cm behind its left
and right edges). With ``measured=True`` the reference keeps
only points that some frame's depth measured within :data:`MEASURED_TOL_M` along its ray
(cached too); on the 7-Scenes kitchen dev frames that keeps 0.927 of the points
(docs/eval/session27).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

VOXEL_M = 0.015
TRUNC_VOXELS = 4
MAX_DEPTH_M = 4.0
_VERSION = "tsdf-reference-v2"
MEASURED_TOL_M = 0.02


def cache_dir() -> Path:
    """``$NOVA3R_CACHE`` or ``~/.cache/nova3r``."""
    return Path(os.environ.get("NOVA3R_CACHE") or Path.home() / ".cache" / "nova3r")


def content_key(seq) -> str:
    """SHA-256 of the fusion parameters and every depth, pose and intrinsics file's bytes."""
    h = hashlib.sha256(f"{_VERSION} {VOXEL_M} {TRUNC_VOXELS} {MAX_DEPTH_M}".encode())
    k_path = seq.root / "camera-intrinsics.txt"
    if k_path.exists():
        h.update(k_path.read_bytes())
    for frame in seq.frames:
        for path in (frame.depth, frame.pose):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def tsdf_points(
    views, voxel: float = VOXEL_M, trunc_voxels: float = TRUNC_VOXELS,
    max_depth: float = MAX_DEPTH_M, log: Callable[[int, int], None] | None = None,
    device: str = "cpu",
) -> np.ndarray:  # fmt: skip
    """Fuse ``views`` [(depth (H, W) metres, K 3x3, T_world_cam 4x4)] -> (M, 3) float32 points.

    The grid spans the back-projected depth (<= ``max_depth``) plus the truncation band.
    """
    import torch

    from nova3r_ros.core.pointcloud import backproject_depth

    clipped = [(np.where(d <= max_depth, d, 0).astype(np.float32), K, T) for d, K, T in views]
    sample = [backproject_depth(d, K, T, stride=4)[0] for d, K, T in clipped]
    sample = np.concatenate(sample) if sample else np.zeros((0, 3), np.float32)
    if len(sample) == 0:
        return np.zeros((0, 3), np.float32)
    trunc = trunc_voxels * voxel
    lo = sample.min(0) - 2 * trunc
    dims = np.ceil((sample.max(0) + 2 * trunc - lo) / voxel).astype(int) + 1
    if np.prod(dims) > 400_000_000:
        raise ValueError(f"TSDF grid {dims.tolist()} too large for {voxel} m voxels")
    dev = torch.device(device)
    tsdf = torch.ones(int(np.prod(dims)), device=dev)
    weight = torch.zeros_like(tsdf)
    axes = [torch.arange(n, device=dev, dtype=torch.float32) * voxel + float(o)
            for n, o in zip(dims, lo, strict=True)]  # fmt: skip
    for k, (depth, K, T) in enumerate(clipped):
        D = torch.from_numpy(depth).to(dev)
        H, W = D.shape
        Tcw = torch.from_numpy(np.linalg.inv(T)).float().to(dev)
        Kt = torch.from_numpy(np.asarray(K, np.float64)).float().to(dev)
        step = max(1, 2_000_000 // int(dims[1] * dims[2]))  # x slabs per chunk: bounded memory
        for x0 in range(0, dims[0], step):
            g = torch.stack(torch.meshgrid(axes[0][x0 : x0 + step], axes[1], axes[2],
                                           indexing="ij"), -1).reshape(-1, 3)  # fmt: skip
            pc = g @ Tcw[:3, :3].T + Tcw[:3, 3]
            z = pc[:, 2]
            zs = torch.where(z > 1e-3, z, torch.ones_like(z))
            u = torch.round(Kt[0, 0] * pc[:, 0] / zs + Kt[0, 1] * pc[:, 1] / zs + Kt[0, 2])
            v = torch.round(Kt[1, 1] * pc[:, 1] / zs + Kt[1, 2])
            inside = (z > 1e-3) & (u >= 0) & (v >= 0) & (u < W) & (v < H)
            d = D[v.clamp(0, H - 1).long(), u.clamp(0, W - 1).long()]
            sdf = d - z
            upd = inside & (d > 0) & (sdf >= -trunc)
            sl = slice(x0 * dims[1] * dims[2], x0 * dims[1] * dims[2] + len(g))
            w_old = weight[sl]
            new = torch.clamp(sdf / trunc, max=1.0)
            tsdf[sl] = torch.where(upd, (tsdf[sl] * w_old + new) / (w_old + 1), tsdf[sl])
            weight[sl] = w_old + upd.float()
        if log is not None:
            log(k + 1, len(clipped))
    return _zero_crossings(tsdf.view(*dims), weight.view(*dims), lo, voxel)


def _zero_crossings(tsdf, weight, lo: np.ndarray, voxel: float) -> np.ndarray:
    """Points where the TSDF changes sign between observed neighbours, along each axis."""
    import torch

    pts = []
    for axis in range(3):
        a = tsdf.narrow(axis, 0, tsdf.shape[axis] - 1)
        b = tsdf.narrow(axis, 1, tsdf.shape[axis] - 1)
        wa = weight.narrow(axis, 0, tsdf.shape[axis] - 1)
        wb = weight.narrow(axis, 1, tsdf.shape[axis] - 1)
        hit = (wa > 0) & (wb > 0) & (a.abs() < 1) & (b.abs() < 1) & ((a > 0) != (b > 0))
        idx = torch.nonzero(hit).float()
        t = a[hit] / (a[hit] - b[hit])
        idx[:, axis] += t
        pts.append(idx)
    idx = torch.cat(pts).cpu().numpy().astype(np.float64)
    return (idx * voxel + lo).astype(np.float32)


def measured_mask(points: np.ndarray, views, tol: float = MEASURED_TOL_M) -> np.ndarray:
    """(N,) bool: some view's depth lies within ``tol`` of the point along its ray.

    ``points`` (N, 3) world frame; ``views`` [(depth (H, W) metres, K 3x3, T_world_cam
    4x4)]; nearest pixel, depth 0 = not measured (:func:`~nova3r_ros.eval.frustum.measured`).
    """
    from nova3r_ros.eval.frustum import Camera, measured

    frames = [(depth, Camera(np.asarray(K, np.float64), np.asarray(T, np.float64),
                             *depth.shape, 0.0)) for depth, K, T in views]  # fmt: skip
    return measured(points, frames, tol)


def sequence_reference(
    seq, log: Callable[[str], None] = print, measured: bool = False
) -> np.ndarray:
    """(M, 3) float32 reference points of ``seq`` (a SevenScenesSequence), world frame.

    ``measured``: only the points some frame measured (:func:`measured_mask`).
    """
    if measured:
        key = f"reference-{content_key(seq)[:24]}-measured-{MEASURED_TOL_M:g}.npy"
        path = cache_dir() / key
        if path.is_file():
            points = np.load(path, allow_pickle=False)
            if points.ndim == 2 and points.shape[1] == 3 and points.dtype == np.float32:
                return points
        full = sequence_reference(seq, log)
        views = [(seq.view(i).depth, seq.view(i).K, seq.pose(i)) for i in range(len(seq))]
        points = full[measured_mask(full, views)]
        _save(path, points)
        log(f"[reference] {len(points)} of {len(full)} points measured by some frame, "
            f"cached in {path}")  # fmt: skip
        return points
    path = cache_dir() / f"reference-{content_key(seq)[:24]}.npy"
    log(f"[reference] {path}")
    if path.is_file():
        points = np.load(path, allow_pickle=False)
        if points.ndim == 2 and points.shape[1] == 3 and points.dtype == np.float32:
            return points
        log(f"[reference] {path}: malformed, fusing again")
    views = []
    for i in range(len(seq)):
        view = seq.view(i)
        views.append((view.depth, view.K, seq.pose(i)))
    points = tsdf_points(views, log=lambda k, n: log(f"[reference] fused {k}/{n} frames "
                                                      f"of {seq.root}"))  # fmt: skip
    _save(path, points)
    log(f"[reference] {len(points)} points cached in {path}")
    return points


def _save(path: Path, points: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, points)
    tmp.replace(path)
