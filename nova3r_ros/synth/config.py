"""Configuration of the synthetic window generator, with validation and benchmark presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from nova3r_ros.synth.primitives import OBJECT_KINDS
from nova3r_ros.synth.rigs import MODES

FAMILIES = ("tabletop", "room", "clutter", "shelf", "counter", "kitchen")
LOOK_AT = ("centre", "surface")
MAX_WITNESSES = 64
MAX_VIEWS = 16
_DEFAULT_SPREAD = {"rig": 30.0, "moving": 45.0, "random": 360.0}
_DEFAULT_ELEVATION = {"tabletop": (25.0, 60.0), "room": (5.0, 35.0), "clutter": (25.0, 60.0),
                      "shelf": (0.0, 35.0), "counter": (10.0, 45.0),
                      "kitchen": (10.0, 45.0)}  # fmt: skip
_DEFAULT_DISTANCE = {"tabletop": (0.6, 1.2), "room": (1.2, 3.0), "clutter": (0.5, 1.2),
                     "shelf": (0.6, 2.0), "counter": (0.6, 2.0),
                     "kitchen": (0.8, 3.0)}  # fmt: skip
_DEFAULT_OBJECTS = {"tabletop": (2, 8), "room": (4, 14), "clutter": (8, 20), "shelf": (6, 20),
                    "counter": (4, 14), "kitchen": (6, 18)}  # fmt: skip


@dataclass(frozen=True)
class SynthConfig:
    """What :func:`~nova3r_ros.synth.generate.generate_window` produces.

    Attributes:
        family: one of :data:`FAMILIES` (``tabletop``, ``room``, ``clutter``, ``shelf``,
            ``counter``, ``kitchen``; see :mod:`.scenes`, :mod:`.families` and
            :mod:`.kitchen`).
        n_views: views per window, 1-16.
        mode: camera rig mode, ``"rig"`` (known extrinsics), ``"moving"`` (one camera on an
            arc) or ``"random"`` (independent unposed views).
        azimuth_spread_deg: every camera centre lies within this azimuth range around the
            scene centre (0-360); None picks the mode's default (rig 30, moving 45,
            random 360).
        height: image height (px).
        width: image width (px).
        n_gt_points: M, ground-truth surface points per window.
        mesh_dir: directory of ``*.obj`` meshes mixed into the scenes, or None.
        mesh_names: include list of mesh file stems (None = all in ``mesh_dir``).
        mesh_exclude: mesh file stems to leave out (e.g. held out of training).
        mesh_prob: probability that an object is a mesh when ``mesh_dir`` is given (or,
            with ``procedural_prob`` > 0, a mesh of :class:`.procedural.ShapeSource`).
        max_mesh_faces: decimation budget per mesh.
        procedural_prob: probability that a mesh object is a procedural shape
            (superquadric, extruded polygon, union; :mod:`.procedural`); 1 without
            ``mesh_dir``; 0 = library meshes only (the benchmark).
        deform_prob: probability that a library mesh is deformed (anisotropic scale, taper,
            twist; :func:`.procedural.deform`); 0 for the benchmark.
        with_depth: put the rendered depth into the Views.
        device: torch device to render on (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).
        known_poses: put ``T_world_cam`` into the Views; None = True for ``rig`` only.
        with_intrinsics: put ``K`` into the Views.
        fov_deg: range of the horizontal field of view (deg).
        elevation_deg: camera elevation range (deg); None = family default (tabletop
            25-60, room 5-35, clutter 25-60, shelf 0-35, counter and kitchen 10-45).
        distance_m: camera distance range to the look-at point (m); None = family default
            (tabletop 0.6-1.2, room 1.2-3.0, clutter 0.5-1.2, shelf and counter 0.6-2.0,
            kitchen 0.8-3.0).
        n_objects: inclusive range of objects attempted per scene; None = family default
            (tabletop 2-8, room 4-14, clutter 8-20, shelf 6-20, counter 4-14, kitchen 6-18).
        look_at: ``"centre"`` (the scene's camera centre ``spec.target``) or ``"surface"``
            (per window a random look-at target on the scene's surfaces: an object, a shelf
            board, the counter top...).
        roll_deg: camera roll range (deg); None = the mode's default (random +-3, else 0).
        jitter_m: handheld shake, sigma of a per-view eye offset (m).
        jitter_deg: handheld shake, sigma of per-view look direction and roll (deg).
        kinds: primitive kinds objects are drawn from.
        vis_tol_abs: absolute depth tolerance of the visibility label (m).
        vis_tol_rel: relative depth tolerance of the visibility label.
        witnesses: cameras per window (0-64) that only mark what they see: a batch then
            also holds ``witnessed`` (:func:`~nova3r_ros.synth.generate.witness_cameras`);
            the window itself is the same with or without them.

    """

    family: str = "tabletop"
    n_views: int = 4
    mode: str = "random"
    azimuth_spread_deg: float | None = None
    height: int = 192
    width: int = 256
    n_gt_points: int = 100_000
    mesh_dir: str | None = None
    mesh_names: tuple[str, ...] | None = None
    mesh_exclude: tuple[str, ...] = ()
    mesh_prob: float = 0.3
    max_mesh_faces: int = 2000
    procedural_prob: float = 0.0
    deform_prob: float = 0.0
    with_depth: bool = True
    device: str = "cpu"
    known_poses: bool | None = None
    with_intrinsics: bool = True
    fov_deg: tuple[float, float] = (50.0, 75.0)
    elevation_deg: tuple[float, float] | None = None
    distance_m: tuple[float, float] | None = None
    n_objects: tuple[int, int] | None = None
    look_at: str = "centre"
    roll_deg: tuple[float, float] | None = None
    jitter_m: float = 0.0
    jitter_deg: float = 0.0
    kinds: tuple[str, ...] = OBJECT_KINDS
    vis_tol_abs: float = 0.005
    vis_tol_rel: float = 0.01
    witnesses: int = 0

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"SynthConfig: {msg}")

        def intlike(x) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        def pair(name, val, lo, hi) -> None:
            if (not isinstance(val, (tuple, list)) or len(val) != 2
                    or not all(isinstance(x, (int, float)) for x in val)):  # fmt: skip
                bad(f"{name} must be a (min, max) pair of numbers, got {val!r}")
            if not (lo <= val[0] <= val[1] <= hi):
                bad(f"{name} must satisfy {lo} <= min <= max <= {hi}, got {tuple(val)}")
            object.__setattr__(self, name, tuple(val))

        if self.family not in FAMILIES:
            bad(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.mode not in MODES:
            bad(f"mode must be one of {MODES}, got {self.mode!r}")
        if not intlike(self.n_views) or not 1 <= self.n_views <= MAX_VIEWS:
            bad(f"n_views must be an int in [1, {MAX_VIEWS}], got {self.n_views!r}")
        s = self.azimuth_spread_deg
        if s is not None and (not isinstance(s, (int, float)) or not 0 <= s <= 360):
            bad(f"azimuth_spread_deg must be in [0, 360] or None, got {s!r}")
        for name in ("height", "width"):
            v = getattr(self, name)
            if not intlike(v) or not 8 <= v <= 4096:
                bad(f"{name} must be an int in [8, 4096] pixels, got {v!r}")
        if not intlike(self.n_gt_points) or not 1 <= self.n_gt_points <= 10_000_000:
            bad(f"n_gt_points must be an int in [1, 10_000_000], got {self.n_gt_points!r}")
        if self.mesh_dir is not None and not Path(self.mesh_dir).is_dir():
            bad(f"mesh_dir {self.mesh_dir!r} is not a directory")
        if isinstance(self.mesh_names, str) or isinstance(self.mesh_exclude, str):
            bad("mesh_names and mesh_exclude must be sequences of names, not a string")
        if self.mesh_names is not None:
            object.__setattr__(self, "mesh_names", tuple(self.mesh_names))
        object.__setattr__(self, "mesh_exclude", tuple(self.mesh_exclude))
        for name in ("mesh_prob", "procedural_prob", "deform_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not intlike(self.max_mesh_faces) or self.max_mesh_faces < 4:
            bad(f"max_mesh_faces must be an int >= 4, got {self.max_mesh_faces!r}")
        pair("fov_deg", self.fov_deg, 10.0, 150.0)
        if self.elevation_deg is not None:
            pair("elevation_deg", self.elevation_deg, -60.0, 85.0)
        if self.distance_m is not None:
            pair("distance_m", self.distance_m, 0.05, 50.0)
        if self.n_objects is not None:
            pair("n_objects", self.n_objects, 0, 64)
            if not all(intlike(x) for x in self.n_objects):
                bad(f"n_objects must hold ints, got {self.n_objects!r}")
        if self.look_at not in LOOK_AT:
            bad(f"look_at must be one of {LOOK_AT}, got {self.look_at!r}")
        if self.roll_deg is not None:
            pair("roll_deg", self.roll_deg, -45.0, 45.0)
        if not 0.0 <= self.jitter_m <= 0.2 or not 0.0 <= self.jitter_deg <= 10.0:
            bad(f"jitter_m must be in [0, 0.2] and jitter_deg in [0, 10], got "
                f"{self.jitter_m!r}, {self.jitter_deg!r}")  # fmt: skip
        kinds = tuple(self.kinds)
        if not kinds or any(k not in OBJECT_KINDS for k in kinds):
            bad(f"kinds must be a non-empty subset of {OBJECT_KINDS}, got {self.kinds!r}")
        object.__setattr__(self, "kinds", kinds)
        if self.vis_tol_abs < 0 or self.vis_tol_rel < 0:
            bad("vis_tol_abs and vis_tol_rel must be >= 0")
        if not intlike(self.witnesses) or not 0 <= self.witnesses <= MAX_WITNESSES:
            bad(f"witnesses must be an int in [0, {MAX_WITNESSES}], got {self.witnesses!r}")
        try:
            import torch

            torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            bad(f"device {self.device!r} is not a torch device ({err})")

    @property
    def spread_deg(self) -> float:
        """Return the azimuth spread in effect (deg)."""
        s = self.azimuth_spread_deg
        return float(_DEFAULT_SPREAD[self.mode] if s is None else s)

    @property
    def elevation_range(self) -> tuple[float, float]:
        """Return the elevation range in effect (deg)."""
        return tuple(self.elevation_deg or _DEFAULT_ELEVATION[self.family])

    @property
    def distance_range(self) -> tuple[float, float]:
        """Return the camera distance range in effect (m)."""
        return tuple(self.distance_m or _DEFAULT_DISTANCE[self.family])

    @property
    def objects_range(self) -> tuple[int, int]:
        """Return the range of objects attempted per scene."""
        return tuple(self.n_objects or _DEFAULT_OBJECTS[self.family])

    @property
    def roll_range(self) -> tuple[float, float]:
        """Return the roll range in effect (deg)."""
        return tuple(self.roll_deg or ((-3.0, 3.0) if self.mode == "random" else (0.0, 0.0)))

    @property
    def wide_cameras(self) -> bool:
        """Whether cameras come from the training sampler (``rigs.sample_cameras_wide``).

        False only for ``tabletop`` and ``room`` with ``look_at="centre"``, no roll range
        and no jitter: those use the frozen benchmark sampler.
        """
        legacy = self.family in ("tabletop", "room") and self.look_at == "centre"
        return not legacy or self.roll_deg is not None or self.jitter_m > 0 or self.jitter_deg > 0

    @property
    def poses_known(self) -> bool:
        """Whether the Views carry ``T_world_cam`` as a known input."""
        return self.mode == "rig" if self.known_poses is None else bool(self.known_poses)

    def replace(self, **changes) -> SynthConfig:
        """Return a copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


BENCHMARK_CONFIGS = {
    "amodal_1view": dict(n_views=1, azimuth_spread_deg=0.0),
    "amodal_2view_60deg": dict(n_views=2, azimuth_spread_deg=60.0),
    "amodal_4view_90deg": dict(n_views=4, azimuth_spread_deg=90.0),
}


def benchmark_config(n_views: int | str, **overrides) -> SynthConfig:
    """Return an amodal benchmark view configuration (cameras on one side, as on a robot).

    1 view; 2 views within 60 deg; 4 views within 90 deg of azimuth around the table
    centre; elevation 25-60 deg; distance 0.6-1.2 m; tabletop; RGB-D with known intrinsics
    and poses (``random`` mode with ``known_poses=True``). With ``family="room"`` the same
    view counts and spreads use the room's elevation and distance defaults.

    Args:
        n_views: 1, 2 or 4, or a name from :data:`BENCHMARK_CONFIGS`.
        **overrides: further :class:`SynthConfig` fields (e.g. ``height``, ``device``).

    Returns:
        The validated :class:`SynthConfig`.

    """
    by_views = {v["n_views"]: k for k, v in BENCHMARK_CONFIGS.items()}
    name = by_views.get(n_views, n_views) if not isinstance(n_views, str) else n_views
    if name not in BENCHMARK_CONFIGS:
        raise ValueError(
            f"benchmark configs exist for 1, 2 or 4 views or names {sorted(BENCHMARK_CONFIGS)}, "
            f"got {n_views!r}"
        )
    base = dict(family="tabletop", mode="random", with_depth=True, known_poses=True)
    if overrides.get("family", "tabletop") == "tabletop":
        base.update(elevation_deg=(25.0, 60.0), distance_m=(0.6, 1.2))
    return SynthConfig(**{**base, **BENCHMARK_CONFIGS[name], **overrides})
