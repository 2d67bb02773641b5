"""Grow a trained hidden-surface head: context blocks, depth modes, anchors, a picked mode.

Each returns a copy that keeps what the trained head learned, so that training continues
from it rather than from scratch (``python -m nova3r_ros.train.hidden_train --init DIR
--context N --modes K --anchor all|mode --pick-mode``). The outputs of a copy with context
blocks start as the head's; with modes, as close as a mixture can be to them; with
anchors, the existence and uncertainty outputs are the head's and the depths start at
fixed offsets behind each cell's anchor (:data:`ANCHOR_START`); with an anchored mode, the
head's own outputs are its first mode's; with a picked mode, the head's modes are kept and
a new one that copies a measured depth from around the cell starts with a small weight.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from nova3r_ros.model.hidden_head import HiddenHead

MODE_SPREAD = 0.3  # log-depth offset between the first and last new mode at the start
# log(z / anchor) at which each layer of a newly anchored head starts (5 % and 40 % behind)
ANCHOR_START = (0.05, 0.34)
FIRST_MODE_LOGIT = 2.0  # with_anchored_mode: the head's own mode's weight logit at the start


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


def with_anchor(head: HiddenHead) -> HiddenHead:
    """Return a copy of an unanchored ``head`` whose every mode is anchored.

    Every weight is copied except the output layer's depth rows: an anchored mode's depth
    output is an offset from the cell's measured depth, not a depth, so those rows start
    at zero with biases :data:`ANCHOR_START` per layer (layers past the last take its
    value; several modes keep a spread of ``MODE_SPREAD``). The backbone's features, the
    existence logits, the uncertainties and the mode weights are the head's. Raises
    ValueError if ``head`` has anchored modes already.
    """
    if head.config.anchored_modes:
        raise ValueError("the head has anchored modes already")
    L, K = head.config.layers, head.config.modes
    new = HiddenHead(replace(head.config, anchored_modes=K))
    new.load_state_dict(head.state_dict())
    offsets = torch.linspace(-MODE_SPREAD / 2, MODE_SPREAD / 2, K) if K > 1 else torch.zeros(1)
    with torch.no_grad():
        new.out.weight[L : L + L * K] = 0.0  # rows L + l * K + k
        new.out.bias[L : L + L * K] = (_starts(L)[:, None] + offsets[None]).flatten()
    return _like(new, head)


def with_anchored_mode(head: HiddenHead) -> HiddenHead:
    """Return a copy of a one-mode, unanchored ``head`` with a second, anchored mode.

    Mode 0 of every layer is the head's own (its depth, uncertainty and existence rows
    copied); mode 1 predicts an offset from the cell's measured depth, starting at
    :data:`ANCHOR_START` with the head's uncertainty. The weight logits start at
    :data:`FIRST_MODE_LOGIT` for mode 0 and 0 for mode 1 (weights 0.88 / 0.12), so the
    copy's confident points start as the head's and training moves weight to the anchored
    mode where it explains the targets better. Raises ValueError unless the head has one
    mode and no anchored one.
    """
    if head.config.modes != 1 or head.config.anchored_modes:
        raise ValueError("only a one-mode head without anchors grows an anchored mode")
    L = head.config.layers
    new = HiddenHead(replace(head.config, modes=2, anchored_modes=1))
    state = {k: v for k, v in head.state_dict().items() if not k.startswith("out.")}
    missing, unexpected = new.load_state_dict(state, strict=False)
    if unexpected or sorted(missing) != ["out.bias", "out.weight"]:
        raise ValueError(f"cannot grow an anchored mode: {missing} {unexpected}")
    w, b = head.out.weight.detach(), head.out.bias.detach()  # rows: logits, ratio, log_b
    with torch.no_grad():
        new.out.weight.zero_()
        new.out.bias.zero_()
        new.out.weight[:L] = w[:L]
        new.out.bias[:L] = b[:L]
        for part in (1, 2):  # ratio, log_b: rows L + (part - 1) * 2L + 2l + k
            rows = slice(L + (part - 1) * 2 * L, L + part * 2 * L)
            new.out.weight[rows][0::2] = w[part * L : (part + 1) * L]  # mode 0: the head's
            new.out.bias[rows][0::2] = b[part * L : (part + 1) * L]
            if part == 2:  # mode 1's uncertainty: the head's
                new.out.weight[rows][1::2] = w[part * L : (part + 1) * L]
                new.out.bias[rows][1::2] = b[part * L : (part + 1) * L]
        new.out.bias[L + 1 : L + 2 * L : 2] = _starts(L).to(b)  # mode 1's depth offset
        new.out.bias[L + 4 * L : L + 6 * L : 2] = FIRST_MODE_LOGIT  # weight logits, mode 0
    return _like(new, head)


def _starts(layers: int) -> torch.Tensor:
    return torch.tensor([ANCHOR_START[min(i, len(ANCHOR_START) - 1)] for i in range(layers)])


def with_picked_mode(head: HiddenHead) -> HiddenHead:
    """Return a copy of ``head`` with one more depth mode per layer, a picked one.

    The picked mode's depth is one of the measured depths in the cells around it, which the
    head learns to choose (:func:`~nova3r_ros.model.hidden_anchor.picked_log_ratio`). Every
    weight of the head is copied and its modes keep their depths, uncertainties and
    relative weights. The new mode starts with no offset, a uniform pick (the mean of the
    neighbourhood's anchors), the last mode's uncertainty and a weight logit
    :data:`FIRST_MODE_LOGIT` below the mean of the layer's other modes' (with a one-mode
    head: the old mode's logit starts at :data:`FIRST_MODE_LOGIT`, the new one's at 0).
    Raises ValueError if the head has picked modes already or 4 modes.
    """
    cfg = head.config
    if cfg.neighbour_modes:
        raise ValueError("the head has a picked mode already")
    L, K = cfg.layers, cfg.modes
    new = HiddenHead(replace(cfg, modes=K + 1, neighbour_modes=1))  # checks the modes' range
    state = {k: v for k, v in head.state_dict().items() if not k.startswith("out.")}
    missing, unexpected = new.load_state_dict(state, strict=False)
    if unexpected or sorted(missing) != ["out.bias", "out.weight"]:
        raise ValueError(f"cannot grow a picked mode: {missing} {unexpected}")
    w, b = head.out.weight.detach(), head.out.bias.detach()
    nw, nb = new.out.weight, new.out.bias

    def old(part: int, layer: int, mode: int) -> int:
        return L + part * L * K + layer * K + mode

    def row(part: int, layer: int, mode: int) -> int:
        return L + part * L * (K + 1) + layer * (K + 1) + mode

    with torch.no_grad():
        nw.zero_()
        nb.zero_()  # also the pick logits: a uniform pick at the start
        nw[:L], nb[:L] = w[:L], b[:L]
        for layer in range(L):
            for part in range(3 if K > 1 else 2):  # ratio, log_b, weight logits
                for mode in range(K):
                    nw[row(part, layer, mode)] = w[old(part, layer, mode)]
                    nb[row(part, layer, mode)] = b[old(part, layer, mode)]
            nw[row(1, layer, K)] = w[old(1, layer, K - 1)]  # the last mode's uncertainty
            nb[row(1, layer, K)] = b[old(1, layer, K - 1)]
            if K > 1:
                rows = [old(2, layer, mode) for mode in range(K)]
                nw[row(2, layer, K)] = w[rows].mean(0)
                nb[row(2, layer, K)] = b[rows].mean() - FIRST_MODE_LOGIT
            else:
                nb[row(2, layer, 0)] = FIRST_MODE_LOGIT
    return _like(new, head)
