"""The learned matcher's files: ``matcher.safetensors`` + ``matcher.json``.

:func:`save_matcher` writes a :class:`~nova3r_ros.model.matcher.MatchNet` (float16 when
``half``) with its configuration and training metadata; :func:`load_matcher` reads it
back and checks every part (weights via safetensors only, never pickle).

A checkpoint's own matcher may name the devices it runs on without being asked for
(``default_devices``, e.g. ``["cuda"]``; the packaged one lists ``["cuda", "cpu"]``: on a
2-core CPU it costs about 1.2-1.3 times the RGB-only refinement's time, 430-454 ms for
2 views); :func:`default_devices` reads that list (None: every device).
"""

from __future__ import annotations

import json
from pathlib import Path

from nova3r_ros.model.matcher import MatchNet
from nova3r_ros.model.weight_files import MAX_FILE_BYTES, save_weights

FORMAT = "nova3r-matcher-1"
DEVICE_TYPES = ("cpu", "cuda")


def save_matcher(
    directory: str | Path,
    net: MatchNet,
    meta: dict | None = None,
    half: bool = False,
    default_devices: list[str] | None = None,
) -> Path:
    """Write the matcher; returns the directory (``default_devices``: module docstring)."""
    if default_devices is not None and not set(default_devices) <= set(DEVICE_TYPES):
        raise ValueError(f"default_devices must be among {DEVICE_TYPES}, got {default_devices}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(net.state_dict(), out / "matcher.safetensors", half, "the matcher")
    doc = {"format": FORMAT, "channels": list(net.channels), "dim": net.dim,
           "meta": meta or {}}  # fmt: skip
    if default_devices is not None:
        doc["default_devices"] = list(default_devices)
    (out / "matcher.json").write_text(json.dumps(doc, indent=1))
    return out


def load_matcher(directory: str | Path, device="cpu") -> tuple[MatchNet, dict]:
    """Read a matcher (float32 on ``device``) and its metadata; ValueError on a bad file."""
    from safetensors.torch import load_file

    d = Path(directory)
    meta_path, weights = d / "matcher.json", d / "matcher.safetensors"
    if not meta_path.is_file() or not weights.is_file():
        raise ValueError(f"{d} has no matcher.json and matcher.safetensors")
    if weights.stat().st_size > MAX_FILE_BYTES + 2**16:
        raise ValueError(f"{weights} is larger than a matcher can be")
    try:
        doc = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{meta_path}: not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: format must be {FORMAT!r}")
    channels, dim = doc.get("channels"), doc.get("dim")
    if (not isinstance(channels, list) or len(channels) != 5
            or not all(isinstance(c, int) and 1 <= c <= 512 for c in channels)
            or not isinstance(dim, int) or not 1 <= dim <= 512):  # fmt: skip
        raise ValueError(f"{meta_path}: channels must be 5 ints in 1-512 and dim an int 1-512")
    net = MatchNet(tuple(channels), dim)
    state = load_file(str(weights))
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{weights}: weights do not fit the config ({e})") from None
    return net.to(device).eval(), doc.get("meta", {})


def default_devices(directory: str | Path) -> tuple[str, ...] | None:
    """Return the device types a checkpoint's own matcher runs on unasked (None: all).

    ValueError on a ``matcher.json`` that is not JSON or whose list is not of
    :data:`DEVICE_TYPES`.
    """
    path = Path(directory) / "matcher.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    devices = doc.get("default_devices") if isinstance(doc, dict) else None
    if devices is None:
        return None
    if not isinstance(devices, list) or not set(devices) <= set(DEVICE_TYPES):
        raise ValueError(f"{path}: default_devices must be a list among {DEVICE_TYPES}")
    return tuple(devices)
