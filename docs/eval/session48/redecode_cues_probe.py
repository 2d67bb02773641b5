"""Probe: cues that tell a wrong RGB-only pose once the window is decoded at it (issue 12).

Per synthetic RGB-only tabletop window (as ``nova3r eval --no-depth --unposed`` renders
it, 256x192, the packaged model), with T0 the head's guess:

- T1 = the shipped refinement from T0 over the first decode's points;
- T2 = ``redecode_rgb`` from T1 (decoded at T1, refined again: the ``rgb_redecode`` option);
- T3 = ``redecode_rgb`` from T2 (its stability: does a third decode move it?);
- TH = ``redecode_rgb`` from T0 (the head's guess as the other candidate);
- the camera head's own output when the window is encoded with T1 / T2 / TH as pose
  inputs (how far it moves from the pose it is given, and its error against the truth).

Writes one JSON line per window: each pose's pairwise rotation / translation-direction
error against the truth, the pairwise differences between the candidates, each
refinement's checks (ok, confidence, inliers). Analysis: ``redecode_cues_analysis.py``.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session48/redecode_cues_probe.py \
           --seeds FIRST-LAST --views 2 [--device cpu] [--jobs 2] --out FILE.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys

import numpy as np
import torch

from nova3r_ros.core.types import Window
from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.batch import prepare
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer, redecode_rgb
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

_W: dict = {}


def _start(device: str, threads: int | None) -> None:
    if threads is not None:
        import cv2

        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
    _W["model"] = load_checkpoint(PACKAGED_CHECKPOINT, device)
    _W["cfg"] = InferenceConfig(n_points=1024, steps=4, seed=0, refine_poses=False)


def head_given(model, window: Window, T: np.ndarray) -> np.ndarray:
    """(V, 4, 4) the camera head's poses when the window is encoded with ``T`` as inputs."""
    T = np.linalg.inv(T[0]) @ T
    dev = next(model.parameters()).device
    images = torch.from_numpy(np.stack([v.image for v in window.views])).to(dev)
    K = torch.from_numpy(np.stack([v.K for v in window.views])).float()
    one = torch.ones(1, dtype=torch.bool, device=dev)
    inputs = prepare(model.cfg, images.permute(0, 3, 1, 2)[None], K[None].to(dev), None,
                     torch.from_numpy(T).float()[None].to(dev), use_depth=~one, use_K=one,
                     use_pose=one, gravity=None)  # fmt: skip
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")
    with torch.no_grad(), autocast:
        _, T_pred, _ = model.encode_images(inputs["pixels"], inputs["pose_in"],
                                           inputs["pose_known"])  # fmt: skip
    out = T_pred[0].float().cpu().numpy().astype(np.float64)
    out[:, :3, 3] *= float(inputs["scale"][0])
    return out


def _errs(T, T_gt) -> dict:
    r, t = metrics.pairwise_pose_errors(list(T), list(T_gt))
    return {"rot": np.round(r, 2).tolist(), "trans": np.round(t, 2).tolist()}


def _checks(p) -> dict:
    return {"ok": p.ok.tolist(), "confidence": np.round(p.confidence, 4).tolist(),
            "inliers": p.inliers.tolist(), "joint_kept": bool(p.joint_kept)}  # fmt: skip


def one_window(task: tuple[int, int]) -> dict:
    """One JSON record for the window of ``seed`` with ``V`` views (module docstring)."""
    seed, V = task
    model, cfg = _W["model"], _W["cfg"]
    window, gt = generate_window(seed, benchmark_config(V, family="tabletop", height=192,
                                                        width=256))  # fmt: skip
    inputs = strip_inputs(window, depth=True, poses=True)
    first = infer(model, inputs, cfg)
    T0, K = np.stack(first.T_ref_cam), np.stack(first.K)
    images = [v.image for v in inputs.views]
    p1 = refine_rgb_views(T0, images, K, first.points.astype(np.float64), RgbPoseConfig())
    T1 = p1.T_ref_cam
    T2, _, p2 = redecode_rgb(model, inputs, T1, cfg)
    T3, _, p3 = redecode_rgb(model, inputs, T2, cfg)
    TH, _, pH = redecode_rgb(model, inputs, T0, cfg)
    gt_T = list(gt.T_world_cam)
    rec = {"seed": seed, "views": V,
           "apart": _errs([np.eye(4)] * V, gt_T)["rot"],
           "err": {k: _errs(T, gt_T) for k, T in
                   (("T0", T0), ("T1", T1), ("T2", T2), ("T3", T3), ("TH", TH))},
           "diff": {k: _errs(A, B) for k, (A, B) in
                    (("T1T2", (T1, T2)), ("T2T3", (T2, T3)), ("T0TH", (T0, TH)),
                     ("T2TH", (T2, TH)), ("T0T1", (T0, T1)))},
           "checks": {k: _checks(p) for k, p in (("T1", p1), ("T2", p2), ("T3", p3),
                                                  ("TH", pH))},
           "head_given": {}, "head_given_err": {}}  # fmt: skip
    for k, T in (("T1", T1), ("T2", T2), ("TH", TH)):
        G = head_given(model, inputs, T)
        rec["head_given"][k], rec["head_given_err"][k] = _errs(G, T), _errs(G, gt_T)
    return rec


def main() -> int:
    """Write the records; exit code 2 for the benchmark seeds."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    first, last = (int(x) for x in a.seeds.split("-"))
    if last >= 1_000_000 and first <= 1_000_099:
        print("error: not the benchmark seeds", file=sys.stderr)
        return 2
    tasks = [(s, a.views) for s in range(first, last + 1)]
    init = (a.device, 1 if a.jobs > 1 else None)
    with open(a.out, "w") as f:
        if a.jobs > 1:
            with multiprocessing.get_context("spawn").Pool(a.jobs, _start, init) as pool:
                for rec in pool.imap(one_window, tasks):
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
        else:
            _start(*init)
            for t in tasks:
                f.write(json.dumps(one_window(t)) + "\n")
                f.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
