"""Evaluation data sources: ``synthetic:FIRST-LAST``, ``7scenes:DIR``, ``bag:PATH``.

Each yields :class:`EvalItem`: the window, its ground truth, ``complete`` (False where
the reference surface is not the complete surface: real data, whose reference is the
TSDF fusion of all frames of the sequence) and, for real data, every frame of the
sequence as (depth, camera) for the frustum protocol's judged rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nova3r_ros.core.types import GroundTruth, Window


class EvalItem(NamedTuple):
    """One evaluation window (see the module docstring)."""

    window: Window
    gt: GroundTruth
    complete: bool
    judge_frames: list | None = None


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` argument."""

    kind: str
    first: int = 0
    last: int = 0
    path: str = ""


def parse_data(text: str) -> DataSpec:
    """Parse ``synthetic:FIRST-LAST``, ``7scenes:DIR`` or ``bag:PATH``."""
    kind, _, rest = text.partition(":")
    if kind == "synthetic":
        try:
            first, last = (int(x) for x in rest.split("-"))
        except ValueError as exc:
            raise ValueError(f"--data synthetic:FIRST-LAST expected, got {text!r}") from exc
        if first < 0 or last < first:
            raise ValueError(f"seed range must be 0 <= FIRST <= LAST, got {first}-{last}")
        return DataSpec("synthetic", first, last)
    if kind in ("7scenes", "bag"):
        if not rest or not Path(rest).exists():
            raise ValueError(f"--data {kind}:PATH: {rest!r} does not exist")
        return DataSpec(kind, path=rest)
    raise ValueError(f"--data must start with synthetic:, 7scenes: or bag:, got {text!r}")


def synthetic_windows(spec: DataSpec, synth_cfg) -> Iterator[EvalItem]:
    """Generate one window per seed in the range."""
    from nova3r_ros.synth.generate import generate_window

    for seed in range(spec.first, spec.last + 1):
        window, gt = generate_window(seed, synth_cfg)
        yield EvalItem(window, gt, True)


def sevenscenes_windows(
    path: str, n_views: int, windows: int, stride: int = 10, log=print, reference: str = "tsdf"
) -> Iterator[EvalItem]:
    """``windows`` evenly spaced windows of ``n_views`` frames ``stride`` positions apart.

    Positions are in the folder's sorted frame list; views get depth and their known
    poses. The reference is the cached TSDF fusion of every frame
    (:func:`nova3r_ros.eval.reference.sequence_reference`; ``reference`` "measured": only
    its points that some frame measured); every frame's depth and camera come along for
    the judged rule.
    """
    from nova3r_ros.eval.frustum import Camera
    from nova3r_ros.eval.reference import sequence_reference
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    seq = SevenScenesSequence(path)
    if reference not in ("tsdf", "measured"):
        raise ValueError(f"reference must be 'tsdf' or 'measured', got {reference!r}")
    surface = sequence_reference(seq, log=log, measured=reference == "measured")
    frames = []
    for i in range(len(seq)):
        view = seq.view(i)
        frames.append((view.depth, Camera(view.K, seq.pose(i), view.height, view.width, 0.0)))
    for idx in window_indices(len(seq), n_views, windows, stride):
        window, gt = seq.window(idx, known_poses=True)
        yield EvalItem(
            window,
            GroundTruth(surface, np.zeros(len(surface), bool), gt.T_world_cam, gt.K),
            False,
            frames,
        )


def window_indices(n_frames: int, n_views: int, windows: int, stride: int) -> list[list[int]]:
    """Positions (in the sorted frame list) of :func:`sevenscenes_windows`' windows' views."""
    span = (n_views - 1) * stride
    if span >= n_frames:
        raise ValueError(f"{n_views} views {stride} apart need more than the {n_frames} frames")
    starts = np.linspace(0, n_frames - 1 - span, windows).astype(int)
    return [[int(start) + i * stride for i in range(n_views)] for start in starts]


def sevenscenes_pose_truths(path: str, n_views: int, windows: int, stride: int,
                            poses: dict[int, np.ndarray]) -> list[list[np.ndarray]]:  # fmt: skip
    """Another reference's camera-to-world poses of :func:`sevenscenes_windows`' views.

    ``poses``: frame number -> pose (:func:`.pose_reference.load_pose_reference`); one list
    per window, in the same order. Raises ValueError where a view's frame has none.
    """
    from nova3r_ros.eval.pose_reference import window_poses
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    seq = SevenScenesSequence(path)
    return [window_poses(poses, [seq.frames[i].index for i in idx])
            for idx in window_indices(len(seq), n_views, windows, stride)]  # fmt: skip


def bag_windows(path: str, n_views: int) -> Iterator[EvalItem]:
    """Windows of ``n_views`` consecutive sidecar views of a bag (``nova3r make-bag``).

    Read through :mod:`nova3r_ros.eval.bag_eval` (the reader of ``nova3r eval-bag``):
    driver topic names, 16UC1/32FC1 depth, rgb8/bgr8 and compressed images; ground truth
    from the bag's sidecar.
    """
    from nova3r_ros.eval.bag_eval import bag_sequence, consecutive_windows

    yield from consecutive_windows(bag_sequence(path), n_views)
