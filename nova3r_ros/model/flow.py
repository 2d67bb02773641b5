"""Rectified flow from Gaussian noise to points, its loss and Euler/Heun ODE samplers.

Path: ``x_t = (1 - t) x_0 + t x_1`` with ``x_0 ~ N(0, I)`` and ``x_1`` the target
points (canonical coordinates); the decoder predicts ``v = x_1 - x_0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nova3r_ros.model.graphs import graphed
from nova3r_ros.model.network import FlowDecoder

SAMPLERS = ("euler", "heun")


def flow_loss(
    decoder: FlowDecoder,
    scene: torch.Tensor,
    target: torch.Tensor,
    observed: torch.Tensor | None = None,
    noise_std: float = 1.0,
    geo: dict | None = None,
) -> dict[str, torch.Tensor]:
    """Flow-matching loss (and observed-logit BCE) for one batch.

    Args:
        decoder: the flow decoder.
        scene: (B, S, D) scene tokens.
        target: (B, N, 3) canonical target points.
        observed: (B, N) bool labels (seen by an input view), or None.
        noise_std: standard deviation of the Gaussian source ``x_0``.
        geo: optional ray geometry for the decoder's pixel-aligned features.

    Returns:
        dict with ``flow`` (MSE of the velocity), ``observed`` (BCE, 0 if no labels), ``total``.

    """
    B = target.shape[0]
    # logit-normal t puts more weight on the middle of the path (SD3)
    t = torch.sigmoid(torch.randn(B, device=target.device))
    x0 = torch.randn_like(target) * noise_std
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * target
    out = decoder(xt, t, scene, geo).float()
    flow = F.mse_loss(out[..., :3], target - x0)
    obs = torch.zeros((), device=target.device)
    if observed is not None:
        # the label belongs to the end point; it is only predictable late on the path
        weight = t[:, None].expand_as(observed)
        obs = F.binary_cross_entropy_with_logits(out[..., 3], observed.float(), weight=weight)
    return {"flow": flow, "observed": obs, "total": flow + 0.1 * obs}


@torch.no_grad()
def sample(
    decoder: FlowDecoder,
    scene: torch.Tensor,
    n_points: int,
    steps: int = 25,
    method: str = "euler",
    chunk: int = 32_768,
    generator: torch.Generator | None = None,
    noise_std: float = 1.0,
    geo: dict | None = None,
    cuda_graph: bool = False,
    with_logits: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate the flow from noise to points.

    Args:
        decoder: the flow decoder; scene: (B, S, D) tokens.
        n_points: points per window (decoded in chunks of ``chunk``; points are
            independent given the tokens).
        steps: ODE steps; method: "euler" or "heun".
        generator: optional RNG for reproducible noise.
        noise_std: standard deviation of the Gaussian source (the model config's).
        geo: optional ray geometry for the decoder's pixel-aligned features.
        cuda_graph: on CUDA, replay each decoder evaluation from a captured graph
            (:mod:`nova3r_ros.model.graphs`; same numbers, fewer launches); ignored on CPU.
        with_logits: evaluate the decoder once more at t = 1 for the observed logits;
            False returns zeros instead (one evaluation fewer).

    Returns:
        (points (B, n_points, 3) canonical float32, observed logits (B, n_points)).

    """
    if method not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {method!r}")
    if steps < 1 or n_points < 1:
        raise ValueError(f"steps and n_points must be >= 1, got {steps}, {n_points}")
    B = scene.shape[0]
    pts, logits = [], []
    for start in range(0, n_points, chunk):
        n = min(chunk, n_points - start)
        x = torch.randn(B, n, 3, device=scene.device, generator=generator) * noise_std
        dt = 1.0 / steps
        t0 = torch.zeros(B, device=scene.device)
        step = graphed(decoder, x, t0, scene, geo) if cuda_graph else None
        if step is None:

            def step(x_, t_):
                return decoder(x_, t_, scene, geo)

        for i in range(steps):
            t = torch.full((B,), i * dt, device=scene.device)
            v = step(x, t)[..., :3].float().clone()  # a graph reuses its output buffer
            if method == "heun" and i < steps - 1:
                v2 = step(x + dt * v, t + dt)[..., :3].float()
                v = 0.5 * (v + v2)
            x = x + dt * v
        pts.append(x)
        if with_logits:
            logits.append(step(x, torch.ones(B, device=scene.device))[..., 3].float().clone())
        else:
            logits.append(torch.zeros(B, n, device=scene.device))
    return torch.cat(pts, dim=1), torch.cat(logits, dim=1)
