"""Scene families beyond the benchmark tabletop (numpy, deterministic from a generator).

World frame: z up, metres; rooms have their floor at ``z = 0`` centred on the origin.
Every sampler takes ``(rng, n_objects, kinds, meshes, mesh_prob)`` like
:func:`.scenes.sample_tabletop` and returns a :class:`.scenes.SceneSpec` with look-at
``targets`` (object and surface centres, with the side to look from) and, in rooms,
``room_half`` and furniture ``keepout`` boxes.

``clutter``
    A table top (1.0-1.6 x 0.6-1.0 m) at ``z = 0`` with 8-20 objects in a 0.5-0.8 x
    0.36-0.6 m workspace: primitives, meshes and multi-part props (mugs with 8-12 mm
    handle bars, pans with long handles, bottles, lamps with thin poles, racks with thin
    posts and rails, small stools on thin legs, book stacks); a quarter set flush against
    another object, a quarter stacked on a flat top (up to two levels).
``shelf``
    A 3-5 m room (walls 2.5-3.2 m) with 1-3 units against the back wall and maybe one on
    a side wall: open shelving (0.6-1.2 m wide, 0.26-0.45 m deep, pitch 0.23-0.38 m, 2-6
    boards of 16-25 mm) or closed cabinets with doors and bar handles; 6-20 objects on
    and inside them; 0-3 cardboard boxes (maybe stacked) on the floor.
``counter``
    A 3-5 m kitchen: a 1.8-3.6 m counter (top at 0.92 m, 0.60-0.65 m deep, toe kick,
    doors with bar handles) against the back wall, upper cabinets 0.40 m deep from 1.39 to
    2.31 m (closed or open with three boards), maybe a 1.75 m fridge, 0-2 bar stools,
    4-14 objects on the counter and in open upper cabinets.
``room``
    A 3-6 m room (walls 2.5-3.2 m) with 3-7 furniture pieces: dining tables with 1-4
    chairs (seat 0.45-0.5 m), coffee tables, desks with a chair, sofas, beds, shelving and
    cabinets against the walls, cardboard boxes; 4-14 objects on the furniture and 0-3 on
    the floor.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from nova3r_ros.synth import assembly as asy
from nova3r_ros.synth.layout import footprint_extent, footprints_overlap, place
from nova3r_ros.synth.meshes import MeshLibrary
from nova3r_ros.synth.populate import (
    Surface,
    add_assembly,
    against_wall,
    draw_item,
    place_items,
    room_shell,
)
from nova3r_ros.synth.primitives import OBJECT_KINDS
from nova3r_ros.synth.scenes import SceneSpec, _Builder, _lighting

FURNITURE_LOOK = (0.05, 0.2)
DEFAULT_OBJECTS = {"clutter": (8, 20), "shelf": (6, 20), "counter": (4, 14), "room": (4, 14)}


def _cardboard(rng) -> asy.Assembly:
    u = rng.uniform
    p = np.array([u(0.1, 0.25), u(0.1, 0.2), u(0.08, 0.2)])
    return asy.single("box", p, p[2])


def _floor_items(b, rng, hx, hy, hz, placed, nid, kinds, meshes, mesh_prob, n_boxes, n_small):
    """Cardboard boxes (maybe stacked) and small objects on the floor, off the furniture."""
    floor = Surface(np.zeros(3), 0.0, np.array([hx, hy]), hz - 0.3, placed=list(placed))
    nid = place_items(b, [floor], n_boxes, lambda: _cardboard(rng), nid, gap=(0.02, 0.2),
                      stack_prob=0.4, max_level=1)  # fmt: skip
    return place_items(b, [floor], n_small, lambda: draw_item(rng, kinds, meshes, mesh_prob, 0.3),
                       nid, gap=(0.05, 0.3))  # fmt: skip


def sample_clutter(
    rng: np.random.Generator,
    n_objects: tuple[int, int] = (8, 20),
    kinds: Sequence[str] = OBJECT_KINDS,
    meshes: MeshLibrary | None = None,
    mesh_prob: float = 0.3,
) -> SceneSpec:
    """Sample a cluttered tabletop (module doc); world origin at the workspace centre."""
    b, u = _Builder(rng), rng.uniform
    lx, ly = u(0.5, 0.8), u(0.3, 0.5)
    wx, wy = u(0.25, min(0.4, lx - 0.05)), u(0.18, min(0.3, ly - 0.03))
    cx, cy = u(-(lx - wx), lx - wx), u(-(ly - wy), ly - wy)
    b.add("rect", [cx, cy, 0.0], 0.0, [1.0, 0, 0, 0, 1.0, 0, lx, ly], 1,
          b.look((0.03, 0.2), textured=True))  # fmt: skip
    surf = Surface(np.zeros(3), 0.0, np.array([wx, wy]), 10.0)
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    place_items(b, [surf], n, lambda: draw_item(rng, kinds, meshes, mesh_prob, 0.35), 2,
                gap=(0.0, 0.01), stack_prob=0.25, touch_prob=0.25)  # fmt: skip
    target = np.array([0.0, 0.0, 0.04])
    b.targets.append([*target, np.nan])
    return b.spec("clutter", target=target, **_lighting(rng))


def _room(b, rng, side=(1.5, 2.5)):
    hx, hy, hz = rng.uniform(*side), rng.uniform(*side), rng.uniform(2.5, 3.2)
    room_shell(b, hx, hy, hz)
    return hx, hy, hz


def _unit(rng, hz: float) -> asy.Assembly:
    """One shelf-family unit: tall or low open shelving, or a closed cabinet."""
    u = rng.uniform
    W, D, pitch = u(0.6, 1.2), u(0.26, 0.45), u(0.23, 0.38)
    style = int(rng.integers(4))
    if style == 3:
        return asy.cabinet(rng, W, D, u(0.6, 0.95))
    most = int((hz - 0.3) / pitch)
    levels = int(rng.integers(2, 4)) if style == 2 else int(rng.integers(3, min(6, most) + 1))
    return asy.shelving(rng, W, D, pitch, levels)


def _legacy_target(rng, surfaces, hx, hy, inset=0.7):
    """Camera centre of the legacy (benchmark) rig: an inner surface centre, else mid-room."""
    inner = [s for s in surfaces if np.all(np.abs(s.centre[:2]) < np.array([hx, hy]) - inset)]
    if not inner:
        return np.array([0.0, 0.0, 0.6])
    return inner[int(rng.integers(len(inner)))].centre + np.array([0.0, 0.0, 0.05])


def sample_shelf(
    rng: np.random.Generator,
    n_objects: tuple[int, int] = (6, 20),
    kinds: Sequence[str] = OBJECT_KINDS,
    meshes: MeshLibrary | None = None,
    mesh_prob: float = 0.3,
) -> SceneSpec:
    """Sample shelving and cabinets against the walls of a room (module doc)."""
    b = _Builder(rng)
    hx, hy, hz = _room(b, rng)
    placed, surfaces, nid = [], [], 2
    x = -hx + rng.uniform(0.05, 0.6)
    for _ in range(3):
        a = _unit(rng, hz)
        if x + 2 * a.half[0] > hx - 0.05:
            break
        pos = np.array([x + a.half[0], hy - a.half[1] - 0.01, 0.0])
        surfaces += add_assembly(b, a, pos, 0.0, nid, FURNITURE_LOOK)
        placed.append([pos[0], pos[1], 0.0, *a.half, 0.0])
        x, nid = x + 2 * a.half[0] + rng.uniform(0.0, 0.3), nid + 1
    if rng.uniform() < 0.5:
        a = _unit(rng, hz)
        spot = against_wall(rng, a.half, (hx, hy), placed, wall=int(rng.choice([1, 3])))
        if spot is not None:
            surfaces += add_assembly(b, a, np.array([spot[0], spot[1], 0.0]), spot[2], nid,
                                     FURNITURE_LOOK)  # fmt: skip
            placed.append([*spot, *a.half, 0.0])
            nid += 1
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    shelves = list(surfaces)
    nid = place_items(b, surfaces, n, lambda: draw_item(rng, kinds, meshes, mesh_prob, 0.3), nid,
                      stack_prob=0.1, touch_prob=0.1)  # fmt: skip
    _floor_items(b, rng, hx, hy, hz, placed, nid, kinds, meshes, mesh_prob,
                 int(rng.integers(0, 4)), 0)  # fmt: skip
    target = shelves[int(rng.integers(len(shelves)))].centre + np.array([0.0, 0.0, 0.05])
    return b.spec("shelf", target=target, room_half=(hx, hy, hz), **_lighting(rng))


def counter_block(rng, L: float, D: float) -> asy.Assembly:
    """Build base cabinets (toe kick, doors towards local -y, bar handles), a 0.92 m top."""
    u = rng.uniform
    t, proud = u(0.03, 0.04), u(0.015, 0.025)
    a = asy.Assembly("counter", n_looks=3, furniture=True, front=True)
    top = 0.92
    a.box((-L / 2, -D / 2, top - t), (L / 2, D / 2, top))
    a.box((-L / 2, -D / 2 + 0.048, 0.1), (L / 2, D / 2, top - t), look=1)
    a.box((-L / 2, -D / 2 + 0.1, 0.0), (L / 2, D / 2, 0.1), look=1)
    n = max(1, round(L / u(0.4, 0.6)))
    edges = np.linspace(-L / 2, L / 2, n + 1)
    hl = min(0.08, (edges[1] - edges[0]) / 2 - 0.03)
    for x0, x1 in itertools.pairwise(edges):
        a.box((x0 + 0.002, -D / 2 + 0.03, 0.11), (x1 - 0.002, -D / 2 + 0.048, top - t - 0.01))
        zc, xc = top - t - 0.06, (x0 + x1) / 2
        a.box((xc - hl, -D / 2 + 0.03 - proud, zc - 0.006), (xc + hl, -D / 2 + 0.03, zc + 0.006),
              look=2)  # fmt: skip
    a.support((0, 0, top), (L / 2, D / 2), 0.45)
    return a.finish()


def bar_stool(rng) -> asy.Assembly:
    """Build a round bar stool 0.6-0.78 m high."""
    u = rng.uniform
    a = asy.Assembly("bar_stool", n_looks=2, furniture=True)
    rb, rs, H = u(0.15, 0.22), u(0.15, 0.2), u(0.6, 0.78)
    a.cyl(0, 0, 0, rb, 0.02, look=1)
    a.cyl(0, 0, 0.02, u(0.018, 0.03), H - 0.06, look=1)
    a.cyl(0, 0, H - 0.04, rs, 0.04)
    return a.finish()


def wall_run(b, rng, hx: float, hy: float) -> tuple[list, list, int, float, float, float]:
    """Add the counter family's back-wall run: counter, upper cabinets, maybe a fridge.

    Returns ``(surfaces, placed, next object id, L, D, x0)``: the supports (the counter
    top first), the floor footprints ``(x, y, yaw, hx, hy, r)``, and the counter's length,
    depth and centre x (its back 5 mm from the ``+y`` wall at ``hy``).
    """
    u = rng.uniform
    fridge = u() < 0.5
    L, D = u(1.8, min(3.6, 2 * hx - 0.2 - 0.72 * fridge)), u(0.6, 0.65)
    x0 = u(-1.0, 1.0) * max(0.0, hx - 0.05 - L / 2 - 0.72 * fridge)
    counter = counter_block(rng, L, D)
    surfaces = add_assembly(b, counter, np.array([x0, hy - D / 2 - 0.005, 0.0]), 0.0, 2,
                            FURNITURE_LOOK)  # fmt: skip
    placed, nid = [[x0, hy - D / 2 - 0.005, 0.0, L / 2, D / 2, 0.0]], 3
    span = L * u(0.5, 1.0)
    n_up = max(1, min(3, int(span / 0.4)))
    width, xs = span / n_up, x0 - L / 2 + u(0, L - span)
    for i in range(n_up):
        if u() < 0.6:
            up = asy.cabinet(rng, width - 0.004, 0.40, 0.92, vertical_handles=True)
        else:
            t = u(0.016, 0.022)
            up = asy.shelving(rng, width - 0.004, 0.40, (0.92 - t) / 3, 3, t)
        pos = np.array([xs + (i + 0.5) * width, hy - up.half[1] - 0.005, 1.39])
        surfaces += [s for s in add_assembly(b, up, pos, 0.0, nid, FURNITURE_LOOK)
                     if s.centre[2] < 2.0]  # fmt: skip
        nid += 1
    if fridge:
        fr = asy.cabinet(rng, 0.7, 0.7, 1.75, doors=1, vertical_handles=True)
        off = L / 2 + fr.half[0] + 0.01
        sides = [sd for sd in (1.0, -1.0) if abs(x0 + sd * off) + fr.half[0] < hx - 0.02]
        if sides:
            fx = x0 + sides[int(rng.integers(len(sides)))] * off
            add_assembly(b, fr, np.array([fx, hy - fr.half[1] - 0.01, 0.0]), 0.0, nid,
                         FURNITURE_LOOK)  # fmt: skip
            placed.append([fx, hy - fr.half[1] - 0.01, 0.0, *fr.half, 0.0])
            nid += 1
    return surfaces, placed, nid, L, D, x0


def sample_counter(
    rng: np.random.Generator,
    n_objects: tuple[int, int] = (4, 14),
    kinds: Sequence[str] = OBJECT_KINDS,
    meshes: MeshLibrary | None = None,
    mesh_prob: float = 0.3,
) -> SceneSpec:
    """Sample a kitchen counter with upper cabinets against the back wall (module doc)."""
    b, u = _Builder(rng), rng.uniform
    hx, hy, hz = _room(b, rng)
    surfaces, _, nid, L, D, x0 = wall_run(b, rng, hx, hy)
    front = Surface(np.array([x0, hy - D - 0.5, 0.0]), 0.0, np.array([L / 2, 0.35]), 2.0)
    nid = place_items(b, [front], int(rng.integers(0, 3)), lambda: bar_stool(rng), nid,
                      gap=(0.1, 0.3))  # fmt: skip
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    top = surfaces[0]
    place_items(b, surfaces, n, lambda: draw_item(rng, kinds, meshes, mesh_prob, 0.4), nid,
                stack_prob=0.1, touch_prob=0.15)  # fmt: skip
    target = top.centre + np.array([u(-0.3, 0.3) * L, 0.0, 0.05])
    return b.spec("counter", target=target, room_half=(hx, hy, hz), **_lighting(rng))


_ROOM_PIECES = ("dining", "coffee", "desk", "sofa", "bed", "shelving", "cabinet")
_ROOM_WEIGHTS = np.array([0.2, 0.12, 0.14, 0.14, 0.1, 0.18, 0.12])
_AGAINST_WALL = ("desk", "sofa", "bed", "shelving", "cabinet")


def _piece(rng, name: str, hz: float) -> asy.Assembly:
    u = rng.uniform
    if name in ("dining", "coffee", "desk"):
        return asy.table(rng, name)
    if name == "sofa":
        return asy.sofa(rng)
    if name == "bed":
        return asy.bed(rng)
    if name == "cabinet":
        return asy.cabinet(rng, u(0.4, 1.0), u(0.4, 0.6), u(0.4, 0.9))
    pitch = u(0.23, 0.38)
    return asy.shelving(rng, u(0.6, 1.2), u(0.26, 0.45), pitch,
                        int(rng.integers(2, min(6, int((hz - 0.3) / pitch)) + 1)))  # fmt: skip


def _chairs(b, rng, table, spot, placed, room, nid, surfaces, n, front_only=False):
    """Up to ``n`` chairs facing the table's long sides (backs away from it)."""
    x, y, yaw = spot
    c, s = np.cos(yaw), np.sin(yaw)
    for _ in range(n):
        ch = asy.chair(rng)
        side = 1.0 if rng.uniform() < 0.5 and not front_only else -1.0
        lx = rng.uniform(-1.0, 1.0) * max(table.half[0] - ch.half[0], 0.0)
        ly = side * (table.half[1] + ch.half[1] + rng.uniform(0.03, 0.15))
        p = np.array([x + c * lx - s * ly, y + s * lx + c * ly])
        cyaw = yaw if side > 0 else yaw + np.pi
        ex, ey = footprint_extent((*ch.half, 0.0), np.array([cyaw]))
        inside = abs(p[0]) + ex[0] < room[0] - 0.02 and abs(p[1]) + ey[0] < room[1] - 0.02
        rows = np.array(placed).reshape(-1, 6)
        if not inside or footprints_overlap(p[None], np.array([cyaw]), (*ch.half, 0.0), rows,
                                            0.02)[0]:  # fmt: skip
            continue
        surfaces += add_assembly(b, ch, np.array([*p, 0.0]), float(cyaw), nid, FURNITURE_LOOK)
        placed.append([*p, cyaw, *ch.half, 0.0])
        nid += 1
    return nid


def sample_room(
    rng: np.random.Generator,
    n_objects: tuple[int, int] = (4, 14),
    kinds: Sequence[str] = OBJECT_KINDS,
    meshes: MeshLibrary | None = None,
    mesh_prob: float = 0.3,
) -> SceneSpec:
    """Sample a furnished room (module doc); world origin at the floor's centre."""
    b = _Builder(rng)
    hx, hy, hz = _room(b, rng, (1.5, 3.0))
    placed, surfaces, nid = [], [], 2
    for _ in range(int(rng.integers(3, 8))):
        name = _ROOM_PIECES[int(rng.choice(len(_ROOM_PIECES), p=_ROOM_WEIGHTS))]
        a = _piece(rng, name, hz)
        if name in _AGAINST_WALL:
            spot = against_wall(rng, a.half, (hx, hy), placed)
        else:
            spot = place(rng, a.shape, (hx, hy), np.array(placed).reshape(-1, 6), gap=0.5,
                         margin=0.4)  # fmt: skip
        if spot is None:
            continue
        surfaces += add_assembly(b, a, np.array([spot[0], spot[1], 0.0]), spot[2], nid,
                                 FURNITURE_LOOK)  # fmt: skip
        placed.append([*spot, *a.half, 0.0])
        nid += 1
        if name in ("dining", "desk"):
            k = int(rng.integers(1, 5)) if name == "dining" else 1
            nid = _chairs(b, rng, a, spot, placed, (hx, hy), nid, surfaces, k, name == "desk")
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    target = _legacy_target(rng, surfaces, hx, hy)
    nid = place_items(b, surfaces, n, lambda: draw_item(rng, kinds, meshes, mesh_prob, 0.35),
                      nid, stack_prob=0.1, touch_prob=0.1)  # fmt: skip
    _floor_items(b, rng, hx, hy, hz, placed, nid, kinds, meshes, mesh_prob,
                 int(rng.integers(0, 3)), int(rng.integers(0, 4)))  # fmt: skip
    return b.spec("room", target=target, room_half=(hx, hy, hz), **_lighting(rng))


SAMPLERS = {"clutter": sample_clutter, "shelf": sample_shelf, "counter": sample_counter,
            "room": sample_room}  # fmt: skip
