"""Composite objects built from primitives: multi-part props and furniture (numpy).

An assembly is described in its own frame (z up, metres): it stands on ``z = 0``, its
footprint is the rectangle ``|x| <= hx, |y| <= hy`` (centred by :meth:`Assembly.finish`),
and furniture with a usable side (shelves, cabinets, sofas, chairs, counters) faces ``-y``:
its back is at ``+y``. Parts are solids of :mod:`.primitives` with yaw 0 in this frame,
laid out so that they touch but never interpenetrate. Supports are horizontal rectangles
other things can stand on: ``(centre (3,), half (2,), clearance)`` with the centre on the
surface and ``clearance`` the free height above it (m).

Sizes follow SIM2REAL.md (Infinigen / RoboCasa numbers): chair seats 0.45-0.5 m, dining
tables 0.65-0.85 m, coffee tables 0.4-0.5 m, desks 0.73 +- 0.05 m, shelf pitch 0.23-0.38 m.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

_BIG = 10.0  # clearance of an open-top support (m)


@dataclass
class Assembly:
    """Parts, footprint and supports of one composite object (assembly frame, module doc).

    Attributes:
        name: a label (``"mug"``, ``"shelving"``...).
        parts: ``(kind, centre (3,), yaw, params, look index)`` per solid; kind ``"mesh"``
            has params ``(Mesh, scale)``.
        half: footprint half sizes ``(hx, hy)`` (m), set by :meth:`finish`.
        height: top of the highest part (m).
        supports: ``(centre (3,), half (2,), clearance)`` surfaces things can stand on.
        n_looks: number of distinct colour/texture looks the parts refer to.
        furniture: cameras keep out of its bounding box.
        front: it has a usable front (``-y``); cameras look at it from that side.
        disc: footprint radius when the assembly is one round solid (0 otherwise).

    """

    name: str
    parts: list[tuple] = field(default_factory=list)
    half: tuple[float, float] = (0.0, 0.0)
    height: float = 0.0
    supports: list[tuple] = field(default_factory=list)
    n_looks: int = 1
    furniture: bool = False
    front: bool = False
    disc: float = 0.0

    def box(self, lo, hi, look: int = 0) -> None:
        """Add an axis-aligned box from its corners ``lo``, ``hi`` (3,)."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        self.parts.append(("box", (lo + hi) / 2, 0.0, (hi - lo) / 2, look))

    def cyl(self, x, y, z0, r, h2, look: int = 0) -> None:
        """Add an upright cylinder of radius ``r`` and height ``h2`` standing on ``z0``."""
        self.parts.append(("cylinder", np.array([x, y, z0 + h2 / 2]), 0.0, (r, h2 / 2), look))

    def support(self, centre, half, clearance: float = _BIG) -> None:
        """Add a support surface (``centre`` on the surface, ``half`` xy half sizes)."""
        self.supports.append((np.asarray(centre, float), np.asarray(half, float), clearance))

    def finish(self) -> Assembly:
        """Centre the footprint on the origin and set ``half`` and ``height``."""
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for kind, c, _, p, _ in self.parts:
            ext = _extent(kind, p)
            lo, hi = np.minimum(lo, c + ext[0]), np.maximum(hi, c + ext[1])
        shift = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0])
        self.parts = [(k, np.asarray(c, float) - shift, y, p, lk) for k, c, y, p, lk in self.parts]
        self.supports = [(c - shift, h, cl) for c, h, cl in self.supports]
        self.half = (float(hi[0] - lo[0]) / 2, float(hi[1] - lo[1]) / 2)
        self.height = float(hi[2])
        return self

    @property
    def shape(self) -> tuple[float, float, float]:
        """Footprint ``(hx, hy, r)`` as used by :mod:`.layout` (a disc when ``r > 0``)."""
        return (0.0, 0.0, self.disc) if self.disc > 0 else (*self.half, 0.0)


def _extent(kind: str, p) -> np.ndarray:
    """Local bounding box ``[(lo xyz), (hi xyz)]`` of a part about its centre."""
    if kind == "mesh":
        v = p[0].vertices * p[1]
        return np.stack([v.min(0), v.max(0)])
    p = np.asarray(p, float)
    r = p[0]
    if kind == "box":
        return np.stack([-p, p])
    if kind == "sphere":
        return np.array([[-r, -r, -r], [r, r, r]])
    if kind == "cylinder":
        return np.array([[-r, -r, -p[1]], [r, r, p[1]]])
    if kind == "capsule":
        return np.array([[-r, -r, -p[0] - p[1]], [r, r, p[0] + p[1]]])
    if kind == "cone":
        return np.array([[-r, -r, 0.0], [r, r, p[1]]])
    R = p[0] + p[1]  # torus
    return np.array([[-R, -R, -p[1]], [R, R, p[1]]])


def single(kind: str, params, zc: float, disc: float = 0.0) -> Assembly:
    """One primitive (or ``("mesh", (Mesh, scale))``) as an assembly; flat tops are supports."""
    a = Assembly(kind, [(kind, np.array([0.0, 0.0, zc]), 0.0, params, 0)], disc=disc).finish()
    if kind == "box":
        a.support((0.0, 0.0, 2 * params[2]), (params[0], params[1]))
    elif kind == "cylinder":
        s = params[0] / np.sqrt(2.0)
        a.support((0.0, 0.0, 2 * params[1]), (s, s))
    return a


# --- props (tabletop scale) ------------------------------------------------------------


def mug(rng) -> Assembly:
    """Build a mug: a cylinder with a C-shaped handle of 8-12 mm bars."""
    u = rng.uniform
    r, h, t, reach = u(0.03, 0.045), u(0.07, 0.11), u(0.004, 0.006), u(0.018, 0.03)
    a = Assembly("mug")
    a.cyl(0, 0, 0, r, h)
    zl, zh = u(0.1, 0.25) * h, u(0.7, 0.9) * h
    a.box((r, -t, zh - 2 * t), (r + reach, t, zh))
    a.box((r, -t, zl), (r + reach, t, zl + 2 * t))
    a.box((r + reach, -t, zl), (r + reach + 2 * t, t, zh))
    a.finish()
    s = r / np.sqrt(2.0)
    a.support((a.parts[0][1][0], 0.0, h), (s, s))
    return a


def pan(rng) -> Assembly:
    """Build a pan: a flat cylinder with a long thin handle at its rim."""
    u = rng.uniform
    r, h, w, L = u(0.07, 0.12), u(0.03, 0.07), u(0.007, 0.012), u(0.1, 0.18)
    a = Assembly("pan", n_looks=2)
    a.cyl(0, 0, 0, r, h)
    a.box((r, -w, h - 2 * w * 0.7), (r + L, w, h), look=1)
    return a.finish()


def bottle(rng) -> Assembly:
    """Build a bottle: body, neck and cap cylinders stacked."""
    u = rng.uniform
    r, hb = u(0.025, 0.045), u(0.1, 0.22)
    rn, hn = r * u(0.3, 0.45), u(0.03, 0.07)
    a = Assembly("bottle", n_looks=2, disc=r)
    a.cyl(0, 0, 0, r, hb)
    a.cyl(0, 0, hb, rn, hn)
    a.cyl(0, 0, hb + hn, rn * 1.15, 0.012, look=1)
    return a.finish()


def lamp(rng) -> Assembly:
    """Build a lamp: base disc, thin pole (5-9 mm radius) and a cylindrical shade."""
    u = rng.uniform
    rb, hb, rp, hp = u(0.05, 0.08), u(0.015, 0.03), u(0.005, 0.009), u(0.15, 0.3)
    rs, hs = u(0.06, 0.1), u(0.07, 0.13)
    a = Assembly("lamp", n_looks=2, disc=max(rb, rs))
    a.cyl(0, 0, 0, rb, hb)
    a.cyl(0, 0, hb, rp, hp)
    a.cyl(0, 0, hb + hp, rs, hs, look=1)
    return a.finish()


def rail(rng) -> Assembly:
    """Build a rack: base plate, two thin posts and a thin rail across their tops."""
    u = rng.uniform
    L, w, tp = u(0.08, 0.2), u(0.03, 0.06), u(0.005, 0.01)
    rp, hp, tr = u(0.004, 0.007), u(0.06, 0.16), u(0.004, 0.007)
    a = Assembly("rail", n_looks=2)
    a.box((-L, -w, 0), (L, w, tp))
    for sx in (-1.0, 1.0):
        a.cyl(sx * (L - 0.015), 0, tp, rp, hp, look=1)
    a.box((-L + 0.005, -tr, tp + hp), (L - 0.005, tr, tp + hp + 2 * tr), look=1)
    return a.finish()


def stool(rng) -> Assembly:
    """Build a small table: a thin top on four thin legs; its top is a support."""
    u = rng.uniform
    hx, hy, t = u(0.06, 0.14), u(0.05, 0.1), u(0.006, 0.012)
    leg, H = u(0.004, 0.009), u(0.05, 0.14)
    a = Assembly("stool", n_looks=2)
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            cx, cy = sx * (hx - leg - 0.005), sy * (hy - leg - 0.005)
            a.box((cx - leg, cy - leg, 0), (cx + leg, cy + leg, H - t), look=1)
    a.box((-hx, -hy, H - t), (hx, hy, H))
    a.support((0, 0, H), (hx, hy))
    return a.finish()


def books(rng) -> Assembly:
    """Build a stack of 1-4 flat boxes with small offsets; the top one is a support."""
    u = rng.uniform
    hx, hy, z = u(0.06, 0.12), u(0.04, 0.09), 0.0
    a = Assembly("books", n_looks=3)
    for i in range(int(rng.integers(1, 5))):
        bx, by, bz = hx * u(0.8, 1.0), hy * u(0.8, 1.0), u(0.008, 0.025)
        ox, oy = u(-0.01, 0.01), u(-0.01, 0.01)
        a.box((ox - bx, oy - by, z), (ox + bx, oy + by, z + 2 * bz), look=i % 3)
        z += 2 * bz
    a.support(((a.parts[-1][1][0]), a.parts[-1][1][1], z), a.parts[-1][3][:2])
    return a.finish()


PROPS = {"mug": mug, "pan": pan, "bottle": bottle, "lamp": lamp, "rail": rail,
         "stool": stool, "books": books}  # fmt: skip


# --- furniture (room scale) ------------------------------------------------------------


def table(rng, style: str = "dining") -> Assembly:
    """Build a table: a top on four legs.

    Dining 0.65-0.85 m high, 1.4-2.0 m long; coffee 0.4-0.5 m; desk 0.73 +- 0.05 m, 0.6 m deep.
    """
    u = rng.uniform
    H, L, W = {"dining": ((0.65, 0.85), (0.7, 1.0), (0.4, 0.5)),
               "coffee": ((0.4, 0.5), (0.4, 0.6), (0.25, 0.35)),
               "desk": ((0.68, 0.78), (0.5, 0.8), (0.3, 0.3))}[style]  # fmt: skip
    H, L, W = u(*H), u(*L), u(*W)
    t, leg, inset = u(0.02, 0.04), u(0.018, 0.035), u(0.02, 0.08)
    a = Assembly(f"{style}_table", n_looks=2, furniture=True, front=style == "desk")
    a.box((-L, -W, H - t), (L, W, H))
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            cx, cy = sx * (L - inset - leg), sy * (W - inset - leg)
            if rng.uniform() < 0.5:
                a.box((cx - leg, cy - leg, 0), (cx + leg, cy + leg, H - t), look=1)
            else:
                a.cyl(cx, cy, 0, leg, H - t, look=1)
    a.support((0, 0, H), (L, W))
    return a.finish()


def chair(rng) -> Assembly:
    """Build a chair: seat (top 0.45-0.5 m) on four thin legs with a back at +y."""
    u = rng.uniform
    sx, sy, st, seat = u(0.2, 0.25), u(0.2, 0.24), u(0.015, 0.03), u(0.45, 0.5)
    leg, back_t, back_h = u(0.012, 0.02), u(0.015, 0.03), u(0.35, 0.5)
    a = Assembly("chair", n_looks=2, furniture=True, front=True)
    for cx in (-sx + leg, sx - leg):
        for cy in (-sy + leg, sy - leg):
            a.box((cx - leg, cy - leg, 0), (cx + leg, cy + leg, seat - st), look=1)
    a.box((-sx, -sy, seat - st), (sx, sy, seat))
    a.box((-sx, sy - back_t, seat), (sx, sy, seat + back_h))
    a.support((0, -back_t / 2, seat), (sx, sy - back_t / 2), 0.3)
    return a.finish()


def sofa(rng) -> Assembly:
    """Build a sofa: base, back, two arms and 2-3 seat cushions (seat 0.4-0.48 m)."""
    u = rng.uniform
    W, D, arm, bt = u(0.8, 1.2), u(0.4, 0.5), u(0.08, 0.18), u(0.15, 0.25)
    seat, back, arm_h, cush = u(0.4, 0.48), u(0.75, 0.95), u(0.55, 0.65), u(0.1, 0.15)
    a = Assembly("sofa", n_looks=2, furniture=True, front=True)
    a.box((-W, D - bt, 0), (W, D, back))
    for s in (-1.0, 1.0):
        a.box((min(s * W, s * (W - arm)), -D, 0), (max(s * W, s * (W - arm)), D - bt, arm_h))
    a.box((-W + arm, -D, 0), (W - arm, D - bt, seat - cush))
    n = int(rng.integers(2, 4))
    edges = np.linspace(-W + arm, W - arm, n + 1)
    for x0, x1 in itertools.pairwise(edges):
        a.box((x0 + 0.003, -D, seat - cush), (x1 - 0.003, D - bt, seat), look=1)
        a.support(((x0 + x1) / 2, (D - bt - D) / 2, seat), ((x1 - x0) / 2 - 0.003, D - bt / 2),
                  back - seat)  # fmt: skip
    return a.finish()


def bed(rng) -> Assembly:
    """Build a bed: frame, mattress, pillow and a headboard at +y."""
    u = rng.uniform
    W, L, fh, mh, ht, hh = u(0.45, 0.9), u(0.95, 1.05), u(0.2, 0.35), u(0.18, 0.28), \
        u(0.04, 0.08), u(0.9, 1.2)  # fmt: skip
    a = Assembly("bed", n_looks=3, furniture=True, front=True)
    a.box((-W, L - ht, 0), (W, L, hh))
    a.box((-W, -L, 0), (W, L - ht, fh))
    top = fh + mh
    a.box((-W + 0.02, -L + 0.02, fh), (W - 0.02, L - ht, top), look=1)
    a.box((-W + 0.1, L - ht - 0.4, top), (W - 0.1, L - ht - 0.05, top + u(0.08, 0.14)), look=2)
    a.support((0, (-L + L - ht - 0.42) / 2, top), (W - 0.03, (L - ht - 0.42 + L) / 2 - 0.02), 1.0)
    return a.finish()


def shelving(rng, width: float, depth: float, pitch: float, levels: int,
             thick: float | None = None) -> Assembly:  # fmt: skip
    """Build open shelving: two sides, a back, a top and ``levels`` boards ``pitch`` apart.

    Height ``levels * pitch + thick``; every board and the top are supports (the boards'
    clearance is ``pitch - thick``).
    """
    t = thick if thick is not None else rng.uniform(0.016, 0.025)
    W, D, H = width / 2, depth / 2, levels * pitch + t
    a = Assembly("shelving", n_looks=2, furniture=True, front=True)
    for s in (-1.0, 1.0):
        a.box((min(s * W, s * (W - t)), -D, 0), (max(s * W, s * (W - t)), D, H))
    a.box((-W + t, D - t, 0), (W - t, D, H - t), look=1)
    a.box((-W + t, -D, H - t), (W - t, D, H))
    for k in range(levels):
        a.box((-W + t, -D, k * pitch), (W - t, D - t, k * pitch + t))
        a.support((0, -t / 2, k * pitch + t), (W - t, D - t / 2), pitch - t)
    a.support((0, 0, H), (W, D))
    return a.finish()


def cabinet(rng, width: float, depth: float, height: float, doors: int | None = None,
            vertical_handles: bool = False) -> Assembly:  # fmt: skip
    """Build a closed carcass with 1-3 thin doors at -y and bar handles; its top is a support."""
    u = rng.uniform
    W, D, dt = width / 2, depth / 2, 0.018
    a = Assembly("cabinet", n_looks=3, furniture=True, front=True)
    a.box((-W, -D + dt, 0), (W, D, height))
    n = doors or int(rng.integers(1, 4))
    edges = np.linspace(-W, W, n + 1)
    ht, proud = u(0.005, 0.008), u(0.015, 0.03)
    hl = min(u(0.04, 0.1), (edges[1] - edges[0]) / 2 - 0.02)
    for i, (x0, x1) in enumerate(itertools.pairwise(edges)):
        a.box((x0 + 0.002, -D, 0.01), (x1 - 0.002, -D + dt, height - 0.01), look=1)
        hx = x1 - 0.05 if i % 2 == 0 else x0 + 0.05
        if vertical_handles:
            zc = height * u(0.45, 0.6)
            a.box((hx - ht, -D - proud, zc - hl), (hx + ht, -D, zc + hl), look=2)
        else:
            zc = height - 0.06
            a.box(((x0 + x1) / 2 - hl, -D - proud, zc - ht), ((x0 + x1) / 2 + hl, -D, zc + ht),
                  look=2)  # fmt: skip
    a.support((0, dt / 2, height), (W, D - dt / 2))
    return a.finish()
