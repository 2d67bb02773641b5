"""``nova3r make-bag``: write a synthetic or 7-Scenes sequence as a rosbag2 + sidecar.

Synthetic (:mod:`.sequence`): TF rooted at ``map``; ``--tf rig`` (default for rig and
static motion) publishes ``map -> base_link`` on ``/tf`` per step and
``base_link -> <camera frame>`` on ``/tf_static``; ``--tf poses`` (default for
handheld) publishes ``map -> <camera frame>`` per step; ``--tf none`` leaves every pose
to the sidecar. 7-Scenes (``--from 7scenes:DIR``): one camera, the folder's frames in
order (``--stride``, ``--max-frames``) at 30 Hz, poses in the sidecar only unless
``--tf poses``; the sidecar's surface is the sequence's TSDF reference
(:func:`nova3r_ros.eval.reference.sequence_reference`, ``complete`` false; ``--reference
measured``: only its points that some frame measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nova3r_ros.bags.sequence import SequenceConfig, synthetic_sequence
from nova3r_ros.bags.topics import camera_names, camera_topics
from nova3r_ros.core.types import GroundTruth, View

WORLD, RIG = "map", "base_link"
TF_CHOICES = ("auto", "rig", "poses", "none")


@dataclass(frozen=True)
class BagOptions:
    """How the bag is written (see :func:`nova3r_ros.synth.bag_writer.write_bag`)."""

    topics: str = "project"
    storage: str = "mcap"
    color_encoding: str = "rgb8"
    depth_encoding: str = "16UC1"
    compressed: bool = False
    tf: str = "auto"


def check_out(out: str | Path) -> Path:
    """Return ``out`` as a Path; raise ValueError if it exists (checked before any work)."""
    out = Path(out)
    if out.exists():
        kind = "a file" if out.is_file() else "a folder"
        raise ValueError(f"{out} already exists ({kind}); give a new path for the bag folder")
    if not out.parent.is_dir():
        raise ValueError(f"{out.parent} is not a folder")
    return out


def _rename(views: list[View], names: dict[str, str], topics: str) -> list[View]:
    out = []
    for v in views:
        cam = names[v.camera]
        frame = camera_topics(topics, cam).frame_id
        out.append(View(v.image, v.depth, v.K, v.T_world_cam, v.stamp, frame, cam))
    return out


def make_synthetic(
    out: str | Path, seq: SequenceConfig, opts: BagOptions, log: Callable[[str], None] = print
) -> Path:
    """Render ``seq`` and write it with ``opts``; return the bag folder."""
    from nova3r_ros.synth.bag_writer import write_bag

    out = check_out(out)
    tf = opts.tf if opts.tf != "auto" else ("poses" if seq.motion == "handheld" else "rig")
    if tf == "rig" and seq.motion == "handheld":
        raise ValueError("--tf rig needs rig or static motion (handheld cameras move apart)")
    s = synthetic_sequence(seq, log=log)
    names = dict(zip([f"cam{i}" for i in range(seq.cameras)],
                     camera_names(opts.topics, seq.cameras), strict=True))  # fmt: skip
    views = _rename(s.views, names, opts.topics)
    frame = {v.camera: v.frame_id for v in views}
    static, tf_poses, stamps = None, {}, sorted({v.stamp for v in views})
    if tf == "rig":
        static = {names[c]: T for c, T in s.T_rig_cam.items()}
        tf_poses = {t: [(W, WORLD, RIG)] for t, W in zip(stamps, s.T_world_rig, strict=True)}
    elif tf == "poses":
        for v in views:
            tf_poses.setdefault(v.stamp, []).append((v.T_world_cam, WORLD, frame[v.camera]))
    log(f"[make-bag] writing {out} ({opts.storage}, {opts.topics} topics, TF {tf})")
    source = (f"synthetic {seq.family} seed {seq.seed}, {seq.cameras} camera(s) x {seq.steps} "
              f"steps, {seq.motion} motion")  # fmt: skip
    write_bag(out, views, s.gt, static, RIG, opts.storage, topics=opts.topics,
              color_encoding=opts.color_encoding, depth_encoding=opts.depth_encoding,
              compressed=opts.compressed, tf_poses=tf_poses,
              truth={"frame": WORLD, "tf": tf, "rig_frame": RIG if tf == "rig" else "",
                     "complete": True, "source": source})  # fmt: skip
    return out


def make_sevenscenes(
    out: str | Path,
    folder: str,
    opts: BagOptions,
    stride: int = 1,
    max_frames: int | None = None,
    log: Callable[[str], None] = print,
    reference: str = "tsdf",
) -> Path:
    """Write a 7-Scenes folder's frames (every ``stride``-th, at most ``max_frames``).

    ``reference``: the sidecar's surface, "tsdf" (the fused reference) or "measured"
    (only its points that some frame measured: :mod:`nova3r_ros.eval.reference`).
    """
    from nova3r_ros.eval.reference import sequence_reference
    from nova3r_ros.synth.bag_writer import write_bag
    from nova3r_ros.synth.sevenscenes import SequenceError, SevenScenesSequence

    out = check_out(out)
    if stride < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError("--stride and --max-frames must be >= 1")
    if reference not in ("tsdf", "measured"):
        raise ValueError(f"--reference must be tsdf or measured, got {reference!r}")
    tf = "none" if opts.tf == "auto" else opts.tf
    if tf == "rig":
        raise ValueError("--tf rig needs a synthetic rig; a 7-Scenes camera has --tf poses|none")
    try:
        seq = SevenScenesSequence(folder, camera=camera_names(opts.topics, 1)[0])
    except SequenceError as exc:
        raise ValueError(str(exc)) from exc
    idx = list(range(0, len(seq), stride))[:max_frames]
    log(f"[make-bag] {len(idx)} of {len(seq)} frames of {folder}; the reference surface "
        "(TSDF of every frame) is fused or read from its cache")  # fmt: skip
    surface = sequence_reference(seq, log=log, measured=reference == "measured")
    views = [seq.view(i) for i in idx]
    poses = [seq.pose(i) for i in idx]
    views = [replace(v, frame_id=camera_topics(opts.topics, v.camera).frame_id) for v in views]
    gt = GroundTruth(surface, np.zeros(len(surface), bool), poses, [v.K for v in views])
    tf_poses = {}
    if tf == "poses":
        tf_poses = {v.stamp: [(T, WORLD, v.frame_id)] for v, T in zip(views, poses, strict=True)}
    source = f"7scenes {folder} frames {idx[0]}..{idx[-1]} stride {stride}, {reference} reference"
    write_bag(out, views, gt, None, WORLD, opts.storage, topics=opts.topics,
              color_encoding=opts.color_encoding, depth_encoding=opts.depth_encoding,
              compressed=opts.compressed, tf_poses=tf_poses,
              truth={"frame": WORLD, "tf": tf, "complete": False,
                     "source": source})  # fmt: skip
    log(f"[make-bag] wrote {out}")
    return out
