"""Package a trained hidden-surface head for shipping: float16 weights and its threshold.

``python -m nova3r_ros.train.ship_head SRC DST --min-probability P`` reads the head saved
in ``SRC`` (:func:`~nova3r_ros.model.hidden_head_files.save_head` by the training), writes it to
``DST`` (usually the checkpoint directory, ``nova3r_ros/model/checkpoints/base``) with
float16 weights (half the bytes; loaded back as float32) and the confidence threshold
``P`` chosen on validation, which the published cloud then uses by default
(``--single-view-min-probability``: another one for windows of one view). The training
metadata is kept under ``meta.training``; ``--note`` adds a line on where the
head and its threshold were chosen. Exit code 2 with a one-line error on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def ship(
    src: str | Path, dst: str | Path, min_probability: float, note: str = "",
    single_view_min_probability: float | None = None,
) -> Path:  # fmt: skip
    """Write the head of ``src`` to ``dst`` as shipped (module docstring); return the file."""
    from nova3r_ros.model.hidden_head_files import load_head, save_head

    head = load_head(src)
    doc = json.loads((Path(src) / "hidden_head.json").read_text())
    meta = {"training": doc.get("meta", {})}
    if note:
        meta["note"] = note
    return save_head(
        dst,
        head,
        meta,
        min_probability=min_probability,
        half=True,
        single_view_min_probability=single_view_min_probability,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src", help="a saved head's directory (hidden_head.json + .safetensors)")
    p.add_argument("dst", help="where to write the shipped head")
    p.add_argument("--min-probability", type=float, required=True,
                   help="confidence threshold chosen on validation, in [0, 1]")  # fmt: skip
    p.add_argument("--single-view-min-probability", type=float, default=None,
                   help="the threshold for windows of one view, in [0, 1] (default: "
                   "--min-probability)")  # fmt: skip
    p.add_argument("--note", default="", help="where the head and threshold were chosen")
    args = p.parse_args(argv)
    try:
        out = ship(
            args.src, args.dst, args.min_probability, args.note, args.single_view_min_probability
        )
    except ValueError as exc:
        print(f"ship_head: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
