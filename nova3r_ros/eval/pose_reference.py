"""Another reference for a 7-Scenes-layout sequence's poses (``nova3r eval --pose-reference``).

The poses recorded with a sequence are one estimate of the truth: 7-Scenes' come from
KinectFusion tracking of the depth camera. Brachmann et al. (ICCV 2021, "On the Limits of
Pseudo Ground Truth in Visual Camera Re-localisation") published a second reference for
the same images, an SfM reconstruction of the colour images (and their D-SLAM poses in the
same format), and showed that which reference one scores against changes the ranking of
methods. This module reads such a file so that pose metrics can be scored against it while
the geometry keeps the recorded poses.

File format (COLMAP's ``images.txt`` convention, one line per image; ``#`` comments):
``NAME qw qx qy qz tx ty tz [f]`` where ``(q, t)`` maps world to camera coordinates
(``p_cam = R(q) p_world + t``), the camera an OpenCV optical frame, and ``NAME`` holds
``frame-<number>`` (e.g. ``seq-01/frame-000020.color.png``). Lines whose name starts with
``<sequence>/`` are kept; ``sequence`` may be empty where the file holds one sequence
without a prefix. The file is untrusted input: its size, every number and every
quaternion are checked, and each problem is one ``ValueError`` line.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from nova3r_ros.core.transforms import pose_to_matrix, se3_inverse

#: Larger files are refused (Brachmann et al.'s largest 7-Scenes file is under 1 MB).
MAX_BYTES = 64 * 2**20
_FRAME = re.compile(r"frame-(\d+)")


def sequences(path: str | Path) -> list[str]:
    """Return the sequence prefixes (``seq-01`` of ``seq-01/frame-...``) a file names."""
    found = set()
    for name, _ in _lines(Path(path)):
        found.add(name.split("/")[0] if "/" in name else "")
    return sorted(found)


def _lines(path: Path):
    """Yield (name, the 7 pose numbers) of every data line, checked (module docstring)."""
    if not path.is_file():
        raise ValueError(f"--pose-reference {path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"--pose-reference {path}: larger than {MAX_BYTES // 2**20} MB")
    with open(path, encoding="utf-8-sig", errors="replace") as f:  # a BOM is dropped
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) not in (8, 9):
                raise ValueError(f"--pose-reference {path}:{n}: expected 'NAME qw qx qy qz tx "
                                 f"ty tz [f]', got {len(parts)} fields")  # fmt: skip
            try:
                values = np.array([float(x) for x in parts[1:8]])
            except ValueError:
                raise ValueError(f"--pose-reference {path}:{n}: not a number in "
                                 f"{' '.join(parts[1:8])!r}") from None  # fmt: skip
            if not np.isfinite(values).all():
                raise ValueError(f"--pose-reference {path}:{n}: not finite")
            yield parts[0], values


def load_pose_reference(path: str | Path, sequence: str | None = None) -> dict[int, np.ndarray]:
    """Return frame number -> 4x4 float64 camera-to-world pose of one sequence of a file.

    ``sequence``: the name prefix to keep (``seq-01``); None: the file's only sequence
    (an error where it names several). Raises ValueError (one line) on a bad file, an
    unknown sequence, a quaternion far from unit length, a name without ``frame-<number>``
    or a frame listed twice.
    """
    path = Path(path)
    if sequence is None:
        found = sequences(path)
        if len(found) != 1:
            raise ValueError(f"--pose-reference {path} holds the sequences {found}: name one "
                             "with --pose-reference-sequence")  # fmt: skip
        sequence = found[0]
    prefix = f"{sequence}/" if sequence else ""
    poses: dict[int, np.ndarray] = {}
    for name, values in _lines(path):
        if (prefix and not name.startswith(prefix)) or (not prefix and "/" in name):
            continue
        match = _FRAME.search(name)
        if match is None:
            raise ValueError(f"--pose-reference {path}: {name!r} names no frame-<number>")
        norm = float(np.linalg.norm(values[:4]))
        if abs(norm - 1.0) > 1e-2:
            raise ValueError(f"--pose-reference {path}: {name!r}: quaternion of length "
                             f"{norm:.4f}, not a rotation")  # fmt: skip
        frame = int(match.group(1))
        if frame in poses:
            raise ValueError(f"--pose-reference {path}: frame {frame} listed twice")
        w, x, y, z = values[:4]  # quat_to_matrix normalises it
        poses[frame] = se3_inverse(pose_to_matrix(values[4:7], [x, y, z, w]))
    if not poses:
        raise ValueError(f"--pose-reference {path}: no line of sequence {sequence!r} "
                         f"(it holds {sequences(path)})")  # fmt: skip
    return poses


def window_poses(poses: dict[int, np.ndarray], frames: list[int]) -> list[np.ndarray]:
    """Return the reference's camera-to-world poses of ``frames`` (frame numbers), in order."""
    missing = [f for f in frames if f not in poses]
    if missing:
        raise ValueError(f"--pose-reference has no pose for frame(s) {missing[:5]}")
    return [poses[f].copy() for f in frames]
