"""Synthetic multi-camera sequences for bags: one scene, cameras moving over time.

The scene and the cameras' first poses come from the synthetic engine
(:func:`nova3r_ros.synth.generate.build_scene`, ``rig`` camera mode: cameras on one side
of the table, as on a robot; procedural objects unless ``mesh_dir`` is given, so nothing
outside the package is needed). Motion over ``steps`` time steps:

- ``rig``: the cameras are rigidly mounted on a rig frame (origin at their mean centre,
  axes of the world at step 0) that turns about the vertical axis through the scene
  centre by ``arc_deg`` in total; TF carries ``world -> rig`` per step and
  ``rig -> camera`` once (static).
- ``handheld``: each camera turns the same way and shakes (1 cm, 1 deg sigma per
  step); TF carries ``world -> camera`` per step.
- ``static``: the cameras do not move (``rig`` TF layout).

Frames: world z up (the table top at z ~ 0); ``T_world_cam`` maps OpenCV optical-frame
points into the world. Views are ordered by step, then camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nova3r_ros.core.types import GroundTruth, View

NS = 1_000_000_000
STAMP0 = 1_700_000_000 * NS
MOTIONS = ("rig", "handheld", "static")


@dataclass(frozen=True)
class SequenceConfig:
    """What :func:`synthetic_sequence` makes.

    Attributes:
        family: synth scene family (``tabletop``, ``room``, ...).
        cameras: cameras on the rig (1-8).
        steps: time steps (each step: one frame of every camera).
        motion: ``rig``, ``handheld`` or ``static`` (module docstring).
        arc_deg: total turn of the cameras about the scene's vertical axis (deg).
        period_s: time between steps (s).
        height, width: image size (px).
        depth: render depth (RGB-D) or not (RGB).
        seed: scene seed (benchmark seeds are 1,000,000+; training uses < 1,000,000).
        n_gt_points: points of the complete ground-truth surface.
        mesh_dir: optional OBJ meshes for the scene (None: procedural objects only).

    """

    family: str = "tabletop"
    cameras: int = 2
    steps: int = 4
    motion: str = "rig"
    arc_deg: float = 20.0
    period_s: float = 0.2
    height: int = 192
    width: int = 256
    depth: bool = True
    seed: int = 1_200_000
    n_gt_points: int = 100_000
    mesh_dir: str | None = None

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise ValueError(f"motion must be one of {MOTIONS}, got {self.motion!r}")
        if not 1 <= self.cameras <= 8:
            raise ValueError(f"cameras must be 1-8, got {self.cameras}")
        if self.steps < 1 or self.period_s <= 0:
            raise ValueError("steps must be >= 1 and period_s > 0")


@dataclass
class Sequence:
    """A rendered sequence: views (step-major), truth, and the TF a bag should carry."""

    views: list[View]
    gt: GroundTruth
    T_rig_cam: dict[str, np.ndarray] = field(default_factory=dict)
    T_world_rig: list[np.ndarray] = field(default_factory=list)


def _turn(angle: float, centre: np.ndarray) -> np.ndarray:
    """4x4 rotation by ``angle`` (rad) about the world z axis through ``centre``."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.eye(4)
    R[:2, :2] = [[c, -s], [s, c]]
    T, Ti = np.eye(4), np.eye(4)
    T[:3, 3], Ti[:3, 3] = centre, -centre
    return T @ R @ Ti


def _shake(rng: np.random.Generator) -> np.ndarray:
    from nova3r_ros.core.transforms import quat_to_matrix

    axis = rng.normal(size=3)
    angle = np.radians(rng.normal(0, 1.0))
    q = np.r_[np.sin(angle / 2) * axis / np.linalg.norm(axis), np.cos(angle / 2)]
    D = np.eye(4)
    D[:3, :3] = quat_to_matrix(q)
    D[:3, 3] = rng.normal(0, 0.01, 3)
    return D


def synthetic_sequence(cfg: SequenceConfig, log=None) -> Sequence:
    """Render ``cfg``'s sequence and its ground truth (complete surface, per-view poses)."""
    import torch

    from nova3r_ros.synth.config import SynthConfig
    from nova3r_ros.synth.generate import build_scene
    from nova3r_ros.synth.render import render
    from nova3r_ros.synth.sampling import sample_surface, scene_key, visibility
    from nova3r_ros.synth.scenes import collate

    synth = SynthConfig(family=cfg.family, n_views=cfg.cameras, mode="rig", height=cfg.height,
                        width=cfg.width, n_gt_points=cfg.n_gt_points,
                        mesh_dir=cfg.mesh_dir)  # fmt: skip
    spec, K0, T0 = build_scene(cfg.seed, synth)
    names = [f"cam{i}" for i in range(cfg.cameras)]
    rig0 = np.eye(4)
    rig0[:3, 3] = T0[:, :3, 3].mean(0)
    T_rig_cam = {n: np.linalg.inv(rig0) @ T for n, T in zip(names, T0, strict=True)}
    turn = 0.0 if cfg.motion == "static" or cfg.steps == 1 else np.radians(cfg.arc_deg)
    rng = np.random.default_rng(cfg.seed)
    T_world_rig, Ks, Ts, meta = [], [], [], []
    for s in range(cfg.steps):
        W = _turn(turn * s / max(1, cfg.steps - 1), spec.target) @ rig0
        T_world_rig.append(W)
        for i, n in enumerate(names):
            T = W @ T_rig_cam[n]
            if cfg.motion == "handheld":
                T = T @ _shake(rng)
            Ks.append(K0[i])
            Ts.append(T)
            meta.append((n, STAMP0 + round(s * cfg.period_s * NS)))
    if log:
        log(f"[make-bag] rendering {len(Ts)} views ({cfg.steps} steps x {cfg.cameras} cameras, "
            f"{cfg.width}x{cfg.height}) of a {cfg.family} scene (seed {cfg.seed})")  # fmt: skip
    scenes = collate([spec], "cpu")
    K = torch.as_tensor(np.stack(Ks)[None], dtype=torch.float32)
    T = torch.as_tensor(np.stack(Ts)[None], dtype=torch.float32)
    with torch.inference_mode():
        out = render(scenes, K, T, cfg.height, cfg.width, view_chunk=4)
        keys = torch.tensor([scene_key(cfg.seed)], dtype=torch.int64)
        pts = sample_surface(scenes, cfg.n_gt_points, keys)
        vis = visibility(pts, out["depth"], K, T, synth.vis_tol_abs, synth.vis_tol_rel)
    image, depth = out["image"][0].numpy(), out["depth"][0].numpy()
    views = [View(image[i], depth[i].copy() if cfg.depth else None, Ks[i], Ts[i], stamp,
                  f"{cam}_optical_frame", cam)
             for i, (cam, stamp) in enumerate(meta)]  # fmt: skip
    gt = GroundTruth(pts[0].numpy(), vis[0].numpy(), [np.asarray(t) for t in Ts],
                     [np.asarray(k) for k in Ks])  # fmt: skip
    return Sequence(views, gt, T_rig_cam, T_world_rig)
