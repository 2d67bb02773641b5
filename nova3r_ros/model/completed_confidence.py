"""Confidence of the decoder's completed points: per-point features and their calibration.

The published cloud (:mod:`~nova3r_ros.model.published_cloud`, step 4) scores each of the
decoder's completed candidates by :func:`features` (:data:`FEATURES`) and maps the scores
to confidences with a :class:`Calibration` (fitted on validation windows by
``scripts/calibrate_confidence.py`` and stored as ``calibration.json`` beside a
checkpoint; the default is a hand-set prior).

Frames: points in the window's reference frame, metres. Torch on the points' device.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from nova3r_ros.model.measurement import Measurement
from nova3r_ros.model.observed_points import nearest

FEATURES = ("agreement", "log_density", "log_observed_distance", "behind_depth", "unseen")


@dataclass(frozen=True)
class Calibration:
    """Confidence: a logistic score over :data:`FEATURES`, then a monotone map to accuracy.

    ``score = sigmoid(bias + sum(weights * features))``; with knots, the confidence is the
    piecewise-linear interpolation of (``knots_x`` scores -> ``knots_y`` accuracies), an
    isotonic fit of the score to the observed share of correct points (clamped at the
    ends). Fitted on validation windows (``scripts/calibrate_confidence.py``) and stored
    as ``calibration.json`` beside a checkpoint. The default (no file) is a hand-set
    prior without knots: confidence rises with the window's agreement and falls with
    isolation and with the distance to observed surfaces.
    """

    weights: tuple[float, ...] = (4.0, -1.0, -0.5, -2.0, -0.5)
    bias: float = -3.5
    fitted_on: str = "prior (not fitted)"
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"Calibration needs {len(FEATURES)} weights, got {len(self.weights)}")
        values = (*self.weights, self.bias, *self.knots_x, *self.knots_y)
        if not all(math.isfinite(float(w)) for w in values):
            raise ValueError("Calibration weights and knots must be finite")
        kx, ky = self.knots_x, self.knots_y
        if len(kx) != len(ky) or len(kx) == 1:
            raise ValueError("Calibration knots: as many x as y, and none or at least two")
        if any(b <= a for a, b in itertools.pairwise(kx)) or not all(0 <= y <= 1 for y in ky):
            raise ValueError("Calibration knots: x increasing, y in [0, 1]")

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N,) logistic score in [0, 1] (before the monotone map)."""
        w = torch.tensor(self.weights, dtype=features.dtype, device=features.device)
        return torch.sigmoid(features @ w + self.bias)

    def confidence(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N,) confidence in [0, 1]."""
        s = self.score(features)
        if not self.knots_x:
            return s
        kx = torch.tensor(self.knots_x, dtype=s.dtype, device=s.device)
        ky = torch.tensor(self.knots_y, dtype=s.dtype, device=s.device)
        i = torch.bucketize(s.clamp(kx[0], kx[-1]), kx).clamp(1, len(kx) - 1)
        t = (s.clamp(kx[0], kx[-1]) - kx[i - 1]) / (kx[i] - kx[i - 1])
        return ky[i - 1] + t * (ky[i] - ky[i - 1])

    def save(self, path: str | Path) -> None:
        """Write as JSON."""
        doc = {**asdict(self), "features": list(FEATURES)}
        Path(path).write_text(json.dumps(doc, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a JSON calibration (raises ValueError if malformed)."""
        try:
            doc = json.loads(Path(path).read_text())
            if doc.get("features") != list(FEATURES):
                raise ValueError(f"features {doc.get('features')} != {list(FEATURES)}")
            return cls(tuple(float(w) for w in doc["weights"]), float(doc["bias"]),
                       str(doc.get("fitted_on", "")),
                       tuple(float(x) for x in doc.get("knots_x", ())),
                       tuple(float(y) for y in doc.get("knots_y", ())))  # fmt: skip
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a confidence calibration ({exc})") from exc


def features(
    points: torch.Tensor, meas: Measurement, observed: torch.Tensor, agreement: float,
    scale: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return the (N, F) confidence inputs, :data:`FEATURES`, of candidate points (N, 3).

    Also returns, per point, the index of the nearest row of ``observed`` (its colour).
    ``scale`` (a 0-d tensor, metres) is the window's median valid depth.
    """
    n = points.shape[0]
    dev = points.device
    if n == 0:
        return torch.zeros(0, len(FEATURES), device=dev), torch.zeros(0, dtype=torch.long)
    knn = nearest(points, points, k=9)[0][:, 1:].mean(1)
    density = torch.log(knn / knn.median().clamp_min(1e-6) + 1e-3)
    d_obs, i_obs = nearest(points, observed)
    d_obs = d_obs[:, 0].to(dev)
    scale = scale.to(d_obs.device)
    d_obs = torch.where(torch.isfinite(d_obs), d_obs, 10 * scale)
    feats = torch.stack([
        torch.full((n,), float(agreement), device=dev),
        density.to(dev),
        torch.log(d_obs / scale + 1e-3),
        meas.behind_depth,
        (~meas.behind).float(),
    ], dim=1)  # fmt: skip
    return feats, i_obs[:, 0]
