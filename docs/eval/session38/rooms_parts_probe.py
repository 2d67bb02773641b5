"""Synthetic rooms: the published cloud's completed points by part, against exact ground truth.

Session 38 probe. For the room windows of seeds FIRST-LAST (``benchmark_config(V,
family="room")``), the shipped published cloud (4,096 points, 6 steps) split into its
parts (``scripts/completed_parts.py``'s ``part_labels``); each part's completed points
(in the region, farther than 5 cm from every observed pixel) scored at 2 and 5 cm
against the whole reference in the region, and the share of the hidden reference points
(farther than 5 cm from every observed pixel) each part covers within 5 cm, without the
protocol's 16,384-point resampling; then the protocol's own hidden recall@5cm.

Usage: PYTHONPATH=.:scripts python docs/eval/session38/rooms_parts_probe.py FIRST LAST V DEVICE
"""

import sys

import numpy as np
from completed_parts import PARTS, part_labels

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import DataSpec, synthetic_windows
from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct
from nova3r_ros.synth.config import benchmark_config


def main() -> None:
    """Command line (module docstring)."""
    first, last, views = (int(x) for x in sys.argv[1:4])
    device = sys.argv[4]
    cfg = benchmark_config(views, family="room")
    backend = ModelBackendConfig("", device, 4096, 6, world_z_up=True)
    rows = {p: np.zeros(4) for p in PARTS}  # points, near@2cm, near@5cm, hidden covered@5cm
    hidden_total = covered_total = windows = n_obs = n_comp = 0
    protocol = []
    for window, gt, _, _ in synthetic_windows(DataSpec("synthetic", first, last), cfg):
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        label = part_labels(rec.stats, len(pts))
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        target = gt.points[frustum.in_region(gt.points, cams)]
        hidden = target[nn_distances(target, observed) > 0.05]
        sel = (label >= 0) & frustum.in_region(pts, cams)
        sel[sel] = nn_distances(pts[sel], observed) > 0.05
        d, lab = nn_distances(pts[sel], target), label[sel]
        covered = np.zeros(len(hidden), bool)
        for i, part in enumerate(PARTS):
            mine = lab == i
            cov = 0
            if mine.any() and len(hidden):
                c = nn_distances(hidden, pts[sel][mine]) < 0.05
                cov, covered = c.sum(), covered | c
            rows[part] += (mine.sum(), (d[mine] < 0.02).sum(), (d[mine] < 0.05).sum(), cov)
        hidden_total += len(hidden)
        covered_total += covered.sum()
        windows += 1
        n_obs += int((label == -1).sum())
        n_comp += int((label >= 0).sum())
        scores = frustum.frustum_metrics(pts, gt.points, cams, observed, (5,))
        protocol.append(scores["hidden_recall@5cm"])
    for part, a in rows.items():
        if a[0]:
            print(f"{views}v {part:9s} points/window={a[0] / windows:8.1f} "
                  f"precision@2cm={a[1] / a[0]:.3f} precision@5cm={a[2] / a[0]:.3f} "
                  f"hidden covered@5cm={a[3] / max(hidden_total, 1):.3f}")  # fmt: skip
    print(f"{views}v published observed/window {n_obs / windows:.0f}, completed/window "
          f"{n_comp / windows:.0f}, protocol hidden recall@5cm "
          f"{np.mean(protocol):.3f}")  # fmt: skip
    print(f"{views}v hidden points/window {hidden_total / windows:.0f}, covered by any part "
          f"{covered_total / max(hidden_total, 1):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
