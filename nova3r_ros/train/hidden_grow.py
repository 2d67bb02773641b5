"""Grow a trained hidden-surface head: more context blocks or more depth modes.

Both return a copy whose outputs start as (or, for modes, as close as a mixture can be
to) the trained head's, so that training continues from it rather than from scratch
(``python -m nova3r_ros.train.hidden_train --init DIR --context N --modes K``).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from nova3r_ros.model.hidden_head import HiddenHead

MODE_SPREAD = 0.3  # log-depth offset between the first and last new mode at the start


def _like(new: HiddenHead, head: HiddenHead) -> HiddenHead:
    new.min_probability = head.min_probability
    p = next(head.parameters())
    return new.to(device=p.device, dtype=p.dtype).train(head.training)


def with_context(head: HiddenHead, blocks: int) -> HiddenHead:
    """Return a copy of ``head`` with ``blocks`` context blocks (its own ones kept).

    The new blocks start as identities (:class:`~nova3r_ros.model.hidden_head.
    ContextBlock`), so the copy's outputs are the head's until it is trained further.
    Raises ValueError if ``blocks`` is fewer than the head already has.
    """
    if blocks < head.config.context:
        raise ValueError(f"the head has {head.config.context} context blocks, not <= {blocks}")
    new = HiddenHead(replace(head.config, context=blocks))
    missing, unexpected = new.load_state_dict(head.state_dict(), strict=False)
    if unexpected or any(not k.startswith("context.") for k in missing):
        raise ValueError(f"cannot extend the head: {missing} {unexpected}")
    return _like(new, head)


def with_modes(head: HiddenHead, modes: int) -> HiddenHead:
    """Return a copy of a one-mode ``head`` whose layers' depths are mixtures of ``modes``.

    Every weight but the output layer's is copied. Each layer's existence logit is the
    head's; each of its modes starts with the head's depth and uncertainty, the modes'
    depths spread over ``MODE_SPREAD`` in log depth around it (so that they can part)
    and equal weights. Raises ValueError unless the head has one mode (``modes`` equal to
    the head's own returns a plain copy).
    """
    have = head.config.modes
    if modes == have:
        new = HiddenHead(head.config)
        new.load_state_dict(head.state_dict())
        return _like(new, head)
    if have != 1:
        raise ValueError(f"the head has {have} depth modes; only a one-mode head grows modes")
    new = HiddenHead(replace(head.config, modes=modes))  # checks modes' range
    state = {k: v for k, v in head.state_dict().items() if not k.startswith("out.")}
    missing, unexpected = new.load_state_dict(state, strict=False)
    if unexpected or sorted(missing) != ["out.bias", "out.weight"]:
        raise ValueError(f"cannot grow the head's modes: {missing} {unexpected}")
    L = head.config.layers
    w, b = head.out.weight.detach(), head.out.bias.detach()  # rows: logits, ratio, log_b
    spread = MODE_SPREAD / 2
    offsets = torch.linspace(-spread, spread, modes, dtype=b.dtype, device=b.device)
    with torch.no_grad():
        new.out.weight.zero_()
        new.out.bias.zero_()  # the weight logits: equal weights
        new.out.weight[:L] = w[:L]
        new.out.bias[:L] = b[:L]
        for part in (1, 2):  # ratio, log_b: rows L + (part - 1) * L * K + l * K + k
            rows = w[part * L : (part + 1) * L].repeat_interleave(modes, 0)
            bias = b[part * L : (part + 1) * L].repeat_interleave(modes, 0)
            if part == 1:
                bias = bias + offsets.repeat(L)
            start = L + (part - 1) * L * modes
            new.out.weight[start : start + L * modes] = rows
            new.out.bias[start : start + L * modes] = bias
    return _like(new, head)
