"""Score two references of a sequence's poses against each other, as ``nova3r eval`` does.

The recorded poses of a 7-Scenes-layout folder are taken as an estimate and scored against
another reference of the same frames (``--pose-reference``, the format of
:mod:`nova3r_ros.eval.pose_reference`, e.g. Brachmann et al.'s SfM pseudo ground truth),
on the windows ``nova3r eval --data 7scenes:DIR --views V --windows W --stride S`` takes:
RRA / RTA at 5 / 15 / 30 degrees and AUC@30 per view count. No pose method can score
much higher against one reference than the two references score against each other
where its poses lie between them; a target tighter than their agreement cannot be
checked on that sequence.

Usage: PYTHONPATH=. python scripts/pose_reference_agreement.py --data DIR
           --pose-reference FILE [--pose-reference-sequence seq-01] [--views 2 4 8] [--windows 8]
           [--stride 10]
Exit code 2 with one line on a bad folder, file, sequence or window setting.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from nova3r_ros.eval import metrics
from nova3r_ros.eval.data import window_indices
from nova3r_ros.eval.pose_reference import load_pose_reference, window_poses

KEYS = ("rra@5", "rra@15", "rta@5", "rta@15", "rta@30", "auc@30")


def agreement(recorded: list[np.ndarray], frames: list[int], reference: dict, views: int,
              windows: int, stride: int) -> dict[str, float]:  # fmt: skip
    """Mean pose metrics of the recorded poses (per position) against the reference."""
    rows = []
    for idx in window_indices(len(frames), views, windows, stride):
        truth = window_poses(reference, [frames[i] for i in idx])
        rows.append(metrics.pose_metrics([recorded[i] for i in idx], truth))
    return {k: float(np.mean([r[k] for r in rows])) for k in KEYS}


def main() -> int:
    """Print the agreement table; exit code 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder in the 7-Scenes layout")
    ap.add_argument("--pose-reference", required=True)
    ap.add_argument("--pose-reference-sequence", default=None, help="its sequence (seq-01)")
    ap.add_argument("--views", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--stride", type=int, default=10)
    args = ap.parse_args()
    try:
        from nova3r_ros.synth.sevenscenes import SevenScenesSequence

        seq = SevenScenesSequence(args.data)
        if len(seq) < 2 or args.windows < 1 or args.stride < 1 or min(args.views) < 2:
            raise ValueError("need 2+ frames, --windows >= 1, --stride >= 1, --views >= 2")
        reference = load_pose_reference(args.pose_reference, args.pose_reference_sequence)
        recorded = [seq.pose(i) for i in range(len(seq))]
        frames = [f.index for f in seq.frames]
        print(f"# {args.data}: recorded poses scored against {args.pose_reference}"
              f" ({args.pose_reference_sequence or 'its only sequence'}), {args.windows} windows,"
              f" stride {args.stride}")  # fmt: skip
        print("| views | " + " | ".join(KEYS) + " |")
        print("|---" * (len(KEYS) + 1) + "|")
        for v in args.views:
            m = agreement(recorded, frames, reference, v, args.windows, args.stride)
            print(f"| {v} | " + " | ".join(f"{m[k]:.3f}" for k in KEYS) + " |")
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
