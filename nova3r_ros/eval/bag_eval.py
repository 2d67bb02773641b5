"""Score what the node published on a bag against the bag's sidecar (ROS-free).

The windows are the node's: window ``i`` holds the views of steps ``max(0, i-K+1)..i``
(K = ``window_size``, every step a keyframe in lock-step), all cameras each, and is
scored by the protocol of ``nova3r eval`` (:func:`nova3r_ros.eval.run.evaluate_window`,
frustum target: synthetic bags against their complete surface, real ones against the
sequence's reference with the judged rule over every frame of the bag) beside the
depth-only ``oracle`` (the views' own depth back-projected with the true poses). The
images and depth come from the bag itself (:mod:`nova3r_ros.bags.decode`: driver topic
names, 16UC1 millimetres, compressed), the truth from the sidecar.

``--data bag:PATH`` in ``nova3r eval`` reads through :func:`bag_sequence` as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from nova3r_ros.bags.decode import read_frames
from nova3r_ros.bags.reader import open_bag
from nova3r_ros.bags.sidecar import Sidecar, read_sidecar
from nova3r_ros.core.types import GroundTruth, Reconstruction, View, Window
from nova3r_ros.eval.data import EvalItem


@dataclass
class BagSequence:
    """A bag's views (sidecar order), each with its true pose, and the sidecar."""

    views: list[View]
    side: Sidecar


def bag_sequence(path: str) -> BagSequence:
    """Read a bag's camera frames and match them to the sidecar's views.

    Raises:
        ValueError: no sidecar, or a sidecar view the bag has no image for.

    """
    side = read_sidecar(path)
    cams = side.cameras or [side.camera(n) for n in side.camera_names]
    frames = read_frames(open_bag(path), cams)
    views = []
    for e in side.views:
        f = frames.get((e.camera, e.stamp_ns))
        if f is None or "image" not in f:
            raise ValueError(f"{path}: no image of camera {e.camera} at stamp {e.stamp_ns} "
                             "(the sidecar does not belong to this bag?)")  # fmt: skip
        frame_id = side.camera(e.camera).frame_id
        views.append(View(f["image"], f.get("depth"), e.K, e.T_world_cam, e.stamp_ns,
                          frame_id, e.camera))  # fmt: skip
    return BagSequence(views, side)


def _judge_frames(seq: BagSequence):
    """Every view's (depth, Camera) for the judged rule of real bags; None if synthetic."""
    if seq.side.complete:
        return None
    from nova3r_ros.eval.frustum import Camera

    return [(v.depth, Camera(v.K, v.T_world_cam, v.height, v.width, 0.0))
            for v in seq.views if v.depth is not None]  # fmt: skip


def _truth(seq: BagSequence, views: list[View]) -> GroundTruth:
    s = seq.side
    return GroundTruth(s.points, s.visible, [v.T_world_cam for v in views],
                       [v.K for v in views])  # fmt: skip


def consecutive_windows(seq: BagSequence, n_views: int) -> Iterator[EvalItem]:
    """Windows of ``n_views`` consecutive sidecar views (``nova3r eval --data bag:``)."""
    judge = _judge_frames(seq)
    for start in range(0, len(seq.views) - n_views + 1, n_views):
        views = seq.views[start : start + n_views]
        yield EvalItem(Window(views), _truth(seq, views), seq.side.complete, judge)


def node_windows(seq: BagSequence, window_size: int, n_steps: int | None = None):
    """[(stamp, EvalItem)] of the node's lock-step windows (module docstring)."""
    stamps = seq.side.stamps[:n_steps]
    judge = _judge_frames(seq)
    out = []
    for i, stamp in enumerate(stamps):
        keep = set(stamps[max(0, i - window_size + 1) : i + 1])
        views = [v for v in seq.views if v.stamp in keep]
        out.append((stamp, EvalItem(Window(views), _truth(seq, views), seq.side.complete, judge)))
    return out


def to_reconstruction(points, colors, observed, confidence, T_world_cams) -> Reconstruction:
    """Return the node's published cloud (world frame) as a Reconstruction."""
    n = len(points)
    poses = [np.asarray(T, np.float64) for T in T_world_cams] or [np.eye(4)]
    return Reconstruction(
        points=np.asarray(points, np.float32).reshape(n, 3),
        colors=np.asarray(colors, np.uint8).reshape(n, 3),
        observed=np.asarray(observed, bool), confidence=np.asarray(confidence, np.float32),
        T_ref_cam=poses, K=[np.eye(3)] * len(poses),
        scale_mode="metric", frame="world",
    )  # fmt: skip


def score_node(
    seq: BagSequence,
    published: Mapping[int, Reconstruction | None],
    window_size: int,
    n_steps: int | None = None,
    label: str = "node",
    log: Callable[[str], None] = print,
) -> tuple[dict[str, dict], list[dict]]:
    """Score the node's clouds (stamp -> Reconstruction; None = nothing published).

    A window the node did not publish scores as an empty cloud (F-score 0). Returns the
    averaged table (``oracle`` and ``label`` rows; ``published`` = share of windows with
    a cloud) and the per-window metrics.
    """
    from nova3r_ros.eval.run import EvalConfig, average, evaluate_window

    empty = to_reconstruction(np.zeros((0, 3)), np.zeros((0, 3)), [], [], [])
    per_window = []
    items = node_windows(seq, window_size, n_steps)
    for i, (stamp, item) in enumerate(items):
        rec = published.get(stamp) or empty
        cfg = EvalConfig(data="synthetic:0-0", methods=("oracle", "model"),
                         model_fn=lambda _w, _m, r=rec: r)  # fmt: skip
        m = evaluate_window(item, cfg)
        m["model"]["published"] = float(published.get(stamp) is not None)
        m["model"].pop("seconds", None)
        per_window.append({"oracle": m["oracle"], label: m["model"]})
        log(f"[eval-bag] scored window {i + 1}/{len(items)}")
    return average(per_window), per_window
