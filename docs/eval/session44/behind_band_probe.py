"""Session 44 probe: completed points far behind a surface the window measured (real dev frames).

For each published point, ``behind`` is the largest ``z - d`` over the window's views that
see it with valid depth ``d`` at its pixel (how far behind a measured surface it lies, m).
Completed points (every part but the observed one) 10-40 cm behind one were found mostly
unjudged (no frame of the recording measured the space there: 0.75-0.85) and rarely within
2 cm of the reference (0.08-0.22). Variants drop the completed points with ``behind`` in a
band [lo, hi) (``drop_*``; ``planes_*``: only the plane points and the head's points
snapped onto a plane, not the head's own) and score the cloud by the protocol
(``frustum_metrics``: the 16,384-point subsample and judged rule of ``nova3r eval``),
beside ``observed_only``.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session44/behind_band_probe.py
       <dev frames> VIEWS WINDOWS
"""

import sys

import numpy as np
from completed_parts import protocol_scores, shipped_windows

from nova3r_ros.eval import frustum
from nova3r_ros.pipeline import ModelBackendConfig

KEYS = ("fscore@2cm", "fscore@5cm", "hidden_recall@5cm", "completed_precision@5cm", "unjudged")
BANDS = ((0.1, 0.4), (0.1, 0.8), (0.05, 0.4), (0.15, 0.4), (0.1, 0.3), (0.1, 10.0))
PLANE_BANDS = ((0.1, 0.4), (0.05, 0.4))  # planes and snapped points only (parts 0 and 1)
CKPT = "nova3r_ros/model/checkpoints/base"


def behind_measured(points: np.ndarray, window, cameras) -> np.ndarray:
    """(N,) m: the largest z - d over the views with valid depth d at the point's pixel."""
    out = np.full(len(points), -np.inf)
    for view, cam in zip(window.views, cameras, strict=True):
        z, u, v = frustum.project(points, cam)
        row, col, inside = frustum._pixel(u, v, cam)
        d = np.asarray(view.depth)[row, col]
        out = np.where(inside & (d > 0), np.maximum(out, z - d), out)
    return out


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    backend = ModelBackendConfig(CKPT, "cpu", 4096, 6)
    names = ["observed_only", "shipped"] + [f"drop_{lo}_{hi}" for lo, hi in BANDS]
    names += [f"planes_{lo}_{hi}" for lo, hi in PLANE_BANDS]
    rows = {n: [] for n in names}
    dropped = {n: [] for n in names}
    for w in shipped_windows(path, views, windows, backend, baseline=True):
        pts, label = w.pts, w.label
        comp, on_plane = label >= 0, (label == 0) | (label == 1)
        behind = behind_measured(pts, w.window, w.cams)
        clouds = {"shipped": pts, "observed_only": w.observed_only}
        for lo, hi in BANDS:
            clouds[f"drop_{lo}_{hi}"] = pts[~(comp & (behind >= lo) & (behind < hi))]
        for lo, hi in PLANE_BANDS:
            clouds[f"planes_{lo}_{hi}"] = pts[~(on_plane & (behind >= lo) & (behind < hi))]
        for name, cloud in clouds.items():
            rows[name].append(protocol_scores(w, cloud))
            dropped[name].append(1 - len(cloud) / len(pts))
    print(f"{views} view(s), {windows} windows: " + " ".join(KEYS) + " dropped_share")
    for name in names:
        means = [np.nanmean([r[k] for r in rows[name]]) for k in KEYS]
        print(
            f"  {name:14s} "
            + " ".join(f"{m:.4f}" for m in means)
            + f" {np.mean(dropped[name]):.3f}"
        )


if __name__ == "__main__":
    main()
