"""Top-level generators: one window as (Window, GroundTruth), or a batch as torch tensors.

A window is a deterministic function of its integer seed and the config: the scene and
cameras come from ``numpy.random.default_rng(seed)``, the ground-truth samples from a
counter-based hash keyed by the seed, so ``generate_window(s)`` equals item ``i`` of any
``generate_batch`` whose ``seeds[i] == s`` (on the same device).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from nova3r_ros.core.types import GroundTruth, View, Window
from nova3r_ros.synth.config import MAX_WITNESSES, SynthConfig
from nova3r_ros.synth.meshes import MeshLibrary
from nova3r_ros.synth.photo_textures import PhotoTextures
from nova3r_ros.synth.primitives import contains
from nova3r_ros.synth.procedural import ShapeSource
from nova3r_ros.synth.render import render
from nova3r_ros.synth.rigs import sample_cameras, sample_cameras_wide
from nova3r_ros.synth.sampling import sample_surface, scene_key, visibility
from nova3r_ros.synth.scenes import SceneSpec, collate, sample_scene

NS = 1_000_000_000
STAMP0 = 1_700_000_000 * NS
_CAMERA_TRIES = 32
WITNESS_SALT = 0x57A5  # witness cameras draw from their own stream of the window's seed


@functools.lru_cache(maxsize=8)
def _library(mesh_dir, names, exclude, max_faces) -> MeshLibrary:
    return MeshLibrary(mesh_dir, names, exclude, max_faces)


def mesh_library(config: SynthConfig) -> MeshLibrary | ShapeSource | None:
    """Return where ``config``'s object meshes come from.

    The (cached) library of ``mesh_dir``, or None without one; with ``procedural_prob`` or
    ``deform_prob`` set, a :class:`.procedural.ShapeSource` over that library (or over
    procedural shapes alone).
    """
    library = None
    if config.mesh_dir is not None:
        library = _library(str(config.mesh_dir), config.mesh_names, config.mesh_exclude,
                           config.max_mesh_faces)  # fmt: skip
    if config.procedural_prob > 0 or config.deform_prob > 0:
        return ShapeSource(library, config.procedural_prob, config.deform_prob)
    return library


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return int(seed)


def build_scene(seed: int, config: SynthConfig) -> tuple:
    """Sample one scene and its cameras (numpy, no rendering).

    Benchmark configurations (``config.wide_cameras`` False) use the frozen sampler
    :func:`.rigs.sample_cameras` around ``spec.target``; the others use
    :func:`.rigs.sample_cameras_wide` around a look-at target drawn from ``spec.targets``
    and redraw (up to 32 times) until :func:`cameras_valid` holds.

    Args:
        seed: non-negative int.
        config: the generator configuration.

    Returns:
        ``(spec, K float64 (V, 3, 3), T_world_cam float64 (V, 4, 4))`` in the world frame;
        with ``config.witnesses`` N > 0 also the witnesses' ``K (N, 3, 3), T (N, 4, 4)``
        (:func:`witness_cameras`).

    """
    spec, K, T = _scene_and_cameras(seed, config)
    if config.witnesses > 0:
        return (spec, K, T, *witness_cameras(seed, spec, config, config.witnesses))
    return spec, K, T


def _scene_and_cameras(seed: int, config: SynthConfig) -> tuple[SceneSpec, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_check_seed(seed))
    spec = sample_scene(config.family, rng, config.objects_range, config.kinds,
                        mesh_library(config), config.mesh_prob)  # fmt: skip
    if config.wide_cameras:
        return (spec, *_wide_cameras(rng, spec, config))
    for _ in range(_CAMERA_TRIES):  # cameras must not sit inside (or touch) a solid
        K, T = sample_cameras(
            rng, config.n_views, config.mode, config.spread_deg, spec.target, config.width,
            config.height, config.fov_deg, config.elevation_range, config.distance_range,
            spec.room_half,
        )  # fmt: skip
        if cameras_clear(spec, T[:, :3, 3]) and (
            spec.room_half is None or inside_room(spec.room_half, T[:, :3, 3])
        ):
            break
    return spec, K, T


def _wide_cameras(rng, spec: SceneSpec, config: SynthConfig):
    """Training cameras: a look-at target on the scene, wide ranges, valid eyes (or last try)."""
    targets = spec.targets
    if config.look_at == "centre" or targets is None:
        near = None if targets is None else targets[np.argmin(
            np.linalg.norm(targets[:, :3] - spec.target, axis=1))]  # fmt: skip
        targets = np.array([[*spec.target, np.nan if near is None else near[3]]])
    for _ in range(_CAMERA_TRIES):
        row = targets[int(rng.integers(len(targets)))] if len(targets) > 1 else targets[0]
        K, T = sample_cameras_wide(
            rng, config.n_views, config.mode, config.spread_deg, row[:3], config.width,
            config.height, config.fov_deg, config.elevation_range, config.distance_range,
            config.roll_range, row[3], config.jitter_m, config.jitter_deg, spec.room_half,
        )  # fmt: skip
        if cameras_valid(spec, T[:, :3, 3]):
            break
    return K, T


def inside_room(room_half, eyes: np.ndarray, margin: float = 0.1) -> bool:
    """Return True when every eye (V, 3) is ``margin`` inside the room box ``(hx, hy, hz)``."""
    hx, hy, hz = room_half
    return bool(np.all((np.abs(eyes[:, 0]) < hx - margin) & (np.abs(eyes[:, 1]) < hy - margin)
                       & (eyes[:, 2] > margin) & (eyes[:, 2] < hz - margin)))  # fmt: skip


def _local_boxes(kind: str, params: np.ndarray):
    """Bounding boxes of solids in their local frames: ``(centre offset (n, 3), half (n, 3))``."""
    p, zero = params, np.zeros(len(params))
    r = p[:, 0]
    half = {"box": lambda: p[:, :3],
            "sphere": lambda: np.stack([r, r, r], 1),
            "cylinder": lambda: np.stack([r, r, p[:, 1]], 1),
            "capsule": lambda: np.stack([r, r, r + p[:, 1]], 1),
            "cone": lambda: np.stack([r, r, p[:, 1] / 2], 1),
            "torus": lambda: np.stack([r + p[:, 1]] * 2 + [p[:, 1]], 1)}[kind]()  # fmt: skip
    dz = p[:, 1] / 2 if kind == "cone" else zero
    return np.stack([zero, zero, dz], 1), half


def _in_boxes(eyes, pos, yaw, centre, half, clearance) -> bool:
    q = eyes[None] - pos[:, None]  # (n, V, 3)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y = c * q[..., 0] + s * q[..., 1], -s * q[..., 0] + c * q[..., 1]
    local = np.stack([x, y, q[..., 2]], -1)
    return bool(np.all(np.abs(local - centre[:, None]) < half[:, None] + clearance, -1).any())


def cameras_valid(spec: SceneSpec, eyes: np.ndarray, clearance: float = 0.05) -> bool:
    """Check training cameras: True when every eye (V, 3, world) is valid.

    Valid: inside the room (or above the table plane without a room) and ``clearance`` (m)
    outside every solid's bounding box, every mesh's box and every furniture keep-out box.
    """
    if spec.room_half is not None:
        if not inside_room(spec.room_half, eyes):
            return False
    elif not np.all(eyes[:, 2] > 0.02):
        return False
    for kind, rows in spec.prims.items():
        if kind != "rect":
            centre, half = _local_boxes(kind, rows["params"])
            if _in_boxes(eyes, rows["pos"], rows["yaw"], centre, half, clearance):
                return False
    if spec.keepout is not None:
        k = spec.keepout
        if _in_boxes(eyes, k[:, :3], k[:, 3], np.zeros((len(k), 3)), k[:, 4:], clearance):
            return False
    for m in spec.meshes:
        flat = m["tris"].reshape(-1, 3)
        if np.all((eyes > flat.min(0) - clearance) & (eyes < flat.max(0) + clearance), 1).any():
            return False
    return True


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


def witness_cameras(seed: int, spec: SceneSpec, config: SynthConfig, n: int):
    """Sample ``n`` witness cameras of a window: what a longer recording would have seen.

    Each witness looks at its own look-at target on the scene (``look_at="surface"``,
    azimuth anywhere a camera may stand, the open side of a shelf or counter respected),
    with ``config``'s field of view, elevation, distance and roll ranges; every eye is
    valid (:func:`cameras_valid`, or the last try). They come from their own random stream
    (``default_rng([seed, WITNESS_SALT])``), so the window's views, scene and ground truth
    are the same with or without them.

    Returns:
        ``(K (n, 3, 3), T_world_cam (n, 4, 4))`` float64, world frame, OpenCV optical.

    """
    if not 1 <= n <= MAX_WITNESSES:
        raise ValueError(f"witnesses must be in [1, {MAX_WITNESSES}], got {n}")
    rng = np.random.default_rng([_check_seed(seed), WITNESS_SALT])
    one = replace(config, n_views=1, mode="random", azimuth_spread_deg=360.0,
                  look_at="surface", jitter_m=0.0, jitter_deg=0.0)  # fmt: skip
    cams = [_wide_cameras(rng, spec, one) for _ in range(n)]
    return np.concatenate([c[0] for c in cams]), np.concatenate([c[1] for c in cams])


def _witnessed(built, scenes, pts, vis, config: SynthConfig, device, view_chunk):
    """Return ``vis`` or-ed with what the witness cameras of ``built`` see, (B, M) bool."""
    K = torch.as_tensor(np.stack([b[3] for b in built]), dtype=torch.float32, device=device)
    T = torch.as_tensor(np.stack([b[4] for b in built]), dtype=torch.float32, device=device)
    depth = render(scenes, K, T, config.height, config.width, view_chunk)["depth"]
    return vis | visibility(pts, depth, K, T, config.vis_tol_abs, config.vis_tol_rel)


def _run(seeds: Sequence[int], config: SynthConfig, device, view_chunk=None, built=None,
         photo=None):  # fmt: skip
    if built is None:
        built = [build_scene(s, config) for s in seeds]
    elif len(built) != len(seeds):
        raise ValueError(f"built has {len(built)} scenes for {len(seeds)} seeds")
    elif any(len(b) != (5 if config.witnesses else 3) for b in built):
        raise ValueError("built scenes were laid out with another witnesses setting")
    scenes = collate([b[0] for b in built], device)
    K64 = np.stack([b[1] for b in built])
    T64 = np.stack([b[2] for b in built])
    K = torch.as_tensor(K64, dtype=torch.float32, device=device)
    T = torch.as_tensor(T64, dtype=torch.float32, device=device)
    out = render(scenes, K, T, config.height, config.width, view_chunk, photo)
    keys = torch.tensor([scene_key(int(s)) for s in seeds], dtype=torch.int64, device=device)
    pts = sample_surface(scenes, config.n_gt_points, keys)
    vis = visibility(pts, out["depth"], K, T, config.vis_tol_abs, config.vis_tol_rel)
    if config.witnesses > 0:
        out["witnessed"] = _witnessed(built, scenes, pts, vis, config, device, view_chunk)
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
    built: Sequence | None = None,
    photo: PhotoTextures | None = None,
) -> dict[str, torch.Tensor]:
    """Generate a batch of windows as tensors for training.

    Args:
        seeds: per-window seeds, or one base seed ``s`` meaning ``s, s+1, ...``.
        batch_size: B (required with a base seed; must match ``len(seeds)`` otherwise).
        config: the generator configuration.
        device: torch device (default ``config.device``).
        image_dtype: ``"uint8"`` (0-255) or ``"float32"`` (0-1).
        view_chunk: render this many views at a time (None = all at once).
        built: the scenes of ``seeds`` already built with ``config`` (``build_scene``'s
            results in seed order, e.g. from :class:`.scene_pool.ScenePool`); None builds
            them here.
        photo: photographic textures for a share of the objects (training only; the
            geometry, depth and ground truth do not change, only the images).

    Returns:
        Dict on ``device``: ``images`` (B, V, 3, H, W) uint8/float32 RGB; ``depth`` float32
        (B, V, H, W) z-depth (m, 0 = no hit); ``ids`` int32 (B, V, H, W) object ids;
        ``K`` float32 (B, V, 3, 3); ``T_world_cam`` float32 (B, V, 4, 4) camera-to-world;
        ``points`` float32 (B, M, 3) world; ``visible`` bool (B, M); ``seeds`` int64 (B,);
        with ``config.witnesses`` N > 0 also ``witnessed`` bool (B, M): the points some
        view or one of the N witness cameras of the window sees (:func:`witness_cameras`).

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
    out, pts, vis, K, T, _, _, _ = _run(seeds, config, device, view_chunk, built, photo)
    images = out["image"].permute(0, 1, 4, 2, 3).contiguous()
    if image_dtype == "float32":
        images = images.to(torch.float32) / 255.0
    extra = {"witnessed": out["witnessed"]} if config.witnesses > 0 else {}
    return {
        "images": images,
        "depth": out["depth"],
        "ids": out["ids"],
        "K": K,
        "T_world_cam": T,
        "points": pts,
        "visible": vis,
        "seeds": torch.tensor(seeds, dtype=torch.int64, device=device),
        **extra,
    }
