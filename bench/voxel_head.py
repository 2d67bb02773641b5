"""Benchmark: the published cloud with a voxel completion head against the cloud without it.

Times :func:`nova3r_ros.model.published_cloud.publish` on real 640x480 Kinect windows
(the 7-Scenes dev frames, recorded poses, ``--views`` views 4 frames apart, no decoder:
gated, as every real window) with the shipped hidden-surface head, and in the same
process the same with a voxel completion head of the default size
(:class:`~nova3r_ros.model.voxel_completion.VoxelConfig`: 10 cm cells, 80 x 64 x 80,
channels 16-32-64-96, or ``--channels``). No trained voxel head is shipped, so the head
here has seeded random weights with its occupancy bias set so that none of its cells
passes the threshold: what is timed is the grid, its cut and the network (the cost of every
window), not the rules on its points (their number depends on the weights). Also timed:
:func:`~nova3r_ros.model.voxel_completion.window_points` alone on the cut grid against
the same network on the whole grid (what the cut saves). Gravity from view 0's support
plane, as in the node without TF. With ``--head DIR`` (a trained head, e.g. from
``nova3r_ros.train.voxel_train``) also its completed points at 5 points per cell (spread
along the surface, :mod:`~nova3r_ros.model.voxel_spread`; the default) against 1 point
per cell, at the head's threshold, in the same process. Median of ``--repeats`` runs per
window after ``--warmup``; CUDA synchronised inside each timed call. Ends with
``name=value`` lines.

Usage: PYTHONPATH=bench:. python bench/voxel_head.py --data DIR
           [--device auto|cuda|cpu] [--views 2] [--windows 4] [--warmup 1] [--repeats 3]
           [--channels 16 32 64 96] [--head DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
from _timing import median_ms
from published_cloud import windows

from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT
from nova3r_ros.model.gravity import support_plane_down
from nova3r_ros.model.hidden_head_files import load_head
from nova3r_ros.model.published_cloud import PublishConfig, publish
from nova3r_ros.model.voxel_completion import (
    VoxelConfig,
    VoxelHead,
    crop_box,
    grid_inputs,
    grid_poses,
    subsampled,
    window_points,
)
from nova3r_ros.model.voxel_files import load_voxel_head


def quiet_head(device: str, channels: tuple[int, ...]) -> VoxelHead:
    """Return a head of the default grid: seeded random weights, no cell above threshold."""
    torch.manual_seed(0)
    head = VoxelHead(VoxelConfig(channels=channels)).to(device).eval()
    with torch.no_grad():
        head.out.bias[0] = -30.0
    return head


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="7-Scenes sequence folder")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--channels", type=int, nargs="+", default=list(VoxelConfig().channels))
    ap.add_argument("--head", default=None, help="a trained voxel head: time the spread too")
    args = ap.parse_args(argv)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    hidden = load_head(PACKAGED_CHECKPOINT, device)
    voxel = quiet_head(device, tuple(args.channels))
    cfg = PublishConfig()
    trained = load_voxel_head(args.head, device) if args.head else None
    base, with_voxel, cut, whole, share, one, five, counts = [], [], [], [], [], [], [], []
    for depth, K, T, rgb in windows(args.data, args.views, args.windows, device):
        down = support_plane_down(depth[0], K[0])

        def run(head, depth=depth, K=K, T=T, rgb=rgb, down=down):
            out = publish(None, None, depth, K, T, rgb, cfg, hidden_head=hidden,
                          voxel_head=head, down=down)  # fmt: skip
            sync()
            return out

        def points(depth=depth, K=K, T=T, down=down):
            out = window_points(voxel, depth, K, T, down, voxel.min_probability)
            sync()
            return out

        d, Ks = subsampled(depth, K, voxel.config.input_width)
        x = grid_inputs(d[None], Ks[None], grid_poses(T, down)[None], voxel.config)

        def network(x=x):
            with torch.no_grad():
                out = voxel(x)
            sync()
            return out

        base.append(median_ms(lambda run=run: run(None), args.warmup, args.repeats))
        with_voxel.append(median_ms(lambda run=run: run(voxel), args.warmup, args.repeats))
        cut.append(median_ms(points, args.warmup, args.repeats))
        whole.append(median_ms(network, args.warmup, args.repeats))
        box = crop_box(x[0], voxel.config)
        share.append(x[0, 0][box].numel() / x[0, 0].numel())
        assert run(voxel).stats["voxel_points"] == 0
        if trained is not None:

            def spread(k, depth=depth, K=K, T=T, down=down):
                out = window_points(trained, depth, K, T, down, trained.min_probability, k)
                sync()
                return out

            one.append(median_ms(lambda: spread(1), args.warmup, args.repeats))
            five.append(median_ms(lambda: spread(5), args.warmup, args.repeats))
            counts.append((len(spread(1)[0]), len(spread(5)[0])))
    a, b = statistics.median(base), statistics.median(with_voxel)
    c, w = statistics.median(cut), statistics.median(whole)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    print(
        f"{args.views} views 640x480, {args.windows} windows on {name}: publish with the "
        f"hidden-surface head {a:.1f} ms, with a voxel head of channels {args.channels} as "
        f"well {b:.1f} ms ({b / a:.2f}x; untrained weights, none of its points kept)"
    )
    print(
        f"the voxel head's grid, cut and network: {c:.1f} ms; the network on the whole "
        f"grid: {w:.1f} ms; the cut holds {statistics.median(share):.2f} of the grid"
    )
    print(f"publish_default_ms={a:.2f}")
    print(f"publish_voxel_ms={b:.2f}")
    print(f"voxel_added_ms={b - a:.2f}")
    print(f"voxel_vs_default={b / a:.3f}")
    print(f"voxel_cut_grid_ms={c:.2f}")
    print(f"voxel_whole_grid_network_ms={w:.2f}")
    print(f"cut_vs_whole={c / w:.3f}")
    print(f"cut_share_median={statistics.median(share):.3f}")
    if trained is not None:
        o, f = statistics.median(one), statistics.median(five)
        n1, n5 = (statistics.median(c[i] for c in counts) for i in (0, 1))
        print(f"trained head {args.head}: completed points 1 per cell {o:.1f} ms ({n1:.0f} "
              f"points), 5 per cell {f:.1f} ms ({n5:.0f} points)")  # fmt: skip
        print(f"spread_one_ms={o:.2f}")
        print(f"spread_five_ms={f:.2f}")
        print(f"spread_added_ms={f - o:.2f}")
        print(f"spread_vs_one={f / o:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
