"""The hidden-surface head's files: ``hidden_head.safetensors`` + ``hidden_head.json``.

:func:`save_head` writes a :class:`~nova3r_ros.model.hidden_head.HiddenHead` (float32, or
float16 when shipped) with its configuration, training metadata and the confidence
thresholds chosen on validation (``min_probability`` for windows of several views,
``single_view_min_probability`` for windows of one); :func:`load_head` reads it back and
checks every part (weights via safetensors only, never pickle).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from nova3r_ros.model.hidden_head import DEFAULT_MIN_PROBABILITY, HiddenHead, HiddenHeadConfig
from nova3r_ros.model.weight_files import save_weights

FORMAT = "nova3r-hidden-head-2"


def save_head(
    directory: str | Path,
    head: HiddenHead,
    meta: dict | None = None,
    min_probability: float | None = None,
    half: bool = False,
    single_view_min_probability: float | None = None,
) -> Path:
    """Write the head as ``hidden_head.safetensors`` + ``hidden_head.json``.

    ``half`` stores the weights as float16 (a shipped head: half the bytes; loaded back as
    float32); ``min_probability`` is the confidence threshold chosen for it on validation,
    which the published cloud uses unless told otherwise; ``single_view_min_probability``
    the one for windows of one view (None: ``min_probability`` there too).
    """
    for name, p in (
        ("min_probability", min_probability),
        ("single_view_min_probability", single_view_min_probability),
    ):
        if p is not None and not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(head.state_dict(), out / "hidden_head.safetensors", half, "the hidden head")
    cfg = asdict(head.config)
    doc = {"format": FORMAT, "config": cfg, "meta": meta or {}}
    if min_probability is not None:
        doc["min_probability"] = float(min_probability)
    if single_view_min_probability is not None:
        doc["single_view_min_probability"] = float(single_view_min_probability)
    (out / "hidden_head.json").write_text(json.dumps(doc, indent=1))
    return out / "hidden_head.safetensors"


def load_head(directory: str | Path, device: str | torch.device = "cpu") -> HiddenHead:
    """Read a head written by :func:`save_head` (raises ValueError on any mismatch)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d = Path(directory)
    try:
        doc = json.loads((d / "hidden_head.json").read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r} != {FORMAT!r}")
        raw = dict(doc["config"])
        raw["channels"] = tuple(int(c) for c in raw["channels"])
        head = HiddenHead(HiddenHeadConfig(**raw))
        state = load_file(str(d / "hidden_head.safetensors"))
        if any(not t.is_floating_point() for t in state.values()):
            raise ValueError("non-float weights")
        head.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        for name, default in (
            ("min_probability", DEFAULT_MIN_PROBABILITY),
            ("single_view_min_probability", None),
        ):
            p = doc.get(name, default)
            if p is not None and (
                isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0
            ):
                raise ValueError(f"{name} {p!r} is not in [0, 1]")
            setattr(head, name, None if p is None else float(p))
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ValueError(f"{d}: not a hidden-surface head ({exc})") from exc
    return head.to(device).eval()
