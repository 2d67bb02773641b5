"""Evaluation data sources: ``synthetic:FIRST-LAST``, ``7scenes:DIR``, ``bag:PATH``.

Each yields :class:`EvalItem`: the window, its ground truth, ``complete`` (False where
the reference surface is not the complete surface: real data, whose reference is the
TSDF fusion of all frames of the sequence) and, for real data, every frame of the
sequence as (depth, camera) for the frustum protocol's judged rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nova3r_ros.core.types import GroundTruth, View, Window


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
    path: str, n_views: int, windows: int, stride: int = 10, log=print
) -> Iterator[EvalItem]:
    """``windows`` evenly spaced windows of ``n_views`` frames ``stride`` positions apart.

    Positions are in the folder's sorted frame list; views get depth and their known
    poses. The reference is the cached TSDF fusion of every frame
    (:func:`nova3r_ros.eval.reference.sequence_reference`); every frame's depth and
    camera come along for the judged rule.
    """
    from nova3r_ros.eval.frustum import Camera
    from nova3r_ros.eval.reference import sequence_reference
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    seq = SevenScenesSequence(path)
    surface = sequence_reference(seq, log=log)
    frames = []
    for i in range(len(seq)):
        view = seq.view(i)
        frames.append((view.depth, Camera(view.K, seq.pose(i), view.height, view.width, 0.0)))
    span = (n_views - 1) * stride
    if span >= len(seq):
        raise ValueError(f"{n_views} views {stride} apart need more than the {len(seq)} frames")
    starts = np.linspace(0, len(seq) - 1 - span, windows).astype(int)
    for start in starts:
        idx = [int(start) + i * stride for i in range(n_views)]
        window, gt = seq.window(idx, known_poses=True)
        yield EvalItem(
            window,
            GroundTruth(surface, np.zeros(len(surface), bool), gt.T_world_cam, gt.K),
            False,
            frames,
        )


def bag_windows(path: str, n_views: int) -> Iterator[EvalItem]:
    """Windows of ``n_views`` consecutive views from a bag written by ``synth.bag_writer``.

    Ground truth comes from the bag's sidecar (``ground_truth.ply`` / ``.json``).
    """
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    from nova3r_ros.core.ply import read_ply

    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    side = json.loads((folder / "ground_truth.json").read_text())
    cloud = read_ply(folder / "ground_truth.ply")
    store = get_typestore(Stores.ROS2_JAZZY)
    images: dict[tuple[str, int], np.ndarray] = {}
    depths: dict[tuple[str, int], np.ndarray] = {}
    with Reader(folder) as reader:
        for conn, _, raw in reader.messages():
            parts = conn.topic.strip("/").split("/")
            if parts[-1] != "image_raw":
                continue
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if msg.encoding not in ("rgb8", "32FC1"):
                raise ValueError(f"{conn.topic}: encoding {msg.encoding!r}; expected rgb8/32FC1")
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            dtype = np.float32 if msg.encoding == "32FC1" else np.uint8
            pixels = np.frombuffer(msg.data.tobytes(), dtype).reshape(msg.height, msg.width, -1)
            if parts[-2] == "depth":
                depths[(parts[0], stamp)] = pixels[..., 0].copy()
            else:
                images[(parts[0], stamp)] = pixels.copy()
    entries = side["views"]
    for start in range(0, len(entries) - n_views + 1, n_views):
        chunk = entries[start : start + n_views]
        views = []
        for e in chunk:
            key = (e["camera"], int(e["stamp_ns"]))
            views.append(View(images[key], depths.get(key), np.array(e["K"]), None,
                              key[1], f"{key[0]}_optical_frame", key[0]))  # fmt: skip
        visible = cloud.get("visible", np.zeros(len(cloud["points"]))).astype(bool)
        gt = GroundTruth(cloud["points"], visible,
                         [np.array(e["T_world_cam"]) for e in chunk],
                         [np.array(e["K"]) for e in chunk])  # fmt: skip
        yield EvalItem(Window(views), gt, True)
