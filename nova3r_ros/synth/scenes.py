"""Procedural scenes (numpy, deterministic from a generator) and their collation to torch.

Families (world frame: z up, metres):

``tabletop``
    A table top (a rectangle, 1.0-1.6 m x 0.6-1.0 m) at ``z = 0`` and 2-8 objects resting
    on it without interpenetration. The world origin is the centre of the object
    workspace (the cameras' azimuth centre); the table's centre is offset from it.
``clutter``, ``shelf``, ``counter``, ``room``
    See :mod:`.families` (dense tabletops, shelving, kitchen counters, furnished rooms).

:func:`sample_scene` dispatches on the family name. Object ids: 0 background,
1 table/floor/walls, 2.. furniture and objects.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from nova3r_ros.synth.layout import place
from nova3r_ros.synth.meshes import MeshLibrary
from nova3r_ros.synth.primitives import KINDS, OBJECT_KINDS, MeshBatch, PrimBatch, SceneBatch
from nova3r_ros.synth.procedural import draw_mesh

_FIELDS = ("pos", "yaw", "params", "obj_id", "color", "color2", "tex", "tex_scale")


@dataclass
class SceneSpec:
    """One scene as numpy arrays (world frame, metres).

    Attributes:
        family: ``"tabletop"`` or ``"room"``.
        prims: kind -> field -> array; fields as in :class:`.primitives.PrimBatch`
            (``pos`` (n, 3), ``yaw`` (n,), ``params`` (n, k), ``obj_id`` (n,), ``color`` and
            ``color2`` (n, 3), ``tex`` (n,), ``tex_scale`` (n,)).
        meshes: per mesh instance a dict with ``tris`` float64 (F, 3, 3) world triangles
            and ``pos``, ``yaw``, ``obj_id``, ``color``, ``color2``, ``tex``, ``tex_scale``.
        objects: per placed object (not table/walls) a dict with ``kind`` (or ``"mesh"``),
            ``obj_id``, ``pos``, ``yaw``, ``params`` (for meshes the mesh name).
        light: float64 (3,) unit direction towards the light.
        ambient: ambient light in [0, 1].
        background: float64 (3,) background colour in [0, 1].
        target: float64 (3,) point the cameras look at and turn around (azimuth centre).
        room_half: ``(hx, hy, height)`` of the room for camera clamping, or None.
        targets: float64 (K, 4) look-at candidates on the scene's surfaces: world xyz and
            the azimuth (rad) cameras should look from (nan = any side), or None.
        keepout: float64 (n, 7) boxes ``(centre xyz, yaw, half xyz)`` (furniture) that
            cameras must stay out of, or None.

    """

    family: str
    prims: dict[str, dict[str, np.ndarray]]
    meshes: list[dict] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)
    light: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    ambient: float = 0.3
    background: np.ndarray = field(default_factory=lambda: np.full(3, 0.5))
    target: np.ndarray = field(default_factory=lambda: np.zeros(3))
    room_half: tuple[float, float, float] | None = None
    targets: np.ndarray | None = None
    keepout: np.ndarray | None = None


class _Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.rows: dict[str, list[tuple]] = {k: [] for k in KINDS}
        self.meshes: list[dict] = []
        self.objects: list[dict] = []
        self.targets: list[list[float]] = []
        self.keepout: list[list[float]] = []

    def look(self, scale: tuple[float, float], textured: bool = False) -> tuple:
        """Colours, texture kind and scale; ``textured`` never draws a plain surface."""
        h, s, v, dh, ds, dv, tx, sc = self.rng.random(8)
        c1 = np.array(colorsys.hsv_to_rgb(h, 0.15 + 0.75 * s, 0.3 + 0.65 * v))
        h2 = (h + (0.0, 0.08, 0.5)[int(dh * 3)]) % 1.0
        c2 = colorsys.hsv_to_rgb(
            h2, (0.15 + 0.75 * s) * (0.3 + 0.7 * ds), c1.max() * (0.3 + 0.5 * dv)
        )
        tex = (tx >= 0.3) + (tx >= 0.55) + (tx >= 0.8)  # plain, checker, stripes, noise
        if textured:  # support surfaces carry appearance cues (features for pose estimation)
            tex = 1 + int(tx * 3) % 3
        return c1, np.array(c2), int(tex), scale[0] + (scale[1] - scale[0]) * float(sc)

    def add(self, kind, pos, yaw, params, obj_id, look) -> None:
        self.rows[kind].append((np.asarray(pos, float), float(yaw), np.asarray(params, float),
                                int(obj_id), *look))  # fmt: skip

    def spec(self, family: str, **kw) -> SceneSpec:
        prims = {}
        for kind, rows in self.rows.items():
            if rows:
                cols = list(zip(*rows, strict=True))
                prims[kind] = {f: np.array(col) for f, col in zip(_FIELDS, cols, strict=True)}
        if self.targets:
            kw.setdefault("targets", np.array(self.targets, float).reshape(-1, 4))
        if self.keepout:
            kw.setdefault("keepout", np.array(self.keepout, float).reshape(-1, 7))
        return SceneSpec(family, prims, self.meshes, self.objects, **kw)


def _object_shape(rng, kind: str, mesh=None):
    """Random size of one object: (params, centre height above support, footprint)."""
    u = rng.uniform
    if kind == "box":
        p = np.array([u(0.015, 0.1), u(0.015, 0.1), u(0.015, 0.1)])
        return p, p[2], (p[0], p[1], 0.0)
    if kind == "sphere":
        r = u(0.02, 0.07)
        return np.array([r]), r, (0.0, 0.0, r)
    if kind == "cylinder":
        p = np.array([u(0.02, 0.06), u(0.02, 0.1)])
        return p, p[1], (0.0, 0.0, p[0])
    if kind == "capsule":
        p = np.array([u(0.015, 0.045), u(0.015, 0.07)])
        return p, p[0] + p[1], (0.0, 0.0, p[0])
    if kind == "cone":
        p = np.array([u(0.025, 0.07), u(0.05, 0.2)])
        return p, 0.0, (0.0, 0.0, p[0])
    if kind == "torus":
        R = u(0.03, 0.08)
        p = np.array([R, u(0.008, min(0.45 * R, 0.03))])
        return p, p[1], (0.0, 0.0, p[0] + p[1])
    size = u(0.08, 0.2)
    v = mesh.vertices * size
    return size, 0.0, (float(np.abs(v[:, 0]).max()), float(np.abs(v[:, 1]).max()), 0.0)


def _add_objects(b: _Builder, supports: Sequence[tuple], n: int, kinds, meshes, mesh_prob, nid):
    """Place ``n`` objects on supports ``(centre xyz, yaw, half xy)``; return the next id."""
    rng = b.rng
    placed: list[list[np.ndarray]] = [[] for _ in supports]
    for _ in range(n):
        s = int(rng.integers(len(supports)))
        centre, syaw, half = supports[s]
        mesh = None
        if meshes is not None and rng.uniform() < mesh_prob:
            kind, mesh = "mesh", draw_mesh(meshes, rng)
        else:
            kind = str(kinds[int(rng.integers(len(kinds)))])
        params, zc, shape = _object_shape(rng, kind, mesh)
        prev = np.array(placed[s]).reshape(-1, 6)
        spot = place(rng, shape, half, prev)
        if spot is None:
            continue
        x, y, yaw = spot
        placed[s].append(np.array([x, y, yaw, *shape]))
        cs, sn = np.cos(syaw), np.sin(syaw)
        pos = np.asarray(centre) + np.array([cs * x - sn * y, sn * x + cs * y, zc])
        yaw = float(np.angle(np.exp(1j * (yaw + syaw))))
        look = b.look((0.008, 0.04))
        if mesh is None:
            b.add(kind, pos, yaw, params, nid, look)
            b.objects.append(dict(kind=kind, obj_id=nid, pos=pos, yaw=yaw, params=params))
        else:
            cy, sy = np.cos(yaw), np.sin(yaw)
            rot = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
            tris = (mesh.vertices * params) @ rot.T + pos
            b.meshes.append(dict(tris=tris[mesh.faces], pos=pos, yaw=yaw, obj_id=nid,
                                 color=look[0], color2=look[1], tex=look[2],
                                 tex_scale=look[3]))  # fmt: skip
            b.objects.append(dict(kind="mesh", obj_id=nid, pos=pos, yaw=yaw, params=mesh.name))
        b.targets.append([*pos, np.nan])
        nid += 1
    return nid


def _lighting(rng) -> dict:
    el, az = rng.uniform(np.radians(35), np.radians(80)), rng.uniform(-np.pi, np.pi)
    light = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    bg = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0, 0.4), rng.uniform(0.2, 0.9)))
    return dict(light=light, ambient=float(rng.uniform(0.25, 0.45)), background=bg)


def sample_tabletop(
    rng: np.random.Generator,
    n_objects: tuple[int, int] = (2, 8),
    kinds: Sequence[str] = OBJECT_KINDS,
    meshes: MeshLibrary | None = None,
    mesh_prob: float = 0.3,
) -> SceneSpec:
    """Sample a tabletop scene: a table top at z = 0 and objects resting on it.

    Args:
        rng: numpy generator; the scene is a deterministic function of its state.
        n_objects: inclusive range of the number of objects attempted (placement can
            drop one that does not fit).
        kinds: primitive kinds to draw objects from.
        meshes: optional mesh library; each object is a mesh with probability ``mesh_prob``.
        mesh_prob: see ``meshes``.

    Returns:
        The :class:`SceneSpec`; world origin at the workspace centre on the table top.

    """
    b = _Builder(rng)
    lx, ly = rng.uniform(0.5, 0.8), rng.uniform(0.3, 0.5)
    wx, wy = rng.uniform(0.2, min(0.3, lx - 0.05)), rng.uniform(0.15, min(0.25, ly - 0.03))
    cx, cy = rng.uniform(-(lx - wx), lx - wx), rng.uniform(-(ly - wy), ly - wy)
    table = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, lx, ly]
    b.add("rect", [cx, cy, 0.0], 0.0, table, 1, b.look((0.03, 0.2), textured=True))
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    _add_objects(b, [((0.0, 0.0, 0.0), 0.0, (wx, wy))], n, kinds, meshes, mesh_prob, 2)
    target = np.array([0.0, 0.0, 0.04])
    b.targets.append([*target, np.nan])
    return b.spec("tabletop", target=target, **_lighting(rng))


def sample_scene(
    family: str,
    rng: np.random.Generator,
    n_objects: tuple[int, int],
    kinds: Sequence[str] = OBJECT_KINDS,
    meshes: MeshLibrary | None = None,
    mesh_prob: float = 0.3,
) -> SceneSpec:
    """Sample a scene of ``family`` (see the module doc); arguments as :func:`sample_tabletop`."""
    if family == "tabletop":
        return sample_tabletop(rng, n_objects, kinds, meshes, mesh_prob)
    if family == "kitchen":
        from nova3r_ros.synth.kitchen import sample_kitchen

        return sample_kitchen(rng, n_objects, kinds, meshes, mesh_prob)
    from nova3r_ros.synth import families

    return families.SAMPLERS[family](rng, n_objects, kinds, meshes, mesh_prob)


def make_spec(
    objects: Sequence[dict],
    family: str = "custom",
    target=(0.0, 0.0, 0.0),
    light=(0.0, 0.0, 1.0),
    ambient: float = 0.3,
) -> SceneSpec:
    """Build a hand-made scene (tests, demos) from explicit primitives and meshes.

    Args:
        objects: dicts with ``kind`` (a primitive kind or ``"mesh"``), ``pos`` (3,) world,
            ``yaw`` (rad, default 0), ``params`` (primitive parameters) or, for meshes,
            ``tris`` (F, 3, 3) world triangles; optional ``obj_id`` (default 2, 3, ...),
            ``color`` (3,), ``tex`` (default 0, plain).
        family: a free label.
        target: (3,) camera target.
        light: (3,) direction towards the light.
        ambient: ambient light.

    Returns:
        The :class:`SceneSpec`.

    """
    b = _Builder(np.random.default_rng(0))
    for i, ob in enumerate(objects):
        oid = int(ob.get("obj_id", i + 2))
        look = (np.asarray(ob.get("color", (0.7, 0.7, 0.7)), float), np.full(3, 0.2),
                int(ob.get("tex", 0)), 0.02)  # fmt: skip
        pos, yaw = np.asarray(ob["pos"], float), float(ob.get("yaw", 0.0))
        if ob["kind"] == "mesh":
            b.meshes.append(dict(tris=np.asarray(ob["tris"], float), pos=pos, yaw=yaw,
                                 obj_id=oid, color=look[0], color2=look[1], tex=look[2],
                                 tex_scale=look[3]))  # fmt: skip
        else:
            b.add(ob["kind"], pos, yaw, ob["params"], oid, look)
        b.objects.append(dict(kind=ob["kind"], obj_id=oid, pos=pos, yaw=yaw,
                              params=ob.get("params")))  # fmt: skip
    light = np.asarray(light, float) / np.linalg.norm(light)
    return b.spec(family, target=np.asarray(target, float), light=light, ambient=ambient,
                  background=np.full(3, 0.5))  # fmt: skip


def collate(specs: Sequence[SceneSpec], device: torch.device | str = "cpu") -> SceneBatch:
    """Stack scene specs into a :class:`SceneBatch` of float32/int64 tensors on ``device``."""
    f32 = dict(dtype=torch.float32, device=device)
    i64 = dict(dtype=torch.int64, device=device)
    prims = {}
    for kind in KINDS:
        rows = [(i, s.prims[kind]) for i, s in enumerate(specs) if kind in s.prims]
        if not rows:
            continue
        cat = {f: np.concatenate([r[f] for _, r in rows]) for f in _FIELDS}
        scene = np.concatenate([np.full(len(r["yaw"]), i) for i, r in rows])
        prims[kind] = PrimBatch(
            kind, torch.as_tensor(scene, **i64),
            *(torch.as_tensor(cat[f], **(i64 if f in ("obj_id", "tex") else f32))
              for f in _FIELDS),
        )  # fmt: skip
    mesh = None
    inst = [(i, m) for i, s in enumerate(specs) for m in s.meshes]
    if inst:
        tris = np.concatenate([m["tris"] for _, m in inst]).astype(np.float32)
        counts = [len(m["tris"]) for _, m in inst]
        flat = [m["tris"].reshape(-1, 3) for _, m in inst]
        aabb = np.stack([np.concatenate([f.min(0), f.max(0)]) for f in flat])

        def col(key, kw):
            return torch.as_tensor(np.stack([np.asarray(m[key]) for _, m in inst]), **kw)

        ib = PrimBatch("mesh", torch.as_tensor([i for i, _ in inst], **i64), col("pos", f32),
                       col("yaw", f32), torch.as_tensor(aabb, **f32), col("obj_id", i64),
                       col("color", f32), col("color2", f32), col("tex", i64),
                       col("tex_scale", f32))  # fmt: skip
        t = torch.as_tensor(tris, **f32)
        mesh = MeshBatch(ib, t[:, 0], t[:, 1] - t[:, 0], t[:, 2] - t[:, 0],
                         torch.as_tensor(np.repeat(np.arange(len(inst)), counts), **i64),
                         [int(x) for x in np.cumsum([0, *counts[:-1]])], counts)  # fmt: skip

    def stack(key):
        return torch.as_tensor(np.stack([np.asarray(getattr(s, key)) for s in specs]), **f32)

    return SceneBatch(len(specs), prims, mesh, stack("light"), stack("ambient"),
                      stack("background"))  # fmt: skip
