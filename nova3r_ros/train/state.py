"""Full training state (fp32 weights + AdamW moments) to continue a run, in safetensors.

The shipped checkpoint is bfloat16 and inference-only; a run split over several device
calls continues from this state instead, so neither the weights' precision nor the
optimiser's moments are lost between calls. Layout of ``directory``::

    train_state.safetensors   "model.<name>" fp32 tensors, "opt.<index>.<key>" AdamW state
    train_state.json          {"format_version", "model" (config name), "step", "groups"}

No pickle: tensors in safetensors, everything else in JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

STATE_FORMAT = 1


def save_train_state(directory, model: torch.nn.Module, opt: torch.optim.Optimizer,
                     model_name: str, step: int, with_model: bool = True,
                     moments_dtype: torch.dtype = torch.float32) -> Path:  # fmt: skip
    """Write the model's fp32 state and ``opt``'s state; return the JSON file's path.

    ``with_model=False`` writes the optimiser's state alone (the model's fp32 weights are
    saved beside it in their own file, e.g. a hidden-surface head's step directory).
    ``moments_dtype``: the AdamW moments' storage (bfloat16 halves the file; loading casts
    them back to the parameters' dtype); the step counts stay float32.
    """
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().float().cpu().contiguous()
               for k, v in model.state_dict().items() if with_model}  # fmt: skip
    sd = opt.state_dict()
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            dtype = torch.float32 if key == "step" else moments_dtype
            tensors[f"opt.{index}.{key}"] = torch.as_tensor(value).to(dtype).cpu().contiguous()
    groups = [{k: v for k, v in g.items() if k != "params"} | {"params": list(g["params"])}
              for g in sd["param_groups"]]  # fmt: skip
    save_file(tensors, str(out / "train_state.safetensors"))
    meta = {"format_version": STATE_FORMAT, "model": model_name, "step": int(step),
            "groups": groups, "with_model": with_model}  # fmt: skip
    path = out / "train_state.json"
    path.write_text(json.dumps(meta, indent=1))
    return path


def saved_step(directory) -> int:
    """Return the step of the training state in ``directory`` (ValueError if unreadable)."""
    try:
        return int(json.loads((Path(directory) / "train_state.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"no readable training state in {directory}: {exc}") from exc


def load_train_state(directory, model: torch.nn.Module, opt: torch.optim.Optimizer,
                     model_name: str) -> int:  # fmt: skip
    """Load a state written by :func:`save_train_state` into ``model`` and ``opt``.

    A state saved ``with_model=False`` leaves ``model`` as it is (its weights come from
    their own file) and checks only that the optimiser's moments fit its parameters.
    Returns the step it was saved at. Raises ``ValueError`` naming what does not match
    (format, model config name, tensor names or shapes, parameter groups).
    """
    from safetensors.torch import load_file

    d = Path(directory)
    try:
        meta = json.loads((d / "train_state.json").read_text())
        tensors = load_file(str(d / "train_state.safetensors"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"no readable training state in {d}: {exc}") from exc
    if meta.get("format_version") != STATE_FORMAT or meta.get("model") != model_name:
        got = f"format {meta.get('format_version')} of model {meta.get('model')!r}"
        raise ValueError(f"training state in {d} is {got}, need {STATE_FORMAT} of {model_name!r}")
    own = model.state_dict()
    saved = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    if meta.get("with_model", True):
        if set(saved) != set(own) or any(saved[k].shape != own[k].shape for k in own):
            raise ValueError(f"training state in {d} does not match the model's tensors")
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in saved.items()})
    device = next(model.parameters()).device
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, index, key = name.split(".", 2)
            value = value.to(device) if key != "step" else value
            state.setdefault(int(index), {})[key] = value
    groups = meta["groups"]
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in opt.param_groups]:
        raise ValueError(f"training state in {d} has other parameter groups than the run")
    params = [p for g in opt.param_groups for p in g["params"]]
    for index, entry in state.items():
        moment = entry.get("exp_avg")
        if index >= len(params) or (moment is not None and moment.shape != params[index].shape):
            raise ValueError(f"training state in {d} does not match the model's parameters")
    opt.load_state_dict({"state": state, "param_groups": groups})
    return int(meta["step"])
