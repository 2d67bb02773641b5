"""Procedural object shapes and mesh deformation for the training distribution.

Shapes are triangle meshes in the :class:`~nova3r_ros.synth.meshes.Mesh` convention (object
frame, z up, resting on z = 0, largest extent 1; the scene sampler scales them to metres):

- superquadrics (rounded boxes, pillows, diamonds, cylinders-with-soft-edges: exponents
  0.25-2 and three semi-axes);
- extruded random star-shaped polygons (5-9 corners), straight or tapered;
- unions of two or three of those, stacked or side by side (a bottle on a base, a lamp,
  a box with a lid).

:func:`deform` bends a mesh (procedural or YCB) by an anisotropic scale, a taper along z
and a twist about z. :class:`ShapeSource` is what the scene sampler draws object meshes
from when ``SynthConfig.procedural_prob`` or ``deform_prob`` is set: a procedural shape
with probability ``procedural_prob`` (always without a mesh library), else a library mesh,
deformed with probability ``deform_prob``. The benchmark configurations set neither, so
their random streams and windows are unchanged.
"""

from __future__ import annotations

import numpy as np

from nova3r_ros.synth.meshes import Mesh, MeshLibrary, normalise


def _grid_faces(n_u: int, n_v: int) -> np.ndarray:
    """Faces of an (n_v + 1) x n_u vertex grid closed in u (quads split in two)."""
    faces = []
    for j in range(n_v):
        for i in range(n_u):
            a, b = j * n_u + i, j * n_u + (i + 1) % n_u
            c, d = a + n_u, b + n_u
            faces += [(a, b, d), (a, d, c)]
    return np.array(faces, np.int64)


def _signed_pow(x: np.ndarray, e: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** e


def superquadric(rng: np.random.Generator, n_u: int = 20, n_v: int = 12) -> Mesh:
    """Return a random superquadric: exponents 0.25-2, semi-axes 0.4-1 (then normalised)."""
    e1, e2 = rng.uniform(0.25, 2.0, 2)
    a, b, c = rng.uniform(0.4, 1.0, 3)
    eta = np.linspace(-np.pi / 2, np.pi / 2, n_v + 1)[:, None]
    omega = np.linspace(-np.pi, np.pi, n_u, endpoint=False)[None]
    ce, se = _signed_pow(np.cos(eta), e1), _signed_pow(np.sin(eta), e1)
    x = a * ce * _signed_pow(np.cos(omega), e2)
    y = b * ce * _signed_pow(np.sin(omega), e2)
    z = np.broadcast_to(c * se, x.shape)
    v = np.stack([x, y, z], -1).reshape(-1, 3)
    return Mesh("superquadric", normalise(v), _grid_faces(n_u, n_v))


def extruded_polygon(rng: np.random.Generator) -> Mesh:
    """Return a random star-shaped polygon (5-9 corners) extruded along z, maybe tapered."""
    n = int(rng.integers(5, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.4, 1.0, n)
    ring = np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    height = rng.uniform(0.2, 1.5)
    top_scale = rng.uniform(0.5, 1.2) if rng.uniform() < 0.5 else 1.0
    bottom = np.c_[ring, np.zeros(n)]
    top = np.c_[ring * top_scale, np.full(n, height)]
    v = np.vstack([bottom, top, [[0.0, 0.0, 0.0]], [[0.0, 0.0, height]]])
    faces = []
    for i in range(n):
        j = (i + 1) % n
        faces += [(i, j, n + j), (i, n + j, n + i)]  # side
        faces += [(2 * n, j, i), (2 * n + 1, n + i, n + j)]  # caps: fans from the centre
    return Mesh("extrusion", normalise(v), np.array(faces, np.int64))


def union(rng: np.random.Generator) -> Mesh:
    """Return two or three superquadrics/extrusions stacked or side by side, one mesh."""
    parts, faces, z, offset = [], [], 0.0, 0
    for k in range(int(rng.integers(2, 4))):
        m = superquadric(rng) if rng.uniform() < 0.5 else extruded_polygon(rng)
        size = rng.uniform(0.4, 1.0) if k else 1.0
        v = m.vertices * size
        if rng.uniform() < 0.6:  # stacked on the previous part
            v = v + [0.0, 0.0, z]
        else:  # beside it, touching the ground
            v = v + [rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.6), 0.0, 0.0]
        z = max(z, float(v[:, 2].max()))
        parts.append(v)
        faces.append(m.faces + offset)
        offset += len(v)
    return Mesh("union", normalise(np.vstack(parts)), np.vstack(faces))


def deform(rng: np.random.Generator, vertices: np.ndarray) -> np.ndarray:
    """Return ``vertices`` (n, 3, normalised) scaled 0.6-1.4 per axis, tapered and twisted.

    Taper: x and y scale by ``1 + k z`` (k in [-0.5, 0.5]); twist: rotation about z by up
    to +-0.6 rad per unit height. The result is normalised again.
    """
    v = vertices * rng.uniform(0.6, 1.4, 3)
    z = v[:, 2] / max(float(v[:, 2].max()), 1e-9)
    v[:, :2] *= (1.0 + rng.uniform(-0.5, 0.5) * z)[:, None]
    a = rng.uniform(-0.6, 0.6) * z
    c, s = np.cos(a), np.sin(a)
    v[:, 0], v[:, 1] = c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]
    return normalise(v)


SHAPES = (superquadric, extruded_polygon, union)


class ShapeSource:
    """Object meshes for the scene sampler: procedural shapes, library meshes, deformed.

    Args:
        library: YCB-style meshes, or None (procedural shapes only).
        procedural_prob: probability that a drawn mesh is procedural (1 without a library).
        deform_prob: probability that a library mesh is deformed (:func:`deform`).

    """

    def __init__(self, library: MeshLibrary | None, procedural_prob: float, deform_prob: float):
        self.library = library
        self.procedural_prob = 1.0 if library is None else float(procedural_prob)
        self.deform_prob = float(deform_prob)

    def draw(self, rng: np.random.Generator) -> Mesh:
        """Return one object mesh (normalised); deterministic in ``rng``."""
        if self.library is None or rng.uniform() < self.procedural_prob:
            return SHAPES[int(rng.integers(len(SHAPES)))](rng)
        mesh = self.library.meshes[int(rng.integers(len(self.library)))]
        if rng.uniform() < self.deform_prob:
            mesh = Mesh(mesh.name, deform(rng, mesh.vertices), mesh.faces)
        return mesh


def draw_mesh(source, rng: np.random.Generator) -> Mesh:
    """Draw an object mesh from a :class:`ShapeSource` or a plain :class:`MeshLibrary`.

    A library alone draws exactly as before (one integer), so benchmark scenes are unchanged.
    """
    if isinstance(source, ShapeSource):
        return source.draw(rng)
    return source.meshes[int(rng.integers(len(source)))]
