"""A trained model at a larger input size, warm-started from its own weights (ROS-free).

The network sees every view at ``image_width`` x ``image_height`` (128x96 in the shipped
model) cut into ``patch`` x ``patch`` patches. :func:`upscale_input` makes the same
network at ``factor`` times the size per side with ``factor`` times larger patches: the
same number of patch tokens (so the same transformer, positional embedding and speed
beyond the patch embedding), and a patch embedding whose kernel is the old one repeated
``factor`` x ``factor`` times and divided by ``factor**2``. On an input that is the old
input repeated per pixel (nearest upsampling) it computes exactly what the old network
computed; on a real image it sees the mean of each ``factor`` x ``factor`` cell at first
and can learn the finer detail in training. The decoder's ray features then read depth
at the larger size (``ray_features.ray_geometry`` uses the input size).

Shapes: ``image_encoder.patch_embed.weight`` (D, C, p, p) -> (D, C, f p, f p).

Command line (a checkpoint directory in, one out; safetensors only):
    python -m nova3r_ros.model.upscale IN OUT [--factor 2]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import torch

from nova3r_ros.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nova3r_ros.model.network import Nova3r

PATCH_WEIGHT = "image_encoder.patch_embed.weight"


def upscale_input(model: Nova3r, factor: int) -> Nova3r:
    """Return a new model with input and patch ``factor`` x larger per side (module doc).

    ``model`` is left as it is; the new one is on its device, in eval mode, without the
    published cloud's confidence calibration (fitted for the old model; fit it again).
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    f = int(factor)
    cfg = model.cfg
    new_cfg = replace(cfg, image_height=cfg.image_height * f, image_width=cfg.image_width * f,
                      patch=cfg.patch * f)  # fmt: skip
    new = Nova3r(new_cfg).to(next(model.parameters()).device)
    state = dict(model.state_dict())
    weight = state[PATCH_WEIGHT]
    state[PATCH_WEIGHT] = weight.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3) / f**2
    new.load_state_dict(state)
    new.calibration = None  # the old model's completed-point calibration does not carry over
    return new.eval()


def main(argv: list[str] | None = None) -> int:
    """Upscale checkpoint IN into OUT; exit code 2 with one line on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="checkpoint directory (config.json + safetensors)")
    ap.add_argument("out", help="output checkpoint directory")
    ap.add_argument("--factor", type=int, default=2, help="input size factor per side")
    a = ap.parse_args(argv)
    try:
        model = load_checkpoint(a.src)
        new = upscale_input(model, a.factor)
    except (CheckpointError, ValueError) as exc:
        print(f"nova3r upscale: {exc}", file=sys.stderr)
        return 2
    with torch.no_grad():
        meta = {"upscaled_from": str(a.src), "factor": a.factor}
        save_checkpoint(a.out, new, stage=3, meta=meta)
    c = new.cfg
    print(f"{a.out}: input {c.image_width}x{c.image_height}, patch {c.patch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
