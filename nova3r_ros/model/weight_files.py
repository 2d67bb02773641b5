"""One safetensors file of a module's weights, as the heads' and the matcher's files write it.

:func:`save_weights` converts a state dict to float32 (or float16 for a shipped file),
refuses one larger than :data:`MAX_FILE_BYTES` (the device tool returns files under 16 MB)
and writes it with safetensors (never pickle).
"""

from __future__ import annotations

from pathlib import Path

import torch

MAX_FILE_BYTES = 15 * 2**20


def save_weights(state: dict[str, torch.Tensor], path: str | Path, half: bool, what: str) -> None:
    """Write ``state`` to ``path`` (float16 when ``half``); ValueError if over one file.

    ``what`` names the weights in the error ("the hidden head", ...).
    """
    from safetensors.torch import save_file

    dtype = torch.float16 if half else torch.float32
    state = {k: v.detach().to(dtype).cpu().contiguous() for k, v in state.items()}
    if sum(t.numel() * t.element_size() for t in state.values()) > MAX_FILE_BYTES:
        raise ValueError(f"{what}'s weights exceed one 15 MiB file")
    save_file(state, str(path))
