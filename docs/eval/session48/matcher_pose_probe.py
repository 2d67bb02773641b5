"""Probe: the learned matcher's pose alone on RGB-only 2-view windows (issue 12).

For each 2-view tabletop window of the pose benchmark's cameras (256x192), the pose from
the matcher's matches alone (essential matrix, MAGSAC, 2 px; no head, no refinement) and
from SIFT's matches the same way, RRA@15 / RTA@15 / AUC@30, plus the share of the
matcher's matches within 4 px of where the truth puts them.

Usage: PYTHONPATH=. python docs/eval/session48/matcher_pose_probe.py --matcher DIR
           --seeds FIRST-LAST [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from nova3r_ros.eval import metrics
from nova3r_ros.model.matcher_files import load_matcher
from nova3r_ros.model.pose_rgb_config import RgbPoseConfig
from nova3r_ros.model.pose_rgb_epipolar import match, normalise, pair_pose, sift_features
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window
from nova3r_ros.train.matcher_train import validate


def sift_pose_scores(windows: list) -> dict[str, float]:
    """Score the same pose from SIFT matches (the refinement's features and ratio test)."""
    cfg = RgbPoseConfig()
    rot, trans = [], []
    for window, _ in windows:
        a, b = window.views
        fa, fb = (sift_features(v.image, cfg.max_width, cfg.min_width, cfg.n_features,
                                cfg.contrast) for v in (a, b))  # fmt: skip
        m = match(fa[1], fb[1], cfg.ratio)
        pose = None
        if len(m) >= 8:
            xa, xb = normalise(fa[0][m[:, 0]], a.K), normalise(fb[0][m[:, 1]], b.K)
            pose = pair_pose(xa, xb, np.eye(3), np.zeros(3), 2.0 / float(a.K[0, 0]))
        T_rel = np.eye(4)
        if pose is not None:
            T_rel[:3, :3], T_rel[:3, 3] = pose.R, pose.t
        r, t = metrics.pairwise_pose_errors([np.eye(4), np.linalg.inv(T_rel)],
                                            [a.T_world_cam, b.T_world_cam])  # fmt: skip
        rot.append(r[0])
        trans.append(t[0])
    s = metrics.pose_metrics_from_errors(np.array(rot), np.array(trans))
    return {k: s[k] for k in ("rra@15", "rta@15", "auc@30")}


def main() -> int:
    """Print one JSON line per method."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--matcher", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    first, last = (int(x) for x in a.seeds.split("-"))
    if last >= 1_000_000 and first <= 1_000_099:
        print("error: not the benchmark seeds", file=sys.stderr)
        return 2
    cfg = benchmark_config(2, family="tabletop", height=192, width=256)
    windows = [generate_window(s, cfg) for s in range(first, last + 1)]
    net, meta = load_matcher(a.matcher, a.device)
    print(json.dumps({"method": "matcher", "seeds": a.seeds, "meta_step": meta.get("step"),
                      **validate(net, [tuple(w.views) for w, _ in windows])}))  # fmt: skip
    print(json.dumps({"method": "sift", "seeds": a.seeds, **sift_pose_scores(windows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
