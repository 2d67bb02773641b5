"""Command line of :mod:`~nova3r_ros.train.hidden_train`: options, their checks, the head's config.

Every bad option exits with code 2 and a one-line message before anything is written or
any window generated. ``--resume DIR`` continues a saved step (its fp32 head and, beside
it, the AdamW moments in ``train_state.*``, :func:`~nova3r_ros.train.state.save_train_state`
with ``with_model=False``) so that a run split over several device calls keeps its
optimiser's state; ``--init DIR`` starts from a saved head with fresh moments.
"""

from __future__ import annotations

import argparse

from nova3r_ros.model.hidden_head import HiddenHeadConfig
from nova3r_ros.model.hidden_head_files import load_head

STATE_NAME = "hidden_head"  # the model name in a hidden head's train_state.json


def family_weights(text: str) -> dict[str, float]:
    """Parse ``name=weight,...`` (argparse type; checked by TrainConfig)."""
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise argparse.ArgumentTypeError(f"expected name=weight, got {item!r}")
    return out


def head_config(args) -> HiddenHeadConfig:
    """Return a new head's config from ``--channels``, ``--context``, ``--modes``, ``--anchor``."""
    channels = tuple(int(c) for c in args.channels.split(","))
    modes = 1 if args.modes is None else args.modes
    if args.anchor == "mode":
        modes = max(modes, 2)
    anchored = {"all": modes, "mode": 1}.get(args.anchor, 0)
    return HiddenHeadConfig(channels=channels, context=args.context or 0, modes=modes,
                            anchored_modes=anchored)  # fmt: skip


def parser(description: str = "") -> argparse.ArgumentParser:
    """Return the option parser."""
    p = argparse.ArgumentParser(prog="python -m nova3r_ros.train.hidden_train",
                                description=description)  # fmt: skip
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--batch", type=int, default=16, help="windows per step")
    p.add_argument("--views", type=int, default=6, help="views per window (each a sample)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--gt-points", type=int, default=400_000)
    p.add_argument("--p-robot", type=float, default=0.8)
    p.add_argument("--p-sensor", type=float, default=0.9)
    p.add_argument(
        "--family-weights",
        default=None,
        type=family_weights,
        help="robot mix family weights, e.g. 'kitchen=0.3,room=0.3,counter=0.1' "
        "(default: synth.training_mix.FAMILY_WEIGHTS)",
    )
    p.add_argument(
        "--witnesses",
        type=int,
        default=0,
        help="witness cameras per window (0-64): targets are also what they see, "
        "as a longer recording would have seen it (synth.generate.witness_cameras)",
    )
    p.add_argument("--mesh-dir", default=None)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--val-batches", type=int, default=4)
    p.add_argument(
        "--val-rooms",
        type=int,
        default=8,
        help="synthetic room and kitchen windows (each) the head's points are scored on (0: none)",
    )
    p.add_argument(
        "--val-7scenes",
        default=None,
        help="7-Scenes dev folder the head's points are scored on (validation "
        "only; its reference from NOVA3R_CACHE or built)",
    )
    p.add_argument("--save-every", type=float, default=2.0, help="minutes")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start-batch", type=int, default=0, help="continue the batch sequence")
    p.add_argument("--init", default=None, help="a saved head to continue from (fresh AdamW)")
    p.add_argument(
        "--resume",
        default=None,
        help="a saved step with its train_state.* (the last step of a run): its "
        "head and AdamW moments; no --init, --context, --modes or --anchor",
    )
    p.add_argument(
        "--channels",
        default=",".join(map(str, HiddenHeadConfig.channels)),
        help="encoder channels of a new head (comma-separated)",
    )
    p.add_argument(
        "--context",
        type=int,
        default=None,
        help="self-attention blocks over each view's coarsest cells; with --init, "
        "blocks added to the saved head start as identities (default: a new head "
        "0, --init its own)",
    )
    p.add_argument(
        "--modes",
        type=int,
        default=None,
        help="depth modes per layer (1-4); with --init, a one-mode head's modes "
        "start as its depth (default: a new head 1, --init its own)",
    )
    p.add_argument(
        "--anchor",
        choices=("all", "mode"),
        default=None,
        help="depths relative to each cell's measured depth (model.hidden_anchor): "
        "'all' modes, or one more 'mode' beside the head's own; with --init, the "
        "saved head grows them (train.hidden_grow.with_anchor / "
        "with_anchored_mode)",
    )
    p.add_argument(
        "--pick-mode",
        action="store_true",
        help="with --init: one more depth mode per layer that picks one of the measured "
        "depths around the cell (train.hidden_grow.with_picked_mode)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True)
    return p


def parse(argv=None, description: str = "") -> argparse.Namespace:
    """Parse and check the options (exit code 2 with one line on a bad one).

    With ``--resume``, ``args.init`` is set to the resumed step (its head is loaded as
    ``--init`` loads one) and ``args.resume`` stays, naming where the moments are.
    """
    from nova3r_ros.train.state import saved_step

    p = parser(description)
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.batch < 1 or args.gt_points < 1:
        p.error("--minutes, --batch and --gt-points must be positive")
    if not 0 <= args.witnesses <= 64:
        p.error(f"--witnesses must be in [0, 64], got {args.witnesses}")
    grow = args.context is not None or args.modes is not None or args.anchor or args.pick_mode
    if args.resume:
        if args.init or grow:
            p.error(
                "--resume continues a run as it was: no --init, --context, --modes, "
                "--anchor or --pick-mode with it"
            )
        try:
            saved_step(args.resume)
            load_head(args.resume)
        except ValueError as exc:
            p.error(f"--resume: {exc}")
        args.init = args.resume
    try:
        head_cfg = head_config(args)
    except ValueError as exc:
        p.error(f"--channels/--context/--modes: {exc}")
    if args.pick_mode and not args.init:
        p.error("--pick-mode grows a saved head: give --init")
    if args.init and grow:
        _check_growth(p, args)
    from nova3r_ros.train.hidden_train import _plan

    try:
        _plan(args, head_cfg, "cpu", args.seed)  # TrainConfig checks the family weights
    except ValueError as exc:
        p.error(f"--family-weights: {exc}")
    return args


def _check_growth(p: argparse.ArgumentParser, args) -> None:
    """Refuse growth options that do not fit the ``--init`` head (exit code 2)."""
    try:
        init_cfg = load_head(args.init).config
    except ValueError as exc:
        p.error(f"--init: {exc}")
    if args.context is not None and args.context < init_cfg.context:
        p.error(f"--context {args.context}: the --init head has {init_cfg.context} blocks")
    if args.modes is not None and init_cfg.modes not in (1, args.modes):
        p.error(f"--modes {args.modes}: the --init head has {init_cfg.modes} modes")
    if args.anchor and init_cfg.anchored_modes:
        p.error(f"--anchor {args.anchor}: the --init head has anchored modes already")
    if args.anchor == "mode" and max(init_cfg.modes, args.modes or 1) != 1:
        p.error("--anchor mode: grows a one-mode head only (leave out --modes)")
    if args.pick_mode:
        modes = max(init_cfg.modes, args.modes or 1) + (args.anchor == "mode")
        if init_cfg.neighbour_modes or modes >= 4:
            p.error(f"--pick-mode: the --init head has a picked mode or {modes} modes (max 3)")
