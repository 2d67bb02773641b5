"""The voxel completion head's files: ``voxel_head.safetensors`` + ``voxel_head.json``.

:func:`save_voxel_head` writes a :class:`~nova3r_ros.model.voxel_completion.VoxelHead`
(float32, or float16 when shipped) with its grid and network configuration, training
metadata and the probability threshold chosen on validation; :func:`load_voxel_head`
reads it back and checks every part (weights via safetensors only, never pickle; batch
normalisation's running statistics are float buffers like the weights, its step counters
are rebuilt).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from nova3r_ros.model.voxel_completion import VoxelConfig, VoxelHead
from nova3r_ros.model.weight_files import save_weights

FORMAT = "nova3r-voxel-head-1"
JSON_NAME, WEIGHTS_NAME = "voxel_head.json", "voxel_head.safetensors"


def _float_state(head: VoxelHead) -> dict[str, torch.Tensor]:
    """Return the head's state without batch normalisation's integer step counters."""
    return {k: v for k, v in head.state_dict().items() if not k.endswith("num_batches_tracked")}


def save_voxel_head(directory: str | Path, head: VoxelHead, meta: dict | None = None,
                    min_probability: float | None = None, half: bool = False) -> Path:  # fmt: skip
    """Write the head; return the weights' path.

    ``half`` stores float16 (loaded back as float32); ``min_probability`` (None: the
    head's own) is the threshold the published cloud uses unless told otherwise.
    """
    p = head.min_probability if min_probability is None else min_probability
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"min_probability must be in [0, 1], got {p!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(_float_state(head), out / WEIGHTS_NAME, half, "the voxel head")
    doc = {"format": FORMAT, "config": asdict(head.config), "min_probability": float(p),
           "meta": meta or {}}  # fmt: skip
    (out / JSON_NAME).write_text(json.dumps(doc, indent=1))
    return out / WEIGHTS_NAME


def load_voxel_head(directory: str | Path, device: str | torch.device = "cpu") -> VoxelHead:
    """Read a head written by :func:`save_voxel_head` (ValueError on any mismatch)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d = Path(directory)
    try:
        doc = json.loads((d / JSON_NAME).read_text())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT!r}")
        raw = dict(doc["config"])
        for name in ("dims", "lower_m", "channels"):
            raw[name] = tuple(raw[name])
        head = VoxelHead(VoxelConfig(**raw))
        state = load_file(str(d / WEIGHTS_NAME))
        if any(not t.is_floating_point() for t in state.values()):
            raise ValueError("non-float weights")
        own = _float_state(head)
        if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
            raise ValueError("the weights do not match the configuration")
        head.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        p = doc["min_probability"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"min_probability {p!r} is not in [0, 1]")
        head.min_probability = float(p)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ValueError(f"{d}: not a voxel completion head ({exc})") from exc
    return head.to(device).eval()
