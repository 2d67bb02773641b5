"""Exact voxel traversal of many line segments at once, and int64 voxel keys (numpy only).

Units: segment ends are in *voxel units* (world point minus grid origin, divided by
the voxel edge), so voxel ``(i, j, k)`` is the unit cube ``[i, i+1) x [j, j+1) x
[k, k+1)``. :func:`traverse` returns every voxel whose interior a segment passes
through (Amanatides-Woo, vectorised over segments and plane crossings: no per-ray
Python loop) as packed keys (:func:`pack`), unique and sorted, i.e. in (i, j, k)
lexicographic order. Indices must lie in [-2**20, 2**20) on each axis.
Crossed voxels are collected in a boolean box when it is small enough (no sort).
"""

from __future__ import annotations

import numpy as np

_BIAS = 1 << 20
_BITS = 21
_MASK = (1 << _BITS) - 1
_CHUNK = 1 << 20  # max plane crossings handled at once (bounds memory to ~100 MB)
_DENSE_CELLS = 1 << 25  # collect crossed voxels in a boolean box up to this many voxels


def pack(idx: np.ndarray) -> np.ndarray:
    """Voxel indices (M, 3) int64 -> keys (M,) int64 whose order is (i, j, k) lexicographic."""
    if idx.size and (idx.min() < -_BIAS or idx.max() >= _BIAS):
        raise ValueError(
            f"voxel indices must lie in [{-_BIAS}, {_BIAS}) per axis, got range "
            f"[{idx.min()}, {idx.max()}]: use a larger voxel_size or a closer origin"
        )
    b = idx + _BIAS
    return (b[:, 0] << (2 * _BITS)) | (b[:, 1] << _BITS) | b[:, 2]


def unpack(keys: np.ndarray) -> np.ndarray:
    """Keys (M,) int64 -> voxel indices (M, 3) int64."""
    return np.stack([keys >> (2 * _BITS), (keys >> _BITS) & _MASK, keys & _MASK], 1) - _BIAS


def _dfloor(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Index of the cell entered from ``x`` when moving along ``sign(d)`` (int64, same shape).

    That is ``floor(x)``, or ``ceil(x) - 1`` for ``d < 0`` (one less on a cell boundary).
    """
    f = np.floor(x)
    return (f - ((d < 0) & (f == x))).astype(np.int64)


class _VoxelSet:
    """Collects voxel indices (three int64 arrays) into unique sorted keys.

    Dense (a boolean box, O(1) per voxel, no sort) when the box ``[lo, hi]`` has at
    most ``_DENSE_CELLS`` voxels; otherwise sparse (packed keys, sorted once).
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self.lo, self.shape = lo, hi - lo + 1
        cells = int(np.prod(self.shape, dtype=np.float64))
        self.mask = np.zeros(cells, bool) if cells <= _DENSE_CELLS else None
        self.parts: list[np.ndarray] = []

    def add(self, i: np.ndarray, j: np.ndarray, k: np.ndarray) -> None:
        if self.mask is None:
            self.parts.append(pack(np.stack([i, j, k], axis=1)))
            return
        lo, (_, ny, nz) = self.lo, self.shape
        self.mask[((i - lo[0]) * ny + (j - lo[1])) * nz + (k - lo[2])] = True

    def keys(self) -> np.ndarray:
        if self.mask is None:
            return np.unique(np.concatenate(self.parts)) if self.parts else np.zeros(0, np.int64)
        lin = np.flatnonzero(self.mask)
        _, ny, nz = self.shape
        idx = np.stack([lin // (ny * nz), (lin // nz) % ny, lin % nz], axis=1) + self.lo
        return pack(idx)  # C order of the box = (i, j, k) lexicographic = sorted keys


def _traverse_chunk(a, d, first, lo, hi, out: _VoxelSet) -> None:
    """Add to ``out`` the voxels crossed by segments a -> a + d (R, 3), in voxel units.

    Every grid plane crossed on the way adds the voxel entered there (Amanatides-Woo,
    vectorised over rays and crossings, no per-ray loop); ``first`` (R, 3) is the voxel
    the ray leaves ``a`` into, ``lo``/``hi`` (R, 3) bound the voxels of each ray.
    """
    out.add(first[:, 0], first[:, 1], first[:, 2])
    a, d, lo, hi = a.T.copy(), d.T.copy(), lo.T.copy(), hi.T.copy()  # (3, R) rows
    n = hi - lo  # (3, R) grid planes crossed per axis
    for k in range(3):
        nk = n[k]
        total = int(nk.sum())
        if total == 0:
            continue
        up = d[k] > 0
        plane0 = np.where(up, first[:, k] + 1, first[:, k])  # first plane crossed
        j = np.arange(total) - np.repeat(np.cumsum(nk) - nk, nk)  # 0 .. nk - 1 per ray
        rep_up = np.repeat(up, nk)
        plane = np.repeat(plane0, nk) + np.where(rep_up, j, -j)
        dk = np.repeat(d[k], nk)
        u = (plane - np.repeat(a[k], nk)) / dk  # crossing parameter
        vox = [plane - ~rep_up, None, None]  # the voxel entered on axis k
        vox[1] = vox[2] = vox[0]
        for o in (k + 1) % 3, (k + 2) % 3:  # the other axes at the crossing
            do = np.repeat(d[o], nk)
            v = _dfloor(np.repeat(a[o], nk) + u * do, do)
            np.maximum(v, np.repeat(lo[o], nk), out=v)
            vox[o] = np.minimum(v, np.repeat(hi[o], nk), out=v)
        out.add(*vox)


def traverse(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Keys (unique, sorted) of all voxels crossed by segments a -> e (R, 3) in voxel units."""
    if a.shape[0] == 0:
        return np.zeros(0, np.int64)
    d = e - a
    first, last = _dfloor(a, d), _dfloor(e, -d)
    lo, hi = np.minimum(first, last), np.maximum(first, last)
    out = _VoxelSet(lo.min(axis=0), hi.max(axis=0))
    ends = np.cumsum((hi - lo).sum(axis=1) + 1)  # voxels per ray, cumulated
    start = 0
    while start < a.shape[0]:
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + _CHUNK, side="right")), start + 1)
        s = slice(start, stop)
        _traverse_chunk(a[s], d[s], first[s], lo[s], hi[s], out)
        start = stop
    return out.keys()
