"""Probe a stage-1 checkpoint: F-score of the autoencoder (GT cloud -> tokens -> flow).

This is the ceiling stage 2 can reach with that decoder. Prints ``name=value`` lines.
Run: ``python -m nova3r_ros.train.probe CKPT [--windows 16] [--steps 25 50]``
"""

from __future__ import annotations

import argparse

import torch

from nova3r_ros.eval import metrics
from nova3r_ros.model.batch import prepare, to_reference_frame
from nova3r_ros.model.checkpoint import load_checkpoint
from nova3r_ros.model.flow import sample
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_batch
from nova3r_ros.train.loop import EVAL_SEED_START


def main(argv=None) -> None:
    """Decode GT clouds through the stage-1 autoencoder and score them (metric, 1 view)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--windows", type=int, default=16)
    p.add_argument("--steps", type=int, nargs="+", default=[25])
    p.add_argument("--points", type=int, default=16_384)
    a = p.parse_args(argv)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_checkpoint(a.checkpoint, dev)
    cfg = benchmark_config(1, height=model.cfg.image_height, width=model.cfg.image_width,
                           n_gt_points=a.points, device=dev)  # fmt: skip
    batch = generate_batch(EVAL_SEED_START + 500_000, a.windows, cfg, device=dev)
    one = torch.ones(a.windows, dtype=torch.bool, device=dev)
    inp = prepare(model.cfg, batch["images"], batch["K"], batch["depth"], batch["T_world_cam"],
                  one, one, ~one, batch["points"])  # fmt: skip
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
        scene = model.point_encoder(inp["points"])
    gt = to_reference_frame(inp["points"], inp["scale"]).cpu().numpy()
    for steps in a.steps:
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            pts, _ = sample(model.decoder, scene, a.points, steps, noise_std=model.cfg.noise_std)
        pred = to_reference_frame(pts.float(), inp["scale"]).cpu().numpy()
        rows = [metrics.metric_geometry(pred[i], gt[i]) for i in range(a.windows)]
        for key in ("fscore@1cm", "precision@1cm", "recall@1cm", "fscore@2cm"):
            mean = sum(r[key] for r in rows) / len(rows)
            print(f"stage1_{key}_steps{steps}={mean:.4f}")


if __name__ == "__main__":
    main()
