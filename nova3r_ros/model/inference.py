"""``infer(model, window)``: inference mode, strict input checks, bf16 autocast on CUDA.

Output frame: view 0's optical frame ("reference"), or the world frame of the
input poses when every view has a known ``T_world_cam`` (the prediction is
then mapped by view 0's known pose). Scale: metric when every view has depth,
else normalised (median distance to camera 0 = 1), stated in ``scale_mode``.

With depth, the decoded points are then made consistent with it
(:mod:`nova3r_ros.model.depth_consistency`, on by default): points near an observed
surface are snapped onto it, points in seen free space dropped, and points near the
observed dominant plane moved onto it. It uses the views placed in the output frame:
view 0 always, the others when their poses are inputs. Finally (on by default) the
result is the published cloud (:mod:`nova3r_ros.model.published_cloud`): the observed
surfaces of the depth at a uniform spacing plus the completed points no camera measured,
each with a confidence; a window whose decoding contradicts its depth publishes the
observed surfaces only. Without depth the decoder's points are returned as they are,
split into visible and hidden by the decoder's own logit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from nova3r_ros.core.types import Reconstruction, View, Window
from nova3r_ros.model.batch import prepare, to_reference_frame
from nova3r_ros.model.depth_consistency import (
    DepthConsistency,
    apply_depth_consistency,
    observed_points,
)
from nova3r_ros.model.flow import SAMPLERS, sample
from nova3r_ros.model.graphs import captures, graphed_encoder
from nova3r_ros.model.gravity import window_down
from nova3r_ros.model.measurement import measure, sanitize
from nova3r_ros.model.network import Nova3r
from nova3r_ros.model.pose_rgb import refine_rgb_views
from nova3r_ros.model.pose_rgbd import place_failed_views
from nova3r_ros.model.pose_views import refine_views
from nova3r_ros.model.published_cloud import PublishConfig, publish


class InferenceError(ValueError):
    """The window cannot be given to the model."""


@dataclass(frozen=True)
class InferenceConfig:
    """Decoding options.

    Attributes:
        n_points: points to decode; steps: ODE steps; sampler: "euler" or "heun".
        observed_threshold: logit above which a point is flagged observed.
        seed: noise seed (None = random).
        world_frame: output frame name when poses are inputs.
        cuda_graph: on CUDA, replay the encoder and the decoder steps from captured graphs
            (same result, fewer kernel launches).
        depth_consistency: thresholds for making the points agree with input depth
            (see the module docstring); None = return the decoder's points as they are.
        refine_poses: with depth and no pose inputs, refine each view's estimated pose
            against view 0's depth (point-to-plane ICP from the camera head's guess and from
            the identity, :mod:`nova3r_ros.model.pose_refine`); the refined poses are the
            output poses and place the views in the published cloud. Without depth (and
            without pose inputs) the head's poses are refined from the images instead: feature
            matches and the decoded points' dominant plane (:mod:`nova3r_ros.model.pose_rgb`).
        place_by_images: with depth, a view the depth refinement rejects (e.g. one that
            sees a single plane, which pins 3 of 6 degrees of freedom) is placed from the
            images, with view 0's depth for the plane and the scale
            (:mod:`nova3r_ros.model.pose_rgbd`).
        publish: with depth, return the published cloud (observed surfaces + confident
            completed points, :mod:`nova3r_ros.model.published_cloud`); None = the
            decoder's points (after depth consistency when that is on).
        rgb_redecode: without depth and pose inputs, after the images refined the head's
            poses, decode the window again with those poses as inputs and refine once more
            from them over the new points (:func:`redecode_rgb`); the output holds the
            second decode's points. Off by default: it doubles the decode and refinement.
        world_z_up: the window's poses are in a gravity-aligned, z-up world (the node's
            ``world_frame`` from TF, synthetic scenes): a model with a levelled canonical
            frame takes gravity from it; otherwise from view 0's support plane
            (:mod:`nova3r_ros.model.gravity`), else it keeps view 0's optical frame.

    """

    n_points: int = 16_384
    steps: int = 25
    sampler: str = "euler"
    observed_threshold: float = 0.0
    seed: int | None = 0
    world_frame: str = "world"
    cuda_graph: bool = True
    depth_consistency: DepthConsistency | None = field(default_factory=DepthConsistency)
    publish: PublishConfig | None = field(default_factory=PublishConfig)
    refine_poses: bool = True
    place_by_images: bool = True
    rgb_redecode: bool = False
    world_z_up: bool = False

    def __post_init__(self) -> None:
        if self.n_points < 1 or self.steps < 1:
            raise ValueError("n_points and steps must be >= 1")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")


def _check(window: Window, model: Nova3r) -> None:
    if len(window) > model.cfg.max_views:
        raise InferenceError(
            f"{len(window)} views exceed the model's max_views {model.cfg.max_views}"
        )
    sizes = {(v.height, v.width) for v in window.views}
    if len(sizes) != 1:
        raise InferenceError(f"all views must have the same size, got {sorted(sizes)}")
    if not window.has_intrinsics:
        raise InferenceError("every view needs K (intrinsics estimation is not supported yet)")
    depth = [v.depth is not None for v in window.views]
    if any(depth) and not all(depth):
        raise InferenceError("give depth for every view or for none")


def placed_views(window: Window) -> np.ndarray:
    """Poses (n, 4, 4) in view 0's optical frame of the first n views that are placed there.

    All views when the window's poses are inputs, else view 0 alone (the identity): the
    views :func:`infer` checks its points against with the depth consistency step.
    """
    if not window.has_poses:
        return np.eye(4)[None]
    T_world = np.stack([v.T_world_cam for v in window.views])
    return np.linalg.inv(T_world[0]) @ T_world


VIEW_CHECK_SAMPLES = 4096
VIEW_CHECK_MIN_OVERLAP = 200
VIEW_CHECK_MIN_AGREEMENT = 0.6


def publish_views(
    window: Window,
    T_ref_pred: np.ndarray,
    depth: torch.Tensor,
    K: torch.Tensor,
    pose_ok: np.ndarray | None = None,
) -> tuple[list[int], np.ndarray, int]:
    """Return the views whose depth goes into the published cloud, placed in view 0's frame.

    With known poses: every view. Without: view 0, and each other view placed by its
    estimated pose (``T_ref_pred`` (V, 4, 4), metric) only if its depth agrees with the
    depth of the last view kept before it, where they overlap: of its points (a sample
    of its pixels) that land on that view's clean pixels, at least 60 % lie on its surface
    rather than in its seen free space, and at least 200 land there. Returns (view
    indices, their T_ref_cam, how many views were rejected). ``pose_ok`` (V,) bool, if
    given: views whose estimated pose failed its checks (:mod:`.pose_views`) are rejected
    without the depth check.
    """
    if window.has_poses:
        return list(range(len(window))), placed_views(window), 0
    keep = [0]
    dev = depth.device
    gen = torch.Generator(device=dev).manual_seed(0)
    for i in range(1, len(window)):
        if pose_ok is not None and not pose_ok[i]:
            continue
        T = torch.from_numpy(T_ref_pred[i : i + 1]).float().to(dev)
        pts, valid = observed_points(sanitize(depth[i : i + 1]), K[i : i + 1].float(), T,
                                     VIEW_CHECK_SAMPLES, gen)  # fmt: skip
        pts = pts[valid]
        j = keep[-1]
        T_j = torch.from_numpy(T_ref_pred[j : j + 1]).float().to(dev)
        m = measure(pts, sanitize(depth[j : j + 1]), K[j : j + 1].float(), T_j)
        overlap = int((m.free | m.surface).sum())
        agree = float(m.surface.sum()) / max(overlap, 1)
        if overlap >= VIEW_CHECK_MIN_OVERLAP and agree >= VIEW_CHECK_MIN_AGREEMENT:
            keep.append(i)
    return keep, T_ref_pred[keep], len(window) - len(keep)


_PINNED: dict[tuple, tuple[torch.Tensor, torch.cuda.Event]] = {}  # upload()'s host buffers
_PINNED_LOCK = threading.Lock()


def upload(arrays: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Stack same-shape ``arrays`` into one tensor (N, ...) on ``device``.

    On CUDA the stack is written straight into a reused page-locked buffer and copied
    without blocking the host (a pageable copy is staged through a driver buffer and
    blocks); one buffer per shape and dtype, written again only once its last copy has
    finished (an event; a lock for callers on several threads). Elsewhere:
    ``torch.from_numpy(np.stack(arrays))``.
    """
    if device.type != "cuda":
        return torch.from_numpy(np.stack(arrays)).to(device)
    first = np.asarray(arrays[0])
    key = (len(arrays), *first.shape, first.dtype.str, str(device))
    with _PINNED_LOCK:
        entry = _PINNED.get(key)
        if entry is None:
            if len(_PINNED) >= 8:  # a few window shapes at most; drop the oldest
                _PINNED.pop(next(iter(_PINNED)))[1].synchronize()
            dtype = torch.from_numpy(np.empty(0, first.dtype)).dtype
            entry = (torch.empty(key[:-2], dtype=dtype, pin_memory=True), torch.cuda.Event())
            _PINNED[key] = entry
        buf, done = entry
        done.synchronize()  # the previous copy out of this buffer has finished
        np.stack(arrays, out=buf.numpy())
        out = buf.to(device, non_blocking=True)
        done.record()
    return out


@torch.inference_mode()
def infer(model: Nova3r, window: Window, config: InferenceConfig | None = None) -> Reconstruction:
    """Reconstruct ``window`` with the network (see the module docstring)."""
    config = config or InferenceConfig()
    _check(window, model)
    t0 = time.perf_counter()
    captured = captures()
    dev = next(model.parameters()).device
    rgb_dev = upload([v.image for v in window.views], dev)  # (V, H, W, 3) uint8
    images = rgb_dev.permute(0, 3, 1, 2)
    K = torch.from_numpy(np.stack([v.K for v in window.views])).float()
    has_depth = window.has_depth
    depth = None
    if has_depth:
        depth = upload([v.depth for v in window.views], dev)
    posed = window.has_poses
    T = (
        torch.from_numpy(np.stack([v.T_world_cam for v in window.views])).float()
        if posed
        else None
    )
    one = torch.ones(1, dtype=torch.bool, device=dev)
    T_z_up = T if posed and config.world_z_up else None  # poses that give gravity
    gravity = None
    if model.cfg.gravity_frame and has_depth:
        gravity = window_down(depth, K, T_z_up)[None]
    inputs = prepare(
        model.cfg,
        images[None],
        K[None].to(dev),
        None if depth is None else depth[None],
        None if T is None else T[None].to(dev),
        use_depth=one if has_depth else ~one,
        use_K=one,
        use_pose=one if posed else ~one,
        gravity=gravity,
    )
    if dev.type == "cuda":
        torch.cuda.synchronize()  # stage timings: prepare's copies and kernels end here
    t1 = time.perf_counter()
    # no autocast weight cache: a captured graph must not point at cached casts
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda",
                              cache_enabled=False)  # fmt: skip
    gen = None
    if config.seed is not None:
        gen = torch.Generator(device=dev).manual_seed(config.seed)
    publishing = has_depth and config.publish is not None
    decode = not (publishing and config.publish.force_gate)
    consistent = has_depth and config.depth_consistency is not None  # it flags observed points
    gpu_time = None
    with autocast:
        args = (inputs["pixels"], inputs["pose_in"], inputs["pose_known"])
        if dev.type == "cuda":  # the encoder's device time, beside its wall time
            gpu_time = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            gpu_time[0].record()
        encode = graphed_encoder(model, *args) if config.cuda_graph else None
        scene, T_pred, _ = (encode or model.encode_images)(*args)
        if gpu_time is not None:
            gpu_time[1].record()
            torch.cuda.synchronize()  # stage timings; decoding waits for the encoder anyway
        t2 = time.perf_counter()
        if decode:
            pts, logits = sample(
                model.decoder, scene, config.n_points, config.steps, config.sampler,
                generator=gen, noise_std=model.cfg.noise_std, geo=inputs.get("geo"),
                cuda_graph=config.cuda_graph, with_logits=not consistent,
            )  # fmt: skip
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t3 = time.perf_counter()
    scale = inputs["scale"]
    T_ref = T_pred[0].float().cpu().numpy().astype(np.float64)
    T_ref[:, :3, 3] *= float(scale[0])
    stats: dict[str, float] = {}
    graphs_new = captures() - captured  # CUDA graphs captured for this window (0 when warm)
    pose_ok = None
    if has_depth and not posed and config.refine_poses and len(window) > 1:
        refined = refine_views(T_ref, depth, K.to(dev))
        placed = None
        if config.place_by_images and not refined.ok.all():  # e.g. a view of one plane
            images_ = [v.image for v in window.views]
            refined, placed = place_failed_views(refined, images_, depth, K.to(dev))
        T_ref, pose_ok, stats = refined.T_ref_cam, refined.ok, refined.stats()
        if placed is not None:
            stats["views_placed_by_images"] = float(placed)
    colors = None
    confidence = None
    if decode:
        raw_dev = to_reference_frame(pts, scale, inputs["R_canon"])[0]
        pts_dev, observed_dev = raw_dev, (logits[0] > config.observed_threshold)
    else:
        raw_dev = pts_dev = observed_dev = None
    if not has_depth and not posed and config.refine_poses and len(window) > 1 and decode:
        rgb_poses = refine_rgb_views(T_ref, [v.image for v in window.views], K.numpy(),
                                     raw_dev.float().cpu().numpy(),
                                     matcher=getattr(model, "matcher", None))  # fmt: skip
        T_ref, stats = rgb_poses.T_ref_cam, rgb_poses.stats()
        if config.rgb_redecode:
            T_ref, again, rgb_poses = redecode_rgb(model, window, T_ref, config)
            stats = {**rgb_poses.stats(), "rgb_redecoded": 1.0}
            raw_dev = pts_dev = torch.from_numpy(again.points).to(dev)
            observed_dev = torch.from_numpy(again.observed).to(dev)
    if consistent and decode:
        T_rel = placed_views(window)
        placed = len(T_rel)
        pts_dev, _, observed_dev = apply_depth_consistency(
            pts_dev, depth[:placed], K[:placed].to(dev),
            torch.from_numpy(T_rel).float().to(dev), config.depth_consistency,
            torch.Generator(device=dev).manual_seed(config.seed or 0),
        )  # fmt: skip
    voxel_head, voxel_down = getattr(model, "voxel_head", None), None
    if publishing and voxel_head is not None and has_depth:  # its grid's gravity
        voxel_down = gravity[0] if gravity is not None else window_down(depth, K, T_z_up)
    if publishing:
        views, T_pub, rejected = publish_views(window, T_ref, depth, K.to(dev), pose_ok)
        rgb = rgb_dev[views]
        pub = publish(
            raw_dev, pts_dev, depth[views], K[views].to(dev),
            torch.from_numpy(T_pub).float().to(dev), rgb, config.publish,
            getattr(model, "calibration", None), hidden_head=getattr(model, "hidden_head", None),
            voxel_head=voxel_head, down=voxel_down,
        )  # fmt: skip
        stats = {**stats, **pub.stats, "views_rejected": rejected}
        pts_dev, observed_dev = pub.points, pub.observed
        colors, confidence = pub.colors.cpu().numpy(), pub.confidence.cpu().numpy()
    pts_ref = pts_dev.cpu().numpy().astype(np.float64)
    observed = observed_dev.cpu().numpy()
    t4 = time.perf_counter()
    frame = "reference"
    if posed:  # express in the input world frame; known poses replace the predicted ones
        T0 = window.views[0].T_world_cam
        pts_ref = pts_ref @ T0[:3, :3].T + T0[:3, 3]
        T_ref = np.stack([v.T_world_cam for v in window.views])
        frame = config.world_frame
    n = pts_ref.shape[0]
    return Reconstruction(
        points=pts_ref.astype(np.float32),
        colors=np.full((n, 3), 180, np.uint8) if colors is None else colors,
        observed=observed,
        confidence=np.ones(n, np.float32) if confidence is None else confidence,
        T_ref_cam=list(T_ref),
        K=[v.K for v in window.views],
        scale_mode="metric" if has_depth else "normalized",
        frame=frame,
        timings={
            "prepare": t1 - t0,
            "encode": t2 - t1,
            "decode": t3 - t2,
            "consistency": t4 - t3,
            **({"encode_gpu": gpu_time[0].elapsed_time(gpu_time[1]) / 1e3} if gpu_time else {}),
        },
        stats={**stats, "graph_captures": graphs_new},
    )


def redecode_rgb(model: Nova3r, window: Window, T_ref: np.ndarray, config: InferenceConfig):
    """Decode an RGB-only window again at its refined poses, then refine from them.

    Args:
        model, window: as :func:`infer` (no depth, no poses).
        T_ref: (V, 4, 4) camera-to-view-0 poses refined from the images, the first decode's
            scale.
        config: :func:`infer`'s options (the second decode takes no publishing, no depth
            consistency and no refinement of its own).

    Returns:
        (T_ref (V, 4, 4) refined again over the second decode's points, the second
        decode's :class:`Reconstruction` (points in view 0's frame, same scale), the second
        refinement's :class:`~nova3r_ros.model.pose_rgb.RgbViewPoses`).
    """
    T = np.linalg.inv(T_ref[0]) @ np.asarray(T_ref, np.float64)  # view 0 at the origin
    posed = Window([View(v.image, None, v.K, T[i], v.stamp, v.frame_id, v.camera)
                    for i, v in enumerate(window.views)])  # fmt: skip
    again = infer(model, posed, replace(config, rgb_redecode=False, refine_poses=False,
                                        publish=None, depth_consistency=None))  # fmt: skip
    K = np.stack([v.K for v in window.views])
    poses = refine_rgb_views(T, [v.image for v in window.views], K,
                             again.points.astype(np.float64),
                             matcher=getattr(model, "matcher", None))  # fmt: skip
    return poses.T_ref_cam, again, poses
