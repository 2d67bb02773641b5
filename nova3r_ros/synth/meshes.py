"""Triangle meshes for the synthetic scenes: OBJ loading and vertex-clustering decimation.

numpy only. Meshes are normalised on load: z up as stored in the file, centred on the
middle of their XY bounding box, resting on ``z = 0``, and scaled so that their largest
extent is 1 (the scene sampler rescales them to a random size in metres).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Mesh:
    """A normalised triangle mesh.

    Attributes:
        name: the OBJ file's stem (e.g. ``ycb_banana``).
        vertices: float64 (n, 3), object frame, z up, min z = 0, max extent 1.
        faces: int64 (m, 3) vertex indices.

    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read vertices and faces of a Wavefront OBJ file (polygons fan-triangulated).

    Args:
        path: the ``.obj`` file.

    Returns:
        ``(vertices float64 (n, 3), faces int64 (m, 3))`` with 0-based indices.

    """
    verts: list[list[str]] = []
    tris: list[list[int]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append(line.split()[1:4])
            elif line.startswith("f "):
                idx = [int(tok.split("/")[0]) for tok in line.split()[1:]]
                n = len(verts)
                idx = [i - 1 if i > 0 else n + i for i in idx]
                tris.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1))
    v = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    if len(v) == 0 or len(f) == 0:
        raise ValueError(f"{path}: no vertices or faces")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"{path}: face index out of range")
    return v, f


def cluster_vertices(
    vertices: np.ndarray, faces: np.ndarray, cell: float
) -> tuple[np.ndarray, np.ndarray]:
    """Decimate by vertex clustering on a grid of cell size ``cell`` (same units as vertices).

    Vertices in one cell merge into their mean; faces that collapse or repeat are dropped.

    Returns:
        ``(vertices float64 (n', 3), faces int64 (m', 3))``.

    """
    keys = np.floor((vertices - vertices.min(0)) / cell).astype(np.int64)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n = int(inverse.max()) + 1
    counts = np.bincount(inverse, minlength=n).astype(np.float64)
    new_v = np.stack(
        [np.bincount(inverse, weights=vertices[:, i], minlength=n) for i in range(3)], 1
    )
    new_v /= counts[:, None]
    f = inverse[faces]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[keep]
    _, first = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
    return new_v, f[np.sort(first)]


def decimate(
    vertices: np.ndarray, faces: np.ndarray, max_faces: int
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex-cluster a mesh with the finest grid that leaves at most ``max_faces`` faces.

    Returns:
        ``(vertices float64 (n', 3), faces int64 (m', 3))``, unchanged if already small enough.

    """
    if max_faces < 4:
        raise ValueError(f"max_faces must be >= 4, got {max_faces}")
    if len(faces) <= max_faces:
        return vertices, faces
    diag = float(np.linalg.norm(vertices.max(0) - vertices.min(0)))
    cell = diag / (2.0 * np.sqrt(max_faces))
    for _ in range(60):
        v, f = cluster_vertices(vertices, faces, cell)
        if len(f) <= max_faces:
            return v, f
        cell *= 1.15
    raise RuntimeError("decimation did not converge")  # pragma: no cover


def normalise(vertices: np.ndarray) -> np.ndarray:
    """Centre on the XY bounding box middle, rest on z = 0, scale the largest extent to 1."""
    lo, hi = vertices.min(0), vertices.max(0)
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    return (vertices - centre) / float((hi - lo).max())


@functools.lru_cache(maxsize=64)
def _load(path: str, mtime: float, max_faces: int) -> Mesh:
    v, f = read_obj(path)
    v, f = decimate(v, f, max_faces)
    used, f = np.unique(f, return_inverse=True)
    v = normalise(v[used])
    return Mesh(Path(path).stem, v, f.reshape(-1, 3).astype(np.int64))


def load_mesh(path: str | Path, max_faces: int = 2000) -> Mesh:
    """Load, decimate to ``<= max_faces`` faces and normalise an OBJ mesh (cached).

    Args:
        path: the ``.obj`` file.
        max_faces: face budget of the decimation.

    Returns:
        The normalised :class:`Mesh`.

    """
    p = Path(path).resolve()
    return _load(str(p), p.stat().st_mtime, int(max_faces))


class MeshLibrary:
    """The meshes of a directory that the scene sampler may use.

    Args:
        mesh_dir: directory holding ``*.obj`` files.
        names: include list of file stems (all when None).
        exclude: file stems to leave out (e.g. held out of training).
        max_faces: decimation budget per mesh.

    Raises:
        ValueError: when the directory is missing, a named mesh is absent or none is left.

    """

    def __init__(
        self,
        mesh_dir: str | Path,
        names: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        max_faces: int = 2000,
    ) -> None:
        root = Path(mesh_dir)
        if not root.is_dir():
            raise ValueError(f"mesh_dir {str(root)!r} is not a directory")
        files = {p.stem: p for p in sorted(root.glob("*.obj"))}
        available = sorted(files)
        if names is not None:
            missing = sorted(set(names) - set(files))
            if missing:
                raise ValueError(f"meshes {missing} not in {root}; available: {available}")
            files = {k: v for k, v in files.items() if k in set(names)}
        files = {k: v for k, v in files.items() if k not in set(exclude)}
        if not files:
            raise ValueError(
                f"no meshes left in {root} (names={names}, exclude={list(exclude)}); "
                f"available: {available}"
            )
        self.meshes = [load_mesh(p, max_faces) for p in files.values()]

    @property
    def names(self) -> list[str]:
        """Return the file stems of the meshes in the library."""
        return [m.name for m in self.meshes]

    def __len__(self) -> int:
        return len(self.meshes)
