"""The ``kitchen`` scene family: a wall run of counters and a free-standing island.

World frame: z up, metres, the floor at ``z = 0`` centred on the origin (as
:mod:`.families`). A 3.6-6 m room (walls 2.5-3.2 m) holds the ``counter`` family's back
wall run (:func:`.families.wall_run`: a 1.8-3.6 m counter with a 0.92 m top, upper
cabinets, maybe a fridge) and, 0.9-1.3 m in front of it, an island: base cabinets
1.2-2.4 x 0.6-1.0 m under a 0.92 m top, its doors towards the wall run or away from it,
with 0-3 bar stools on its far side; with probability 0.4 a dining table with 1-4 chairs
where the rest of the floor allows. 6-18 objects stand on the two tops and in open upper
cabinets, 0-2 cardboard boxes and 0-3 small objects on the floor.

What a camera looking across an island does not see (its far face, the floor and the
stools behind it, the inside of the aisle) is the hidden surface a robot in a kitchen
meets; the ``counter`` family alone has none of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nova3r_ros.synth import assembly as asy
from nova3r_ros.synth.families import (
    FURNITURE_LOOK,
    _chairs,
    _floor_items,
    _room,
    bar_stool,
    counter_block,
    wall_run,
)
from nova3r_ros.synth.layout import place
from nova3r_ros.synth.meshes import MeshLibrary
from nova3r_ros.synth.populate import add_assembly, draw_item, place_items
from nova3r_ros.synth.primitives import OBJECT_KINDS
from nova3r_ros.synth.scenes import SceneSpec, _Builder, _lighting

ISLAND_LENGTH_M = (1.2, 2.4)
ISLAND_DEPTH_M = (0.6, 1.0)
AISLE_M = (0.9, 1.3)  # between the wall run's front and the island
TABLE_PROB = 0.4


def sample_kitchen(
    rng: np.random.Generator,
    n_objects: tuple[int, int] = (6, 18),
    kinds: Sequence[str] = OBJECT_KINDS,
    meshes: MeshLibrary | None = None,
    mesh_prob: float = 0.3,
) -> SceneSpec:
    """Sample a kitchen with an island (module doc); arguments as the other families'."""
    b, u = _Builder(rng), rng.uniform
    hx, hy, hz = _room(b, rng, (1.8, 3.0))
    surfaces, placed, nid, _, D, _ = wall_run(b, rng, hx, hy)
    Li = u(ISLAND_LENGTH_M[0], min(ISLAND_LENGTH_M[1], 2 * hx - 1.2))
    Di = u(*ISLAND_DEPTH_M)
    yi = hy - D - 0.005 - u(*AISLE_M) - Di / 2
    xi = u(-1.0, 1.0) * max(0.0, hx - 0.6 - Li / 2)
    yaw = 0.0 if u() < 0.5 else np.pi  # doors away from / towards the wall run
    island = counter_block(rng, Li, Di)
    island_surfaces = add_assembly(b, island, np.array([xi, yi, 0.0]), yaw, nid, FURNITURE_LOOK)
    surfaces += island_surfaces
    placed.append([xi, yi, yaw, *island.half, 0.0])
    nid += 1
    back = yi - island.half[1]  # the island's far face (y)
    hb = min(0.35, (back + hy - 0.1) / 2)  # half depth of the strip between it and the wall
    centre, on_strip = np.array([xi, back - 0.05 - hb]), []
    for _ in range(int(rng.integers(0, 4)) if hb > 0.15 else 0):  # stools on the far side
        stool = bar_stool(rng)
        spot = place(rng, stool.shape, (island.half[0], hb), np.array(on_strip).reshape(-1, 6),
                     gap=0.1, margin=0.0)  # fmt: skip
        if spot is None:
            continue
        p = centre + np.array(spot[:2])
        add_assembly(b, stool, np.array([*p, 0.0]), spot[2], nid, FURNITURE_LOOK)
        on_strip.append([*spot, *stool.shape])
        placed.append([*p, spot[2], *stool.shape])
        nid += 1
    if u() < TABLE_PROB:
        table = asy.table(rng, "dining")
        spot = place(rng, table.shape, (hx, hy), np.array(placed).reshape(-1, 6), gap=0.5,
                     margin=0.4)  # fmt: skip
        if spot is not None:
            surfaces += add_assembly(b, table, np.array([spot[0], spot[1], 0.0]), spot[2], nid,
                                     FURNITURE_LOOK)  # fmt: skip
            placed.append([*spot, *table.half, 0.0])
            nid = _chairs(b, rng, table, spot, placed, (hx, hy), nid + 1, surfaces,
                          int(rng.integers(1, 5)))  # fmt: skip
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    nid = place_items(b, surfaces, n, lambda: draw_item(rng, kinds, meshes, mesh_prob, 0.4), nid,
                      stack_prob=0.1, touch_prob=0.15)  # fmt: skip
    _floor_items(b, rng, hx, hy, hz, placed, nid, kinds, meshes, mesh_prob,
                 int(rng.integers(0, 3)), int(rng.integers(0, 4)))  # fmt: skip
    top = island_surfaces[0] if u() < 0.6 else surfaces[0]
    target = top.centre + np.array([u(-0.3, 0.3) * top.half[0], 0.0, 0.05])
    return b.spec("kitchen", target=target, room_half=(hx, hy, hz), **_lighting(rng))
