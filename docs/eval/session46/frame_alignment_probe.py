"""Session 46 probe: how much of the 2 cm gap is the frame's registration to the reference.

On the 7-Scenes dev frames the reference is the TSDF fusion of every frame at its
recorded pose; a window's hidden surface in it comes from other frames, whose recorded
poses disagree with the depth by about 1-2 cm at these baselines (README, camera poses).
A completion consistent with the window's own depth inherits the window's offset from
the reference. This probe (an oracle: it reads the reference, diagnosis only) aligns
each window's observed points rigidly onto the reference (point-to-point ICP, pairs
within 5 cm, 30 iterations), applies that one transform to every cloud of the window
(published, ``observed_only``, the input points the protocol calls observed) and scores
them by the protocol; beside the unaligned scores. It also reports, for the published
cloud's completed points (every part but the observed one), the share within 2 / 5 cm
of the whole reference before and after.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session46/frame_alignment_probe.py
       <dev frames> VIEWS WINDOWS
"""

import sys

import numpy as np
from completed_parts import protocol_scores, shipped_windows
from scipy.spatial import cKDTree

from nova3r_ros.pipeline import ModelBackendConfig

KEYS = ("fscore@2cm", "fscore@5cm", "precision@2cm", "recall@2cm", "hidden_recall@5cm",
        "completed_precision@5cm")  # fmt: skip
CKPT = "nova3r_ros/model/checkpoints/base"


def icp(source: np.ndarray, tree: cKDTree, target: np.ndarray, iters: int = 30,
        max_m: float = 0.05) -> np.ndarray:  # fmt: skip
    """4x4 rigid transform taking ``source`` (N, 3) onto ``target`` (its KD-tree ``tree``)."""
    T = np.eye(4)
    src = source.copy()
    for _ in range(iters):
        d, j = tree.query(src, workers=-1)
        ok = d < max_m
        a, b = src[ok], target[j[ok]]
        ca, cb = a.mean(0), b.mean(0)
        U, _, Vt = np.linalg.svd((a - ca).T @ (b - cb))
        R = Vt.T @ np.diag([1, 1, np.sign(np.linalg.det(Vt.T @ U.T))]) @ U.T
        step = np.eye(4)
        step[:3, :3], step[:3, 3] = R, cb - R @ ca
        src = src @ R.T + step[:3, 3]
        T = step @ T
    return T


def moved(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``points`` (N, 3) moved by the 4x4 ``T``."""
    return points @ T[:3, :3].T + T[:3, 3]


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    backend = ModelBackendConfig(CKPT, "cpu", 4096, 6)
    rows = {n: [] for n in ("observed_only", "shipped", "observed_only_aligned",
                            "shipped_aligned")}  # fmt: skip
    near = {n: [] for n in ("before", "after")}
    moves = []
    rng = np.random.default_rng(0)
    for w in shipped_windows(path, views, windows, backend, baseline=True):
        pts, comp, ref, observed = w.pts, w.label >= 0, w.ref, w.observed
        obs_only = w.observed_only
        tree = cKDTree(ref)
        src = pts[~comp][rng.choice(int((~comp).sum()), min(20000, int((~comp).sum())),
                                    replace=False)]  # fmt: skip
        T = icp(src, tree, ref)
        angle = np.degrees(np.arccos(np.clip((np.trace(T[:3, :3]) - 1) / 2, -1, 1)))
        moves.append((np.linalg.norm(T[:3, 3]), angle))
        obs_moved = moved(observed, T)
        clouds = (("observed_only", obs_only, observed), ("shipped", pts, observed),
                  ("observed_only_aligned", moved(obs_only, T), obs_moved),
                  ("shipped_aligned", moved(pts, T), obs_moved))  # fmt: skip
        for name, cloud, obs in clouds:
            rows[name].append(protocol_scores(w, cloud, obs))
        for name, cloud in (("before", pts[comp]), ("after", moved(pts[comp], T))):
            d = tree.query(cloud, workers=-1)[0]
            near[name].append(((d < 0.02).mean(), (d < 0.05).mean()))
    print(f"{views} view(s), {windows} windows; ICP moves: translation "
          f"{np.median([m[0] for m in moves]) * 100:.2f} cm, rotation "
          f"{np.median([m[1] for m in moves]):.2f} deg (medians)")  # fmt: skip
    print("  " + " ".join(KEYS))
    for name, r in rows.items():
        print(f"  {name:22s} " + " ".join(f"{np.nanmean([x[k] for x in r]):.4f}" for k in KEYS))
    for name, v in near.items():
        print(f"  completed points {name}: within 2 cm {np.mean([x[0] for x in v]):.3f}, "
              f"within 5 cm {np.mean([x[1] for x in v]):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
