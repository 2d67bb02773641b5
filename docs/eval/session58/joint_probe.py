"""Probe (session 58): what could tell a good joint step (step 5-6) from a bad one.

For each synthetic RGB-only window (tabletop, as ``scripts/rgb_pose_ab.py`` renders it),
the defaults with the packaged matcher run with the joint refinement
(``pose_rgb._joint``) and the polish on the learned matches (``pose_rgb.polish_window``)
wrapped. Where the joint step was kept, the polish also runs from the poses before it
(what the window would end at without the joint step), and four candidates are scored:
``P`` (before the joint step), ``T`` (after it), ``P+polish`` and ``T+polish``
(``T+polish`` is what the defaults publish). For each: every view pair's true rotation
and translation-direction errors (degrees, ``metrics.pairwise_pose_errors`` order), the
learned and SIFT matches its poses explain per placed pair, and the joint step's
photometric loss at full size over the decoded plane (``WindowLoss``: mean, pairs).
One JSON line per window. Diagnosis only. Step 7 (``joint_undo_gain``, which this probe
led to) is off here, so that ``final`` is the joint step's polished result as before it.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session58/joint_probe.py FIRST LAST
           OUT.jsonl [--views 4] [--jobs 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing

import numpy as np

from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model import pose_rgb
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.pose_rgb_config import RgbPoseConfig
from nova3r_ros.model.pose_rgb_epipolar import explained, normalise, relative_pose
from nova3r_ros.model.pose_rgb_joint import JointConfig, WindowLoss
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

_W: dict = {}


def _start(device: str) -> None:
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    _W["model"] = load_checkpoint(PACKAGED_CHECKPOINT, device)
    _W["cfg"] = InferenceConfig(n_points=1024, steps=4, seed=0, refine_poses=False)
    seen = _W["seen"] = {}
    joint, polish = pose_rgb._joint, pose_rgb.polish_window

    def joint_wrapped(P, ok, feats, greys, S, K, plane, points, edges, cfg, sift_matches,
                      learned=None):  # fmt: skip
        res = joint(P, ok, feats, greys, S, K, plane, points, edges, cfg, sift_matches,
                    learned)  # fmt: skip
        seen.update(P=P.copy(), T=res[0].copy(), kept=res[1], moved=res[2], feats=feats,
                    K=K, sift=sift_matches)  # fmt: skip
        return res

    def polish_wrapped(T, ok, learned, plane, greys, K_grey, points, cfg):
        res = polish(T, ok, learned, plane, greys, K_grey, points, cfg)
        seen.update(final=res[0].copy(), polished=res[1], ok=ok.copy(), learned=learned,
                    plane=plane, greys=greys, K_grey=K_grey, points=points, cfg=cfg)  # fmt: skip
        if seen.get("kept"):
            alt = polish(seen["P"], ok, learned, plane, greys, K_grey, points, cfg)
            seen.update(alt=alt[0].copy(), alt_polished=alt[1])
        return res

    pose_rgb._joint, pose_rgb.polish_window = joint_wrapped, polish_wrapped


def _signals(T, seen) -> dict:
    """Return the matches ``T`` explains per placed pair (learned, SIFT), its full-size loss."""
    ok, cfg, K = seen["ok"], seen["cfg"], seen["K"]
    lrn, sift = [], []
    for a, b in itertools.combinations(np.flatnonzero(ok), 2):
        _, x_a, x_b, thr = seen["learned"](int(a), int(b))
        lrn.append(explained(*relative_pose(T, a, b), x_a, x_b, thr))
        m = seen["sift"](int(a), int(b))
        f = seen["feats"]
        s_a, s_b = normalise(f[a][0][m[:, 0]], K[a]), normalise(f[b][0][m[:, 1]], K[b])
        s_thr = cfg.threshold_px / float(np.mean([K[a][0, 0], K[a][1, 1]]))
        sift.append(explained(*relative_pose(T, a, b), s_a, s_b, s_thr) if len(m) else 0)
    jcfg = JointConfig(object_cells=cfg.object_cells, object_margin=cfg.object_margin)
    loss, n = WindowLoss(seen["greys"], seen["K_grey"], seen["points"], ok, jcfg)(
        T, seen["plane"][:2]
    )
    return {"learned": [int(x) for x in lrn], "sift": [int(x) for x in sift],
            "loss": round(float(loss), 6), "loss_pairs": int(n)}  # fmt: skip


def probe(seed_views: tuple[int, int]) -> dict:
    """Return one window's record (module docstring)."""
    seed, V = seed_views
    window, gt = generate_window(seed, benchmark_config(V, family="tabletop", height=192,
                                                        width=256))  # fmt: skip
    inputs = strip_inputs(window, depth=True, poses=True)
    model, seen = _W["model"], _W["seen"]
    head = infer(model, inputs, _W["cfg"])
    seen.clear()
    out = pose_rgb.refine_rgb_views(np.stack(head.T_ref_cam), [v.image for v in inputs.views],
                                    np.stack(head.K), head.points.astype(np.float64),
                                    RgbPoseConfig(joint_undo_gain=0.0),
                                    matcher=model.matcher)  # fmt: skip
    G = list(gt.T_world_cam)
    rec = {
        "seed": seed,
        "views": V,
        "ok": out.ok.tolist(),
        "kept": bool(seen.get("kept")),
        "moved": int(seen.get("moved", 0)),
        "polished": bool(seen.get("polished")),
        "apart": np.round(metrics.pairwise_pose_errors([np.eye(4)] * V, G)[0], 1).tolist(),
    }
    cands = {"final": out.T_ref_cam}
    if seen.get("kept"):
        cands.update(P=seen["P"], T=seen["T"], alt=seen["alt"])
        rec["alt_polished"] = bool(seen["alt_polished"])
    for name, T in cands.items():
        rot, trans = metrics.pairwise_pose_errors(list(T), G)
        rec[name] = {"rot": np.round(rot, 2).tolist(), "trans": np.round(trans, 2).tolist()}
        if "learned" in seen and "feats" in seen:
            rec[name].update(_signals(T, seen))
    return rec


def main() -> None:
    """Probe the windows and write one JSON line each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", type=int)
    ap.add_argument("last", type=int)
    ap.add_argument("out")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    tasks = [(s, args.views) for s in range(args.first, args.last + 1)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.jobs, _start, (args.device,)) as pool, open(args.out, "w") as f:
        for rec in pool.imap_unordered(probe, tasks):
            f.write(json.dumps(rec) + "\n")
            f.flush()


if __name__ == "__main__":
    main()
