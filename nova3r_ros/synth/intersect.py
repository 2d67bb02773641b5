"""Analytic ray-primitive intersection and surface normals (torch, any device).

All functions work in the primitive's local frame (see :mod:`.primitives`) on component
tensors that broadcast together: origins ``ox, oy, oz``, *unit* directions ``dx, dy, dz``
and parameters. They return the ray parameter ``t`` (m along the unit direction) of the
first hit with ``t > EPS``, and ``inf`` where the ray misses. Rays are assumed to start
outside every solid (cameras never sit inside objects). The torus quartic is solved in
float64 on the rays that hit its bounding sphere: the critical points of the quartic (a
cubic, closed form) split the bounded interval into monotone pieces, the first piece
that enters the tube brackets the root, and bisection then safeguarded Newton steps
refine it to ~1e-12 m.
"""

from __future__ import annotations

import math

import numpy as np
import torch

EPS = 1e-5
INF = float("inf")


def _valid(t: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    return torch.where(ok & (t > EPS), t, INF)


def _roots(a, b, c):
    """Roots of ``a t^2 + 2 b t + c = 0`` in a cancellation-free form (nan/inf on misses)."""
    disc = b * b - a * c
    q = -(b + torch.copysign(torch.sqrt(disc.clamp(min=0.0)), b))
    q = torch.where(q == 0, torch.full_like(q, 1e-30), q)
    return q / a, c / q, disc >= 0


def hit_rect(ox, oy, oz, dx, dy, dz, params):
    """Two-sided rectangle, world frame. params: tuple of 8 broadcastable tensors."""
    ux, uy, uz, vx, vy, vz, hx, hy = params
    nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
    dn = dx * nx + dy * ny + dz * nz
    t = -(ox * nx + oy * ny + oz * nz) / dn
    a = ox * ux + oy * uy + oz * uz + t * (dx * ux + dy * uy + dz * uz)
    b = ox * vx + oy * vy + oz * vz + t * (dx * vx + dy * vy + dz * vz)
    return _valid(t, (a.abs() <= hx) & (b.abs() <= hy))


def hit_box(ox, oy, oz, dx, dy, dz, params):
    """Box of half extents ``(hx, hy, hz)`` centred at the origin (slab method)."""
    tmin, tmax = None, None
    for o, d, h in zip((ox, oy, oz), (dx, dy, dz), params, strict=True):
        inv = 1.0 / torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
        t1, t2 = (-h - o) * inv, (h - o) * inv
        lo, hi = torch.minimum(t1, t2), torch.maximum(t1, t2)
        tmin = lo if tmin is None else torch.maximum(tmin, lo)
        tmax = hi if tmax is None else torch.minimum(tmax, hi)
    return _valid(tmin, tmin <= tmax)


def hit_sphere(ox, oy, oz, dx, dy, dz, params):
    """Sphere of radius ``r`` centred at the origin."""
    (r,) = params
    b = ox * dx + oy * dy + oz * dz
    disc = b * b - (ox * ox + oy * oy + oz * oz - r * r)
    return _valid(-b - torch.sqrt(disc.clamp(min=0.0)), disc >= 0)


def hit_cylinder(ox, oy, oz, dx, dy, dz, params):
    """Upright cylinder of radius ``r`` with caps at ``z = +-h``."""
    r, h = params
    t = _side(ox, oy, oz, dx, dy, dz, r, h)
    for zc in (h, -h):
        tc = (zc - oz) / dz
        x, y = ox + tc * dx, oy + tc * dy
        t = torch.minimum(t, _valid(tc, x * x + y * y <= r * r))
    return t


def _side(ox, oy, oz, dx, dy, dz, r, h):
    """Entry into the infinite cylinder ``x^2 + y^2 = r^2``, kept where ``|z| <= h``."""
    a = dx * dx + dy * dy
    t1, t2, ok = _roots(a, ox * dx + oy * dy, ox * ox + oy * oy - r * r)
    t = torch.minimum(t1, t2)
    return _valid(t, ok & (a > 1e-12) & ((oz + t * dz).abs() <= h))


def hit_capsule(ox, oy, oz, dx, dy, dz, params):
    """Capsule: points within ``r`` of the segment ``z in [-h, h]``."""
    r, h = params
    t = _side(ox, oy, oz, dx, dy, dz, r, h)
    for zc in (h, -h):
        t = torch.minimum(t, hit_sphere(ox, oy, oz - zc, dx, dy, dz, (r,)))
    return t


def hit_cone(ox, oy, oz, dx, dy, dz, params):
    """Upright cone: base disc of radius ``r`` at ``z = 0``, apex at ``z = H``."""
    r, H = params
    k2 = (r / H) ** 2
    w = H - oz
    a = dx * dx + dy * dy - k2 * dz * dz
    b = ox * dx + oy * dy + k2 * w * dz
    c = ox * ox + oy * oy - k2 * w * w
    t1, t2, ok = _roots(a, b, c)
    t = None
    for tr in (t1, t2):
        z = oz + tr * dz
        tv = _valid(tr, ok & (z >= 0) & (z <= H))
        t = tv if t is None else torch.minimum(t, tv)
    tb = -oz / dz
    x, y = ox + tb * dx, oy + tb * dy
    return torch.minimum(t, _valid(tb, x * x + y * y <= r * r))


def _quartic(s, P, Q, S):
    s2 = s * s
    return s2 * s2 + P * s2 + Q * s + S


def _cubic_roots(p, q):
    """Real roots of ``s^3 + p s + q = 0``; missing roots are nan. Returns (n, 3)."""
    disc = (q / 2) ** 2 + (p / 3) ** 3
    sq = torch.sqrt(disc.clamp(min=0.0))
    one = torch.sign(-q / 2 + sq) * (-q / 2 + sq).abs().pow(1 / 3)
    one = one + torch.sign(-q / 2 - sq) * (-q / 2 - sq).abs().pow(1 / 3)
    m = torch.sqrt((-p / 3).clamp(min=0.0))
    cos3 = ((-q / 2) / (m**3).clamp(min=1e-300)).clamp(-1.0, 1.0)
    th = torch.acos(cos3) / 3
    three = torch.stack([2 * m * torch.cos(th - 2 * math.pi * k / 3) for k in range(3)], -1)
    nan = torch.full_like(one, float("nan"))
    single = torch.stack([one, nan, nan], -1)
    return torch.where((disc > 0).unsqueeze(-1), single, three)


def hit_torus(ox, oy, oz, dx, dy, dz, params, iters: int = 14, newton: int = 3):
    """Torus lying flat (axis z) with centre-circle radius ``R`` and tube radius ``r``."""
    R, r = params
    shape = torch.broadcast_shapes(ox.shape, dx.shape, R.shape)
    ref = dx
    nd = ox * dx + oy * dy + oz * dz
    qx, qy, qz = ox - nd * dx, oy - nd * dy, oz - nd * dz
    m = qx * qx + qy * qy + qz * qz
    bound2 = ((R + r) * (1 + 1e-4)) ** 2
    half = torch.sqrt((bound2 - m).clamp(min=0.0))
    cand = ((m < bound2) & (half - nd > EPS)).expand(shape)
    out = torch.full(shape, INF, dtype=ref.dtype, device=ref.device)
    if not bool(cand.any()):
        return out

    def pick(x):
        return x.expand(shape)[cand].double()

    qx, qy, qz, dx_, dy_, nd_ = map(pick, (qx, qy, qz, dx, dy, nd))
    R_, r_ = pick(R), pick(r)
    m_ = qx * qx + qy * qy + qz * qz
    k = m_ + R_ * R_ - r_ * r_
    fr = 4 * R_ * R_
    P = 2 * k - fr * (dx_ * dx_ + dy_ * dy_)
    Q = -2 * fr * (qx * dx_ + qy * dy_)
    S = k * k - fr * (qx * qx + qy * qy)
    hi = torch.sqrt((((R_ + r_) * (1 + 1e-4)) ** 2 - m_).clamp(min=0.0))
    lo = torch.maximum(-hi, nd_ + EPS)
    crit = _cubic_roots(P / 2, Q / 4)
    crit = torch.where(torch.isnan(crit), hi.unsqueeze(-1), crit)
    crit = torch.minimum(torch.maximum(crit, lo.unsqueeze(-1)), hi.unsqueeze(-1))
    grid = torch.cat([lo.unsqueeze(-1), crit.sort(-1).values, hi.unsqueeze(-1)], -1)
    f = _quartic(grid, P.unsqueeze(-1), Q.unsqueeze(-1), S.unsqueeze(-1))
    enter = (f[:, :-1] >= 0) & (f[:, 1:] <= 0) & (grid[:, 1:] > grid[:, :-1])
    found = enter.any(-1)
    first = enter.to(torch.int8).argmax(-1, keepdim=True)
    a = grid.gather(-1, first).squeeze(-1)
    b = grid.gather(-1, first + 1).squeeze(-1)
    for _ in range(iters):  # bisection: the bracket shrinks to ~2e-5 of the bound
        mid = 0.5 * (a + b)
        outside = _quartic(mid, P, Q, S) > 0
        a = torch.where(outside, mid, a)
        b = torch.where(outside, b, mid)
    s = 0.5 * (a + b)
    for _ in range(newton):  # then Newton, kept inside the (monotone) bracket
        slope = (4 * s * s + 2 * P) * s + Q
        step = _quartic(s, P, Q, S) / torch.where(slope == 0, torch.ones_like(slope), slope)
        s = torch.minimum(torch.maximum(s - step, a), b)
    t = torch.where(found, s - nd_, torch.full_like(a, INF))
    out[cand] = t.to(out.dtype)
    return out


HIT = {
    "rect": hit_rect,
    "box": hit_box,
    "sphere": hit_sphere,
    "cylinder": hit_cylinder,
    "capsule": hit_capsule,
    "cone": hit_cone,
    "torus": hit_torus,
}


def normals(kind: str, x, y, z, params):
    """Outward unit normals at local-frame surface points.

    Args:
        kind: a kind of :data:`HIT` (``rect`` gets its ``u x v`` normal, world frame).
        x, y, z: (n,) float tensors, hit points in the local frame.
        params: tuple of (n,) tensors, the primitive parameters.

    Returns:
        (n, 3) float tensor of unit normals in the local frame.

    """
    zero = torch.zeros_like(x)
    if kind == "rect":
        ux, uy, uz, vx, vy, vz = params[:6]
        n = torch.stack([uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx], -1)
    elif kind == "box":
        p = torch.stack([x, y, z], -1)
        ratio = (p / torch.stack(params[:3], -1)).abs()
        n = torch.nn.functional.one_hot(ratio.argmax(-1), 3).to(x.dtype) * torch.sign(p)
    elif kind == "sphere":
        n = torch.stack([x, y, z], -1)
    elif kind == "cylinder":
        r, h = params
        rho = torch.sqrt(x * x + y * y).clamp(min=1e-12)
        cap = (z.abs() - h).abs() < (rho - r).abs()
        side = torch.stack([x / rho, y / rho, zero], -1)
        n = torch.where(cap.unsqueeze(-1), torch.stack([zero, zero, torch.sign(z)], -1), side)
    elif kind == "capsule":
        r, h = params
        n = torch.stack([x, y, z - z.clamp(-h, h)], -1)
    elif kind == "cone":
        r, H = params
        rho = torch.sqrt(x * x + y * y).clamp(min=1e-12)
        k = r / H
        lateral = torch.stack([x / rho, y / rho, k.expand_as(x)], -1)
        base = z.abs() < ((rho - k * (H - z)) / torch.sqrt(1 + k * k)).abs()
        n = torch.where(base.unsqueeze(-1), torch.stack([zero, zero, zero - 1], -1), lateral)
    elif kind == "torus":
        R, r = params
        rho = torch.sqrt(x * x + y * y).clamp(min=1e-12)
        n = torch.stack([x - R * x / rho, y - R * y / rho, z], -1)
    else:
        raise ValueError(f"unknown primitive kind {kind!r}")
    return n / n.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def ray_intersect(kind: str, params, origins, dirs) -> torch.Tensor:
    """Intersect rays with one primitive given in its local frame (convenience/test API).

    Args:
        kind: one of :data:`HIT`.
        params: ``(k,)`` or ``(R, k)`` float tensor/sequence of primitive parameters.
        origins: ``(R, 3)`` float ray origins (local frame, m).
        dirs: ``(R, 3)`` float ray directions (normalised here).

    Returns:
        ``(R,)`` tensor of hit distances ``t`` along the unit direction, ``inf`` on a miss.

    """
    o, d, p = (
        x.to(torch.float64) if torch.is_tensor(x) else torch.as_tensor(np.asarray(x, np.float64))
        for x in (origins, dirs, params)
    )
    d = d / d.norm(dim=-1, keepdim=True)
    p = p.to(o.device)
    p = p.expand(o.shape[0], p.shape[-1])
    comps = [o[:, i] for i in range(3)] + [d[:, i] for i in range(3)]
    return HIT[kind](*comps, tuple(p.unbind(-1)))
