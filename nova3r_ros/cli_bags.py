"""Subcommands of ``nova3r`` around bags: ``make-bag``, ``replay``, ``eval-bag``, ``demo``.

Each handler returns the exit code; bad input raises ValueError (one line, exit 2 in
:func:`nova3r_ros.cli.main`), a damaged bag BagCorrupt (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nova3r_ros.bags.make import TF_CHOICES
from nova3r_ros.bags.messages import COLOR_ENCODINGS, DEPTH_ENCODINGS
from nova3r_ros.bags.sequence import MOTIONS
from nova3r_ros.bags.topics import PRESETS

Fmt = argparse.ArgumentDefaultsHelpFormatter


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def check_out_dir(out: str | None) -> None:
    """Reject an ``--out`` that is an existing file (before any work)."""
    if out and Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {out} is an existing file; give a folder")


def _make_bag(args) -> int:
    from nova3r_ros.bags.make import BagOptions, make_sevenscenes, make_synthetic
    from nova3r_ros.bags.sequence import SequenceConfig

    opts = BagOptions(args.topics, args.storage, args.color_encoding, args.depth_encoding,
                      args.compressed, args.tf)  # fmt: skip
    if args.reference != "tsdf" and not args.source:
        raise ValueError("--reference measured needs --from 7scenes:DIR")
    if args.source:
        kind, _, folder = args.source.partition(":")
        if kind != "7scenes" or not folder:
            raise ValueError(f"--from expects 7scenes:DIR, got {args.source!r}")
        make_sevenscenes(args.out, folder, opts, args.stride, args.max_frames, log=_say,
                         reference=args.reference)  # fmt: skip
    else:
        seq = SequenceConfig(args.family, args.cameras, args.steps, args.motion, args.arc,
                             args.period, args.height, args.width, not args.no_depth,
                             args.seed, mesh_dir=args.mesh_dir)  # fmt: skip
        make_synthetic(args.out, seq, opts, log=_say)
    print(f"wrote {args.out} (bag + ground_truth.json/.ply)")
    return 0


def _replay(args) -> int:
    from nova3r_ros.ros.replay import run

    return run(args, ["--ros-args", *args.ros_args] if args.ros_args else [])


def _eval_bag(args) -> int:
    from nova3r_ros.bags.sidecar import read_sidecar
    from nova3r_ros.eval.bag_eval import bag_sequence, score_run, trajectory_line
    from nova3r_ros.eval.report import markdown_table
    from nova3r_ros.ros.lockstep import run_lockstep

    check_out_dir(args.out)
    side = read_sidecar(args.bag)  # a bag without sidecar fails here, before any work
    if args.windows is not None and not 1 <= args.windows <= len(side.stamps):
        raise ValueError(f"--windows {args.windows}: the bag holds {len(side.stamps)} time "
                         "steps (one window each)")  # fmt: skip
    if args.window_size < 1:
        raise ValueError(f"--window-size must be >= 1, got {args.window_size}")
    seq = bag_sequence(args.bag)
    params = {"backend": args.backend, "device": args.device, "n_points": args.points,
              "ode_steps": args.steps}  # fmt: skip
    if args.checkpoint:
        params["checkpoint"] = args.checkpoint
    run = run_lockstep(args.bag, side, args.window_size, params, args.windows,
                       args.timeout, log=_say)  # fmt: skip
    label = f"node ({run.backend})"
    result, per_window, traj = score_run(seq, run, args.window_size, args.windows, label,
                                         log=_say)  # fmt: skip
    table = markdown_table(result)
    if traj is not None:  # no TF in the bag: the node's own trajectory, aligned and scored
        metric = all(v.depth is not None for v in seq.views)
        table += "\n" + trajectory_line(traj, metric) + "\n"
        chain = ", ".join(f"{k.removeprefix('chain/')} {v:.4g}" if isinstance(v, float) else
                          f"{k.removeprefix('chain/')} {v}" for k, v in run.chain.items()
                          if k != "chain/chain_last")  # fmt: skip
        table += f"chaining: {chain}\n"
        traj = {**traj, **run.chain}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result, indent=1, sort_keys=True))
        (out / "per_window.json").write_text(json.dumps(per_window))
        if traj is not None:
            (out / "trajectory.json").write_text(json.dumps(traj, indent=1, sort_keys=True))
        (out / "metrics.md").write_text(f"# nova3r eval-bag {args.bag}\n\n{table}")
    print(table)
    if run.failed:
        _say(f"{len(run.failed)} window(s) without a cloud: {sorted(run.failed.values())[0]}")
    return 0


def _demo(args) -> int:
    from nova3r_ros.demo import DemoConfig, run_demo, short_table

    check_out_dir(args.out)
    cfg = DemoConfig(args.out, args.cameras, args.steps, args.window_size, args.height,
                     args.width, args.seed, args.backend, args.device, args.points,
                     args.ode_steps)  # fmt: skip
    doc = run_demo(cfg)
    print(short_table(doc["methods"]))
    s = doc["seconds"]
    print(
        f"\nwrote {args.out}/cloud.ply, reconstruction.png, occupancy.png, metrics.json "
        f"in {s['total']:.0f} s (bag {s['make_bag']:.0f} s, node {s['node']:.0f} s)"
    )
    return 0


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the player's arguments (``nova3r replay`` and ``nova3r_replay``) to ``parser``."""
    parser.add_argument("bag", help="rosbag2 folder (mcap or sqlite3) or one .mcap/.db3 file")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--loop", action="store_true", help="play again and again, re-stamped")
    parser.add_argument("--clock", action="store_true", help="publish /clock (bag time)")
    parser.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                        help="wait at most this long for subscribers (default: until every "
                        "data topic has one; 0: start at once)")  # fmt: skip
    parser.add_argument("--topics", nargs="+", default=None, help="play only these bag topics")
    parser.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO",
                        help="publish bag topic FROM as TO")  # fmt: skip
    parser.add_argument("--dds-profile", default=None,
                        help="Fast DDS XML profile (default: FASTRTPS_DEFAULT_PROFILES_FILE "
                        "if set, else the shipped one: images over 0.5 MB need it)")  # fmt: skip


def add_node_options(p: argparse.ArgumentParser) -> None:
    """Backend options shared by ``eval-bag`` and ``demo``."""
    p.add_argument("--backend", choices=("model", "depth"), default="model", help="node backend")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="cpu", help="model device")
    p.add_argument("--points", type=int, default=4096, help="points the model decodes")
    p.add_argument("--window-size", type=int, default=2, help="keyframes per node window")


def add_parsers(sub) -> None:
    """Add ``make-bag``, ``replay``, ``eval-bag`` and ``demo`` to ``sub``."""
    mb = sub.add_parser(
        "make-bag",
        formatter_class=Fmt,
        help="write a synthetic or 7-Scenes sequence as a rosbag2 + sidecar",
    )
    mb.add_argument("out", help="bag folder to create (must not exist)")
    mb.add_argument("--from", dest="source", default=None, metavar="7scenes:DIR",
                    help="a 7-Scenes folder instead of a synthetic sequence")  # fmt: skip
    mb.add_argument("--reference", choices=("tsdf", "measured"), default="tsdf",
                    help="with --from: the sidecar's surface, the fused reference or only "
                    "its points that some frame measured")  # fmt: skip
    mb.add_argument("--family", default="tabletop", help="synthetic scene family")
    mb.add_argument("--cameras", type=int, default=2, help="cameras on the rig")
    mb.add_argument("--steps", type=int, default=4, help="time steps")
    mb.add_argument("--motion", choices=MOTIONS, default="rig", help="camera motion")
    mb.add_argument("--arc", type=float, default=20.0, help="turn over the sequence (deg)")
    mb.add_argument("--period", type=float, default=0.2, help="seconds between steps")
    mb.add_argument("--height", type=int, default=192, help="image height (px)")
    mb.add_argument("--width", type=int, default=256, help="image width (px)")
    mb.add_argument("--no-depth", action="store_true", help="RGB only")
    mb.add_argument("--seed", type=int, default=1_200_000, help="scene seed")
    mb.add_argument("--mesh-dir", default=None, help="OBJ meshes (default: procedural objects)")
    mb.add_argument("--topics", choices=PRESETS, default="project", help="topic-name preset")
    mb.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="format")
    mb.add_argument("--color-encoding", choices=COLOR_ENCODINGS, default="rgb8", help="colour")
    mb.add_argument(
        "--depth-encoding",
        choices=DEPTH_ENCODINGS,
        default="16UC1",
        help="16UC1 millimetres or 32FC1 metres",
    )
    mb.add_argument("--compressed", action="store_true", help="jpeg / compressedDepth png")
    mb.add_argument(
        "--tf",
        choices=TF_CHOICES,
        default="auto",
        help="auto: rig (synthetic rig/static), poses (handheld), none (7-Scenes)",
    )
    mb.add_argument("--stride", type=int, default=1, help="7-Scenes: every n-th frame")
    mb.add_argument("--max-frames", type=int, default=None, help="7-Scenes: at most this many")
    mb.set_defaults(func=_make_bag)

    rp = sub.add_parser("replay", formatter_class=Fmt, help="play a rosbag2 into ROS 2")
    add_replay_arguments(rp)
    rp.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[],
                    help="ROS arguments for the player node")  # fmt: skip
    rp.set_defaults(func=_replay)

    eb = sub.add_parser(
        "eval-bag",
        formatter_class=Fmt,
        help="run the node on a bag in lock-step and score it (sidecar)",
    )
    eb.add_argument("bag", help="bag folder with ground_truth.json/.ply")
    add_node_options(eb)
    eb.add_argument("--steps", type=int, default=6, help="ODE steps of the model")
    eb.add_argument("--checkpoint", default=None, help="model checkpoint (default: packaged)")
    eb.add_argument("--windows", type=int, default=None, help="first N time steps only")
    eb.add_argument("--timeout", type=float, default=600.0, help="seconds per window at most")
    eb.add_argument("--out", default=None, help="folder for metrics.json / metrics.md")
    eb.set_defaults(func=_eval_bag)

    dm = sub.add_parser("demo", formatter_class=Fmt,
                        help="synthetic tabletop bag -> node (CPU) -> out/demo")  # fmt: skip
    dm.add_argument("--out", default="out/demo", help="output folder")
    add_node_options(dm)
    dm.add_argument("--ode-steps", type=int, default=6, help="ODE steps of the model")
    dm.add_argument("--cameras", type=int, default=2, help="cameras on the rig")
    dm.add_argument("--steps", type=int, default=4, help="time steps of the bag")
    dm.add_argument("--height", type=int, default=192, help="image height (px)")
    dm.add_argument("--width", type=int, default=256, help="image width (px)")
    dm.add_argument("--seed", type=int, default=1_200_012, help="scene seed")
    dm.set_defaults(func=_demo)
