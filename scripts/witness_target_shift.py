"""How much witness cameras change the hidden-surface head's training targets (synthetic).

Draws training batches as ``hidden_train`` does (the kitchen mix, 6 views, sensor models),
with ``--witnesses N`` witness cameras per window, and compares each view's layer-0 targets
(:func:`~nova3r_ros.train.hidden_train.view_targets`: the nearest unmeasured surface of
each cell) when the eligible points are those the window's views see against those some
view or witness sees: the share of cells with a layer 0, and of the cells with one in
both, the share whose layer 0 comes more than 5 cm nearer. Seeds below the evaluation
ranges (the training stream of run seed 3); no network involved.

Usage: PYTHONPATH=. python scripts/witness_target_shift.py [--witnesses 12] [--batches 6]
[--batch 4] [--mesh-dir DIR] (2-core CPU: about a minute). Exit code 2 on bad options.
"""

from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace


def main(argv=None) -> int:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--witnesses", type=int, default=12)
    p.add_argument("--batches", type=int, default=6)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--mesh-dir", default=None)
    args = p.parse_args(argv)
    if not 1 <= args.witnesses <= 64 or args.batches < 1 or args.batch < 1:
        p.error("--witnesses must be in [1, 64], --batches and --batch >= 1")
    from nova3r_ros.model.hidden_head import HiddenHeadConfig
    from nova3r_ros.train.data import plan_batch, render_batch
    from nova3r_ros.train.hidden_train import _plan, view_targets

    mix = {"tabletop": 0.1, "clutter": 0.1, "shelf": 0.15, "counter": 0.1, "kitchen": 0.3,
           "room": 0.25}  # fmt: skip
    opts = SimpleNamespace(batch=args.batch, views=6, p_robot=0.8, p_sensor=0.9,
                           gt_points=200_000, mesh_dir=args.mesh_dir, family_weights=mix,
                           witnesses=args.witnesses)  # fmt: skip
    head = HiddenHeadConfig()
    try:
        cfg, size = _plan(opts, head, "cpu", 3)
    except ValueError as exc:
        print(f"witness_target_shift: {exc}", file=sys.stderr)
        return 2
    n = dict(cells=0, plain=0, witnessed=0, both=0, nearer=0)
    for i in range(args.batches):
        seeds, synth = plan_batch(cfg, size, i, 0, "cpu")
        b = render_batch(cfg, i, 0, seeds, synth, "cpu")
        (e0, z0, _), (e1, z1, _) = (view_targets(b, head, k) for k in ("visible", "witnessed"))
        e0, e1, z0, z1 = e0[:, 0], e1[:, 0], z0[:, 0], z1[:, 0]
        both = e0 & e1
        n["cells"] += e0.numel()
        n["plain"] += int(e0.sum())
        n["witnessed"] += int(e1.sum())
        n["both"] += int(both.sum())
        n["nearer"] += int((both & (z1 < z0 - 0.05)).sum())
        seen = max(float(b["visible"].float().mean()), 1e-9)
        share = float(b["witnessed"].float().mean()) / seen
        print(f"batch {i}: {synth.family}, witnessed / seen points {share:.2f}", flush=True)
    print(f"cells with a layer 0: window's views {n['plain'] / n['cells']:.3f}, with "
          f"{args.witnesses} witnesses {n['witnessed'] / n['cells']:.3f}")  # fmt: skip
    print(f"of the cells with one in both, layer 0 more than 5 cm nearer: "
          f"{n['nearer'] / max(n['both'], 1):.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
