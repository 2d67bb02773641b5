"""Session 41 probe: whether smoothing each view's depth raises the observed cloud's F@2cm.

Each view's depth is smoothed in inverse depth (where the Kinect model's noise is a
constant, ``SIGMA_COEFF`` 1/m) by a bilateral filter: a (2r+1)^2 window, spatial Gaussian
of sigma r / 2 px, range Gaussian of sigma k * SIGMA_COEFF; holes stay holes and are not
averaged in. The observed-only cloud (``nova3r eval``'s ``observed_only``: gate forced,
views not fused) of the raw and of the smoothed depth is scored by the protocol
(``frustum_metrics``; the observed set from the raw depth, as the eval defines it).

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session41/smoothing_probe.py
       (7scenes:DIR | room:FIRST-LAST) VIEWS WINDOWS [r,k ...]
"""

import sys
from dataclasses import replace

import numpy as np
import torch

from nova3r_ros.core.types import View, Window
from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import DataSpec, sevenscenes_windows, synthetic_windows
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.model.measurement import SIGMA_COEFF
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct
from nova3r_ros.synth.config import benchmark_config

KEYS = ("fscore@2cm", "precision@2cm", "recall@2cm", "fscore@1cm", "fscore@5cm")


def smoothed(depth: np.ndarray, r: int, k: float) -> np.ndarray:
    """(H, W) depth (m, 0 = hole) smoothed by the module docstring's bilateral filter."""
    z = torch.from_numpy(np.asarray(depth, np.float32))
    valid = z > 0
    q = torch.where(valid, 1.0 / z.clamp_min(1e-3), torch.zeros_like(z))
    H, W = z.shape
    qp = torch.nn.functional.pad(q, (r, r, r, r))
    vp = torch.nn.functional.pad(valid.float(), (r, r, r, r))
    num, den = torch.zeros_like(q), torch.zeros_like(q)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            qn = qp[r + dy : r + dy + H, r + dx : r + dx + W]
            vn = vp[r + dy : r + dy + H, r + dx : r + dx + W]
            w = vn * np.exp(-(dx * dx + dy * dy) / (2 * (r / 2) ** 2))
            w = w * torch.exp(-((qn - q) ** 2) / (2 * (k * SIGMA_COEFF) ** 2))
            num += w * qn
            den += w
    out = torch.where(valid & (den > 0), 1.0 / (num / den.clamp_min(1e-12)), torch.zeros_like(z))
    return out.numpy().astype(np.asarray(depth).dtype)


def with_depth(window: Window, r: int, k: float) -> Window:
    """Return the window with every view's depth smoothed."""
    return Window([View(v.image, smoothed(v.depth, r, k), v.K, v.T_world_cam, v.stamp,
                        v.frame_id, v.camera) for v in window.views])  # fmt: skip


def main() -> None:
    """Command line (module docstring)."""
    data, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = [tuple(float(x) for x in s.split(",")) for s in sys.argv[4:]] or [(3, 3)]
    backend = replace(ModelBackendConfig("nova3r_ros/model/checkpoints/base", "cpu", 1024, 2),
                      force_gate=True, fusion_sigmas=0.0)  # fmt: skip
    if data.startswith("7scenes:"):
        items = sevenscenes_windows(data[8:], views, windows, 4, log=lambda s: None)
    else:
        first, last = (int(x) for x in data[5:].split("-"))
        items = synthetic_windows(DataSpec("synthetic", first, last),
                                  benchmark_config(views, family="room"))  # fmt: skip
    names = ["raw"] + [f"r{int(r)}k{k:g}" for r, k in settings]
    rows = {n: [] for n in names}
    for window, gt, complete, frames in items:
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        taus = frustum.SYNTHETIC_THRESHOLDS_CM if complete else frustum.REAL_THRESHOLDS_CM
        wins = [window] + [with_depth(window, int(r), k) for r, k in settings]
        for name, w in zip(names, wins, strict=True):
            pts = in_world(reconstruct(w, "model", backend), gt)
            rows[name].append(frustum.frustum_metrics(pts, gt.points, cams, observed, taus,
                                                      None if complete else frames))  # fmt: skip
    keys = [k for k in KEYS if k in rows["raw"][0]]
    print(f"{data} {views} view(s): " + " ".join(keys))
    for name in names:
        print(f"  {name:8s} " + " ".join(f"{np.mean([r[k] for r in rows[name]]):.4f}"
                                         for k in keys))  # fmt: skip


if __name__ == "__main__":
    main()
