"""Which part of the published cloud's completed points is right: planes, snapped, head, sides.

For the 7-Scenes dev windows of issue 6's protocol (validation only; ``--views``,
``--windows``, stride 4) the published cloud (``nova3r eval``'s ``model`` method, the
shipped defaults unless told otherwise) is split into its parts (``Published.part``; the
head's part into its points snapped onto a plane and its own), and each part's completed
points (in the region, judged, farther than 5 cm from every observed point, as the
protocol's ``completed_precision@5cm`` counts them, but without its 16,384-point
subsample) are scored: count per window, share of all completed points, precision within
2 and 5 cm of the reference. Each part is also split by where its points project: onto a
pixel with no depth in every view of the window (``/hole``: a depth hole everywhere, e.g.
the black kitchen counter) or not (``/seen``). Prints one line per part and split, then
the pooled precision, then the precision@5cm of the head's own points by their published
confidence (bins ``CONFIDENCE_BINS``), seen and in holes apart.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python scripts/completed_parts.py DEV_DIR
       [--views V] [--windows N] [--device cpu] [--hidden-min-probability P]
       [--hidden-consensus W]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.eval.scoring import in_world, region_cameras

PARTS = ("planes", "snapped", "head", "sides", "decoder")
CONFIDENCE_BINS = (0.0, 0.35, 0.45, 0.6, 1.01)


def in_holes(points: np.ndarray, window, cameras) -> np.ndarray:
    """(N,) bool: no view of the window has valid depth at the point's pixel (world points).

    ``cameras``: the window's views (:func:`~nova3r_ros.eval.scoring.region_cameras`).
    """
    frames = [(view.depth, cam) for view, cam in zip(window.views, cameras, strict=True)]
    return ~frustum._any_frame(points, frames, lambda z, d: z > 0)


def part_labels(stats: dict, n: int) -> np.ndarray:
    """(n,) int: each published point's part (index in PARTS; -1 observed)."""
    counts = [int(stats.get(k, 0)) for k in ("observed_points", "plane_points",
                                             "hidden_snapped_points")]  # fmt: skip
    hidden = int(stats.get("hidden_points", 0))
    counts += [hidden - counts[2], int(stats.get("side_points", 0)),
               int(stats.get("completed", 0))]  # fmt: skip
    if sum(counts) != n:
        raise ValueError(f"parts hold {sum(counts)} points, the cloud {n}")
    return np.repeat(np.arange(-1, len(PARTS)), counts)


def shipped_windows(path: str, views: int, windows: int, backend, baseline: bool = False):
    """Yield the dev windows of issue 6's protocol (stride 4) with their published cloud.

    One namespace per window: ``window``, ``gt``, ``frames`` (every frame, for the judged
    rule), ``cams`` (the region's views), ``observed`` (the input depth back-projected,
    world: the protocol's observed set), ``rec`` (``reconstruct(window, "model",
    backend)``), ``pts`` (N, 3) its points in the world, ``label`` (N,) their parts
    (:func:`part_labels`), ``ref`` (M, 3) float64 the reference, and ``observed_only`` the
    ``nova3r eval`` baseline's cloud in the world (``baseline``; else None).
    """
    from dataclasses import replace
    from types import SimpleNamespace

    from nova3r_ros.pipeline import reconstruct

    gated = replace(backend, force_gate=True, fusion_sigmas=0.0)  # nova3r eval's observed_only
    for window, gt, _, frames in sevenscenes_windows(path, views, windows, 4,
                                                     log=lambda s: None):  # fmt: skip
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        yield SimpleNamespace(
            window=window, gt=gt, frames=frames, cams=region_cameras(window, gt),
            observed=baselines.oracle_raw(window, gt).points, rec=rec, pts=pts,
            label=part_labels(rec.stats, len(pts)), ref=np.asarray(gt.points, np.float64),
            observed_only=in_world(reconstruct(window, "model", gated), gt) if baseline else None,
        )  # fmt: skip


def protocol_scores(w, cloud: np.ndarray, observed: np.ndarray | None = None) -> dict:
    """Score a world ``cloud`` in window ``w`` by the protocol (``frustum_metrics``, real cm).

    ``w``: a window of :func:`shipped_windows`; ``observed`` replaces its observed set.
    """
    obs = w.observed if observed is None else observed
    return frustum.frustum_metrics(cloud, w.ref, w.cams, obs, frustum.REAL_THRESHOLDS_CM,
                                   w.frames)  # fmt: skip


def main(argv=None) -> int:
    """Command line (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--checkpoint", default="nova3r_ros/model/checkpoints/base")
    ap.add_argument("--hidden-min-probability", type=float, default=None)
    ap.add_argument("--hidden-consensus", type=float, default=None)
    args = ap.parse_args(argv)
    from nova3r_ros.pipeline import ModelBackendConfig

    backend = ModelBackendConfig(args.checkpoint, args.device, 4096, 6,
                                 hidden_min_probability=args.hidden_min_probability,
                                 hidden_consensus=args.hidden_consensus)  # fmt: skip
    rows = {f"{p}/{w}": [] for p in PARTS for w in ("seen", "hole")}  # (n, near@2cm, near@5cm)
    head_conf = {"seen": [], "hole": []}  # the head's own points: (confidence, right@5cm)
    for w in shipped_windows(args.data, args.views, args.windows, backend):
        rec, pts, label, cams, window = w.rec, w.pts, w.label, w.cams, w.window
        gt, judge_frames, observed = w.gt, w.frames, w.observed
        target = gt.points[frustum.in_region(gt.points, cams)]
        sel = (label >= 0) & frustum.in_region(pts, cams)
        sel[sel] = frustum.judged(pts[sel], judge_frames)
        sel[sel] = nn_distances(pts[sel], observed) > 0.05
        d = nn_distances(pts[sel], target)
        hole = in_holes(pts[sel], window, cams)
        for i, p in enumerate(PARTS):
            for where, mask in (("seen", ~hole), ("hole", hole)):
                di = d[(label[sel] == i) & mask]
                rows[f"{p}/{where}"].append((di.size, (di < 0.02).sum(), (di < 0.05).sum()))
        own = label[sel] == PARTS.index("head")
        for where, mask in (("seen", ~hole), ("hole", hole)):
            head_conf[where].append((rec.confidence[sel][own & mask], d[own & mask] < 0.05))
    total = sum(sum(r[0] for r in v) for v in rows.values())
    pooled = np.zeros(3)
    for p, v in rows.items():
        a = np.array(v, float).sum(0)
        pooled += a
        if a[0]:
            print(
                f"{args.views}v {p:13s} points/window={a[0] / len(v):7.1f} "
                f"share={a[0] / max(total, 1):.3f} precision@2cm={a[1] / a[0]:.3f} "
                f"precision@5cm={a[2] / a[0]:.3f}"
            )
    print(
        f"{args.views}v all           points/window={pooled[0] / args.windows:7.1f} "
        f"precision@2cm={pooled[1] / max(pooled[0], 1):.3f} "
        f"precision@5cm={pooled[2] / max(pooled[0], 1):.3f}"
    )
    for where, pairs in head_conf.items():
        conf = np.concatenate([c for c, _ in pairs])
        right = np.concatenate([r for _, r in pairs])
        cells = []
        for lo, hi in itertools.pairwise(CONFIDENCE_BINS):
            m = (conf >= lo) & (conf < hi)
            if m.any():
                cells.append(f"[{lo:g},{min(hi, 1):g}): {m.sum()} at {right[m].mean():.3f}")
        print(f"{args.views}v head/{where} by confidence: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
