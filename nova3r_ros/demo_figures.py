"""Figures of ``nova3r demo``: the reconstruction and the occupancy grid (matplotlib, Agg).

``reconstruction.png``: the published cloud of the last window from above (x-y), from
the side (x-z) and in perspective, world frame (metres, equal axes): observed points
(from the input depth) in blue, completed points (the model's, no camera measured
them) in orange, the ground-truth surface in light grey, each camera as a frustum
drawn from its published pose (``T_world_cam``, OpenCV optical frame: +z forward).
``occupancy.png``: the node's 2D grid (``~/occupancy``): unknown grey, free white,
occupied black, cell centres in metres; camera centres in red.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

OBSERVED, COMPLETED, TRUTH, CAMERA = "tab:blue", "tab:orange", "0.8", "tab:red"


def _frustum(T: np.ndarray, K: np.ndarray, w: int, h: int, depth: float = 0.12) -> np.ndarray:
    """(8, 2, 3) world line segments of a camera frustum ``depth`` m deep."""
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    rays = np.c_[(corners - K[:2, 2]) / np.diag(K)[:2], np.ones(4)] * depth
    world = rays @ T[:3, :3].T + T[:3, 3]
    c = T[:3, 3]
    segs = [(c, p) for p in world] + [(world[i], world[(i + 1) % 4]) for i in range(4)]
    return np.array(segs)


def _subsample(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    if len(points) <= n:
        return np.arange(len(points))
    return np.random.default_rng(seed).choice(len(points), n, replace=False)


def reconstruction_figure(
    path: str | Path,
    points: np.ndarray,
    observed: np.ndarray,
    cameras: Sequence[tuple[np.ndarray, np.ndarray, int, int]],
    truth: np.ndarray | None = None,
    title: str = "",
) -> None:
    """Write ``reconstruction.png`` (module docstring); ``cameras``: (T_world_cam, K, w, h)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = np.asarray(points, np.float64)
    obs = np.asarray(observed, bool)
    keep = _subsample(pts, 30_000)
    pts, obs = pts[keep], obs[keep]
    lo = pts.min(0) if len(pts) else np.zeros(3)
    hi = pts.max(0) if len(pts) else np.ones(3)
    if truth is not None and len(truth):
        t = np.asarray(truth, np.float64)
        truth = t[np.all((t > lo - 0.1) & (t < hi + 0.1), axis=1)]
        truth = truth[_subsample(truth, 30_000, 1)]
    fig = plt.figure(figsize=(15, 5))
    axes = [fig.add_subplot(1, 3, 1), fig.add_subplot(1, 3, 2),
            fig.add_subplot(1, 3, 3, projection="3d")]  # fmt: skip
    frusta = [_frustum(T, K, w, h) for T, K, w, h in cameras]
    for ax, (a, b), name in zip(axes[:2], ((0, 1), (0, 2)), ("top (x-y)", "side (x-z)"),
                                strict=True):  # fmt: skip
        if truth is not None and len(truth):
            ax.scatter(truth[:, a], truth[:, b], s=0.2, c=TRUTH, label="ground truth")
        ax.scatter(pts[obs, a], pts[obs, b], s=0.4, c=OBSERVED, label="observed (depth)")
        ax.scatter(pts[~obs, a], pts[~obs, b], s=0.4, c=COMPLETED, label="completed (model)")
        for i, segs in enumerate(frusta):
            for j, s in enumerate(segs):
                label = "cameras" if i == 0 and j == 0 else None
                ax.plot(s[:, a], s[:, b], c=CAMERA, lw=0.8, label=label)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("xyz"[a] + " (m)")
        ax.set_ylabel("xyz"[b] + " (m)")
        ax.set_title(name)
    ax = axes[2]
    ax.scatter(*pts[obs].T, s=0.3, c=OBSERVED)
    ax.scatter(*pts[~obs].T, s=0.3, c=COMPLETED)
    for segs in frusta:
        for s in segs:
            ax.plot(*s.T, c=CAMERA, lw=0.8)
    every = np.vstack([pts] + [f.reshape(-1, 3) for f in frusta]) if len(pts) else lo[None]
    mid, half = (every.max(0) + every.min(0)) / 2, (every.max(0) - every.min(0)).max() / 2
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(mid[2] - half, mid[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_title("perspective")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, markerscale=12)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def occupancy_figure(
    path: str | Path,
    grid: np.ndarray | None,
    resolution: float,
    origin: tuple[float, float],
    camera_xy: np.ndarray,
    title: str = "",
) -> None:
    """Write ``occupancy.png``: grid (H, W) int8 (-1 unknown, 0 free, 100 occupied)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(6, 6))
    if grid is not None and grid.size:
        img = np.full(grid.shape, 0.6)
        img[grid == 0] = 1.0
        img[grid > 50] = 0.0
        h, w = grid.shape
        ext = (origin[0], origin[0] + w * resolution, origin[1], origin[1] + h * resolution)
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, origin="lower", extent=ext,
                  interpolation="nearest")  # fmt: skip
    else:
        ax.text(0.5, 0.5, "no occupancy grid published", ha="center", transform=ax.transAxes)
    if len(camera_xy):
        ax.scatter(camera_xy[:, 0], camera_xy[:, 1], c=CAMERA, s=20, marker="^")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(handles=[Patch(color="0.0", label="occupied"), Patch(color="1.0", ec="0.5",
                       label="free"), Patch(color="0.6", label="unknown"),
                       Patch(color=CAMERA, label="cameras")], loc="upper right")  # fmt: skip
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
