"""The ``nova3r`` command: ``eval``, ``eval-bag``, ``make-bag``, ``replay``, ``node``, ``demo``.

Exit codes: 0 success; 1 a damaged bag (what was readable was used) or a failed run;
2 bad input (a one-line message; argparse's own usage errors too).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nova3r_ros.bags.reader import BagCorrupt
from nova3r_ros.cli_bags import Fmt, add_parsers, check_out_dir
from nova3r_ros.eval.report import markdown_table
from nova3r_ros.eval.run import METHODS, MODEL_METHODS, EvalConfig, evaluate
from nova3r_ros.eval.scoring import TARGETS
from nova3r_ros.pipeline import DEFAULT_MIN_CONFIDENCE
from nova3r_ros.synth.config import FAMILIES


def _check_windows(args: argparse.Namespace) -> None:
    """``--windows`` must fit the 7-Scenes sequence (checked before any work)."""
    kind, _, path = args.data.partition(":")
    if kind != "7scenes" or not Path(path).is_dir():
        return
    from nova3r_ros.synth.sevenscenes import SequenceError, SevenScenesSequence

    try:
        n = len(SevenScenesSequence(path))
    except SequenceError as exc:
        raise ValueError(str(exc)) from exc
    starts = n - (args.views - 1) * args.stride
    if starts < 1 or args.windows > starts:
        raise ValueError(f"--windows {args.windows} of {args.views} views {args.stride} apart: "
                         f"the sequence's {n} frames hold at most {max(0, starts)}")  # fmt: skip


def _check_hidden_head(args: argparse.Namespace) -> None:
    """Reject a bad ``--hidden-*``, ``--plane-*``, ``--silhouette-*`` or ``--voxel-*`` option."""
    for flag in (
        "hidden_min_probability",
        "hidden_single_view_min_probability",
        "hidden_consensus",
        "hidden_snap_existence",
        "hidden_snap_tolerance",
        "hidden_snap_bounding_existence",
        "open_hole_share",
        "voxel_min_probability",
    ):
        p = getattr(args, flag)
        if p is not None and not 0.0 <= p <= 1.0:
            raise ValueError(f"--{flag.replace('_', '-')} must be in [0, 1], got {p}")
    for flag in ("hidden_snap_reach", "hidden_snap_bounding_reach"):
        m = getattr(args, flag)
        if m is not None and not 0.0 <= m <= 10.0:
            raise ValueError(f"--{flag.replace('_', '-')} must be in [0, 10] m, got {m}")
    sub = args.hidden_snap_subcells
    if sub is not None and not 1 <= sub <= 8:
        raise ValueError(f"--hidden-snap-subcells must be an integer in [1, 8], got {sub}")
    sub = args.hidden_snap_bounding_subcells
    if sub is not None and not 0 <= sub <= 8:
        raise ValueError(
            f"--hidden-snap-bounding-subcells must be an integer in [0, 8], got {sub}"
        )
    depth = args.silhouette_depth
    if depth is not None and not 0.0 <= depth <= 1.0:
        raise ValueError(f"--silhouette-depth must be in [0, 1] m, got {depth}")
    sigmas = args.fusion_sigmas
    if sigmas is not None and not 0.0 <= sigmas <= 20.0:
        raise ValueError(f"--fusion-sigmas must be in [0, 20], got {sigmas}")
    oblique = args.plane_max_oblique
    if oblique is not None and not 0.0 <= oblique <= 90.0:
        raise ValueError(f"--plane-max-oblique must be in [0, 90] degrees, got {oblique}")
    head = args.hidden_head
    if head and head != "none" and not (Path(head) / "hidden_head.json").is_file():
        raise ValueError(f"--hidden-head {head}: no hidden_head.json there")
    far = args.voxel_far
    if far is not None and not 0.0 <= far <= 1.0:
        raise ValueError(f"--voxel-far must be in [0, 1] m, got {far}")
    per_cell = args.voxel_points_per_cell
    if per_cell is not None and per_cell not in (1, 5, 9):
        raise ValueError(f"--voxel-points-per-cell must be 1, 5 or 9, got {per_cell}")
    snap = args.voxel_snap
    if snap is not None and not 0.0 <= snap <= 0.2:
        raise ValueError(f"--voxel-snap must be in [0, 0.2] m, got {snap}")
    head = args.voxel_head
    if head and head != "none" and not (Path(head) / "voxel_head.json").is_file():
        raise ValueError(f"--voxel-head {head}: no voxel_head.json there")
    net = args.rgb_matcher
    if net and net not in ("none", "own") and not (Path(net) / "matcher.json").is_file():
        raise ValueError(f"--rgb-matcher {net}: no matcher.json there")
    band = args.behind_cut
    if band is not None and not all(0.0 <= m <= 10.0 for m in band):
        raise ValueError(f"--behind-cut FROM TO must be in [0, 10] m, got {band}")


def _eval(args: argparse.Namespace) -> int:
    check_out_dir(args.out)
    _check_windows(args)
    _check_hidden_head(args)
    methods = [m.strip() for group in args.method for m in group.split(",") if m.strip()]
    model_fn = None
    if set(methods) & set(MODEL_METHODS):
        from dataclasses import replace

        from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

        backend = ModelBackendConfig(
            args.checkpoint or "", args.device, args.points, args.steps, args.sampler,
            depth_consistency=args.depth_consistency, publish=args.depth_consistency,
            output_spacing=args.output_spacing, min_confidence=args.min_confidence,
            plane_completion=args.plane_completion, hidden_head=args.hidden_head or "",
            plane_max_oblique_deg=args.plane_max_oblique,
            hidden_min_probability=args.hidden_min_probability,
            hidden_single_view_min_probability=args.hidden_single_view_min_probability,
            hidden_consensus=args.hidden_consensus,
            hidden_snap_subcells=args.hidden_snap_subcells,
            hidden_snap_bounding_subcells=args.hidden_snap_bounding_subcells,
            hidden_snap_existence=args.hidden_snap_existence,
            hidden_snap_tolerance=args.hidden_snap_tolerance,
            hidden_snap_reach_m=args.hidden_snap_reach,
            hidden_snap_bounding_existence=args.hidden_snap_bounding_existence,
            hidden_snap_bounding_reach_m=args.hidden_snap_bounding_reach,
            silhouette_depth_m=args.silhouette_depth,
            open_hole_share=args.open_hole_share,
            fusion_sigmas=args.fusion_sigmas,
            voxel_head=args.voxel_head or "",
            voxel_min_probability=args.voxel_min_probability,
            voxel_far_m=args.voxel_far,
            voxel_points_per_cell=args.voxel_points_per_cell,
            voxel_snap_m=args.voxel_snap,
            behind_cut_from_m=None if args.behind_cut is None else args.behind_cut[0],
            behind_cut_to_m=None if args.behind_cut is None else args.behind_cut[1],
            rgb_redecode=args.rgb_redecode,
            rgb_matcher=args.rgb_matcher or "",
            world_z_up=args.data.startswith("synthetic"),  # synthetic worlds are z-up
        )  # fmt: skip
        variants = {
            "model": backend,
            "model_raw": replace(backend, depth_consistency=False, publish=False),
            "observed_only": replace(backend, force_gate=True, fusion_sigmas=0.0),
            "observed_fused": replace(backend, force_gate=True),
            "model_snapped": replace(backend, publish=False),
            "model_head": replace(backend, force_gate=True, refine_poses=False),
        }

        calls = {"n": 0}

        def model_fn(window, method):
            t0 = time.perf_counter()
            rec = reconstruct(window, "model", variants[method])
            calls["n"] += 1
            seconds = time.perf_counter() - t0
            if seconds > 2.0:  # CPU runs: say something every window
                n = calls["n"]
                print(f"[eval] {method} run {n}: {len(window)} view(s) in {seconds:.1f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            return rec

    cfg = EvalConfig(
        data=args.data, n_views=args.views, spread=args.spread, windows=args.windows,
        stride=args.stride, target=args.target, family=args.family, methods=methods,
        reference=args.reference,
        height=args.height, width=args.width,
        rgb_only=not args.depth, unposed=args.unposed, mesh_dir=args.mesh_dir,
        mesh_names=args.mesh_names, out=args.out, model_fn=model_fn,
        pose_reference=args.pose_reference, pose_reference_sequence=args.pose_reference_sequence,
    )  # fmt: skip
    result = evaluate(cfg, log=lambda msg: print(msg, file=sys.stderr))
    if args.out:
        print((Path(args.out) / "metrics.md").read_text())
        print(f"wrote {args.out}/metrics.json, metrics.md, metrics.png, example.png")
    else:
        print(markdown_table(result))
    return 0


def normalize_namespace(ns: str) -> str:
    """Return ``ns`` as an absolute namespace (``robot1`` -> ``/robot1``), as launch_ros does."""
    ns = ns.strip()
    if not ns or any(c.isspace() for c in ns):
        raise ValueError(f"--namespace must be a ROS namespace like /robot1, got {ns!r}")
    return "/" + ns.strip("/")


def _node(args: argparse.Namespace) -> int:
    """Run the ROS 2 node (what the launch file does, for users without ``launch``)."""
    from nova3r_ros.ros.dds_profile import use_profile
    from nova3r_ros.ros.node import main as node_main

    use_profile(args.dds_profile)  # before rclpy.init: large clouds between processes
    ros_args = ["--ros-args"]
    for path in args.params_file:  # files first: a later source overrides an earlier one
        ros_args += ["--params-file", path]
    ros_args += ["-p", f"autostart:={str(not args.no_autostart).lower()}"]
    if args.device:
        ros_args += ["-p", f"device:={args.device}"]
    if args.namespace:
        ros_args += ["-r", f"__ns:={normalize_namespace(args.namespace)}"]
    ros_args += args.ros_args  # last: they override the options above
    node_main(["nova3r", *ros_args])
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``nova3r`` command."""
    parser = argparse.ArgumentParser(prog="nova3r", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", formatter_class=Fmt,
                        help="evaluate methods on synthetic, 7-Scenes or bag windows")  # fmt: skip
    ev.add_argument("--method", nargs="+", default=["oracle,tsdf,opencv_sift"],
                    help=f"comma-separated, some of {','.join(METHODS)}")  # fmt: skip
    ev.add_argument("--data", default="synthetic:1000000-1000099",
                    help="synthetic:FIRST-LAST (seeds), 7scenes:DIR or bag:PATH")  # fmt: skip
    ev.add_argument("--views", type=int, default=1, help="views per window (1, 2, 4, ...)")
    ev.add_argument(
        "--spread",
        type=float,
        default=None,
        help="azimuth range (deg) the synthetic views cover (default: benchmark)",
    )
    ev.add_argument(
        "--depth",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give the methods depth (--no-depth: RGB only)",
    )
    ev.add_argument("--windows", type=int, default=10,
                    help="windows of a 7-Scenes sequence (evenly spaced starts)")  # fmt: skip
    ev.add_argument(
        "--stride", type=int, default=10, help="frames apart (sorted list) of a 7-Scenes window"
    )
    ev.add_argument(
        "--target", choices=TARGETS, default="frustum",
        help="frustum: the region in front of the cameras; full: the whole surface",
    )  # fmt: skip
    ev.add_argument("--family", choices=FAMILIES, default="tabletop", help="synthetic scenes")
    ev.add_argument("--reference", choices=("tsdf", "measured"), default="tsdf",
                    help="7scenes data: the fused reference, or only its points that some "
                    "frame's depth measured (no fusion tails behind silhouettes)")  # fmt: skip
    ev.add_argument("--height", type=int, default=192, help="image height (px)")
    ev.add_argument("--width", type=int, default=256, help="image width (px)")
    ev.add_argument("--unposed", action="store_true", help="methods get no camera poses")
    ev.add_argument(
        "--pose-reference",
        default=None,
        metavar="FILE",
        help="7scenes data: score the poses against this file's poses of the same "
        "frames instead of the recorded ones (lines 'NAME qw qx qy qz tx ty tz [f]', "
        "world-to-camera, as Brachmann et al.'s pseudo ground truth)",
    )
    ev.add_argument(
        "--pose-reference-sequence",
        default=None,
        metavar="SEQ",
        help="which sequence of --pose-reference (e.g. seq-01; default: its only one)",
    )
    ev.add_argument("--mesh-dir", default=None, help="OBJ meshes for the scenes")
    ev.add_argument("--mesh-names", nargs="*", default=None, help="which meshes to use")
    ev.add_argument("--out", default=None, help="directory for metrics.json")
    ev.add_argument("--checkpoint", default=None,
                    help="model checkpoint directory (default: the packaged one)")  # fmt: skip
    ev.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"),
                    help="model device")  # fmt: skip
    ev.add_argument("--points", type=int, default=16_384, help="points the model decodes")
    ev.add_argument("--steps", type=int, default=25, help="ODE steps")
    ev.add_argument("--sampler", default="euler", choices=("euler", "heun"), help="ODE sampler")
    ev.add_argument(
        "--depth-consistency",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="model: depth consistency and the published cloud (--no-depth-consistency: the "
        "decoder's points as they are)",
    )
    ev.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                    help="completed points below this confidence are not published")  # fmt: skip
    ev.add_argument("--no-plane-completion", dest="plane_completion", action="store_false",
                    help="model: publish no plane points (model.plane_completion)")  # fmt: skip
    ev.add_argument("--plane-max-oblique", type=float, default=None,
                    help="model: planes more than this many degrees off parallel or "
                    "perpendicular to the window's largest are not completed; 45 = every "
                    "plane (default: PublishConfig's)")  # fmt: skip
    ev.add_argument("--silhouette-depth", type=float, default=None,
                    help="model: continue the sides of occluders this far (m) behind "
                    "their silhouettes in a gated window; 0 = off (default: "
                    "PublishConfig's)")  # fmt: skip
    ev.add_argument("--open-hole-share", type=float, default=None,
                    help="model: a depth hole reaching the image border and covering at "
                    "least this share of the image is open space, where no completion is "
                    "published; 0 = off (default: PublishConfig's)")  # fmt: skip
    ev.add_argument("--fusion-sigmas", type=float, default=None,
                    help="model: the views' measurements of one surface are averaged into "
                    "the observed points where they agree within this many sigmas of the "
                    "depth noise (at least 1 cm); 0 = off (default: PublishConfig's)")  # fmt: skip
    ev.add_argument("--hidden-head", default=None,
                    help="model: hidden-surface head directory, or 'none' (default: the "
                    "checkpoint's own, if any)")  # fmt: skip
    ev.add_argument("--hidden-min-probability", type=float, default=None,
                    help="model: hidden-surface points below this are left out (default: "
                    "the threshold stored with the head)")  # fmt: skip
    ev.add_argument("--hidden-single-view-min-probability", type=float, default=None,
                    help="model: the same for a window of one view (default: "
                    "--hidden-min-probability if given, else the head's single-view "
                    "threshold)")  # fmt: skip
    ev.add_argument("--hidden-consensus", type=float, default=None,
                    help="model: with several views, how much of each hidden-surface "
                    "point's confidence comes from the other views' heads, 0-1 (default: "
                    "PublishConfig's)")  # fmt: skip
    ev.add_argument("--hidden-snap-subcells", type=int, default=None,
                    help="model: N x N points per hidden-surface head cell where its layer is "
                    "snapped onto a plane behind a measured surface, 1-8 (default: "
                    "PublishConfig's)")  # fmt: skip
    ev.add_argument("--hidden-snap-bounding-subcells", type=int, default=None,
                    help="model: the same for a plane that bounds the observed scene (the "
                    "floor, a wall), 0-8; 0 or not more than --hidden-snap-subcells = the "
                    "same as other planes (default: PublishConfig's)")  # fmt: skip
    ev.add_argument("--hidden-snap-existence", type=float, default=None,
                    help="model: the head's layers of at least this existence probability "
                    "are snapped onto the window's planes (default: PublishConfig's)")  # fmt: skip
    ev.add_argument("--hidden-snap-tolerance", type=float, default=None,
                    help="model: ... where a plane crosses within this share of their depth; "
                    "0 = no snapping (default: PublishConfig's)")  # fmt: skip
    ev.add_argument("--hidden-snap-reach", type=float, default=None,
                    help="model: ... and within this distance (m) of the plane's observed "
                    "points (default: PublishConfig's)")  # fmt: skip
    ev.add_argument("--hidden-snap-bounding-existence", type=float, default=None,
                    help="model: the existence threshold for a plane that bounds the "
                    "observed scene (a floor, a wall) (default: PublishConfig's)")  # fmt: skip
    ev.add_argument(
        "--hidden-snap-bounding-reach",
        type=float,
        default=None,
        help="model: ... or this distance (m) if the plane bounds the observed "
        "scene (a floor, a wall); 0 = no longer (default: PublishConfig's)",
    )
    ev.add_argument("--voxel-head", default=None,
                    help="model: voxel completion head directory (python -m "
                    "nova3r_ros.train.voxel_train), or 'none' (default: the checkpoint's "
                    "own, if any; the packaged one has none)")  # fmt: skip
    ev.add_argument("--voxel-min-probability", type=float, default=None,
                    help="model: the voxel head's cells below this occupancy probability "
                    "are left out (default: the threshold stored with the head)")  # fmt: skip
    ev.add_argument("--voxel-far", type=float, default=None,
                    help="model: only the voxel head's points farther than this (m) from "
                    "the rest of the cloud are published; 0 = all (default: "
                    "PublishConfig's)")  # fmt: skip
    ev.add_argument("--voxel-points-per-cell", type=int, default=None,
                    help="model: points per completed voxel cell, spread along the surface "
                    "(default: PublishConfig's, 5)")  # fmt: skip
    ev.add_argument("--voxel-snap", type=float, default=None,
                    help="model: the voxel head's points within this distance (m) of one of "
                    "the window's planes are moved onto it; 0 = off (default: "
                    "PublishConfig's, 0)")  # fmt: skip
    ev.add_argument("--behind-cut", type=float, nargs=2, default=None, metavar=("FROM", "TO"),
                    help="model: a gated window's completed points between FROM and TO (m) "
                    "behind a measured surface are left out; TO <= FROM = off (default: "
                    "PublishConfig's)")  # fmt: skip
    ev.add_argument("--rgb-redecode", action="store_true",
                    help="model, without depth (--no-depth --unposed): decode again at the "
                    "refined poses and refine once more (twice the time)")  # fmt: skip
    ev.add_argument("--rgb-matcher", default=None,
                    help="model, without depth: a learned matcher directory (python -m "
                    "nova3r_ros.train.matcher_train) whose matches the pose refinement uses "
                    "beside SIFT's; 'own': the checkpoint's own on any device; 'none' "
                    "(default: the checkpoint's own where its file lists the device: the "
                    "packaged one on CUDA and the CPU)")  # fmt: skip
    ev.add_argument("--output-spacing", type=float, default=0.01,
                    help="spacing (m) of the published observed points")  # fmt: skip
    ev.set_defaults(func=_eval)
    nd = sub.add_parser(
        "node",
        formatter_class=Fmt,
        help="run the ROS 2 reconstruction node (lifecycle, autostart)",
    )
    nd.add_argument(
        "--params-file",
        action="append",
        default=[],
        help="ROS 2 parameters YAML (repeatable: base, then specialisations)",
    )
    nd.add_argument("--device", choices=("auto", "cuda", "cpu"), default=None,
                    help="override the parameter files' device")  # fmt: skip
    nd.add_argument("--namespace", default=None, help="node namespace (robot1 -> /robot1)")
    nd.add_argument("--dds-profile", default=None,
                    help="Fast DDS XML profile (default: FASTRTPS_DEFAULT_PROFILES_FILE if "
                    "set, else the shipped config/fastdds_large_messages.xml)")  # fmt: skip
    nd.add_argument("--no-autostart", action="store_true", help="stay unconfigured")
    nd.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[],
                    help="ROS arguments for the node, after the options above (e.g. -p "
                    "use_sim_time:=true -p n_points:=4096 -r __node:=other)")  # fmt: skip
    nd.set_defaults(func=_node)
    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nova3r`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BagCorrupt as exc:
        print(f"nova3r {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # BagError, SidecarError, DecodeError, PipelineError too
        print(f"nova3r {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
