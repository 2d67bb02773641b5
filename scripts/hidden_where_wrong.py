"""Where the hidden-surface head misses the real hidden surface: existence or depth.

For each 7-Scenes dev window (validation only; issue 6's windows, 8 x stride 4), the
hidden reference (reference points farther than 5 cm from every observed point; with
``--uncovered``, also farther than 5 cm from every plane point of the published cloud)
is turned into the head's own per-cell layers (:func:`~nova3r_ros.train.hidden_targets.
layer_targets`: what a perfect head would output), and the head's outputs are read at
those cell-layers: its existence probability, its depth error (head - reference, metres;
with depth modes, the mode nearest the reference) and whether its confidence (a mode's,
the highest) reaches 0.3. Rows by where the reference surface lies: in a
depth hole, or behind the cell's measured depth by < 15 cm, 15-40 cm, > 40 cm. The last
columns are baselines with no network: the cell's measured depth plus ``--offset`` (8 cm)
within 5 cm of the reference (holes have no measured depth: -); the farthest measured
depth within ``--radius`` cells (a square around the cell) within 5 cm of it; and whether
any cell within that radius measured a depth within 5 cm of it (an upper bound for a head
that copies a neighbour's depth: how much of the hidden surface continues something
measured nearby).

Usage: PYTHONPATH=. python scripts/hidden_where_wrong.py DEV_DIR [--head DIR] [--views V]
[--uncovered] [--reference tsdf|measured] [--offset M] [--radius CELLS] (the reference from
$NOVA3R_CACHE or built; 2-core CPU: about a minute).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from nova3r_ros.model.hidden_anchor import neighbour_log_ratios
from nova3r_ros.model.hidden_head import head_layers, resample_view
from nova3r_ros.model.hidden_head_files import load_head
from nova3r_ros.model.observed_points import nearest
from nova3r_ros.model.published_cloud import PublishConfig, publish
from nova3r_ros.train.hidden_targets import layer_targets
from nova3r_ros.train.hidden_validation import hidden_references
from nova3r_ros.train.validate import sevenscenes_set


def neighbourhood(dmax: torch.Tensor, zt: torch.Tensor, radius: int) -> tuple:
    """Per cell: (farthest measured depth within ``radius`` cells, whether any is within 5 cm).

    ``dmax``: (V, h, w) each cell's farthest measured depth (0: none); ``zt``: (V, h, w) the
    reference layer's depth. Returns two (V, h, w) tensors (float depth, bool).
    """
    cand = neighbour_log_ratios(dmax, radius)  # (V, (2r+1)^2, h, w), any per-cell map
    near = ((cand - zt[:, None]).abs() < 0.05) & (cand > 0)
    return cand.amax(1), near.any(1)


def rows(head, vs, uncovered: bool, radius: int = 8) -> torch.Tensor:
    """Return (N, 8) rows, one per hidden cell-layer of every window.

    Columns: layer, behind (m), existence, depth error (m), confidence, cell measured, the
    neighbourhood's farthest depth within 5 cm, some neighbour's depth within 5 cm.
    """
    cfg, out = head.config, []
    hidden = hidden_references(vs)
    for b in range(len(vs.depth)):
        depth, K, T = vs.depth[b], vs.K[b], vs.T_world_cam[b]
        rgb = vs.images[b].permute(0, 2, 3, 1)
        ref = hidden[b]
        if uncovered:
            pub = publish(None, None, depth, K, T, rgb, PublishConfig(hidden_snap_tolerance=0.0))
            planes = pub.points[~pub.observed]
            if len(planes) and len(ref):
                ref = ref[nearest(ref, planes)[0][:, 0] >= 0.05]
        Ks, z, exist, conf = head_layers(head, depth, rgb, K)
        # per layer: its existence, its best confidence, the depth of its mode nearest
        # the reference (with one mode: the layer's own depth)
        z, exist, conf = (t.unflatten(1, (cfg.layers, cfg.modes)) for t in (z, exist, conf))
        d = resample_view(depth, rgb, K, cfg.height, cfg.width)[0]  # the head's input depth
        ex, zt, _ = layer_targets(ref[None].expand(len(depth), -1, -1), T, Ks, d, cfg)
        dmax = torch.nn.functional.max_pool2d(d[:, None], cfg.cell_px)[:, 0]
        for layer in range(cfg.layers):
            m = ex[:, layer]
            far, near = neighbourhood(dmax, zt[:, layer], radius)
            err = z[:, layer] - zt[:, layer, None]
            err = err.gather(1, err.abs().argmin(1, keepdim=True))[:, 0]
            out.append(torch.stack([
                torch.full((int(m.sum()),), float(layer)), (zt[:, layer] - dmax)[m],
                exist[:, layer].sum(1)[m], err[m], conf[:, layer].amax(1)[m],
                (dmax[m] > 0).float(), ((far - zt[:, layer]).abs() < 0.05)[m].float(),
                near[m].float(),
            ], 1))  # fmt: skip
    return torch.cat(out)


def main(argv=None) -> int:
    """Print the table (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dev")
    p.add_argument("--head", default="nova3r_ros/model/checkpoints/base")
    p.add_argument("--views", type=int, default=1)
    p.add_argument("--uncovered", action="store_true")
    p.add_argument("--reference", choices=("tsdf", "measured"), default="tsdf")
    p.add_argument("--offset", type=float, default=0.08, help="the baseline's offset (m)")
    p.add_argument("--radius", type=int, default=8, help="the neighbourhood baselines' (cells)")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    vs = sevenscenes_set(args.dev, args.views, "cpu", reference=args.reference)
    if args.radius < 1:
        p.error(f"--radius must be >= 1, got {args.radius}")
    R = rows(load_head(args.head), vs, args.uncovered, args.radius)
    measured = R[:, 5] > 0
    print(f"hidden cell-layers: {len(R)}")
    print("| class | share | existence >= 0.5 | depth within 5 cm | error q10 / q50 / q90 (m) "
          f"| confidence >= 0.3 | measured + {args.offset:.2f} m within 5 cm "
          f"| farthest within {args.radius} cells within 5 cm | any within {args.radius} cells "
          "within 5 cm |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for name, m in (("in a depth hole", ~measured),
                    ("behind by < 15 cm", measured & (R[:, 1] < 0.15)),
                    ("behind by 15-40 cm", measured & (R[:, 1] >= 0.15) & (R[:, 1] < 0.4)),
                    ("behind by > 40 cm", measured & (R[:, 1] >= 0.4)),
                    ("all", torch.ones_like(measured))):  # fmt: skip
        r = R[m]
        if len(r) == 0:
            continue
        q = np.quantile(r[:, 3].numpy(), [0.1, 0.5, 0.9])
        m_r = r[r[:, 5] > 0]
        base = (f"{float(((m_r[:, 1] - args.offset).abs() < 0.05).float().mean()):.2f}"
                if len(m_r) else "-")  # fmt: skip
        print(f"| {name} | {len(r) / len(R):.2f} | {float((r[:, 2] >= 0.5).float().mean()):.2f} "
              f"| {float((r[:, 3].abs() < 0.05).float().mean()):.2f} "
              f"| {q[0]:+.2f} / {q[1]:+.2f} / {q[2]:+.2f} "
              f"| {float((r[:, 4] >= 0.3).float().mean()):.2f} | {base} "
              f"| {float(r[:, 6].mean()):.2f} | {float(r[:, 7].mean()):.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
