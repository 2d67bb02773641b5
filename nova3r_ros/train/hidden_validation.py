"""Validation of the hidden-surface head on fixed windows, torch only (for checkpoints).

For each window of a :class:`~nova3r_ros.train.validate.ValSet` (the 7-Scenes dev
frames against their cached reference, or synthetic windows against their complete
surface; references cut to the window's region), the head's points are made as the
published cloud makes them (confidence >= a threshold, in some view's region, in no
view's seen free space, on no observed surface;
:func:`~nova3r_ros.model.hidden_head.predict_points`), in the world frame of the true
poses, and scored at ``tau`` for each confidence threshold (keys end in ``@<threshold>``,
so one prediction gives the precision against confidence that picks a checkpoint and a
threshold):

- ``head_precision``: share of the head's points within ``tau`` of the reference. There
  is no judged rule here (unlike ``nova3r eval`` on real data): a point behind a real
  surface that no frame measured counts as wrong, so this is stricter than the
  protocol's completed precision and is for choosing checkpoints, not for reporting.
- ``head_hidden_recall``: share of the hidden reference points (farther than ``tau``
  from every observed point) within ``tau`` of a head point.
- ``head_points``: mean count of the head's points per window.

Means over windows; windows with no points (or no hidden reference) count as 0 in the
precision (recall) mean.
"""

from __future__ import annotations

import torch

from nova3r_ros.model.hidden_head import HiddenHead, predict_points
from nova3r_ros.model.measurement import measure, region_depth
from nova3r_ros.model.observed_points import nearest, observed_cloud


def hidden_references(vs, tau: float = 0.05) -> list[torch.Tensor]:
    """Return each window's hidden reference points (world frame, (M_b, 3)).

    Those farther than ``tau`` from every observed point; they depend on the windows alone.
    """
    out = []
    for b, target in enumerate(vs.targets):
        rgb = vs.images[b].permute(0, 2, 3, 1)
        obs = observed_cloud(vs.depth[b], vs.K[b], vs.T_world_cam[b], rgb, 0.01)[0]
        out.append(target[nearest(target, obs)[0][:, 0] > tau] if len(target) else target)
    return out


def head_scores(
    vs, points: list[torch.Tensor], tau: float = 0.05, suffix: str = "",
    hidden: list[torch.Tensor] | None = None,
) -> dict[str, float]:  # fmt: skip
    """Score per-window world points (list of (N_b, 3)) against ``vs`` (module docstring).

    ``hidden``: :func:`hidden_references` of ``vs`` at ``tau`` (computed if None).
    """
    hidden = hidden_references(vs, tau) if hidden is None else hidden
    prec, rec, count = [], [], []
    for b, pts in enumerate(points):
        target = vs.targets[b]
        count.append(float(len(pts)))
        if len(pts) == 0 or len(target) == 0:
            prec.append(0.0)
        else:
            prec.append(float((nearest(pts, target)[0][:, 0] < tau).float().mean()))
        if len(hidden[b]) == 0 or len(pts) == 0:
            rec.append(0.0)
        else:
            rec.append(float((nearest(hidden[b], pts)[0][:, 0] < tau).float().mean()))
    n = max(len(points), 1)
    return {f"{vs.name}/head_precision{suffix}": sum(prec) / n,
            f"{vs.name}/head_hidden_recall{suffix}": sum(rec) / n,
            f"{vs.name}/head_points{suffix}": sum(count) / n}  # fmt: skip


@torch.no_grad()
def head_points(
    head: HiddenHead, vs, min_probability: float = 0.5
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Return each window's head points (world frame, true poses; (N_b, 3)) and confidences.

    Points at confidence >= ``min_probability`` ((N_b,) confidences), filtered as published.
    """
    out = []
    was_training = head.training
    head.eval()
    for b in range(len(vs.depth)):
        depth, K, T = vs.depth[b], vs.K[b], vs.T_world_cam[b]
        rgb = vs.images[b].permute(0, 2, 3, 1)
        pts, conf, _ = predict_points(head, depth, rgb, K, T, min_probability)
        m = measure(pts, depth, K, T, depth > 0, region_depth(depth))
        keep = ~m.free & ~m.surface & m.region
        out.append((pts[keep], conf[keep]))
    head.train(was_training)
    return out


def validate_head(
    head: HiddenHead, sets: list, thresholds: tuple[float, ...] = (0.2, 0.3, 0.5)
) -> dict[str, float]:
    """:func:`head_scores` of :func:`head_points` for every set and confidence threshold."""
    scores = {}
    for vs in sets:
        points = head_points(head, vs, min(thresholds))
        hidden = hidden_references(vs)  # once per set, not per threshold
        for t in thresholds:
            kept = [p[c >= t] for p, c in points]
            scores.update(head_scores(vs, kept, suffix=f"@{t:g}", hidden=hidden))
    return scores
