"""Session 40 probe: the published cloud's completed parts at coarser spacings, on 7-Scenes.

For the dev windows of issue 6's protocol (validation only; stride 4), the shipped
published cloud (``nova3r eval``'s ``model`` method, 4,096 points, 6 steps) is made once
per window; its completed parts (planes, the hidden head, the decoder: every point with
``observed`` 0) are then thinned to one point per cube of each spacing (first point per
cube, world frame) and the cloud is scored by the protocol each time. Prints per
spacing the mean F@2cm, F@5cm, precision@2cm, recall@2cm, hidden recall@5cm, completed
precision@5cm and unjudged, and the observed_only row of the same windows.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session40/density_probe.py
       <dev frames> VIEWS WINDOWS SPACINGS(cm, comma-separated; 0 = as published; or a part
       name from scripts/completed_parts.py: the cloud without it; or "unjudged": without
       the completed points no frame of the sequence measured, an oracle) [DEVICE
       [NAME=VALUE ...]]  (ModelBackendConfig overrides, e.g. behind_gap_m=0.05)
"""

import sys
from dataclasses import replace

import numpy as np

from nova3r_ros.core.types import Reconstruction
from nova3r_ros.eval import baselines, frustum, scoring
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

KEYS = ("fscore@2cm", "fscore@5cm", "precision@2cm", "recall@2cm", "hidden_recall@5cm",
        "completed_precision@5cm", "unjudged")  # fmt: skip


def thinned(rec: Reconstruction, spacing: float) -> Reconstruction:
    """Return ``rec`` with its completed points (observed 0) kept one per cube of ``spacing``."""
    if spacing <= 0:
        return rec
    comp = np.flatnonzero(~rec.observed)
    cells = np.floor(rec.points[comp] / spacing).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    keep = np.concatenate([np.flatnonzero(rec.observed), comp[np.sort(first)]])
    return Reconstruction(rec.points[keep], rec.colors[keep], rec.observed[keep],
                          rec.confidence[keep], rec.T_ref_cam, rec.K, rec.scale_mode,
                          frame=rec.frame, stats=rec.stats)  # fmt: skip


def without(rec: Reconstruction, part: str) -> Reconstruction:
    """Return ``rec`` without one part of its cloud (``completed_parts.PARTS``)."""
    from completed_parts import PARTS, part_labels

    return subset(rec, part_labels(rec.stats, len(rec.points)) != PARTS.index(part))


def subset(rec: Reconstruction, keep: np.ndarray) -> Reconstruction:
    """Return the rows ``keep`` of ``rec``."""
    return Reconstruction(rec.points[keep], rec.colors[keep], rec.observed[keep],
                          rec.confidence[keep], rec.T_ref_cam, rec.K, rec.scale_mode,
                          frame=rec.frame, stats=rec.stats)  # fmt: skip


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    spacings = [float(x) / 100 if x[0].isdigit() else x for x in sys.argv[4].split(",")]
    device = sys.argv[5] if len(sys.argv) > 5 else "cpu"
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", device, 4096, 6)
    for item in sys.argv[6:]:  # ModelBackendConfig overrides, e.g. behind_gap_m=0.05
        name, value = item.split("=")
        backend = replace(backend, **{name: int(value) if value.isdigit() else float(value)})
    baseline = replace(backend, force_gate=True, fusion_sigmas=0.0)  # observed_only
    rows = {s: [] for s in spacings}
    base = []
    for window, gt, complete, frames in sevenscenes_windows(path, views, windows, 4,
                                                            log=lambda s: None):  # fmt: skip
        oracle = baselines.oracle_raw(window, gt)
        cameras = scoring.region_cameras(window, gt)
        rec = reconstruct(window, "model", backend)
        obs = reconstruct(window, "model", baseline)
        base.append(scoring.frustum_scores(obs, gt, cameras, oracle.points, complete, frames))
        for s in spacings:
            if s == "unjudged":  # analysis only: needs the sequence's other frames
                world = scoring.in_world(rec, gt)
                r = subset(rec, rec.observed | frustum.judged(world, frames))
            else:
                r = without(rec, s) if isinstance(s, str) else thinned(rec, s)
            out = scoring.frustum_scores(r, gt, cameras, oracle.points, complete, frames)
            out["completed_points"] = float((~r.observed).sum())
            rows[s].append(out)
    print(f"{views}v observed_only " + " ".join(
        f"{k}={np.nanmean([r[k] for r in base]):.4f}" for k in KEYS[:4]))  # fmt: skip
    for s, rs in rows.items():
        line = " ".join(f"{k}={np.nanmean([r[k] for r in rs]):.4f}" for k in KEYS)
        n = np.mean([r["completed_points"] for r in rs])
        name = f"without {s}" if isinstance(s, str) else f"spacing={s * 100:g}cm"
        print(f"{views}v {name} completed/window={n:.0f} {line}", flush=True)


if __name__ == "__main__":
    main()
