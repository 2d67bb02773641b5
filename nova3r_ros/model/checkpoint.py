"""Checkpoints: safetensors weights (sharded, each file < 16 MB) + a JSON config.

Never pickle: ``torch.load`` of an untrusted file runs code. Layout of a
checkpoint directory::

    config.json            {"format_version", "model": ModelConfig, "shards": [...],
                            "dtype", "stage", "step", "meta"}
    weights-00.safetensors ...

Loading checks the format version, the config, every shard's presence and the
exact set and shapes of tensors, and says what was wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nova3r_ros.model.config import FORMAT_VERSION, ModelConfig
from nova3r_ros.model.network import Nova3r

MAX_SHARD_BYTES = 15 * 2**20
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted or does not match the model."""


# the shipped model, loaded when no checkpoint is named
PACKAGED_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "base"


def save_checkpoint(
    directory: str | Path,
    model: Nova3r,
    dtype: str = "bfloat16",
    inference_only: bool = True,
    stage: int = 2,
    step: int = 0,
    meta: dict | None = None,
) -> list[Path]:
    """Write ``model`` to ``directory`` as safetensors shards + config.json."""
    from safetensors.torch import save_file

    if dtype not in DTYPES:
        raise CheckpointError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = model.inference_state_dict() if inference_only else model.state_dict()
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        t = tensor.detach().to("cpu", DTYPES[dtype]).contiguous()
        nbytes = t.numel() * t.element_size()
        if size + nbytes > MAX_SHARD_BYTES and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    names = [f"weights-{i:02d}.safetensors" for i in range(len(shards))]
    for old in out.glob("weights-*.safetensors"):
        old.unlink()
    for name, shard in zip(names, shards, strict=True):
        save_file(shard, str(out / name))
    doc = {"format_version": FORMAT_VERSION, "model": model.cfg.to_dict(), "shards": names,
           "dtype": dtype, "stage": stage, "step": step, "inference_only": inference_only,
           "meta": meta or {}}  # fmt: skip
    (out / "config.json").write_text(json.dumps(doc, indent=1))
    return [out / n for n in names]


def read_config(directory: str | Path) -> dict:
    """Read and validate ``config.json`` of a checkpoint directory."""
    path = Path(directory) / "config.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {directory}: {path} is missing") from exc
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    version = doc.get("format_version") if isinstance(doc, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {version!r} is not the supported {FORMAT_VERSION}"
        )
    try:
        doc["model"] = ModelConfig.from_dict(doc["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config: {exc}") from exc
    return doc


CALIBRATION_FILE = "calibration.json"


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> Nova3r:
    """Build the model from a checkpoint directory (fp32 weights on ``device``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    doc = read_config(directory)
    model = Nova3r(doc["model"])
    expected = model.inference_state_dict() if doc.get("inference_only", True) else (
        model.state_dict())  # fmt: skip
    loaded: dict[str, torch.Tensor] = {}
    for name in doc.get("shards", []):
        path = Path(directory) / name
        if not path.is_file() or "/" in name or "\\" in name:
            raise CheckpointError(f"checkpoint shard {path} is missing")
        try:
            loaded.update(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path} is corrupted: {exc}") from exc
    missing = sorted(set(expected) - set(loaded))
    extra = sorted(set(loaded) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"checkpoint does not match the model: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
        )
    for name, tensor in loaded.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{name}: shape {tuple(tensor.shape)} != model's {tuple(expected[name].shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in loaded.items()}, strict=False)
    model.calibration = None  # the published cloud's confidence model (calibration.json)
    calib = Path(directory) / CALIBRATION_FILE
    if calib.is_file():
        from nova3r_ros.model.completed_confidence import Calibration

        try:
            model.calibration = Calibration.load(calib)
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc
    own = (Path(directory) / HIDDEN_HEAD_FILE).is_file()
    attach_hidden_head(model, directory if own else None, device)
    own = (Path(directory) / VOXEL_HEAD_FILE).is_file()
    attach_voxel_head(model, directory if own else None, device)
    own = (Path(directory) / MATCHER_FILE).is_file()
    attach_matcher(model, directory if own and matcher_by_default(directory, device) else None,
                   device)  # fmt: skip
    return model.to(device).eval()


HIDDEN_HEAD_FILE = "hidden_head.json"
VOXEL_HEAD_FILE = "voxel_head.json"
MATCHER_FILE = "matcher.json"


def _attach(model: Nova3r, name: str, load, directory: str | Path | None, device) -> None:
    """Set ``model.<name>`` to ``load(directory, device)`` (None: no head).

    A head is kept outside the model's modules (its own files and loader, not in the
    model's state dict); a file that is not one raises CheckpointError.
    """
    head = None
    if directory is not None:
        try:
            head = load(directory, device)
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc
    object.__setattr__(model, name, head)


def attach_hidden_head(model: Nova3r, directory: str | Path | None, device) -> None:
    """Give ``model`` the hidden-surface head saved in ``directory`` (None: no head).

    The head is kept outside the model's modules (its own files and loader, not in the
    model's state dict): ``model.hidden_head``.
    """
    from nova3r_ros.model.hidden_head_files import load_head

    _attach(model, "hidden_head", load_head, directory, device)


def attach_voxel_head(model: Nova3r, directory: str | Path | None, device) -> None:
    """Give ``model`` the voxel completion head saved in ``directory`` (None: no head).

    Kept outside the model's modules like the hidden-surface head: ``model.voxel_head``.
    """
    from nova3r_ros.model.voxel_files import load_voxel_head

    _attach(model, "voxel_head", load_voxel_head, directory, device)


def matcher_by_default(directory: str | Path, device) -> bool:
    """Return True when the matcher in ``directory`` runs on ``device`` without being named.

    Its ``matcher.json`` may list ``default_devices`` (:mod:`.matcher_files`); the
    packaged checkpoint's lists CUDA and the CPU. CheckpointError on a bad file.
    """
    import torch

    from nova3r_ros.model.matcher_files import default_devices

    try:
        devices = default_devices(directory)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    return devices is None or torch.device(device).type in devices


def attach_matcher(model: Nova3r, directory: str | Path | None, device) -> None:
    """Give ``model`` the learned matcher saved in ``directory`` (None: none).

    Kept outside the model's modules like the heads: ``model.matcher``; the RGB-only pose
    refinement uses it beside SIFT (:mod:`nova3r_ros.model.pose_rgb_learned`).
    """
    from nova3r_ros.model.matcher_files import load_matcher

    _attach(model, "matcher", lambda d, dev: load_matcher(d, dev)[0], directory, device)
