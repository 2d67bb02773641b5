"""Analytic primitives of the synthetic scenes: parameter layouts, areas, inside tests, batches.

Every primitive lives in its own *local* frame, reached from the world frame (z up)
by a translation ``pos`` and a rotation ``yaw`` about z: ``p_world = Rz(yaw) p_local + pos``.
Local shapes (all lengths in metres):

    ``rect``      params ``(ux, uy, uz, vx, vy, vz, hx, hy)``: a two-sided rectangle in the
                  *world* frame (``yaw`` unused): centre ``pos``, unit axes ``u``, ``v``,
                  half sizes ``hx``, ``hy`` (table tops, floors, walls).
    ``box``       ``(hx, hy, hz)`` half extents, centred at the origin.
    ``sphere``    ``(r,)`` centred at the origin.
    ``cylinder``  ``(r, h)`` upright along z, caps at ``z = +-h``.
    ``capsule``   ``(r, h)`` the points within ``r`` of the segment ``z in [-h, h]``.
    ``cone``      ``(r, H)`` base disc of radius ``r`` at ``z = 0``, apex at ``z = H``.
    ``torus``     ``(R, r)`` lying flat: axis z, centre circle of radius ``R`` in z = 0,
                  tube radius ``r < R``.

Triangle meshes are held separately (:class:`MeshBatch`) in world coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

KINDS = ("rect", "box", "sphere", "cylinder", "capsule", "cone", "torus")
OBJECT_KINDS = ("box", "sphere", "cylinder", "capsule", "cone", "torus")
N_PARAMS = {"rect": 8, "box": 3, "sphere": 1, "cylinder": 2, "capsule": 2, "cone": 2, "torus": 2}
TEXTURES = ("plain", "checker", "stripes", "noise")


def surface_area(kind: str, params: np.ndarray | torch.Tensor):
    """Return the exact surface area (m^2) of primitives of one kind.

    Args:
        kind: one of :data:`KINDS`.
        params: ``(..., N_PARAMS[kind])`` numpy array or torch tensor (see the module doc).

    Returns:
        ``(...)`` areas, same array type and dtype as ``params``. Rectangles count one side.

    """
    lib = torch if isinstance(params, torch.Tensor) else np
    p = params
    if kind == "rect":
        return 4.0 * p[..., 6] * p[..., 7]
    if kind == "box":
        hx, hy, hz = p[..., 0], p[..., 1], p[..., 2]
        return 8.0 * (hx * hy + hy * hz + hx * hz)
    if kind == "sphere":
        return 4.0 * math.pi * p[..., 0] ** 2
    if kind == "cylinder":
        r, h = p[..., 0], p[..., 1]
        return 4.0 * math.pi * r * h + 2.0 * math.pi * r**2
    if kind == "capsule":
        r, h = p[..., 0], p[..., 1]
        return 4.0 * math.pi * r * h + 4.0 * math.pi * r**2
    if kind == "cone":
        r, H = p[..., 0], p[..., 1]
        return math.pi * r * lib.sqrt(r**2 + H**2) + math.pi * r**2
    if kind == "torus":
        return 4.0 * math.pi**2 * p[..., 0] * p[..., 1]
    raise ValueError(f"unknown primitive kind {kind!r}; expected one of {KINDS}")


def contains(kind: str, params: np.ndarray, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Return which local-frame points lie strictly inside a solid primitive.

    Args:
        kind: a solid kind (not ``rect``).
        params: ``(N_PARAMS[kind],)`` float parameters.
        points: ``(M, 3)`` float points in the primitive's local frame.
        margin: the solid is shrunk by this distance (m) before testing.

    Returns:
        ``(M,)`` bool.

    """
    p = np.asarray(points, dtype=np.float64)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    rho = np.hypot(x, y)
    q = np.asarray(params, dtype=np.float64)
    if kind == "box":
        return np.all(np.abs(p) < q[:3] - margin, axis=1)
    if kind == "sphere":
        return np.linalg.norm(p, axis=1) < q[0] - margin
    if kind == "cylinder":
        return (rho < q[0] - margin) & (np.abs(z) < q[1] - margin)
    if kind == "capsule":
        zc = np.clip(z, -q[1], q[1])
        return np.sqrt(rho**2 + (z - zc) ** 2) < q[0] - margin
    if kind == "cone":
        r, H = q
        slant = (rho - r * (H - z) / H) * H / math.hypot(r, H)
        return (z > margin) & (slant < -margin)
    if kind == "torus":
        return np.hypot(rho - q[0], z) < q[1] - margin
    raise ValueError(f"contains() needs a solid kind from {KINDS[1:]}, got {kind!r}")


@dataclass
class PrimBatch:
    """Primitives of one kind from a batch of scenes (torch, one device).

    Attributes:
        kind: one of :data:`KINDS` (or ``"mesh"`` for mesh instances).
        scene: int64 (N,) index of each primitive's scene in the batch.
        pos: float32 (N, 3) local-frame origin in the world frame (m).
        yaw: float32 (N,) rotation about world z (rad), local-to-world.
        params: float32 (N, k) shape parameters (module doc).
        obj_id: int64 (N,) object id rendered into the id image (1 = table/floor/walls).
        color: float32 (N, 3) albedo in [0, 1]; ``color2`` the second texture colour.
        color2: float32 (N, 3).
        tex: int64 (N,) index into :data:`TEXTURES`.
        tex_scale: float32 (N,) texture cell size (m).

    """

    kind: str
    scene: torch.Tensor
    pos: torch.Tensor
    yaw: torch.Tensor
    params: torch.Tensor
    obj_id: torch.Tensor
    color: torch.Tensor
    color2: torch.Tensor
    tex: torch.Tensor
    tex_scale: torch.Tensor

    def __len__(self) -> int:
        return int(self.scene.shape[0])

    def to(self, device: torch.device | str) -> PrimBatch:
        """Return a copy on ``device``."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return PrimBatch(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in kw.items()})

    def select(self, idx: torch.Tensor) -> PrimBatch:
        """Return the primitives at ``idx`` (int64 tensor) as a new batch."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return PrimBatch(**{k: v[idx] if torch.is_tensor(v) else v for k, v in kw.items()})


@dataclass
class MeshBatch:
    """Triangle meshes of a batch of scenes, in world coordinates (torch).

    Attributes:
        inst: mesh instances as a :class:`PrimBatch` of kind ``"mesh"``; ``pos``/``yaw`` give
            the object-local frame used for textures; ``params`` float32 (I, 6) is the
            world AABB ``(min xyz, max xyz)``.
        v0: float32 (F, 3) first vertex of each face (world, m).
        e1: float32 (F, 3) ``v1 - v0``.
        e2: float32 (F, 3) ``v2 - v0``.
        face_inst: int64 (F,) instance index of each face.
        face_start: per instance, the index of its first face (Python ints).
        face_count: per instance, its number of faces (Python ints).

    """

    inst: PrimBatch
    v0: torch.Tensor
    e1: torch.Tensor
    e2: torch.Tensor
    face_inst: torch.Tensor
    face_start: list[int]
    face_count: list[int]

    def face_areas(self) -> torch.Tensor:
        """Return float32 (F,) triangle areas (m^2)."""
        return 0.5 * torch.linalg.cross(self.e1, self.e2).norm(dim=-1)


@dataclass
class SceneBatch:
    """A batch of scenes ready for rendering and surface sampling (torch, one device).

    Attributes:
        n_scenes: batch size B.
        prims: kind -> :class:`PrimBatch` (only kinds present in the batch).
        mesh: the triangle meshes, or None.
        light: float32 (B, 3) unit direction *towards* the light (world).
        ambient: float32 (B,) ambient term in [0, 1].
        background: float32 (B, 3) background colour in [0, 1].

    """

    n_scenes: int
    prims: dict[str, PrimBatch]
    mesh: MeshBatch | None
    light: torch.Tensor
    ambient: torch.Tensor
    background: torch.Tensor

    @property
    def device(self) -> torch.device:
        """Return the device every tensor lives on."""
        return self.light.device
