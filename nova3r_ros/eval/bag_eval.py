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

A bag without TF (sidecar ``tf: none``) leaves the node to anchor its own world, which
is not the sidecar's. :func:`score_run` then aligns the node's camera trajectory (the
poses it put on ``/tf``, one per camera and time step) to the sidecar's poses, SE(3)
with depth (metric), Sim(3) without, moves the published clouds by that alignment
before scoring them, and scores the trajectory (:func:`trajectory_metrics`: ATE, the
largest change of the error between consecutive windows, the share of views tracked).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from nova3r_ros.bags.decode import read_frames
from nova3r_ros.bags.reader import open_bag
from nova3r_ros.bags.sidecar import Sidecar, read_sidecar
from nova3r_ros.core.transforms import project_to_so3, rotation_angle_deg, umeyama
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


@dataclass
class Trajectory:
    """The node's estimated camera trajectory against the sidecar's.

    ``keys``: (camera, stamp ns) of every sidecar view, in sidecar order; ``est``: the
    node's camera-to-world pose of each (4x4, its own world) or None where it put none on
    ``/tf``; ``gt``: the sidecar's; ``T_gt_node``: the alignment (4x4, node world ->
    sidecar world; identity before :func:`trajectory_metrics` sets it).
    """

    keys: list[tuple[str, int]]
    est: list[np.ndarray | None]
    gt: list[np.ndarray]
    T_gt_node: np.ndarray = field(default_factory=lambda: np.eye(4))


def node_trajectory(seq: BagSequence, tf_by_stamp: Mapping[int, Mapping[str, np.ndarray]],
                    prefix: str = "nova3r/") -> Trajectory:  # fmt: skip
    """Match the node's ``/tf`` poses (stamp -> child frame -> 4x4) to the sidecar's views.

    The node publishes a camera's estimated pose as ``<prefix><optical frame>`` with the
    window's stamp, the newest view's: the pose of that camera at that stamp.
    """
    est = [tf_by_stamp.get(v.stamp, {}).get(prefix + v.frame_id) for v in seq.views]
    return Trajectory([(v.camera, v.stamp) for v in seq.views], est,
                      [v.T_world_cam for v in seq.views])  # fmt: skip


def pose_alignment(E: np.ndarray, G: np.ndarray, with_scale: bool) -> np.ndarray:
    """Return ``T_g_e`` (4x4) mapping poses E (V, 4, 4) onto G: mean rotation, centroids.

    The rotation is the SO(3) projection of the sum of ``R_g R_e^T``; with ``with_scale``
    the scale is the ratio of the centres' RMS spreads (1 if E's centres coincide).
    """
    R = project_to_so3(np.einsum("vij,vkj->ik", G[:, :3, :3], E[:, :3, :3]))
    ce, cg = E[:, :3, 3], G[:, :3, 3]
    spread = float(np.sum((ce - ce.mean(0)) ** 2))
    s = (
        float(np.sqrt(np.sum((cg - cg.mean(0)) ** 2) / spread))
        if with_scale and spread > 0
        else 1.0
    )
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = s * R, cg.mean(0) - s * R @ ce.mean(0)
    return T


def trajectory_metrics(traj: Trajectory, metric: bool) -> dict[str, float]:
    """Align the trajectory to the truth and score it (m, deg); sets ``traj.T_gt_node``.

    Over every view with an estimate, two alignments (SE(3) when ``metric``, Sim(3)
    otherwise): the standard ATE one, Umeyama on the camera centres (``ate``, RMS centre
    error, m; ``error_max``; ``error_change_max``, the largest change of the centre error
    vector between consecutive estimates of one camera, m: a jump that alignment cannot
    hide); and the pose one (:func:`pose_alignment`: the mean rotation, then the
    centroids), which a trajectory a few decimetres long determines far better
    in rotation than its centres do: ``ate_deg`` (RMS rotation error, deg) and
    ``traj.T_gt_node``, which moves the clouds. ``tracked``: share of views with an
    estimate. With fewer than 3 estimates, or collinear centres, the ATE alignment is the
    pose one. NaN where undefined.
    """
    idx = [i for i, T in enumerate(traj.est) if T is not None]
    out = {"tracked": len(idx) / max(len(traj.est), 1), "ate": math.nan, "ate_deg": math.nan,
           "error_max": math.nan, "error_change_max": math.nan}  # fmt: skip
    if not idx:
        return out
    E = np.stack([traj.est[i] for i in idx])
    G = np.stack([traj.gt[i] for i in idx])
    P = pose_alignment(E, G, with_scale=not metric)
    traj.T_gt_node = P
    try:
        S = umeyama(E[:, :3, 3], G[:, :3, 3], with_scale=not metric)
    except ValueError:
        S = P
    err = E[:, :3, 3] @ S[:3, :3].T + S[:3, 3] - G[:, :3, 3]
    dist = np.linalg.norm(err, axis=1)
    R = project_to_so3(P[:3, :3])
    rot = [rotation_angle_deg(g[:3, :3].T @ R @ e[:3, :3]) for e, g in zip(E, G, strict=True)]
    out.update(ate=float(np.sqrt(np.mean(dist**2))), error_max=float(dist.max()),
               ate_deg=float(np.sqrt(np.mean(np.square(rot)))))  # fmt: skip
    last: dict[str, np.ndarray] = {}
    jumps = []
    for k, i in enumerate(idx):
        cam = traj.keys[i][0]
        if cam in last:
            jumps.append(float(np.linalg.norm(err[k] - last[cam])))
        last[cam] = err[k]
    if jumps:
        out["error_change_max"] = max(jumps)
    return out


def trajectory_line(m: Mapping[str, float], metric: bool) -> str:
    """Return one line for the eval-bag report from :func:`trajectory_metrics`."""
    kind = "SE(3)" if metric else "Sim(3)"
    return (f"trajectory (no TF; {kind}-aligned to the sidecar): {m['tracked']:.0%} of the "
            f"views on /tf, ATE {100 * m['ate']:.2f} cm, {m['ate_deg']:.2f} deg RMS, max "
            f"error {100 * m['error_max']:.2f} cm, max change of the error between "
            f"consecutive windows {100 * m['error_change_max']:.2f} cm")  # fmt: skip


def score_run(
    seq: BagSequence,
    run,
    window_size: int,
    n_steps: int | None = None,
    label: str = "node",
    prefix: str = "nova3r/",
    log: Callable[[str], None] = print,
) -> tuple[dict[str, dict], list[dict], dict[str, float] | None]:
    """Score a :class:`~nova3r_ros.ros.lockstep.LockstepRun` (clouds, and the trajectory).

    On a bag without TF the trajectory is scored and the clouds are moved into the
    sidecar's world by its alignment first (module docstring); the node row then
    carries ``ate`` and ``tracked``. A bag without depth scores the trajectory and the
    share of windows published only. Returns (table, per-window metrics, trajectory
    metrics or None for a bag with TF).
    """
    traj_m, S = None, np.eye(4)
    if seq.side.tf == "none":
        keep = set(run.steps)
        seq_n = BagSequence([v for v in seq.views if v.stamp in keep], seq.side)
        traj = node_trajectory(seq_n, {s: w.tf for s, w in run.windows.items()}, prefix)
        metric = all(v.depth is not None for v in seq_n.views)
        traj_m = trajectory_metrics(traj, metric)
        S = traj.T_gt_node
    if not all(v.depth is not None for v in seq.views):  # RGB only: no oracle to judge by
        log("[eval-bag] no depth in the bag: the clouds are not scored (the depth-only "
            "oracle defines the observed and hidden sets); the trajectory is")  # fmt: skip
        row = {"published": sum(s in run.windows for s in run.steps) / max(len(run.steps), 1)}
        if traj_m is not None:
            row.update(ate=traj_m["ate"], tracked=traj_m["tracked"])
        return {label: row}, [], traj_m
    published = {}
    for s, w in run.windows.items():
        pts = np.asarray(w.points, np.float64) @ S[:3, :3].T + S[:3, 3]
        poses = [S @ T for T in w.T_world_cams]
        for T in poses:  # a Sim(3) alignment scales the rotation block: a pose again
            T[:3, :3] = project_to_so3(T[:3, :3])
        published[s] = to_reconstruction(pts, w.colors, w.observed, w.confidence, poses)
    result, per_window = score_node(seq, published, window_size, n_steps, label, log)
    if traj_m is not None:
        result[label].update(ate=traj_m["ate"], tracked=traj_m["tracked"])
    return result, per_window, traj_m
