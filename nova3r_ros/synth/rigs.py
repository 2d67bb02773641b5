"""Camera rigs: random intrinsics and look-at poses around a scene (numpy, float64).

Poses are ``T_world_cam`` (4x4, camera-to-world) of OpenCV optical frames (x right,
y down, z forward). Camera centres sit at ``target + d (cos e cos a, cos e sin a, sin e)``
with azimuth ``a`` around the world z axis through the scene's target, elevation ``e``
and distance ``d``. Modes:

``rig``     a fixed multi-camera rig: cameras evenly spaced in azimuth over the spread,
            one distance, elevation rows +-4 deg for more than 4 cameras; known extrinsics.
``moving``  one camera on a short arc: azimuth sweeps the spread linearly, elevation and
            distance drift slightly; one intrinsic matrix.
``random``  independent views, azimuths stratified in ``[a0, a0 + spread]``, elevation and
            distance uniform in their ranges, roll jitter +-3 deg.

:func:`sample_cameras` is the benchmark sampler (its random-number use is frozen).
:func:`sample_cameras_wide` is the training sampler: the same modes with a roll range,
log-uniform distances, an optional side to look from (``facing``), handheld jitter and
room clamping without a minimum distance (the caller rejects bad draws).
"""

from __future__ import annotations

import numpy as np

MODES = ("rig", "moving", "random")


def intrinsics(fov_x_deg: np.ndarray, width: int, height: int, offset: np.ndarray | None = None):
    """Pinhole ``K`` (n, 3, 3) float64 from horizontal fields of view (deg), square pixels.

    ``offset`` (n, 2) shifts the principal point from the image centre ``((W-1)/2, (H-1)/2)``
    by that fraction of the image size.
    """
    fov = np.radians(np.atleast_1d(np.asarray(fov_x_deg, np.float64)))
    f = (width / 2.0) / np.tan(fov / 2.0)
    off = np.zeros((len(f), 2)) if offset is None else np.asarray(offset, np.float64)
    K = np.zeros((len(f), 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2] = (width - 1) / 2.0 + off[:, 0] * width
    K[:, 1, 2] = (height - 1) / 2.0 + off[:, 1] * height
    K[:, 2, 2] = 1.0
    return K


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], 1)  # fmt: skip


def look_at(eye: np.ndarray, target: np.ndarray, roll: np.ndarray | None = None) -> np.ndarray:
    """``T_world_cam`` (n, 4, 4) float64 of cameras at ``eye`` (n, 3) looking at ``target``.

    World up is +z; the optical y axis points down in the image; ``roll`` (n,) rad rotates
    the camera about its optical axis.
    """
    eye = np.atleast_2d(np.asarray(eye, np.float64))
    fwd = np.atleast_2d(target) - eye
    fwd /= np.linalg.norm(fwd, axis=1, keepdims=True)
    right = np.stack([fwd[:, 1], -fwd[:, 0], np.zeros(len(fwd))], 1)  # fwd x (0, 0, 1)
    degenerate = np.linalg.norm(right, axis=1) < 1e-9  # looking straight up or down
    if degenerate.any():
        right[degenerate] = np.cross(fwd[degenerate], [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    down = _cross(fwd, right)
    if roll is not None:
        c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
        right, down = c * right + s * down, -s * right + c * down
    T = np.tile(np.eye(4), (len(eye), 1, 1))
    T[:, :3, 0], T[:, :3, 1], T[:, :3, 2], T[:, :3, 3] = right, down, fwd, eye
    return T


def azimuths(
    rng: np.random.Generator, n: int, mode: str, spread_deg: float, a0: float | None = None
) -> np.ndarray:
    """Return camera azimuths in rad, all within a0 .. a0 + spread (a0 random when None)."""
    a0 = rng.uniform(-np.pi, np.pi) if a0 is None else a0
    s = np.radians(spread_deg)
    if n == 1:
        return np.array([a0 + rng.uniform(0.0, s)])
    if mode == "random":
        frac = (np.arange(n) + rng.uniform(0.0, 1.0, n)) / n
        if spread_deg >= 360.0:
            frac = np.arange(n) / n + rng.uniform(-0.5, 0.5, n) / n
        return a0 + s * frac
    return a0 + s * np.linspace(0.0, 1.0, n)


def _clamp_to_room(target, direction, dist, room_half, margin=0.25):
    """Shorten ``dist`` so that cameras stay inside the room box (with a margin)."""
    hx, hy, hz = room_half
    lim = np.array([hx - margin, hy - margin, hz - margin])
    lo = np.array([-lim[0], -lim[1], margin])
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = np.where(direction > 0, (lim - target) / direction, np.inf)
        t_lo = np.where(direction < 0, (lo - target) / direction, np.inf)
    t_max = np.minimum(t_hi, t_lo).min(axis=1)
    return np.clip(np.minimum(dist, t_max), 0.3, None)


def sample_cameras(
    rng: np.random.Generator,
    n_views: int,
    mode: str,
    spread_deg: float,
    target: np.ndarray,
    width: int,
    height: int,
    fov_deg: tuple[float, float] = (50.0, 75.0),
    elevation_deg: tuple[float, float] = (25.0, 60.0),
    distance_m: tuple[float, float] = (0.6, 1.2),
    room_half: tuple[float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample intrinsics and camera-to-world poses of one window.

    Args:
        rng: numpy generator (consumed deterministically).
        n_views: number of views (1-16).
        mode: ``rig``, ``moving`` or ``random`` (module doc).
        spread_deg: azimuth range (deg) that holds every camera centre around ``target``.
        target: (3,) world point the cameras turn around and look at (+-3 cm jitter for
            ``random``).
        width: image width (px).
        height: image height (px).
        fov_deg: range of the horizontal field of view.
        elevation_deg: range of the camera elevation above ``target``.
        distance_m: range of the camera distance to ``target``.
        room_half: ``(hx, hy, height)`` of a room the cameras must stay inside, or None.

    Returns:
        ``(K (V, 3, 3), T_world_cam (V, 4, 4))`` float64.

    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    target = np.asarray(target, np.float64)
    az = azimuths(rng, n_views, mode, spread_deg)
    el_lo, el_hi = np.radians(elevation_deg)
    off = rng.uniform(-0.02, 0.02, (n_views, 2))
    roll = np.zeros(n_views)
    look = np.tile(target, (n_views, 1))
    if mode == "random":
        el = rng.uniform(el_lo, el_hi, n_views)
        dist = rng.uniform(*distance_m, n_views)
        fov = rng.uniform(*fov_deg, n_views)
        roll = np.radians(rng.uniform(-3.0, 3.0, n_views))
        look = look + rng.uniform(-0.03, 0.03, (n_views, 3))
    elif mode == "rig":
        rows = np.where(np.arange(n_views) % 2 == 0, -1.0, 1.0) * (n_views > 4)
        el0 = rng.uniform(el_lo + np.radians(4.0), el_hi - np.radians(4.0))
        el = np.clip(el0 + np.radians(4.0) * rows, el_lo, el_hi)
        dist = np.full(n_views, rng.uniform(*distance_m))
        fov = rng.uniform(*fov_deg, n_views)
    else:
        e0, e1 = rng.uniform(el_lo, el_hi, 2)
        e1 = np.clip(e1, e0 - np.radians(10.0), e0 + np.radians(10.0))
        el = np.linspace(e0, e1, n_views)
        d0 = rng.uniform(*distance_m)
        d1 = np.clip(d0 * rng.uniform(0.9, 1.1), *distance_m)
        dist = np.linspace(d0, d1, n_views)
        fov = np.full(n_views, rng.uniform(*fov_deg))
        off = np.tile(off[:1], (n_views, 1))
    direction = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
    if room_half is not None:
        dist = _clamp_to_room(target, direction, dist, room_half)
    eye = target + dist[:, None] * direction
    return intrinsics(fov, width, height, off), look_at(eye, look, roll)


def _room_limit(target, direction, room_half, margin):
    """Largest distance along ``direction`` (n, 3) from ``target`` inside the room box."""
    hx, hy, hz = room_half
    hi = np.array([hx - margin, hy - margin, hz - margin])
    lo = np.array([-hi[0], -hi[1], margin])
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = np.where(direction > 0, (hi - target) / direction, np.inf)
        t_lo = np.where(direction < 0, (lo - target) / direction, np.inf)
    return np.minimum(t_hi, t_lo).min(axis=1)


def sample_cameras_wide(
    rng: np.random.Generator,
    n_views: int,
    mode: str,
    spread_deg: float,
    target: np.ndarray,
    width: int,
    height: int,
    fov_deg: tuple[float, float] = (55.0, 100.0),
    elevation_deg: tuple[float, float] = (-15.0, 75.0),
    distance_m: tuple[float, float] = (0.3, 5.0),
    roll_deg: tuple[float, float] = (-10.0, 10.0),
    facing: float = float("nan"),
    jitter_m: float = 0.0,
    jitter_deg: float = 0.0,
    room_half: tuple[float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample intrinsics and camera-to-world poses over wide training ranges.

    As :func:`sample_cameras` (same modes), with: distances log-uniform in ``distance_m``;
    roll uniform in ``roll_deg`` (random: per view; rig: one for the rig; moving: drifting
    by at most 5 deg); a finite ``facing`` (rad) keeps every camera azimuth within 75 deg
    of it (the open side of a shelf or counter); ``jitter_m``/``jitter_deg`` shake every
    view (Gaussian eye offset, look-point offset and roll, sigma; handheld trajectories
    with ``moving``); look points jitter by +-4 % of the distance in ``random`` mode; with
    ``room_half`` distances are shortened so that eyes stay 0.15 m inside the room.

    Returns:
        ``(K (V, 3, 3), T_world_cam (V, 4, 4))`` float64 (OpenCV optical frames).

    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    target = np.asarray(target, np.float64)
    a0 = None
    if np.isfinite(facing):
        s = min(spread_deg, 150.0)
        half = np.radians(75.0 - s / 2)
        a0 = facing - np.radians(s / 2) + rng.uniform(-half, half)
        spread_deg = s
    az = azimuths(rng, n_views, mode, spread_deg, a0)
    el_lo, el_hi = np.radians(elevation_deg)
    log_d = np.log(distance_m)
    r_lo, r_hi = np.radians(roll_deg)
    off = rng.uniform(-0.02, 0.02, (n_views, 2))
    if mode == "random":
        el = rng.uniform(el_lo, el_hi, n_views)
        dist = np.exp(rng.uniform(*log_d, n_views))
        fov = rng.uniform(*fov_deg, n_views)
        roll = rng.uniform(r_lo, r_hi, n_views)
    elif mode == "rig":
        rows = np.where(np.arange(n_views) % 2 == 0, -1.0, 1.0) * (n_views > 4)
        pad = min(np.radians(4.0), (el_hi - el_lo) / 2)
        el = np.clip(rng.uniform(el_lo + pad, el_hi - pad) + pad * rows, el_lo, el_hi)
        dist = np.full(n_views, np.exp(rng.uniform(*log_d)))
        fov = rng.uniform(*fov_deg, n_views)
        roll = np.full(n_views, rng.uniform(r_lo, r_hi))
    else:
        e0, e1 = rng.uniform(el_lo, el_hi, 2)
        el = np.linspace(e0, np.clip(e1, e0 - np.radians(10.0), e0 + np.radians(10.0)), n_views)
        d0 = np.exp(rng.uniform(*log_d))
        dist = np.linspace(d0, np.clip(d0 * rng.uniform(0.9, 1.1), *distance_m), n_views)
        fov = np.full(n_views, rng.uniform(*fov_deg))
        off = np.tile(off[:1], (n_views, 1))
        r0, r1 = rng.uniform(r_lo, r_hi, 2)
        roll = np.linspace(r0, np.clip(r1, r0 - np.radians(5.0), r0 + np.radians(5.0)), n_views)
    look = np.tile(target, (n_views, 1))
    if mode == "random":
        look = look + rng.uniform(-0.04, 0.04, (n_views, 3)) * dist[:, None]
    direction = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
    if room_half is not None:
        dist = np.minimum(dist, _room_limit(target, direction, room_half, 0.15))
    eye = target + dist[:, None] * direction
    if jitter_m > 0 or jitter_deg > 0:
        eye = eye + rng.normal(0.0, jitter_m, (n_views, 3))
        ang = np.radians(jitter_deg)
        look = look + rng.normal(0.0, 1.0, (n_views, 3)) * (np.tan(ang) * dist)[:, None]
        roll = roll + rng.normal(0.0, ang, n_views)
    return intrinsics(fov, width, height, off), look_at(eye, look, roll)
