"""Write the current cloud (PLY) and grid (nav2 map_server PGM + YAML) to a folder (ROS-free).

The map follows nav2 map_server's ``trinary`` format as ``map_saver`` writes it:
a binary PGM (P5, maxval 255) whose top row is the grid's last row (largest y),
occupied = 0 (black), free = 254 (white), unknown = 205; and a YAML with
``image, mode, resolution, origin [x, y, yaw], negate, occupied_thresh,
free_thresh``. Frames: the grid's frame is the node's world frame (z up).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nova3r_ros.core.occupancy import OccupancyGrid2D
from nova3r_ros.core.ply import write_ply
from nova3r_ros.ros.processing import Result

OCCUPIED, FREE, UNKNOWN = 0, 254, 205
OCCUPIED_THRESH, FREE_THRESH = 0.65, 0.25


def grid_to_pgm(grid: OccupancyGrid2D) -> np.ndarray:
    """Return the uint8 (H, W) PGM image of ``grid`` (top row = largest y)."""
    data = grid.data
    img = np.full(data.shape, UNKNOWN, np.uint8)
    img[(data >= 0) & (data <= FREE_THRESH * 100)] = FREE
    img[data >= OCCUPIED_THRESH * 100] = OCCUPIED
    return img[::-1]


def write_map(folder: str | Path, grid: OccupancyGrid2D, name: str = "map") -> tuple[Path, Path]:
    """Write ``<name>.pgm`` and ``<name>.yaml`` into ``folder``; return both paths."""
    folder = Path(folder)
    img = grid_to_pgm(grid)
    pgm, yaml = folder / f"{name}.pgm", folder / f"{name}.yaml"
    h, w = img.shape
    pgm.write_bytes(f"P5\n{w} {h}\n255\n".encode("ascii") + img.tobytes())
    x, y = grid.origin_xy
    yaml.write_text(
        f"image: {pgm.name}\n"
        "mode: trinary\n"
        f"resolution: {grid.resolution!r}\n"
        f"origin: [{x!r}, {y!r}, 0.0]\n"
        "negate: 0\n"
        f"occupied_thresh: {OCCUPIED_THRESH}\n"
        f"free_thresh: {FREE_THRESH}\n"
    )
    return pgm, yaml


def save_result(folder: str | Path, result: Result, grid: OccupancyGrid2D | None) -> list[Path]:
    """Write ``cloud.ply`` (x y z rgb observed confidence) and, given a grid, the map files."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    ply = folder / "cloud.ply"
    extra = {"observed": result.observed.astype(np.uint8), "confidence": result.confidence}
    write_ply(ply, result.points, result.colors, extra)
    written = [ply]
    if grid is not None:
        written.extend(write_map(folder, grid))
    return written
