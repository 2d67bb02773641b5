"""Session 41 probe: the head's layer depths smoothed over neighbouring cells.

If the head's 2-5 cm misses were independent from cell to cell, averaging each cell's
depth with its neighbours' on the same layer and mode (a (2r+1)^2 window of cells, each
weighted by its existence probability and counted only where its log depth lies within
``tau`` of the cell's: edges stay) would put more of its points within 2 cm. The probe
wraps ``hidden_published.head_layers`` (the head's output, before thresholds, snapping
and sub-cells) and scores the published cloud on the 7-Scenes dev frames (validation
only; issue 6's protocol, stride 4, 4,096 points, 6 steps).

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session41/layer_smoothing_probe.py
       <dev frames> VIEWS WINDOWS r,tau [r,tau ...]
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.model import hidden_published
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

KEYS = ("fscore@2cm", "hidden_recall@5cm", "completed_precision@5cm", "fscore@5cm", "unjudged")
HEAD_LAYERS = hidden_published.head_layers
REAL_CM = frustum.REAL_THRESHOLDS_CM


def smooth_layers(z: torch.Tensor, exist: torch.Tensor, r: int, tau: float) -> torch.Tensor:
    """(V, M, h, w) depths averaged over each cell's (2r+1)^2 neighbours (docstring)."""
    V, M, h, w = z.shape
    k = 2 * r + 1
    logz = torch.log(z.clamp_min(1e-3)).reshape(V * M, 1, h, w)
    wt = exist.reshape(V * M, 1, h, w)
    nz = F.unfold(F.pad(logz, (r, r, r, r), mode="replicate"), k)  # (VM, k*k, h*w)
    nw = F.unfold(F.pad(wt, (r, r, r, r)), k)
    near = (nz - logz.reshape(V * M, 1, h * w)).abs() < tau
    nw = nw * near
    out = (nw * nz).sum(1) / nw.sum(1).clamp_min(1e-9)
    keep = nw.sum(1) > 0
    out = torch.where(keep, out, logz.reshape(V * M, h * w))
    return torch.exp(out).reshape(V, M, h, w)


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = [(int(s.split(",")[0]), float(s.split(",")[1])) for s in sys.argv[4:]]
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", "cpu", 4096, 6)
    names = ["shipped"] + [f"r{r}tau{t:g}" for r, t in settings]
    rows = {n: [] for n in names}
    for window, gt, _, frames in sevenscenes_windows(path, views, windows, 4,
                                                     log=lambda s: None):  # fmt: skip
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        for name, setting in zip(names, [None] + settings, strict=True):
            if setting is None:
                hidden_published.head_layers = HEAD_LAYERS
            else:

                def patched(head, depth, images, K, _s=setting):
                    Ks, z, exist, prob = HEAD_LAYERS(head, depth, images, K)
                    return Ks, smooth_layers(z, exist, *_s), exist, prob

                hidden_published.head_layers = patched
            pts = in_world(reconstruct(window, "model", backend), gt)
            rows[name].append(
                frustum.frustum_metrics(pts, gt.points, cams, observed, REAL_CM, frames)
            )
        hidden_published.head_layers = HEAD_LAYERS
    print(f"{views} view(s), {windows} windows: " + " ".join(KEYS))
    for name in names:
        print(f"  {name:12s} " + " ".join(f"{np.nanmean([r[k] for r in rows[name]]):.4f}"
                                          for k in KEYS))  # fmt: skip


if __name__ == "__main__":
    main()
