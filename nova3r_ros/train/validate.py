"""Validation during training: torch-only scores on fixed windows; the best step is kept.

A :class:`ValSet` is a fixed batch of windows with known poses and depth and, per window,
the reference surface cut to the window's frustum region (:mod:`nova3r_ros.train.targets`,
the protocol's region). :func:`score` decodes every window with the model being trained
(``n_points`` points, ``steps`` Euler steps, the decoder alone), moves the points into the
world with the true view-0 pose, and reports per set, in torch on the model's device:

- ``outside``: share of decoded points outside the region;
- ``f@tau``: F-score of the in-region points against the region's reference (precision
  over all in-region points: no judged rule, unlike ``nova3r eval`` on real data, so
  these numbers are for choosing checkpoints, not for reporting).

With ``pose`` sets (:func:`pose_sets`: tabletops of 2 and 4 views, the RGB-only pose
benchmark's cameras) :func:`pose_scores` adds the camera head's poses without depth and
without known poses: ``rra@15``, ``rta@15`` and ``auc@30`` over every pair of views (the
errors computed on the device, counted on the host by the evaluation's own
:func:`nova3r_ros.eval.metrics.pose_metrics_from_errors`).

Sets: validation tabletops and furnished rooms (seeds from 1,600,000 and 1,700,000, never
the benchmark range) and, when a 7-Scenes folder is given, its dev frames (validation only:
never trained on) against their cached TSDF reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nova3r_ros.eval.metrics import pose_metrics_from_errors
from nova3r_ros.model.batch import prepare, to_reference_frame
from nova3r_ros.model.flow import sample
from nova3r_ros.model.gravity import support_plane_down, world_down
from nova3r_ros.model.observed_points import nearest
from nova3r_ros.train.targets import region_mask

VAL_TABLETOP_SEED = 1_600_000
VAL_ROOM_SEED = 1_700_000
VAL_KITCHEN_SEED = 1_800_000  # the kitchen family's validation windows (never trained on)
VAL_POSE_SEED = 1_650_000  # RGB-only pose windows: 2 views from here, 4 views from +1,000
MAX_TARGET = 16_384


@dataclass
class ValSet:
    """Fixed validation windows: tensors on the device and their region references.

    Attributes:
        name: set name (``tabletop_4v``, ``real_2v``...).
        images: uint8 (B, V, 3, H, W); K float32 (B, V, 3, 3); depth float32 (B, V, H, W)
            metres; T_world_cam float32 (B, V, 4, 4) camera-to-world (true poses).
        targets: per window, float32 (M_i, 3) world reference points in the region.
        taus: F-score thresholds (m).
        gravity: float32 (B, 3) "down" in view 0's optical frame (zero rows: unknown), for
            a model with a levelled canonical frame.

    """

    name: str
    images: torch.Tensor
    K: torch.Tensor
    depth: torch.Tensor
    T_world_cam: torch.Tensor
    targets: list[torch.Tensor]
    taus: tuple[float, ...]
    gravity: torch.Tensor | None = None


def _cut(points: torch.Tensor, depth, K, T, generator: torch.Generator) -> torch.Tensor:
    """Return one window's reference points (M, 3) inside its region, at most MAX_TARGET."""
    keep = points[region_mask(points[None], depth[None], K[None], T[None])[0]]
    if len(keep) > MAX_TARGET:
        idx = torch.randperm(len(keep), generator=generator)[:MAX_TARGET]
        keep = keep[idx.to(keep.device)]
    return keep


def synthetic_set(name: str, family: str, first: int, windows: int, views: int, device,
                  height: int = 192, width: int = 256) -> ValSet:  # fmt: skip
    """Build validation windows of the benchmark camera configuration of ``family``."""
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_batch

    cfg = benchmark_config(views, family=family, height=height, width=width,
                           n_gt_points=50_000, device=str(device))  # fmt: skip
    b = generate_batch(list(range(first, first + windows)), config=cfg, device=device)
    g = torch.Generator().manual_seed(first)
    targets = [_cut(b["points"][i], b["depth"][i], b["K"][i], b["T_world_cam"][i], g)
               for i in range(windows)]  # fmt: skip
    down = world_down(b["T_world_cam"][:, 0])  # synthetic worlds are z-up
    return ValSet(name, b["images"], b["K"], b["depth"], b["T_world_cam"], targets,
                  (0.01, 0.02, 0.05), down)  # fmt: skip


def sevenscenes_set(path: str, views: int, device, windows: int = 8, stride: int = 4,
                    reference: str = "tsdf") -> ValSet:  # fmt: skip
    """Build the dev frames' windows (as ``nova3r eval --windows 8 --stride 4``), posed.

    ``reference``: "tsdf" (the protocol's) or "measured" (``nova3r eval --reference``).
    """
    from nova3r_ros.eval.data import sevenscenes_windows

    items = list(sevenscenes_windows(path, views, windows, stride, log=lambda *_: None,
                                     reference=reference))  # fmt: skip

    def stack(get, dtype):
        return torch.from_numpy(np.stack([np.stack([get(v) for v in it.window.views])
                                          for it in items])).to(device, dtype)  # fmt: skip

    images = stack(lambda v: v.image.transpose(2, 0, 1), torch.uint8)
    K, depth = stack(lambda v: v.K, torch.float32), stack(lambda v: v.depth, torch.float32)
    T = stack(lambda v: v.T_world_cam, torch.float32)
    surface = torch.from_numpy(np.asarray(items[0].gt.points, np.float32)).to(device)
    g = torch.Generator().manual_seed(0)
    targets = [_cut(surface, depth[i], K[i], T[i], g) for i in range(len(items))]
    down = torch.stack([support_plane_down(depth[i, 0], K[i, 0]) for i in range(len(items))])
    return ValSet(f"real_{views}v", images, K, depth, T, targets, (0.02, 0.05), down)


def default_sets(device, sevenscenes: str | None = None, windows: int = 16,
                 height: int = 192, width: int = 256) -> list[ValSet]:  # fmt: skip
    """Return tabletops and rooms with 1 and 4 views, plus the dev frames (1/2/4 views).

    Synthetic windows are rendered at ``height`` x ``width`` (``nova3r eval``'s 256x192 for
    the shipped model's 128x96 input).
    """
    sets = []
    size = dict(height=height, width=width)
    for views in (1, 4):
        sets.append(synthetic_set(f"tabletop_{views}v", "tabletop", VAL_TABLETOP_SEED, windows,
                                  views, device, **size))  # fmt: skip
        sets.append(synthetic_set(f"room_{views}v", "room", VAL_ROOM_SEED, windows, views,
                                  device, **size))  # fmt: skip
    if sevenscenes:
        sets += [sevenscenes_set(sevenscenes, v, device) for v in (1, 2, 4)]
    return sets


def pose_sets(device, windows: int = 32, height: int = 192, width: int = 256) -> list[ValSet]:
    """Return RGB-only pose validation windows: tabletops of 2 and 4 views (``pose_<V>v``)."""
    return [synthetic_set(f"pose_{v}v", "tabletop", VAL_POSE_SEED + 1000 * i, windows, v,
                          device, height, width) for i, v in enumerate((2, 4))]  # fmt: skip


def pairwise_errors_deg(T_pred: torch.Tensor, T_true: torch.Tensor):
    """Return rotation and translation-direction errors (B, P) in degrees over view pairs.

    Poses (B, V, 4, 4) camera-to-frame (any frame and scale per window); the pair (i, j),
    i < j, compares ``T_i^-1 T_j`` as :func:`nova3r_ros.eval.metrics.pairwise_pose_errors`
    does (the translation's direction up to sign, as VGGT counts it).
    """
    V = T_pred.shape[1]
    i, j = torch.triu_indices(V, V, 1, device=T_pred.device)
    rel_p = torch.linalg.inv(T_pred.double()[:, i]) @ T_pred.double()[:, j]
    rel_t = torch.linalg.inv(T_true.double()[:, i]) @ T_true.double()[:, j]
    R = rel_p[..., :3, :3].transpose(-2, -1) @ rel_t[..., :3, :3]
    cos_r = ((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    a, b = rel_p[..., :3, 3], rel_t[..., :3, 3]
    cos_t = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp(min=1e-12)
    t_deg = torch.rad2deg(torch.arccos(cos_t.clamp(-1, 1)))
    return torch.rad2deg(torch.arccos(cos_r)), torch.minimum(t_deg, 180.0 - t_deg)  # up to sign


@torch.no_grad()
def pose_scores(model, vs: ValSet) -> dict[str, float]:
    """Score the camera head on ``vs`` without depth or poses: RRA/RTA@15 and AUC@30.

    Every window of a set has the same views, so the pairs pooled over the windows score
    as the mean of the windows' scores does.
    """
    was_training = model.training
    model.eval()
    B = vs.images.shape[0]
    no = torch.zeros(B, dtype=torch.bool, device=vs.images.device)
    try:
        inp = prepare(model.cfg, vs.images, vs.K, None, vs.T_world_cam, no, None, no)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=vs.images.is_cuda):
            _, T_pred, _ = model.encode_images(inp["pixels"], inp["pose_in"], inp["pose_known"])
    finally:
        model.train(was_training)
    r, t = pairwise_errors_deg(T_pred.float(), vs.T_world_cam)
    m = pose_metrics_from_errors(r.cpu().numpy(), t.cpu().numpy())
    return {f"{vs.name}/{k}": m[k] for k in ("rra@15", "rta@15", "auc@30")}


def set_scores(vs: ValSet, world: torch.Tensor) -> dict[str, float]:
    """Score predicted world points (B, N, 3) of ``vs``'s windows: outside and F@tau."""
    inside = region_mask(world, vs.depth, vs.K, vs.T_world_cam)
    out = {f"{vs.name}/outside": float(1.0 - inside.float().mean())}
    for tau in vs.taus:
        fs = []
        for b in range(len(world)):
            p, t = world[b][inside[b]], vs.targets[b]
            if len(p) == 0 or len(t) == 0:
                fs.append(0.0)
                continue
            prec = float((nearest(p, t)[0][:, 0] < tau).float().mean())
            rec = float((nearest(t, p)[0][:, 0] < tau).float().mean())
            fs.append(2 * prec * rec / max(prec + rec, 1e-12))
        out[f"{vs.name}/f@{round(tau * 100)}cm"] = float(np.mean(fs))
    return out


@torch.no_grad()
def score(model, sets: list[ValSet], n_points: int = 4096, steps: int = 8,
          seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Return ``{"<set>/outside": ..., "<set>/f@<cm>cm": ...}`` for the model as it is.

    The model is put in eval mode and back into train mode. Depth, intrinsics and the
    true poses are inputs (the posed RGB-D case the validation targets describe).
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    out: dict[str, float] = {}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")
    try:
        for vs in sets:
            B = vs.images.shape[0]
            yes = torch.ones(B, dtype=torch.bool, device=dev)
            inp = prepare(model.cfg, vs.images, vs.K, vs.depth, vs.T_world_cam, yes, yes, yes,
                          gravity=vs.gravity)  # fmt: skip
            gen = torch.Generator(device=dev).manual_seed(seed)
            with autocast:
                scene, _, _ = model.encode_images(inp["pixels"], inp["pose_in"],
                                                  inp["pose_known"])  # fmt: skip
                pts, _ = sample(model.decoder, scene, n_points, steps, generator=gen,
                                noise_std=model.cfg.noise_std, geo=inp.get("geo"))  # fmt: skip
            ref = to_reference_frame(pts.float(), inp["scale"], inp["R_canon"])  # view 0 frame
            T0 = vs.T_world_cam[:, 0]
            world = ref @ T0[:, :3, :3].transpose(1, 2) + T0[:, None, :3, 3]
            out.update(set_scores(vs, world))
    finally:
        model.train(was_training)
    return out


def criterion(scores: dict[str, float], kind: str = "f") -> float:
    """Return the number the best checkpoint maximises.

    ``f``: the mean of every set's F-scores; ``pose``: the mean AUC@30 of the RGB-only pose
    sets (:func:`pose_scores`).
    """
    key = "/f@" if kind == "f" else "/auc@30"
    values = [v for k, v in scores.items() if key in k]
    return float(np.mean(values)) if values else float("nan")
