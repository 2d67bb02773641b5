"""Session 40 probe: whether the completed points lie off the reference surface or past it.

For the dev windows of issue 6's protocol (validation only; stride 4, shipped published
cloud, 4,096 points, 6 steps), every in-region, judged completed point more than 2 cm
from the reference (no subsample) is split by its offset along the local reference
surface's normal (a plane fitted to the 16 nearest reference points) and by its
distance within that plane to the nearest reference point. A small normal offset with a
large in-plane distance means the point lies on the continuation of a reference surface
past where the reference ends (a surface the reference lacks); a large normal offset
means the point is off the surface (a plane or depth that is wrong).

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session40/offset_probe.py
       <dev frames> VIEWS WINDOWS
"""

import itertools
import sys

import numpy as np
from completed_parts import PARTS, part_labels
from scipy.spatial import cKDTree

from nova3r_ros.eval import frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

BEHIND_BINS = (-9.0, 0.0, 0.02, 0.03, 0.04, 0.06, 0.1, 0.3, 99.0)


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", "cpu", 4096, 6)
    rows = {p: [] for p in PARTS}
    everyone = {p: [] for p in PARTS}  # every judged completed point: (behind, distance)
    for window, gt, _, frames in sevenscenes_windows(path, views, windows, 4,
                                                     log=lambda s: None):  # fmt: skip
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        label = part_labels(rec.stats, len(pts))
        sel = (label >= 0) & frustum.in_region(pts, region_cameras(window, gt))
        sel[sel] = frustum.judged(pts[sel], frames)
        tree = cKDTree(gt.points)
        d, _ = tree.query(pts[sel])
        far = d > 0.02
        p, lab, lab_all = pts[sel][far], label[sel][far], label[sel]
        _, nbr = tree.query(p, k=16)
        q = gt.points[nbr].astype(np.float64)  # (n, 16, 3)
        centre = q.mean(1)
        _, _, vt = np.linalg.svd(q - centre[:, None], full_matrices=False)
        normal = vt[:, 2]
        off = np.abs(((p - centre) * normal).sum(1))
        inplane = np.sqrt(np.maximum(d[far] ** 2 - off**2, 0))
        behind = behind_view0(pts[sel], window, gt)  # z - d at view 0's pixel (m)
        for i, part in enumerate(PARTS):
            m = lab == i
            rows[part].append(np.stack([off[m], inplane[m], behind[far][m]], 1))
            everyone[part].append(np.stack([behind[lab_all == i], d[lab_all == i]], 1))
    for part, chunks in rows.items():
        a = np.concatenate(chunks)
        if not len(a):
            continue
        off, inplane = a[:, 0], a[:, 1]
        print(f"{views}v {part:8s} points >2cm/window={len(a) / windows:7.1f} normal offset "
              f"<1cm {np.mean(off < 0.01):.2f} 1-2cm {np.mean((off >= 0.01) & (off < 0.02)):.2f} "
              f">=2cm {np.mean(off >= 0.02):.2f} | median offset {np.median(off) * 100:.1f} cm, "
              f"median in-plane {np.median(inplane) * 100:.1f} cm")  # fmt: skip
    print("every judged completed point by z - d at view 0's pixel: share, precision@2cm")
    for part, chunks in everyone.items():
        a = np.concatenate(chunks)
        if not len(a):
            continue
        cells = []
        for lo, hi in itertools.pairwise(BEHIND_BINS):
            m = (a[:, 0] >= lo) & (a[:, 0] < hi)
            if m.any():
                cells.append(f"[{lo * 100:g},{hi * 100:g}) cm {m.mean():.3f} "
                             f"{(a[m, 1] < 0.02).mean():.2f}")  # fmt: skip
        print(f"  {part:8s} " + " | ".join(cells))


def behind_view0(points: np.ndarray, window, gt) -> np.ndarray:
    """(N,) z - d (m) of world points at view 0's nearest pixel (nan without depth there)."""
    T = np.linalg.inv(gt.T_world_cam[0])
    c = points @ T[:3, :3].T + T[:3, 3]
    K = gt.K[0]
    depth = np.asarray(window.views[0].depth, np.float64)
    h, w = depth.shape
    z = np.maximum(c[:, 2], 1e-6)
    u = np.round(c[:, 0] / z * K[0, 0] + K[0, 2]).astype(int)
    v = np.round(c[:, 1] / z * K[1, 1] + K[1, 2]).astype(int)
    ok = (u >= 0) & (u < w) & (v >= 0) & (v < h) & (c[:, 2] > 0)
    d = np.full(len(points), np.nan)
    d[ok] = depth[v[ok], u[ok]]
    d[d <= 0] = np.nan
    return c[:, 2] - d


if __name__ == "__main__":
    main()
