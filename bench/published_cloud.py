"""Benchmark: the published cloud with plane completion against the same cloud without it.

Times :func:`nova3r_ros.model.published_cloud.publish` on real 640x480 Kinect windows
(the 7-Scenes dev frames, recorded poses, ``--views`` views 4 frames apart; observed
points only, no decoder: the cost that plane completion adds to every window of the
node) with the default :class:`PublishConfig` and, in the same process as the baseline,
with ``plane_closing_m=0``; then with the shipped hidden-surface head too (the packaged
checkpoint's ``hidden_head.*``; these windows have no decoder output, so they are gated
and the head runs as in the node's real windows), with and without its layers snapped
onto the window's planes (``hidden_snap_tolerance=0``), and with snapping but every plane
at the ordinary reach (``hidden_snap_bounding_reach_m=0``: what the bounding planes'
longer reach costs); and with every plane kept (``plane_max_oblique_deg=45``: what
dropping the planes oblique to the largest costs or saves); and the default cloud (planes,
the head) with the sides of occluders at 0.08 m (``silhouette_depth_m``, off by default)
against the same without them; and the head without its cross-view consensus
(``hidden_consensus=0``: what the consensus of the default costs); and the head's layers
snapped onto planes at one point per cell (``hidden_snap_subcells=1``) against the default
(2 x 2 sub-cells behind measured surfaces); and the default cloud without fusing the
views' measurements of one surface (``fusion_sigmas=0``) against the default; and the
bounding planes' snapped layers at 4 x 4 sub-cells (``hidden_snap_bounding_subcells=4``,
off by default) against the default; and the completed points 0.1-0.4 m behind a measured
surface left out (``behind_cut_from_m=0.1, behind_cut_to_m=0.4``, off by default) against
the default.
Median of
``--repeats`` runs per window after ``--warmup``; CUDA synchronised inside each timed
call. Ends with ``name=value`` lines.

Usage: PYTHONPATH=bench:. python bench/published_cloud.py --data DIR
           [--device auto|cuda|cpu] [--views 8] [--windows 4] [--warmup 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
import torch
from _timing import median_ms

from nova3r_ros.core.transforms import se3_inverse
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT
from nova3r_ros.model.hidden_head_files import load_head
from nova3r_ros.model.published_cloud import PublishConfig, publish
from nova3r_ros.synth.sevenscenes import SevenScenesSequence


def windows(path: str, views: int, count: int, device: str):
    """Yield (depth, K, T_ref_cam, images) tensors of ``count`` windows on ``device``."""
    seq = SevenScenesSequence(path)
    span = (views - 1) * 4
    for start in np.linspace(0, len(seq) - 1 - span, count).astype(int):
        idx = [int(start) + 4 * i for i in range(views)]
        vs = [seq.view(i) for i in idx]
        ref = se3_inverse(seq.pose(idx[0]))
        T = np.stack([ref @ seq.pose(i) for i in idx])

        def t(a, dtype=torch.float32):
            return torch.as_tensor(np.stack(a), dtype=dtype, device=device)

        yield (t([v.depth for v in vs]), t([v.K for v in vs]), t(T),
               t([v.image for v in vs], torch.uint8))  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="7-Scenes sequence folder")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    head = load_head(PACKAGED_CHECKPOINT, device)
    with_planes, without, with_head, points, head_points = [], [], [], [], []
    no_snap = PublishConfig(hidden_snap_tolerance=0.0)
    no_bounding = PublishConfig(hidden_snap_bounding_reach_m=0.0)
    all_planes = PublishConfig(plane_max_oblique_deg=45.0)
    head_no_snap, head_no_bounding, every_plane = [], [], []
    with_sides, side_points = [], []
    no_consensus, head_no_consensus = PublishConfig(hidden_consensus=0.0), []
    sides = PublishConfig(silhouette_depth_m=0.08)
    one_per_cell, head_one_per_cell = PublishConfig(hidden_snap_subcells=1), []
    no_open, head_no_open = PublishConfig(open_hole_share=0.0), []
    no_fusion, head_no_fusion = PublishConfig(fusion_sigmas=0.0), []
    finer, head_finer = PublishConfig(hidden_snap_bounding_subcells=4), []
    band, head_band = PublishConfig(behind_cut_from_m=0.1, behind_cut_to_m=0.4), []
    for depth, K, T, rgb in windows(args.data, args.views, args.windows, device):

        def run(cfg, depth=depth, K=K, T=T, rgb=rgb, hidden_head=None):
            out = publish(None, None, depth, K, T, rgb, cfg, hidden_head=hidden_head)
            sync()
            return out

        with_planes.append(median_ms(lambda run=run: run(PublishConfig()), args.warmup,
                                     args.repeats))  # fmt: skip
        without.append(median_ms(lambda run=run: run(PublishConfig(plane_closing_m=0.0)),
                                 args.warmup, args.repeats))  # fmt: skip
        with_head.append(median_ms(lambda run=run: run(PublishConfig(), hidden_head=head),
                                   args.warmup, args.repeats))  # fmt: skip
        head_no_snap.append(median_ms(lambda run=run: run(no_snap, hidden_head=head),
                                      args.warmup, args.repeats))  # fmt: skip
        head_no_bounding.append(median_ms(lambda run=run: run(no_bounding, hidden_head=head),
                                          args.warmup, args.repeats))  # fmt: skip
        every_plane.append(median_ms(lambda run=run: run(all_planes), args.warmup,
                                     args.repeats))  # fmt: skip
        with_sides.append(median_ms(lambda run=run: run(sides, hidden_head=head),
                                    args.warmup, args.repeats))  # fmt: skip
        head_no_consensus.append(median_ms(lambda run=run: run(no_consensus, hidden_head=head),
                                           args.warmup, args.repeats))  # fmt: skip
        head_one_per_cell.append(median_ms(lambda run=run: run(one_per_cell, hidden_head=head),
                                           args.warmup, args.repeats))  # fmt: skip
        head_no_open.append(median_ms(lambda run=run: run(no_open, hidden_head=head),
                                      args.warmup, args.repeats))  # fmt: skip
        head_no_fusion.append(median_ms(lambda run=run: run(no_fusion, hidden_head=head),
                                        args.warmup, args.repeats))  # fmt: skip
        head_finer.append(median_ms(lambda run=run: run(finer, hidden_head=head),
                                    args.warmup, args.repeats))  # fmt: skip
        head_band.append(median_ms(lambda run=run: run(band, hidden_head=head),
                                   args.warmup, args.repeats))  # fmt: skip
        side_points.append(run(sides, hidden_head=head).stats["side_points"])
        points.append(run(PublishConfig()).stats["plane_points"])
        head_points.append(run(PublishConfig(), hidden_head=head).stats["hidden_points"])
    a, b = statistics.median(with_planes), statistics.median(without)
    c, d = statistics.median(with_head), statistics.median(head_no_snap)
    e, f = statistics.median(head_no_bounding), statistics.median(every_plane)
    g, h = statistics.median(with_sides), statistics.median(head_no_consensus)
    sc, op = statistics.median(head_one_per_cell), statistics.median(head_no_open)
    nf = statistics.median(head_no_fusion)
    fb = statistics.median(head_finer)
    bc = statistics.median(head_band)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    print(
        f"{args.views} views 640x480, {args.windows} windows on {name}: publish "
        f"{a:.1f} ms with plane completion, {b:.1f} ms without ({a / b:.2f}x)"
    )
    print(
        f"with the shipped hidden-surface head as well: {c:.1f} ms ({c / a:.2f}x); "
        f"without snapping its layers onto the planes: {d:.1f} ms; snapping without the "
        f"bounding planes' longer reach: {e:.1f} ms; every plane kept (no oblique rule): "
        f"{f:.1f} ms"
    )
    print(
        f"with the sides of occluders (0.08 m) as well: {g:.1f} ms, without them (the "
        f"default) {c:.1f} ms ({g / c:.2f}x)"
    )
    print(
        f"the head without its cross-view consensus: {h:.1f} ms, with it (the default) "
        f"{c:.1f} ms ({c / h:.2f}x)"
    )
    print(
        f"the head's snapped layers at one point per cell: {sc:.1f} ms, 2 x 2 sub-cells "
        f"behind measured surfaces (the default) {c:.1f} ms ({c / sc:.2f}x)"
    )
    print(
        f"without the open-space rule (large border-reaching holes): {op:.1f} ms, with it "
        f"(the default) {c:.1f} ms ({c / op:.2f}x)"
    )
    print(
        f"without fusing the views' measurements of one surface: {nf:.1f} ms, with it "
        f"(the default) {c:.1f} ms ({c / nf:.2f}x)"
    )
    print(
        f"with 4 x 4 sub-cells on the bounding planes (hidden_snap_bounding_subcells=4, off "
        f"by default): {fb:.1f} ms, without (the default) {c:.1f} ms ({fb / c:.2f}x)"
    )
    print(
        f"with the completed points 0.1-0.4 m behind a measured surface left out (behind_cut, "
        f"off by default): {bc:.1f} ms, without (the default) {c:.1f} ms ({bc / c:.2f}x)"
    )
    print(f"publish_planes_ms={a:.2f}")
    print(f"publish_no_planes_ms={b:.2f}")
    print(f"planes_added_ms={a - b:.2f}")
    print(f"planes_vs_no_planes={a / b:.3f}")
    print(f"publish_planes_head_ms={c:.2f}")
    print(f"head_added_ms={c - a:.2f}")
    print(f"head_vs_planes={c / a:.3f}")
    print(f"publish_planes_head_no_snap_ms={d:.2f}")
    print(f"snap_added_ms={c - d:.2f}")
    print(f"snap_vs_no_snap={c / d:.3f}")
    print(f"publish_planes_head_no_bounding_ms={e:.2f}")
    print(f"bounding_added_ms={c - e:.2f}")
    print(f"publish_every_plane_ms={f:.2f}")
    print(f"oblique_rule_added_ms={a - f:.2f}")
    print(f"planes_vs_every_plane={a / f:.3f}")
    print(f"publish_sides_ms={g:.2f}")
    print(f"sides_added_ms={g - c:.2f}")
    print(f"sides_vs_no_sides={g / c:.3f}")
    print(f"publish_planes_head_no_consensus_ms={h:.2f}")
    print(f"consensus_added_ms={c - h:.2f}")
    print(f"consensus_vs_no_consensus={c / h:.3f}")
    print(f"publish_snap_one_per_cell_ms={sc:.2f}")
    print(f"subcells_added_ms={c - sc:.2f}")
    print(f"subcells_vs_one_per_cell={c / sc:.3f}")
    print(f"publish_no_open_space_ms={op:.2f}")
    print(f"open_space_added_ms={c - op:.2f}")
    print(f"open_space_vs_none={c / op:.3f}")
    print(f"publish_no_fusion_ms={nf:.2f}")
    print(f"fusion_added_ms={c - nf:.2f}")
    print(f"fusion_vs_none={c / nf:.3f}")
    print(f"publish_bounding_subcells_ms={fb:.2f}")
    print(f"bounding_subcells_added_ms={fb - c:.2f}")
    print(f"bounding_subcells_vs_default={fb / c:.3f}")
    print(f"publish_behind_cut_ms={bc:.2f}")
    print(f"behind_cut_added_ms={bc - c:.2f}")
    print(f"behind_cut_vs_default={bc / c:.3f}")
    print(f"side_points_median={statistics.median(side_points):.0f}")
    print(f"head_points_median={statistics.median(head_points):.0f}")
    print(f"plane_points_median={statistics.median(points):.0f}")
    print(f"views={args.views}")
    print(f"device={name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
