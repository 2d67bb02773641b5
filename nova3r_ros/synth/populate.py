"""Putting assemblies into a scene: room shells, wall-side placement, objects on supports.

World frame: z up, metres. A :class:`Surface` is a horizontal support rectangle in the
world (centre on the surface, yaw about z, half sizes, free height above it). Objects are
placed on surfaces by footprint rejection sampling (:mod:`.layout`): footprints on one
surface never overlap, so upright solids never interpenetrate; stacked objects stand
inside the top of the object below them. Every placed thing adds a look-at target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nova3r_ros.synth.assembly import PROPS, Assembly, single
from nova3r_ros.synth.layout import footprint_extent, footprints_overlap, place
from nova3r_ros.synth.procedural import draw_mesh

_WALL_YAW = (0.0, -np.pi / 2, np.pi, np.pi / 2)  # back (+y local) to the +y, +x, -y, -x wall
PROP_NAMES = tuple(PROPS)


@dataclass
class Surface:
    """A support in the world frame (z up, metres).

    ``centre`` (3,) on the surface, ``yaw`` (rad), ``half`` (2,) half sizes, ``clear`` the
    free height above it, ``facing`` the azimuth to look from (nan = any), stack ``level``
    and the ``placed`` footprints ``(x, y, yaw, hx, hy, r)`` in its frame.
    """

    centre: np.ndarray
    yaw: float
    half: np.ndarray
    clear: float
    facing: float = float("nan")
    level: int = 0
    placed: list = field(default_factory=list)


def _rot(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _wrap(a: float) -> float:
    return float(np.angle(np.exp(1j * a)))


def add_assembly(b, asm: Assembly, base, yaw: float, oid: int, scale=(0.008, 0.04),
                 facing: float | None = None) -> list[Surface]:  # fmt: skip
    """Add ``asm`` standing at world ``base`` (3,) with ``yaw``; return its supports.

    ``b`` is a :class:`.scenes._Builder`. Records one entry in ``b.objects`` (primitive
    objects keep their kind and params; composites get ``kind="assembly"``), a keep-out
    box for furniture and a look-at target at the assembly's centre.
    """
    base, R = np.asarray(base, float), _rot(yaw)
    looks = [b.look(scale) for _ in range(asm.n_looks)]
    parts = []
    for kind, centre, pyaw, params, lk in asm.parts:
        pos, y = base + R @ centre, _wrap(yaw + pyaw)
        if kind == "mesh":
            mesh, size = params
            tris = (mesh.vertices * size) @ _rot(y).T + pos
            look = looks[lk]
            b.meshes.append(dict(tris=tris[mesh.faces], pos=pos, yaw=y, obj_id=oid,
                                 color=look[0], color2=look[1], tex=look[2],
                                 tex_scale=look[3]))  # fmt: skip
            params = mesh.name
        else:
            b.add(kind, pos, y, params, oid, looks[lk])
        parts.append((kind, pos, y, params))
    front = _wrap(yaw - np.pi / 2) if asm.front else float("nan")
    facing = front if facing is None else facing
    if len(parts) == 1:
        kind, pos, y, params = parts[0]
        rec = dict(kind=kind, obj_id=oid, pos=pos, yaw=y, params=params)
    else:
        rec = dict(kind="assembly", obj_id=oid, pos=base, yaw=yaw, params=asm.name)
    b.objects.append({**rec, "name": asm.name, "parts": parts, "base": base, "height": asm.height})
    mid = base + np.array([0.0, 0.0, asm.height / 2])
    if asm.furniture:
        b.keepout.append([*mid, yaw, *asm.half, asm.height / 2])
    b.targets.append([*mid, facing])
    return [Surface(base + R @ c, yaw, np.asarray(h, float), cl, front if asm.front else facing)
            for c, h, cl in asm.supports]  # fmt: skip


def room_shell(b, hx: float, hy: float, hz: float) -> None:
    """Floor (``z = 0``, ``|x| <= hx``, ``|y| <= hy``) and four walls ``hz`` high, id 1."""
    b.add("rect", [0.0, 0.0, 0.0], 0.0, [1, 0, 0, 0, 1, 0, hx, hy], 1,
          b.look((0.1, 0.5), textured=True))  # fmt: skip
    wall_look = b.look((0.2, 0.6), textured=True)
    for sx in (-1.0, 1.0):
        b.add("rect", [sx * hx, 0, hz / 2], 0.0, [0, 1, 0, 0, 0, 1, hy, hz / 2], 1, wall_look)
        b.add("rect", [0, sx * hy, hz / 2], 0.0, [1, 0, 0, 0, 0, 1, hx, hz / 2], 1, wall_look)


def against_wall(rng, half: tuple[float, float], room: tuple[float, float], placed,
                 wall: int | None = None, gap: float = 0.1, tries: int = 16):  # fmt: skip
    """Spot ``(x, y, yaw)`` for a footprint ``half`` with its back (+y) 1 cm from a wall.

    ``wall`` 0..3 is the +y, +x, -y, -x wall (random when None); ``placed`` holds floor
    footprints ``(x, y, yaw, hx, hy, r)``. Returns None when nothing fits.
    """
    w = int(rng.integers(4)) if wall is None else wall
    length = room[0] if w % 2 == 0 else room[1]
    free = length - half[0] - 0.02
    if free <= 0:
        return None
    along = rng.uniform(-free, free, tries)
    off = (room[1] if w % 2 == 0 else room[0]) - half[1] - 0.01
    sign = 1.0 if w < 2 else -1.0
    xy = np.stack([along, np.full(tries, sign * off)], 1) if w % 2 == 0 else \
        np.stack([np.full(tries, sign * off), along], 1)  # fmt: skip
    yaw = np.full(tries, _WALL_YAW[w])
    ok = ~footprints_overlap(xy, yaw, (*half, 0.0), np.array(placed).reshape(-1, 6), gap)
    if not ok.any():
        return None
    i = int(np.argmax(ok))
    return float(xy[i, 0]), float(xy[i, 1]), float(yaw[i])


def draw_item(rng, kinds: Sequence[str], meshes, mesh_prob: float, prop_prob: float) -> Assembly:
    """One small object: a multi-part prop, a mesh or a primitive (sizes as the tabletop)."""
    from nova3r_ros.synth.scenes import _object_shape

    if rng.uniform() < prop_prob:
        return PROPS[PROP_NAMES[int(rng.integers(len(PROP_NAMES)))]](rng)
    if meshes is not None and rng.uniform() < mesh_prob:
        mesh = draw_mesh(meshes, rng)
        size, _, _ = _object_shape(rng, "mesh", mesh)
        return single("mesh", (mesh, size), 0.0)
    kind = str(kinds[int(rng.integers(len(kinds)))])
    params, zc, shape = _object_shape(rng, kind)
    return single(kind, params, zc, disc=shape[2])


def _flush(rng, shape, surf: Surface, row) -> tuple[float, float, float] | None:
    """Find a spot touching the side of the placed rectangle footprint ``row`` (same yaw)."""
    x, y, yaw, hx, hy, _ = row
    axis, sign = int(rng.integers(2)), float(rng.choice([-1.0, 1.0]))
    own = shape[2] if shape[2] > 0 else shape[axis]
    normal = (hx, hy)[axis] + own
    lateral = rng.uniform(-1.0, 1.0) * (hy, hx)[axis]
    local = np.array([sign * normal, lateral]) if axis == 0 else np.array([lateral, sign * normal])
    c, s = np.cos(yaw), np.sin(yaw)
    px, py = x + c * local[0] - s * local[1], y + s * local[0] + c * local[1]
    ex, ey = footprint_extent(shape, np.array([yaw]))
    if abs(px) + ex[0] > surf.half[0] - 0.005 or abs(py) + ey[0] > surf.half[1] - 0.005:
        return None
    placed = np.array(surf.placed).reshape(-1, 6)
    if footprints_overlap(np.array([[px, py]]), np.array([yaw]), shape, placed, -1e-6)[0]:
        return None
    return float(px), float(py), float(yaw)


def place_items(b, surfaces: list[Surface], n: int, draw: Callable[[], Assembly], nid: int,
                gap=(0.005, 0.03), stack_prob: float = 0.0, touch_prob: float = 0.0,
                max_level: int = 2) -> int:  # fmt: skip
    """Try to place ``n`` items from ``draw()`` on ``surfaces``; return the next object id.

    A surface is picked with probability proportional to its area (or, with ``stack_prob``,
    the top of an already placed item); with ``touch_prob`` an item is set flush against
    the side of a placed rectangular item. Items taller than a surface's clearance, or
    that do not fit, are dropped. Tops of placed items become new surfaces (up to
    ``max_level`` stacked).
    """
    rng = b.rng
    for _ in range(n):
        if not surfaces:
            break
        asm = draw()
        shape, r = asm.shape, rng.uniform()
        spot, si = None, -1
        stacks = [i for i, s in enumerate(surfaces) if s.level > 0]
        rects = [(i, row) for i, s in enumerate(surfaces) for row in s.placed if row[5] == 0]
        if r < touch_prob and rects:
            si, row = rects[int(rng.integers(len(rects)))]
            spot = _flush(rng, shape, surfaces[si], row)
        if spot is None:
            if touch_prob <= r < touch_prob + stack_prob and stacks:
                si = stacks[int(rng.integers(len(stacks)))]
            else:
                area = np.array([s.half[0] * s.half[1] for s in surfaces])
                si = int(rng.choice(len(surfaces), p=area / area.sum()))
            surf = surfaces[si]
            if asm.height > surf.clear - 0.005:
                continue
            g = rng.uniform(*gap)
            spot = place(rng, shape, tuple(surf.half), np.array(surf.placed).reshape(-1, 6), g,
                         margin=0.005)  # fmt: skip
        surf = surfaces[si]
        if spot is None or asm.height > surf.clear - 0.005:
            continue
        x, y, yaw = spot
        surf.placed.append([x, y, yaw, *shape])
        base = surf.centre + _rot(surf.yaw) @ np.array([x, y, 0.0])
        new = add_assembly(b, asm, base, _wrap(surf.yaw + yaw), nid, facing=surf.facing)
        if surf.level < max_level:
            for s in new:
                s.clear = min(s.clear, surf.clear - (s.centre[2] - surf.centre[2]))
                s.level = surf.level + 1
                if s.clear > 0.03:
                    surfaces.append(s)
        nid += 1
    return nid
