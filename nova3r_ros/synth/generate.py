"""Top-level generators: one window as (Window, GroundTruth), or a batch as torch tensors.

A window is a deterministic function of its integer seed and the config: the scene and
cameras come from ``numpy.random.default_rng(seed)``, the ground-truth samples from a
counter-based hash keyed by the seed, so ``generate_window(s)`` equals item ``i`` of any
``generate_batch`` whose ``seeds[i] == s`` (on the same device).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from nova3r_ros.core.types import GroundTruth, View, Window
from nova3r_ros.synth.config import SynthConfig
from nova3r_ros.synth.meshes import MeshLibrary
from nova3r_ros.synth.primitives import contains
from nova3r_ros.synth.render import render
from nova3r_ros.synth.rigs import sample_cameras
from nova3r_ros.synth.sampling import sample_surface, scene_key, visibility
from nova3r_ros.synth.scenes import SceneSpec, collate, sample_room, sample_tabletop

NS = 1_000_000_000
STAMP0 = 1_700_000_000 * NS
_CAMERA_TRIES = 32


@functools.lru_cache(maxsize=8)
def _library(mesh_dir, names, exclude, max_faces) -> MeshLibrary:
    return MeshLibrary(mesh_dir, names, exclude, max_faces)


def mesh_library(config: SynthConfig) -> MeshLibrary | None:
    """Return the (cached) mesh library of ``config``, or None without ``mesh_dir``."""
    if config.mesh_dir is None:
        return None
    return _library(str(config.mesh_dir), config.mesh_names, config.mesh_exclude,
                    config.max_mesh_faces)  # fmt: skip


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return int(seed)


def build_scene(seed: int, config: SynthConfig) -> tuple[SceneSpec, np.ndarray, np.ndarray]:
    """Sample one scene and its cameras (numpy, no rendering).

    Args:
        seed: non-negative int.
        config: the generator configuration.

    Returns:
        ``(spec, K float64 (V, 3, 3), T_world_cam float64 (V, 4, 4))`` in the world frame.

    """
    rng = np.random.default_rng(_check_seed(seed))
    sampler = sample_tabletop if config.family == "tabletop" else sample_room
    spec = sampler(rng, config.n_objects, config.kinds, mesh_library(config), config.mesh_prob)
    for _ in range(_CAMERA_TRIES):  # cameras must not sit inside (or touch) a solid
        K, T = sample_cameras(
            rng, config.n_views, config.mode, config.spread_deg, spec.target, config.width,
            config.height, config.fov_deg, config.elevation_range, config.distance_range,
            spec.room_half,
        )  # fmt: skip
        if cameras_clear(spec, T[:, :3, 3]):
            break
    return spec, K, T


def cameras_clear(spec: SceneSpec, eyes: np.ndarray, clearance: float = 0.05) -> bool:
    """Return True when no camera centre (world, (V, 3)) is within ``clearance`` of a solid.

    Primitives are tested exactly (inflated by ``clearance``), meshes by their bounding box.
    """
    for kind, rows in spec.prims.items():
        if kind == "rect":
            continue
        for pos, yaw, params in zip(rows["pos"], rows["yaw"], rows["params"], strict=True):
            q = eyes - pos
            c, s = np.cos(yaw), np.sin(yaw)
            local = np.stack([c * q[:, 0] + s * q[:, 1], -s * q[:, 0] + c * q[:, 1], q[:, 2]], 1)
            if contains(kind, params, local, margin=-clearance).any():
                return False
    for m in spec.meshes:
        flat = m["tris"].reshape(-1, 3)
        lo, hi = flat.min(0) - clearance, flat.max(0) + clearance
        if np.all((eyes > lo) & (eyes < hi), axis=1).any():
            return False
    return True


def _run(seeds: Sequence[int], config: SynthConfig, device, view_chunk=None):
    built = [build_scene(s, config) for s in seeds]
    scenes = collate([b[0] for b in built], device)
    K64 = np.stack([b[1] for b in built])
    T64 = np.stack([b[2] for b in built])
    K = torch.as_tensor(K64, dtype=torch.float32, device=device)
    T = torch.as_tensor(T64, dtype=torch.float32, device=device)
    out = render(scenes, K, T, config.height, config.width, view_chunk)
    keys = torch.tensor([scene_key(int(s)) for s in seeds], dtype=torch.int64, device=device)
    pts = sample_surface(scenes, config.n_gt_points, keys)
    vis = visibility(pts, out["depth"], K, T, config.vis_tol_abs, config.vis_tol_rel)
    return out, pts, vis, K, T, K64, T64, built


def stamps(config: SynthConfig) -> list[int]:
    """Return increasing view times in ns: 100 ms apart for ``moving``, 1 ms otherwise."""
    dt = NS // 10 if config.mode == "moving" else NS // 1000
    return [STAMP0 + i * dt for i in range(config.n_views)]


def camera_names(config: SynthConfig) -> list[str]:
    """Camera names per view: ``cam0`` for every frame of ``moving``, else ``cam0..camN``."""
    if config.mode == "moving":
        return ["cam0"] * config.n_views
    return [f"cam{i}" for i in range(config.n_views)]


def generate_window(
    seed: int, config: SynthConfig | None = None, view_chunk: int | None = None
) -> tuple[Window, GroundTruth]:
    """Generate one window and its ground truth.

    Args:
        seed: non-negative int; the output is a deterministic function of it and ``config``.
        config: the generator configuration (defaults: 4 random tabletop views).
        view_chunk: render this many views at a time (None = all at once).

    Returns:
        ``(window, ground_truth)``: views with uint8 HxWx3 RGB, float32 HxW z-depth (m,
        0 = no hit) when ``with_depth``, float64 K when ``with_intrinsics``, float64
        ``T_world_cam`` (camera-to-world, OpenCV optical frame) when poses are known;
        ground truth with float32 (M, 3) world points, bool (M,) visibility and the
        true poses and intrinsics.

    """
    config = config or SynthConfig()
    out, pts, vis, _, _, K64, T64, _ = _run([_check_seed(seed)], config, config.device,
                                            view_chunk)  # fmt: skip
    image = out["image"][0].cpu().numpy()
    depth = out["depth"][0].cpu().numpy()
    views = []
    for i, (cam, stamp) in enumerate(zip(camera_names(config), stamps(config), strict=True)):
        views.append(View(
            image=image[i],
            depth=depth[i].copy() if config.with_depth else None,
            K=K64[0, i] if config.with_intrinsics else None,
            T_world_cam=T64[0, i] if config.poses_known else None,
            stamp=stamp, frame_id=f"{cam}_optical_frame", camera=cam,
        ))  # fmt: skip
    gt = GroundTruth(pts[0].cpu().numpy(), vis[0].cpu().numpy(), list(T64[0]), list(K64[0]))
    return Window(views), gt


def generate_batch(
    seeds: int | Sequence[int],
    batch_size: int | None = None,
    config: SynthConfig | None = None,
    device: torch.device | str | None = None,
    image_dtype: str = "uint8",
    view_chunk: int | None = None,
) -> dict[str, torch.Tensor]:
    """Generate a batch of windows as tensors for training.

    Args:
        seeds: per-window seeds, or one base seed ``s`` meaning ``s, s+1, ...``.
        batch_size: B (required with a base seed; must match ``len(seeds)`` otherwise).
        config: the generator configuration.
        device: torch device (default ``config.device``).
        image_dtype: ``"uint8"`` (0-255) or ``"float32"`` (0-1).
        view_chunk: render this many views at a time (None = all at once).

    Returns:
        Dict on ``device``: ``images`` (B, V, 3, H, W) uint8/float32 RGB; ``depth`` float32
        (B, V, H, W) z-depth (m, 0 = no hit); ``ids`` int32 (B, V, H, W) object ids;
        ``K`` float32 (B, V, 3, 3); ``T_world_cam`` float32 (B, V, 4, 4) camera-to-world;
        ``points`` float32 (B, M, 3) world; ``visible`` bool (B, M); ``seeds`` int64 (B,).

    """
    config = config or SynthConfig()
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if batch_size is None or batch_size < 1:
            raise ValueError(f"a base seed needs batch_size >= 1, got {batch_size!r}")
        seeds = [int(seeds) + i for i in range(batch_size)]
    seeds = [_check_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("generate_batch needs at least one seed")
    if batch_size is not None and batch_size != len(seeds):
        raise ValueError(f"batch_size {batch_size} != len(seeds) {len(seeds)}")
    if image_dtype not in ("uint8", "float32"):
        raise ValueError(f"image_dtype must be 'uint8' or 'float32', got {image_dtype!r}")
    device = torch.device(device if device is not None else config.device)
    out, pts, vis, K, T, _, _, _ = _run(seeds, config, device, view_chunk)
    images = out["image"].permute(0, 1, 4, 2, 3).contiguous()
    if image_dtype == "float32":
        images = images.to(torch.float32) / 255.0
    return {
        "images": images,
        "depth": out["depth"],
        "ids": out["ids"],
        "K": K,
        "T_world_cam": T,
        "points": pts,
        "visible": vis,
        "seeds": torch.tensor(seeds, dtype=torch.int64, device=device),
    }
