"""Footprint placement: rejection-sample non-overlapping objects on a support surface (numpy).

A footprint is the XY shadow of an upright object: a disc ``(0, 0, r)`` or an oriented
rectangle ``(hx, hy, 0)`` (half sizes, rotated by the object's yaw). Two objects resting
on the same plane with disjoint footprints do not interpenetrate.
"""

from __future__ import annotations

import numpy as np


def _rect_point_dist(q: np.ndarray, c: np.ndarray, yaw: np.ndarray, hx, hy) -> np.ndarray:
    """Distance from points ``q`` (..., 2) to rectangles (centre c, yaw, half sizes)."""
    dq = q - c
    cs, sn = np.cos(yaw), np.sin(yaw)
    lx = np.abs(cs * dq[..., 0] + sn * dq[..., 1]) - hx
    ly = np.abs(-sn * dq[..., 0] + cs * dq[..., 1]) - hy
    return np.hypot(np.maximum(lx, 0.0), np.maximum(ly, 0.0))


def _rects_separated(c1, y1, h1, c2, y2, h2, gap) -> np.ndarray:
    """Separating-axis test of two sets of oriented rectangles (broadcast), with a gap."""
    axes = []
    for y in (y1, y2):
        axes.append((np.cos(y), np.sin(y)))
        axes.append((-np.sin(y), np.cos(y)))
    delta = c2 - c1
    sep = np.zeros(np.broadcast_shapes(delta.shape[:-1], np.shape(y1), np.shape(y2)), bool)
    for ax, ay in axes:

        def radius(yaw, h, ax=ax, ay=ay):
            cs, sn = np.cos(yaw), np.sin(yaw)
            return h[0] * np.abs(cs * ax + sn * ay) + h[1] * np.abs(-sn * ax + cs * ay)

        proj = np.abs(delta[..., 0] * ax + delta[..., 1] * ay)
        sep |= proj > radius(y1, h1) + radius(y2, h2) + gap
    return sep


def footprints_overlap(
    xy: np.ndarray, yaw: np.ndarray, shape: tuple[float, float, float], placed: np.ndarray, gap
) -> np.ndarray:
    """Test candidate placements of one footprint against already placed footprints.

    Args:
        xy: float (C, 2) candidate centres (support frame, m).
        yaw: float (C,) candidate yaws (rad).
        shape: the candidate footprint ``(hx, hy, r)``: a disc when ``r > 0``.
        placed: float (P, 6) rows ``(x, y, yaw, hx, hy, r)`` of placed footprints.
        gap: minimum clearance (m) between footprints.

    Returns:
        bool (C,), True where the candidate overlaps some placed footprint.

    """
    if len(placed) == 0:
        return np.zeros(len(xy), bool)
    q = xy[:, None, :]
    c = placed[None, :, :2]
    py, phx, phy, pr = (placed[None, :, i] for i in range(2, 6))
    hx, hy, r = shape
    cy = yaw[:, None]
    discs = pr > 0
    hit = np.zeros((len(xy), len(placed)), bool)
    if r > 0:
        if discs.any():
            hit |= discs & (np.linalg.norm(q - c, axis=-1) < r + pr + gap)
        if not discs.all():
            hit |= ~discs & (_rect_point_dist(q, c, py, phx, phy) < r + gap)
    else:
        if discs.any():
            hit |= discs & (_rect_point_dist(c, q, cy, hx, hy) < pr + gap)
        if not discs.all():
            hit |= ~discs & ~_rects_separated(q, cy, (hx, hy), c, py, (phx, phy), gap)
    return hit.any(axis=1)


def footprint_extent(shape: tuple[float, float, float], yaw: np.ndarray):
    """Axis-aligned half extents ``(ex, ey)`` (arrays like ``yaw``) of a rotated footprint."""
    hx, hy, r = shape
    if r > 0:
        return np.full_like(yaw, r), np.full_like(yaw, r)
    cs, sn = np.abs(np.cos(yaw)), np.abs(np.sin(yaw))
    return hx * cs + hy * sn, hx * sn + hy * cs


def place(
    rng: np.random.Generator,
    shape: tuple[float, float, float],
    half: tuple[float, float],
    placed: np.ndarray,
    gap: float = 0.01,
    margin: float = 0.01,
    tries: int = 64,
    yaw: float | None = None,
) -> tuple[float, float, float] | None:
    """Sample a position and yaw for one footprint inside a support rectangle.

    Args:
        rng: numpy generator (consumed deterministically).
        shape: footprint ``(hx, hy, r)``.
        half: half sizes of the support rectangle, centred at the support-frame origin.
        placed: float (P, 6) footprints already on this support (see
            :func:`footprints_overlap`).
        gap: clearance between objects (m).
        margin: clearance to the support's edge (m).
        tries: candidates drawn at once; the first valid one wins.
        yaw: a fixed yaw (rad) instead of a uniform random one.

    Returns:
        ``(x, y, yaw)`` in the support frame, or None when no candidate fits.

    """
    yaws = rng.uniform(-np.pi, np.pi, tries) if yaw is None else np.full(tries, float(yaw))
    xy = rng.uniform(-1.0, 1.0, (tries, 2)) * np.asarray(half)
    ex, ey = footprint_extent(shape, yaws)
    inside = (np.abs(xy[:, 0]) + ex <= half[0] - margin) & (
        np.abs(xy[:, 1]) + ey <= half[1] - margin
    )
    ok = inside & ~footprints_overlap(xy, yaws, shape, placed, gap)
    if not ok.any():
        return None
    i = int(np.argmax(ok))
    return float(xy[i, 0]), float(xy[i, 1]), float(yaws[i])
