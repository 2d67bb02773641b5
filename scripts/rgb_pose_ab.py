"""Compare RGB-only pose refinement settings on the same synthetic windows (A/B).

Each window (tabletop, as ``nova3r eval --data synthetic:... --no-depth --unposed``
renders it) runs the model once without refinement; the head's poses and the decoded
points then go through :func:`nova3r_ros.model.pose_rgb.refine_rgb_views` with each
setting, so the settings see identical inputs. Prints RRA/RTA@15, AUC@30 and the mean
refinement time per setting, as ``nova3r eval`` averages them over windows, and the head's
own poses (``head alone``). ``--checkpoint`` scores another model than the packaged one.

Settings: ``current`` (the defaults), ``pairs`` (the pairwise placement without the joint
refinement of all views and the plane's normal: session 19's settings) and ``previous``
(ECC alone on every level, no check against the essential matrix's matches, the wider
search for every pair that needs it: before the direct alignment).

``--settings`` picks which to run (none: only the matchers' rows); ``--define NAME=JSON``
adds a setting of :class:`~nova3r_ros.model.pose_rgb.RgbPoseConfig` fields (e.g.
``nojoint={"joint_iters": []}``). ``--redecode`` adds ``current+own`` (the defaults with
the model's own matcher, as ``infer`` refines: the packaged one where it runs by default)
and ``current+redecode``: that refinement, then the window decoded again at its poses and
refined once more (``InferenceConfig.rgb_redecode``);
``--matcher DIR`` adds ``current+matcher``: the defaults with a learned matcher's matches
beside SIFT's (:mod:`nova3r_ros.model.pose_rgb_learned`); several directories add a row
``current+matcher:LABEL`` each (LABEL: the directory's name, or its parent's for a run's
``best`` / ``last``); ``--matcher-with NAME ...`` scores those settings with each matcher
instead of the defaults alone (rows ``NAME+matcher[:LABEL]``). ``--jobs N``
spreads the windows over N worker processes (each loads the model on ``--device`` and runs
one CPU thread); ``--per-window FILE`` writes one JSON line per
window and setting (seed, views, setting, the metrics, seconds, the views' checks with their
confidence, correlation or inlier share, inliers, anchor and ``scale_from_points``, as
:class:`~nova3r_ros.model.pose_rgb.RgbViewPoses` holds them), and per
pair of views in ``metrics.pairwise_pose_errors``' order: the true rotation between them,
the head's and the refined rotation and translation-direction errors, in degrees).

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python scripts/rgb_pose_ab.py --seeds FIRST-LAST
           [--views 2 4] [--points 1024] [--steps 4] [--device cpu] [--jobs 1]
           [--per-window FILE] [--settings current pairs previous] [--define NAME=JSON]
           [--checkpoint DIR] [--redecode] [--matcher DIR [DIR ...]]
           [--matcher-with NAME [NAME ...]]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

from nova3r_ros.eval import metrics
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer, redecode_rgb
from nova3r_ros.model.matcher_files import load_matcher
from nova3r_ros.model.pose_rgb import ECC_ONLY, PAIRS_ONLY, RgbPoseConfig, refine_rgb_views
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

SETTINGS = {"current": RgbPoseConfig(), "pairs": PAIRS_ONLY, "previous": ECC_ONLY}
KEYS = ("rra@15", "rta@15", "auc@30")
#: --redecode's rows (row name, kind), in the order they run: the second starts from the first
REDECODE_ROWS = (("current+own", "own"), ("current+redecode", "redecode"))
_WORKER: dict = {}


def matcher_label(directory: str) -> str:
    """Return a matcher directory's row label: its name (its parent's for best / last)."""
    p = Path(directory)
    return p.parent.name if p.name in ("best", "last") else p.name


def matcher_rows(dirs: list[str], settings: tuple[str, ...] = ("current",)) -> dict:
    """Row name -> (setting name, matcher directory), for each setting and directory.

    Rows ``SETTING+matcher`` for one directory, else ``SETTING+matcher:LABEL`` each
    (:func:`matcher_label`).
    """
    one = len(dirs) == 1
    return {f"{name}+matcher" + ("" if one else f":{matcher_label(d)}"): (name, d)
            for name in settings for d in dirs}  # fmt: skip


def _start_worker(device, points, steps, threads, settings, checkpoint=None,
                  redecode=False, matchers=None) -> None:  # fmt: skip
    """Load the model once per process (``threads``: CPU threads of torch and OpenCV).

    ``matchers``: row name -> (RgbPoseConfig, learned matcher directory).
    """
    _WORKER["settings"], _WORKER["redecode"] = settings, redecode
    nets = {d: load_matcher(d, device)[0] for _, d in (matchers or {}).values()}
    _WORKER["matchers"] = {name: (cfg, nets[d]) for name, (cfg, d) in (matchers or {}).items()}
    if threads is not None:
        import cv2
        import torch

        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
    _WORKER["model"] = load_checkpoint(checkpoint or PACKAGED_CHECKPOINT, device)
    _WORKER["cfg"] = InferenceConfig(n_points=points, steps=steps, seed=0, refine_poses=False)


def score_window(task: tuple[int, int]) -> list[dict]:
    """Return one record per setting for the window of ``seed`` with ``V`` views."""
    seed, V = task
    synth = benchmark_config(V, family="tabletop", height=192, width=256)
    window, gt = generate_window(seed, synth)
    inputs = strip_inputs(window, depth=True, poses=True)
    head = infer(_WORKER["model"], inputs, _WORKER["cfg"])
    T, pts = np.stack(head.T_ref_cam), head.points.astype(np.float64)
    images = [v.image for v in inputs.views]
    head_rot, head_trans = metrics.pairwise_pose_errors(list(T), list(gt.T_world_cam))
    apart = metrics.pairwise_pose_errors([np.eye(4)] * V, list(gt.T_world_cam))[0]
    head_score = metrics.pose_metrics_from_errors(head_rot, head_trans)
    records = []
    # (row name, kind, RgbPoseConfig or matcher): kind "setting", "own", "redecode", "matcher"
    runs = [(name, "setting", cfg) for name, cfg in _WORKER["settings"].items()]
    if _WORKER["redecode"]:
        runs += [(name, kind, None) for name, kind in REDECODE_ROWS]
    runs += [(name, "matcher", cfg_net) for name, cfg_net in _WORKER["matchers"].items()]
    own = None  # (the own refinement, its seconds): where the second decode starts
    for name, kind, setting in runs:
        t0 = time.perf_counter()
        if kind == "own":  # the defaults with the model's own matcher, as infer refines
            out = refine_rgb_views(T, images, np.stack(head.K), pts, RgbPoseConfig(),
                                   matcher=getattr(_WORKER["model"], "matcher", None))  # fmt: skip
            secs = time.perf_counter() - t0
            own = out, secs
        elif kind == "redecode":  # the own refinement, then decoded again at its poses
            first, first_secs = own
            out = redecode_rgb(_WORKER["model"], inputs, first.T_ref_cam, _WORKER["cfg"])[2]
            secs = first_secs + time.perf_counter() - t0  # the option's whole cost
        elif kind == "matcher":
            out = refine_rgb_views(T, images, np.stack(head.K), pts, setting[0],
                                   matcher=setting[1])  # fmt: skip
            secs = time.perf_counter() - t0
        else:
            out = refine_rgb_views(T, images, np.stack(head.K), pts, setting)
            secs = time.perf_counter() - t0
        rot, trans = metrics.pairwise_pose_errors(list(out.T_ref_cam), list(gt.T_world_cam))
        score = metrics.pose_metrics_from_errors(rot, trans)
        records.append({"seed": seed, "views": V, "setting": name, "seconds": round(secs, 3),
                        **{k: float(score[k]) for k in KEYS},
                        "head": {k: float(head_score[k]) for k in KEYS},
                        "joint_kept": bool(out.joint_kept),
                        "ok": out.ok.tolist(), "apart_deg": np.round(apart, 2).tolist(),
                        "confidence": np.round(out.confidence, 4).tolist(),
                        "inlier_share": np.round(out.inlier_share, 4).tolist(),
                        "inliers": out.inliers.tolist(), "anchor": out.anchor.tolist(),
                        "scale_from_points": out.scale_from_points.tolist(),
                        "head_rot_err_deg": np.round(head_rot, 2).tolist(),
                        "head_trans_err_deg": np.round(head_trans, 2).tolist(),
                        "rot_err_deg": np.round(rot, 2).tolist(),
                        "trans_err_deg": np.round(trans, 2).tolist()})  # fmt: skip
    return records


def main() -> int:
    """Run the comparison; exit code 2 on a bad argument (seeds, jobs, views, settings)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", required=True, help="FIRST-LAST")
    ap.add_argument("--views", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--points", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--per-window", default=None, help="JSON-lines file, one line per window")
    ap.add_argument("--settings", nargs="*", default=list(SETTINGS))
    ap.add_argument("--define", action="append", default=[], help='NAME={"field": value}')
    ap.add_argument("--checkpoint", default=None, help="model directory (default: packaged)")
    ap.add_argument(
        "--redecode",
        action="store_true",
        help="also score current+own (the model's own matcher) and current+redecode"
        " (InferenceConfig.rgb_redecode)",
    )
    ap.add_argument(
        "--matcher",
        nargs="+",
        default=[],
        help="also score the defaults with each of these learned matchers (current+matcher,"
        " or current+matcher:LABEL for several)",
    )
    ap.add_argument(
        "--matcher-with",
        nargs="+",
        default=["current"],
        help="the settings (of --settings' names and --define's) scored with each matcher",
    )
    args = ap.parse_args()
    for d in args.matcher:
        if not (Path(d) / "matcher.json").is_file():
            print(f"error: --matcher {d!r} has no matcher.json", file=sys.stderr)
            return 2
    if len({matcher_label(d) for d in args.matcher}) < len(args.matcher):
        print("error: --matcher directories need distinct names", file=sys.stderr)
        return 2
    if args.checkpoint and not (Path(args.checkpoint) / "config.json").is_file():
        print(f"error: --checkpoint {args.checkpoint!r} has no config.json", file=sys.stderr)
        return 2
    known, fields = dict(SETTINGS), {f.name for f in dataclasses.fields(RgbPoseConfig)}
    for item in args.define:
        name, _, text = item.partition("=")
        try:
            over = json.loads(text)
            if not name or not isinstance(over, dict) or not set(over) <= fields:
                raise ValueError
            known[name] = dataclasses.replace(RgbPoseConfig(), **over)
        except (ValueError, TypeError):
            print(f"error: --define needs NAME=JSON of RgbPoseConfig fields, got {item!r}",
                  file=sys.stderr)  # fmt: skip
            return 2
    if not set(args.settings) <= set(known):
        print(f"error: --settings must be among {sorted(known)}, got {args.settings}",
              file=sys.stderr)  # fmt: skip
        return 2
    settings = {name: known[name] for name in args.settings}
    if not set(args.matcher_with) <= set(known):
        print(f"error: --matcher-with must be among {sorted(known)}, got {args.matcher_with}",
              file=sys.stderr)  # fmt: skip
        return 2
    matchers = {row: (known[name], d) for row, (name, d) in
                matcher_rows(args.matcher, tuple(args.matcher_with)).items()}  # fmt: skip
    if not settings and not matchers and not args.redecode:
        print("error: no rows: give --settings, --matcher or --redecode", file=sys.stderr)
        return 2
    try:
        first, last = (int(x) for x in args.seeds.split("-"))
    except ValueError:
        print(f"error: --seeds must be FIRST-LAST, got {args.seeds!r}", file=sys.stderr)
        return 2
    if not 0 <= first <= last or (last >= 1_000_000 and first <= 1_000_099):
        print("error: a seed range of >= 0, not the benchmark's 1,000,000-1,000,099",
              file=sys.stderr)  # fmt: skip
        return 2
    if not 1 <= args.jobs <= 256:
        print(f"error: --jobs must be 1-256, got {args.jobs}", file=sys.stderr)
        return 2
    if not set(args.views) <= {2, 4}:
        print(f"error: --views must be 2 and/or 4 (the benchmark's multi-view windows), got"
              f" {args.views}", file=sys.stderr)  # fmt: skip
        return 2
    print(f"# seeds {first}-{last}, {args.points} points, {args.steps} steps, {args.device},"
          f" {args.jobs} jobs")  # fmt: skip
    print("| views | setting | RRA@15 | RTA@15 | AUC@30 | refine s |")
    print("|---|---|---|---|---|---|")
    per_window = open(args.per_window, "w") if args.per_window else None  # noqa: SIM115
    init = (args.device, args.points, args.steps, 1 if args.jobs > 1 else None, settings,
            args.checkpoint, args.redecode, matchers)  # fmt: skip
    pool = None
    if args.jobs > 1:
        pool = multiprocessing.get_context("spawn").Pool(args.jobs, _start_worker, init)
    else:
        _start_worker(*init)
    try:
        for V in args.views:
            tasks = [(seed, V) for seed in range(first, last + 1)]
            # in order, as they come: a run cut short keeps the windows done (--per-window)
            results = pool.imap(score_window, tasks) if pool else map(score_window, tasks)
            rows = {name: [] for name in settings}
            if args.redecode:
                rows.update({name: [] for name, _ in REDECODE_ROWS})
            rows.update({name: [] for name in matchers})
            for window in results:
                for rec in window:
                    rows[rec["setting"]].append(rec)
                    if per_window:
                        per_window.write(json.dumps(rec) + "\n")
                if per_window:
                    per_window.flush()
            first_row = next(iter(rows.values()))  # every row holds the same head poses
            head = [np.mean([r["head"][k] for r in first_row]) for k in KEYS]
            print(f"| {V} | head alone | " + " | ".join(f"{x:.3f}" for x in head) + " | - |")
            for name, recs in rows.items():
                m = [np.mean([r[k] for r in recs]) for k in KEYS]
                secs = np.mean([r["seconds"] for r in recs])
                print(f"| {V} | {name} | " + " | ".join(f"{x:.3f}" for x in m)
                      + f" | {secs:.2f} |", flush=True)  # fmt: skip
    finally:
        if pool:
            pool.close()
            pool.join()
        if per_window:
            per_window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
