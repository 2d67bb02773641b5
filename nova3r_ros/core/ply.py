"""Binary little-endian PLY point clouds: write and read with numpy, no per-point Python.

A cloud is Nx3 float32 ``x, y, z`` plus optional ``red, green, blue`` uint8 and any
number of extra per-point scalar properties (float32, uint8, int32...). The reader
accepts the files this module writes and other binary little-endian vertex-only
PLYs (as Open3D and CloudCompare write them); it treats the file as untrusted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_PLY_TYPES = {
    "char": "i1", "uchar": "u1", "short": "<i2", "ushort": "<u2", "int": "<i4",
    "uint": "<u4", "float": "<f4", "double": "<f8",
    "int8": "i1", "uint8": "u1", "int16": "<i2", "uint16": "<u2", "int32": "<i4",
    "uint32": "<u4", "float32": "<f4", "float64": "<f8",
}  # fmt: skip
_NUMPY_TO_PLY = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int",
                 "u4": "uint", "f4": "float", "f8": "double"}  # fmt: skip
MAX_HEADER_BYTES = 64 * 1024


class PlyError(ValueError):
    """A PLY file is malformed or of a kind this reader does not handle."""


def write_ply(
    path: str | Path,
    points: np.ndarray,
    colors: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write Nx3 points (float32), optional Nx3 uint8 RGB and extra N-vectors to ``path``."""
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise PlyError(f"points must be Nx3, got {pts.shape}")
    n = pts.shape[0]
    fields: list[tuple[str, np.dtype, np.ndarray]] = [
        (axis, np.dtype("<f4"), pts[:, i]) for i, axis in enumerate("xyz")
    ]
    if colors is not None:
        cols = np.asarray(colors)
        if cols.shape != (n, 3) or cols.dtype != np.uint8:
            raise PlyError(f"colors must be uint8 ({n}, 3), got {cols.dtype} {cols.shape}")
        fields += [(c, np.dtype("u1"), cols[:, i]) for i, c in enumerate(("red", "green", "blue"))]
    for name, values in (extra or {}).items():
        values = np.asarray(values)
        if values.dtype == bool:
            values = values.astype(np.uint8)
        if values.shape != (n,) or values.dtype.str.lstrip("<>|=") not in _NUMPY_TO_PLY:
            raise PlyError(f"extra field {name!r} must be a numeric ({n},) array")
        fields.append((name, values.dtype.newbyteorder("<"), values))
    record = np.empty(n, dtype=[(name, dt) for name, dt, _ in fields])
    for name, _, values in fields:
        record[name] = values
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property {_NUMPY_TO_PLY[dt.str.lstrip('<>|=')]} {name}" for name, dt, _ in fields]
    header.append("end_header\n")
    with open(path, "wb") as f:
        f.write("\n".join(header).encode("ascii"))
        f.write(record.tobytes())


def read_ply(path: str | Path) -> dict[str, np.ndarray]:
    """Read a binary little-endian vertex PLY.

    Returns:
        dict with ``points`` Nx3 float32, ``colors`` Nx3 uint8 when red/green/blue
        exist, and every other vertex property by name.

    """
    raw = Path(path).read_bytes()
    end = raw.find(b"end_header\n", 0, MAX_HEADER_BYTES)
    if not raw.startswith(b"ply\n") or end < 0:
        raise PlyError(f"{path}: not a PLY file (no 'ply' magic or end_header)")
    lines = raw[:end].decode("ascii", errors="replace").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise PlyError(f"{path}: only binary_little_endian PLY is supported")
    n, props, in_vertex = None, [], False
    for line in lines:
        tok = line.split()
        if tok[:1] == ["element"]:
            in_vertex = tok[1] == "vertex"
            if in_vertex:
                n = int(tok[2])
            elif n is not None:
                break  # vertex element done; later elements (faces) are ignored
        elif tok[:1] == ["property"] and in_vertex:
            if tok[1] == "list" or tok[1] not in _PLY_TYPES:
                raise PlyError(f"{path}: unsupported vertex property {line!r}")
            props.append((tok[2], _PLY_TYPES[tok[1]]))
    if n is None or n < 0:
        raise PlyError(f"{path}: no vertex element")
    dtype = np.dtype(props)
    body = raw[end + len(b"end_header\n") :]
    if len(body) < n * dtype.itemsize:
        raise PlyError(f"{path}: truncated: {len(body)} bytes for {n} vertices")
    rec = np.frombuffer(body, dtype=dtype, count=n)
    names = [p for p, _ in props]
    if not {"x", "y", "z"} <= set(names):
        raise PlyError(f"{path}: vertices lack x, y, z")
    out = {"points": np.column_stack([rec["x"], rec["y"], rec["z"]]).astype(np.float32)}
    if {"red", "green", "blue"} <= set(names):
        out["colors"] = np.column_stack([rec["red"], rec["green"], rec["blue"]]).astype(np.uint8)
    for name in names:
        if name not in ("x", "y", "z", "red", "green", "blue"):
            out[name] = rec[name].copy()
    return out
