"""The training distribution: scene families and wide camera ranges, drawn per batch.

:func:`training_config` draws one :class:`~nova3r_ros.synth.config.SynthConfig` (a family,
a camera mode and the family's camera ranges); every window of a batch generated with it
shares that family and mode, the scenes and cameras themselves come from the window seeds.
The benchmark configurations (:func:`~nova3r_ros.synth.config.benchmark_config`) are not
touched: they keep the tabletop family and the frozen benchmark camera sampler.

Camera ranges (world z up, metres; SIM2REAL.md: Fetch head 1.06-1.45 m tilting down to
45 deg, tabletop datasets 0.5-0.95 m within 50 deg of vertical, wrist cameras 0.2-0.6 m,
7-Scenes handheld near horizontal), per family in :data:`CAMERA_RANGES`: elevation within
-15..75 deg, distance 0.3-5 m to a look-at target on the scene's surfaces (log-uniform),
roll within +-10 deg, horizontal field of view 55-100 deg. Modes: independent views
(``random``), handheld trajectories (``moving`` with 1 cm / 1 deg shake) and fixed rigs.
"""

from __future__ import annotations

import numpy as np
import torch

from nova3r_ros.synth.config import SynthConfig

FAMILY_WEIGHTS = {"tabletop": 0.2, "clutter": 0.2, "shelf": 0.15, "counter": 0.15, "room": 0.3}
MODE_WEIGHTS = {"random": 0.45, "moving": 0.35, "rig": 0.2}
FOV_DEG = (55.0, 100.0)
PROCEDURAL_PROB = 0.5  # of mesh objects: superquadrics, extrusions, unions (synth.procedural)
DEFORM_PROB = 0.5  # of library meshes: scaled, tapered, twisted
ROLL_DEG = (-10.0, 10.0)
HANDHELD = dict(jitter_m=0.01, jitter_deg=1.0)
# family -> (elevation deg, distance m); no negative elevations over a bare table top
CAMERA_RANGES = {
    "tabletop": ((10.0, 75.0), (0.3, 1.5)),
    "clutter": ((10.0, 75.0), (0.3, 1.5)),
    "shelf": ((-15.0, 60.0), (0.3, 2.5)),
    "counter": ((-15.0, 70.0), (0.35, 3.0)),
    "room": ((-15.0, 60.0), (0.5, 5.0)),
    "kitchen": ((-15.0, 60.0), (0.4, 4.0)),
}
# azimuth spread (deg) per mode: [min, max] drawn uniformly
SPREAD_DEG = {"random": (0.0, 120.0), "moving": (10.0, 60.0), "rig": (10.0, 90.0)}


def _uniform(g, n: int = 1) -> np.ndarray:
    """``n`` uniforms in [0, 1) from a numpy or torch generator."""
    if isinstance(g, torch.Generator):
        return torch.rand(n, generator=g, dtype=torch.float64).numpy()
    return g.random(n)


def _pick(u: float, weights: dict[str, float]) -> str:
    names, w = list(weights), np.array(list(weights.values()), float)
    return names[min(int(np.searchsorted(np.cumsum(w / w.sum()), u, side="right")), len(w) - 1)]


def training_config(
    rng: np.random.Generator | torch.Generator,
    n_views: int,
    height: int,
    width: int,
    n_gt_points: int = 4096,
    mesh_dir: str | None = None,
    mesh_exclude: tuple[str, ...] = (),
    device: str = "cpu",
    family_weights: dict[str, float] | None = None,
    mode_weights: dict[str, float] | None = None,
    **overrides,
) -> SynthConfig:
    """Draw the configuration of one training batch.

    Args:
        rng: numpy ``Generator`` or torch ``Generator`` (CPU); consumed deterministically
            (3 uniforms per call).
        n_views: views per window (1-16).
        height: image height (px); the aspect (4:3, 16:9...) is the caller's ``width/height``.
        width: image width (px).
        n_gt_points: ground-truth points per window.
        mesh_dir: optional directory of ``*.obj`` meshes mixed into the scenes.
        mesh_exclude: mesh names held out of training.
        device: torch device to render on.
        family_weights: family -> weight (default :data:`FAMILY_WEIGHTS`).
        mode_weights: camera mode -> weight (default :data:`MODE_WEIGHTS`).
        **overrides: further :class:`SynthConfig` fields, applied last.

    Returns:
        A validated :class:`SynthConfig` with ``look_at="surface"``, the family's
        :data:`CAMERA_RANGES`, field of view :data:`FOV_DEG`, roll :data:`ROLL_DEG`,
        handheld shake for ``moving``, an azimuth spread from :data:`SPREAD_DEG`,
        procedural and deformed object meshes (:data:`PROCEDURAL_PROB`,
        :data:`DEFORM_PROB`) and ``known_poses=True`` (the trainer decides which poses the
        model sees).

    """
    u = _uniform(rng, 3)
    family = _pick(u[0], family_weights or FAMILY_WEIGHTS)
    mode = _pick(u[1], mode_weights or MODE_WEIGHTS)
    lo, hi = SPREAD_DEG[mode]
    elevation, distance = CAMERA_RANGES[family]
    fields = dict(
        family=family, n_views=n_views, mode=mode, azimuth_spread_deg=float(lo + (hi - lo) * u[2]),
        height=height, width=width, n_gt_points=n_gt_points, mesh_dir=mesh_dir,
        mesh_exclude=tuple(mesh_exclude), device=str(device), known_poses=True,
        fov_deg=FOV_DEG, elevation_deg=elevation, distance_m=distance, look_at="surface",
        roll_deg=ROLL_DEG, procedural_prob=PROCEDURAL_PROB, deform_prob=DEFORM_PROB,
        **(HANDHELD if mode == "moving" else {}),
    )  # fmt: skip
    return SynthConfig(**{**fields, **overrides})
