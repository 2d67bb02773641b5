"""Every parameter of the reconstruction node, in one table, with its validation.

The table :data:`PARAMETERS` gives each parameter's name, default, range (or
choices) and description; :func:`declare_parameters` declares them with a
``ParameterDescriptor`` (``FloatingPointRange`` / ``IntegerRange``), so rclpy
itself rejects out-of-range values and ``ros2 param describe`` shows the text.
:func:`validate` adds what descriptors cannot say (choices, min <= max pairs,
names) and runs in the node's on-set-parameters callback. Per camera ``<cam>``
there are five more parameters ``camera.<cam>.{image_topic, info_topic,
depth_topic, transport, use_depth}`` (table :data:`CAMERA_PARAMETERS`). Topic names
are relative by default (``<cam>/image_raw``), so a namespace or a remapping moves the
inputs with the outputs, as with every ROS driver; TF frame names stay global.

Values are read once per configure (:func:`load_config`): a change made while the
node is configured is validated at once and takes effect at the next configure.
Frames: the crop box and the occupancy band are in the world frame (metres, z up).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)

from nova3r_ros.pipeline import DEFAULT_MIN_CONFIDENCE

INF = 1.0e4  # bound of coordinate-like parameters (m)


@dataclass(frozen=True)
class Param:
    """One row of the table: name, default, range (lo, hi) or choices, description."""

    name: str
    default: Any
    description: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None


P = Param
PARAMETERS: tuple[Param, ...] = (
    P("backend", "model", "reconstruction backend: 'model' (the network) or 'depth' (fusion "
      "of input depth). 'model' falls back to 'depth' at configure, with a warning, when it "
      "cannot run here: the packaged checkpoint is missing or unreadable, `device` 'cuda' has "
      "no CUDA, or torch / the model cannot be imported", choices=("model", "depth")),
    P("device", "auto", "compute device of the model backend; 'cuda' without CUDA falls back "
      "to the depth backend", choices=("auto", "cuda", "cpu")),
    P("checkpoint", "", "model checkpoint directory (safetensors + config.json); '' = the "
      "packaged nova3r_ros/model/checkpoints/base (depth backend fallback when it is missing "
      "or unreadable). A path given here that is missing or not a checkpoint of this model "
      "fails configure (never silently replaced)"),
    P("backend_process", True, "model backend: run it in its own process (own interpreter "
      "and CUDA context: the camera callbacks do not slow it down, and a crash of it costs "
      "one window, after which it is started again); false = in the node's process"),
    P("backend_timeout", 60.0, "model backend in its own process: seconds one window may "
      "take before the process is killed and started again (the window gets the "
      "observed-only cloud); 0 = no limit", 0.0, 3600.0),
    P("backend_nice", 10, "added to the nice value (lower CPU priority) of the worker thread "
      "and of the backend's process, so that on a small CPU the camera callbacks run first; "
      "0 = the node's own priority (a machine with cores to spare)", 0, 19),
    P("n_points", 16384, "points the model decodes per window", 256, 1_000_000),
    P("ode_steps", 25, "flow-matching ODE steps of the model's point decoder", 1, 1000),
    P("rgb_redecode", False, "model backend, RGB-only windows without poses (no depth, no TF): "
      "after the images refined the poses, decode the window again with them as the model's pose "
      "inputs and refine once more (about twice the time); no effect with depth or known poses"),
    P("rgb_matcher", "", "model backend, RGB-only windows without poses: a learned dense "
      "matcher whose matches the pose refinement uses beside SIFT's where they fit an essential "
      "matrix better; '' = the checkpoint's own where its matcher.json lists the device (the "
      "packaged one: CUDA and CPU; on a small CPU it costs ~1.25x the refinement's time), "
      "'own' = the checkpoint's own on any device, 'none' = off, else a folder holding "
      "matcher.json + matcher.safetensors (trained by python -m "
      "nova3r_ros.train.matcher_train). A folder given here that is missing or not a "
      "matcher, or 'own' for a checkpoint without one, fails configure"),
    P("depth_consistency", True, "model backend with depth: snap decoded points onto the "
      "observed depth and its dominant plane, drop points in seen free space"),
    P("output_spacing", 0.01, "model backend with depth: spacing (m) of the published observed "
      "surface points (from the input depth, one layer where views overlap)", 0.001, 1.0),
    P("min_confidence", DEFAULT_MIN_CONFIDENCE, "model backend with depth: completed points "
      "(observed 0) below this confidence are not published and never occupy the map", 0.0, 1.0),
    P("publish_completion", True, "model backend with depth: publish completed points; false "
      "= observed surfaces only (every window gated)"),
    P("plane_completion", True, "model backend with depth: continue the window's large "
      "observed planes (floor, walls, table tops) up to 10 cm behind what occludes them and "
      "across depth holes, never into seen free space"),
    P("plane_max_oblique_deg", -1.0, "model backend with depth: planes more than this many "
      "degrees off parallel or perpendicular to the window's largest plane are not completed "
      "(fits across clutter; set 45 to complete every plane, e.g. ramps); -1 (any negative) "
      "= the default chosen on validation (10)", -1.0, 90.0),
    P("silhouette_depth_m", -1.0, "model backend with depth: continue the sides of "
      "occluders (boxes, counters, chair backs) this far (m) behind their silhouettes where "
      "the decoder's completion is withheld, never into seen free space; 0 = off; -1 (any "
      "negative) = the default (off: docs/eval/session27)", -1.0, 1.0),
    P("open_hole_share", -1.0, "model backend with depth: a depth hole that reaches the "
      "image border and covers at least this share of the image is taken as open space "
      "(beyond the sensor's range), not filled by any completion; 0 = off; -1 (any "
      "negative) = the default chosen on validation (0.25: docs/eval/session38)",
      -1.0, 1.0),
    P("fusion_sigmas", -1.0, "model backend with depth: the views of a window that "
      "measure the same surface are averaged into one less noisy surface where they agree "
      "within this many sigmas of the depth noise (at least 1 cm); 0 = off (each view's "
      "depth as it is); -1 (any negative) = the default chosen on validation "
      "(docs/eval/session39)", -1.0, 20.0),
    P("hidden_completion", True, "model backend with depth: publish the checkpoint's "
      "hidden-surface head's points (surfaces behind the measured depth and in its holes) "
      "where the decoder's completion is withheld; no effect if the checkpoint has no head"),
    P("hidden_min_probability", -1.0, "model backend with depth: the hidden-surface head's "
      "points below this confidence are not published; -1 (any negative) = the threshold "
      "stored with the head (chosen on validation)", -1.0, 1.0),
    P("hidden_single_view_min_probability", -1.0, "model backend with depth: the same for "
      "a window of one view (whose confidences no other view's head blends); -1 (any "
      "negative) = hidden_min_probability if set, else the head's single-view threshold "
      "(chosen on validation)", -1.0, 1.0),
    P("hidden_consensus", -1.0, "model backend with depth, several views: how much of each "
      "hidden-surface point's confidence comes from the other views' heads (the mean over "
      "the views that could have predicted it); 0 = its own view's alone; -1 (any negative) "
      "= the default chosen on validation (1)", -1.0, 1.0),
    P("hidden_snap_subcells", 0, "model backend with depth: where the hidden-surface head's "
      "layer is snapped onto a plane behind a measured surface, N x N points per head cell "
      "(each where its own ray crosses the plane); 1 = one per cell; 0 = the default chosen "
      "on validation (2)", 0, 8),
    P("hidden_snap_bounding_subcells", 0, "model backend with depth: the same on a plane that "
      "bounds the observed scene (a floor, a wall) where this is more; denser floors and "
      "walls behind furniture (room-scale scenes: hidden recall up, but on real kitchen "
      "frames F@2cm down 0.003-0.006, docs/eval/session40); 0 = as other planes (the default)",
      0, 8),
    P("hidden_snap_existence", -1.0, "model backend with depth: where the hidden-surface "
      "head's existence probability is at least this and one of the window's planes crosses "
      "near its depth, a point is published where the plane crosses; -1 (any negative) = the "
      "default chosen on validation", -1.0, 1.0),
    P("hidden_snap_tolerance", -1.0, "model backend with depth: ... near: within this share of "
      "the head's depth; 0 = no such points; -1 (any negative) = the default chosen on "
      "validation", -1.0, 1.0),
    P("hidden_snap_bounding_reach", -1.0, "model backend with depth: such points on a plane "
      "that bounds the observed scene (a floor, a wall: the cameras on one side, no observed "
      "surface beyond it) may lie this far (m) from its observed points, behind a measured "
      "surface; 0 = the ordinary reach (0.2 m) for every plane; -1 (any negative) = the "
      "default chosen on validation",
      -1.0, 10.0),
    P("voxel_head", "", "model backend with depth: the voxel completion head (a 3D grid of "
      "every view's depth, 10 cm cells, that completes unseen surfaces of rooms and "
      "furniture); '' = the checkpoint's own (none if its folder has no voxel_head.json), "
      "'none' = off, else a folder holding voxel_head.json + voxel_head.safetensors. A folder "
      "given here that is missing or not such a head fails configure"),
    P("voxel_min_probability", -1.0, "model backend with depth: the voxel head's cells below "
      "this occupancy probability are not published; -1 (any negative) = the threshold "
      "stored with the head (chosen on validation)", -1.0, 1.0),
    P("voxel_far", -1.0, "model backend with depth: only the voxel head's points farther "
      "than this (m) from every other point of the cloud are published (it adds surfaces, "
      "it does not thicken them); -1 (any negative) = the default chosen on validation "
      "(0.05 m)", -1.0, 1.0),
    P("voxel_points_per_cell", -1, "model backend with depth: points each completed voxel "
      "cell publishes (1, 5 or 9), spread a quarter of a cell along the surface of its "
      "neighbourhood; -1 (any negative) = the default (5: docs/eval/session45)", -1, 9),
    P("voxel_snap", -1.0, "model backend with depth: the voxel head's points within this "
      "distance (m) of one of the window's planes (floor, walls, table tops) are moved onto "
      "it; 0 = off; -1 (any negative) = the default (off: docs/eval/session46)", -1.0, 0.2),
    P("behind_cut_from", -1.0, "model backend with depth: where the decoder's completion is "
      "withheld, completed points (planes, hidden surfaces, sides, voxels) that lie between "
      "behind_cut_from and behind_cut_to (m) behind a surface a camera measured are not "
      "published (most often the inside of a cabinet, a counter or a box; also the back of "
      "an object that deep); off where behind_cut_to <= behind_cut_from; -1 (any negative) "
      "= the default (off: docs/eval/session44)", -1.0, 10.0),
    P("behind_cut_to", -1.0, "model backend with depth: the far end (m) of behind_cut_from's "
      "band; -1 (any negative) = the default (off)", -1.0, 10.0),
    P("voxel_size", 0.01, "depth backend: merge points per voxel of this edge (m); 0 = raw",
      0.0, 1.0),
    P("depth_stride", 2, "depth backend: use every n-th pixel of each depth image", 1, 64),
    P("max_depth", 0.0, "ignore input depth beyond this range (m); 0 = no limit", 0.0, 1000.0),
    P("cameras", ["cam0"], "camera names; camera <cam> reads <cam>/image_raw, "
      "<cam>/camera_info and <cam>/depth/image_raw (relative: in the node's namespace) "
      "unless camera.<cam>.* says otherwise"),
    P("transport", "raw", "default image transport: 'raw' (sensor_msgs/Image) or 'compressed' "
      "(CompressedImage on <image_topic>/compressed, depth on <depth_topic>/compressedDepth)",
      choices=("raw", "compressed")),
    P("use_depth", True, "default for every camera: subscribe to depth and require it per frame"),
    P("qos.reliability", "best_effort", "reliability of the input subscriptions",
      choices=("best_effort", "reliable")),
    P("qos.depth", 10, "history depth of the input subscriptions (messages a topic may "
      "queue while the executor is busy)", 1, 1000),
    P("queue_length", 4, "per-topic input buffer (messages); when full the oldest is dropped "
      "and counted", 1, 1000),
    P("sync.slop", 0.02, "max stamp difference (s) within a group of camera frames and "
      "between an image and its depth", 0.0, 10.0),
    P("sync.period", 0.02, "longest time (s) between two grouping and keyframe steps (every "
      "arriving frame also runs one at once)", 0.001, 1.0),
    P("sync.camera_timeout", 1.0, "a camera with no image for this long (s) is left out: "
      "groups go on with the other cameras until it publishes again; 0 = wait for every "
      "camera", 0.0, 3600.0),
    P("sync.max_future", 10.0, "reject images and depth stamped more than this (s) ahead of "
      "the node clock; 0 = no check", 0.0, 1.0e6),
    P("window_size", 4, "keyframes per window K (a window holds K x N camera views)", 1, 64),
    P("keyframe.min_interval", 0.5, "minimum time (s) between keyframes", 0.0, 3600.0),
    P("keyframe.min_translation", 0.05, "a camera moved this far (m, from TF) makes a keyframe",
      0.0, 100.0),
    P("keyframe.min_rotation", 5.0, "a camera turned this much (deg, from TF) makes a keyframe",
      0.0, 180.0),
    P("keyframe.min_image_change", 0.02, "mean absolute change (0..1) of a grey 32x24 thumbnail "
      "that makes a keyframe (with or without TF)", 0.0, 1.0),
    P("world_frame", "map", "fixed, gravity-aligned frame of every output (REP 105)"),
    P("rig_frame", "", "frame of known rig extrinsics (e.g. base_link); '' = only TF poses "
      "in world_frame are used"),
    P("use_tf_poses", True, "use camera poses known to TF as inputs (never re-published)"),
    P("tf.lookup_timeout", 0.05, "wait up to this long (s) for TF at an image's stamp "
      "(a transform not yet received); failures are counted in /diagnostics as "
      "tf_extrapolation (stamp outside the history) and tf_unconnected", 0.0, 10.0),
    P("tf.startup_wait", 2.0, "before estimating the pose of a camera that TF does not "
      "resolve, wait this long (s) after its first frame for the robot's TF; 0 = estimate "
      "at once", 0.0, 3600.0),
    P("frame_prefix", "nova3r/", "estimated camera frames are published as "
      "<prefix><image frame_id>, e.g. nova3r/cam0_optical_frame"),
    P("crop.min_x", -INF, "workspace crop box, world frame (m)", -INF, INF),
    P("crop.min_y", -INF, "workspace crop box, world frame (m)", -INF, INF),
    P("crop.min_z", -INF, "workspace crop box, world frame (m)", -INF, INF),
    P("crop.max_x", INF, "workspace crop box, world frame (m)", -INF, INF),
    P("crop.max_y", INF, "workspace crop box, world frame (m)", -INF, INF),
    P("crop.max_z", INF, "workspace crop box, world frame (m)", -INF, INF),
    P("occupancy.resolution", 0.05, "voxel edge and 2D grid cell (m)", 0.005, 5.0),
    P("occupancy.z_min", 0.05, "lowest voxel centre height (m, world z) projected to the grid",
      -INF, INF),
    P("occupancy.z_max", 2.0, "highest voxel centre height (m, world z) projected to the grid",
      -INF, INF),
    P("occupancy.max_range", 5.0, "rays carve free space up to this range (m); 0 = unlimited",
      0.0, 1000.0),
    P("publish_voxels", True, "publish ~/voxels (occupied voxel centres)"),
    P("diagnostics_period", 1.0, "period (s) of /diagnostics (a steady timer: it runs "
      "under sim time too)", 0.05, 60.0),
    P("threads", 0, "CPU threads of torch, OpenCV and numpy's BLAS in this process and in "
      "the backend's process (applied at configure); 0 = the libraries' defaults (every "
      "core)", 0, 1024),
    P("switch_interval", 0.0, "Python's thread switch interval (s) in this process, applied "
      "at configure: how long the worker waits at most for the interpreter lock that the "
      "executor's callbacks hold; 0 = Python's default (5 ms)", 0.0, 0.1),
    P("save_directory", "~/.ros/nova3r", "where ~/save writes cloud.ply, map.pgm, map.yaml"),
    P("autostart", False, "main() configures and activates the node itself (no launch file)"),
)  # fmt: skip
CAMERA_PARAMETERS: tuple[Param, ...] = (
    P("image_topic", "{cam}/image_raw", "colour image topic of camera {cam} (relative "
      "names resolve in the node's namespace)"),
    P("info_topic", "{cam}/camera_info", "CameraInfo topic of camera {cam}"),
    P("depth_topic", "{cam}/depth/image_raw", "depth topic of camera {cam}, registered to "
      "the colour image (16UC1 mm / 32FC1 m)"),
    P("transport", "{transport}", "image transport of camera {cam} (default: the global "
      "`transport` at start-up)", choices=("raw", "compressed")),
    P("use_depth", True, "camera {cam} subscribes to depth (default: the global `use_depth` "
      "at start-up)"),
)  # fmt: skip
_BY_NAME = {p.name: p for p in PARAMETERS}
_PAIRS = [(f"crop.min_{a}", f"crop.max_{a}") for a in "xyz"]
_PAIRS.append(("occupancy.z_min", "occupancy.z_max"))
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FRAME = re.compile(r"^[A-Za-z0-9_/.\-]*$")


def _descriptor(p: Param, camera: str | None = None) -> ParameterDescriptor:
    text = p.description.replace("{cam}", camera) if camera else p.description
    if p.choices:
        text += f" (one of {', '.join(repr(c) for c in p.choices)})"
    d = ParameterDescriptor(description=text)
    if p.lo is not None and isinstance(p.default, float):
        d.floating_point_range = [FloatingPointRange(from_value=p.lo, to_value=p.hi, step=0.0)]
    elif p.lo is not None and isinstance(p.default, int) and not isinstance(p.default, bool):
        d.integer_range = [IntegerRange(from_value=int(p.lo), to_value=int(p.hi), step=1)]
    return d


def camera_param(camera: str, key: str) -> str:
    """Return the full name of camera ``camera``'s parameter ``key`` (``camera.<cam>.<key>``)."""
    return f"camera.{camera}.{key}"


def declare_parameters(node) -> None:
    """Declare every table parameter on ``node``, then the per-camera ones."""
    for p in PARAMETERS:
        node.declare_parameter(p.name, p.default, _descriptor(p))
    declare_camera_parameters(node, node.get_parameter("cameras").value)


def declare_camera_parameters(node, cameras) -> None:
    """Declare ``camera.<cam>.*`` for every camera not declared yet (defaults from the table)."""
    for cam in cameras:
        if not _NAME.match(cam):
            continue  # rejected by validate(); nothing to declare under a bad name
        for p in CAMERA_PARAMETERS:
            name = camera_param(cam, p.name)
            if node.has_parameter(name):
                continue
            if p.name == "use_depth":
                default = node.get_parameter("use_depth").value
            else:
                default = p.default.format(
                    cam=cam, transport=node.get_parameter("transport").value
                )
            node.declare_parameter(name, default, _descriptor(p, cam))


def _check_one(name: str, value) -> str | None:
    p = _BY_NAME.get(name)
    key = name.rsplit(".", 1)[-1]
    if p is None and name.startswith("camera."):
        p = next((c for c in CAMERA_PARAMETERS if c.name == key), None)
    if p is None:
        return None
    if p.choices and value not in p.choices:
        return f"{name} must be one of {list(p.choices)}, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be finite, got {value}"
    if name == "cameras":
        if not value:
            return "cameras must name at least one camera"
        bad = [c for c in value if not _NAME.match(c)]
        if bad:
            return f"camera names must match [A-Za-z][A-Za-z0-9_]*, got {bad}"
        if len(set(value)) != len(value):
            return f"camera names must be unique, got {list(value)}"
    if name in ("world_frame", "rig_frame", "frame_prefix") and not _FRAME.match(value):
        return f"{name} {value!r} is not a valid frame name"
    if name == "voxel_points_per_cell" and value >= 0 and value not in (1, 5, 9):
        return f"voxel_points_per_cell must be 1, 5, 9 or -1 (the default), got {value}"
    if name == "world_frame" and not value:
        return "world_frame must not be empty"
    if name.endswith("_topic") and (not value or " " in value):
        return f"{name} must be a topic name, got {value!r}"
    return None


def validate(params, current: dict[str, Any]) -> SetParametersResult:
    """Check a set of parameter changes against the others' ``current`` values.

    Args:
        params: the rclpy ``Parameter`` objects being set (or declared).
        current: name -> value of every parameter already declared.

    Returns:
        SetParametersResult; ``successful`` False with the reason on the first problem.

    """
    merged = {p.name: p.default for p in PARAMETERS}
    merged.update(current)
    for param in params:
        error = _check_one(param.name, param.value)
        if error:
            return SetParametersResult(successful=False, reason=error)
        merged[param.name] = param.value
    changed = {param.name for param in params}
    for lo, hi in _PAIRS:
        if (lo in changed or hi in changed) and merged[lo] > merged[hi]:
            return SetParametersResult(
                successful=False, reason=f"{lo} ({merged[lo]}) must be <= {hi} ({merged[hi]})"
            )
    return SetParametersResult(successful=True)


@dataclass(frozen=True)
class CameraConfig:
    """Inputs of one camera (topics already resolved for the transport)."""

    name: str
    image_topic: str
    info_topic: str
    depth_topic: str
    compressed: bool
    use_depth: bool


@dataclass(frozen=True)
class NodeConfig:
    """A snapshot of every parameter, taken at configure (units as in the table)."""

    values: dict[str, Any]
    cameras: tuple[CameraConfig, ...]

    def __getitem__(self, name: str):
        return self.values[name]

    @property
    def crop_box(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Return the workspace crop box ``(lo xyz, hi xyz)`` in the world frame (m)."""
        v = self.values
        lo = (v["crop.min_x"], v["crop.min_y"], v["crop.min_z"])
        return lo, (v["crop.max_x"], v["crop.max_y"], v["crop.max_z"])


def load_config(node) -> NodeConfig:
    """Read every parameter of ``node`` into a :class:`NodeConfig` (declaring new cameras)."""
    values = {p.name: node.get_parameter(p.name).value for p in PARAMETERS}
    cams = list(values["cameras"])
    declare_camera_parameters(node, cams)
    cameras = []
    for cam in cams:
        c = {p.name: node.get_parameter(camera_param(cam, p.name)).value
             for p in CAMERA_PARAMETERS}  # fmt: skip
        compressed, use_depth = c["transport"] == "compressed", bool(c["use_depth"])
        image, depth = c["image_topic"], c["depth_topic"]
        if compressed:
            image, depth = image + "/compressed", depth + "/compressedDepth"
        cameras.append(CameraConfig(cam, image, c["info_topic"], depth, compressed, use_depth))
    values["save_directory"] = str(values["save_directory"])
    return NodeConfig(values=values, cameras=tuple(cameras))
