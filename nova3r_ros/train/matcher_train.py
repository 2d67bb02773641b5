"""Train the learned dense matcher (:mod:`nova3r_ros.model.matcher`) on synthetic pairs.

Each step renders tabletop windows of 4 views on the device (the RGB-only pose
benchmark's cameras, :func:`~nova3r_ros.synth.config.benchmark_config`, training seeds
below 1,000,000), takes ``pairs`` view pairs per window, and for sampled cells of one
view finds their cell in the other from the true depth and poses (visible there: the
other view's depth within 2 cm + 2 % of the projected depth). Loss: the cross-entropy of
that cell among all the other view's cells (cosine similarity over the temperature), both
ways. Validation (every ``--val-every`` minutes and at the end): on 2-view windows of
seeds 1,650,000+ (the camera head's pose validation seeds, never trained on), the pose
from the matches alone (essential matrix, MAGSAC, 2 px) against the truth: RRA@15,
RTA@15, AUC@30, and the share of matches within 4 px of where the truth puts them. The
best step by AUC@30 is kept in ``OUT/best`` (and with ``--keep-last`` the last validated
step in ``OUT/last``: off by default, so that a device call's ``$OUT`` stays within the
files that come back).

Usage: python -m nova3r_ros.train.matcher_train --out DIR --minutes M [--device cuda]
           [--batch 12] [--pairs 3] [--queries 384] [--lr 1e-3] [--val-windows 64]
           [--val-every 2] [--init DIR] [--keep-last] [--decay cosine] [--p-robot 0.5]
           [--p-sensor 0.7] [--photo-textures DIR --p-photo 0.5]
           [--val-7scenes DIR --val-criterion synthetic|real|mean]

``--p-robot P``: that share of the batches comes from the robot scene mix instead
(:func:`~nova3r_ros.synth.training_mix.training_config` with 4 views: clutter, shelves,
counters, furnished rooms, wide cameras; procedural objects, no mesh files), a quarter of
``--batch`` windows each (their layout costs about ten times a tabletop's). ``--p-sensor
P``: that share of the windows has its images degraded by a random colour-camera model
(:func:`~nova3r_ros.synth.sensor.degrade_batch`: blur, exposure, white balance, shot and
read noise, gamma, JPEG); the targets always come from the true depth.
``--photo-textures DIR``: a share ``--p-photo`` of the objects (tables included) takes a
photographic texture from the bank in DIR (:mod:`nova3r_ros.synth.photo_textures`) instead
of its procedural one.

``--val-7scenes DIR``: each validation also scores the pose from the matches alone on the
folder's view pairs 10 positions apart (colour and recorded poses only; validation frames,
never trained on), logged as ``real_*``; ``--val-criterion real`` or ``mean`` picks
``OUT/best`` by that AUC@30 or by the mean of both.

``--decay cosine`` lowers the learning rate over the run's wall time (``--minutes``) from
``--lr`` to a twentieth of it along a half cosine (after the 100-step warm-up); the run is
timed, not counted in steps, so the schedule follows the clock.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nova3r_ros.eval import metrics
from nova3r_ros.model.matcher import STRIDE, MatchNet, cell_to_px, dense_matches, px_to_cell
from nova3r_ros.model.matcher_files import load_matcher, save_matcher
from nova3r_ros.model.measurement import pixel_rays, projected_pixel
from nova3r_ros.model.pose_rgb_epipolar import normalise, pair_pose
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_batch, generate_window
from nova3r_ros.synth.photo_textures import PhotoTextures
from nova3r_ros.synth.sensor import degrade_batch
from nova3r_ros.synth.training_mix import training_config

VAL_SEED = 1_650_000
TEMPERATURE = 0.05
PAIRS4 = ((0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (0, 3))


def cell_targets(depth_a, K_a, T_a, depth_b, K_b, T_b) -> torch.Tensor:
    """(N, hc * wc) each cell of view a -> its cell index in view b, -1 where none.

    ``depth_*`` (N, H, W) metres; ``K_*`` (N, 3, 3); ``T_*`` (N, 4, 4) camera-to-world;
    images at the network's resolution (cells of :data:`STRIDE` pixels).
    """
    H, W = depth_a.shape[1:]
    hc, wc = H // STRIDE, W // STRIDE
    dev = depth_a.device
    rows = cell_to_px(torch.arange(hc, device=dev, dtype=torch.float32), 1.0)
    cols = cell_to_px(torch.arange(wc, device=dev, dtype=torch.float32), 1.0)
    iv, iu = (rows + 0.5).long().clamp(0, H - 1), (cols + 0.5).long().clamp(0, W - 1)
    z = depth_a[:, iv[:, None], iu[None, :]].flatten(1)  # (N, C), the cells' centre pixels
    rx, ry = pixel_rays(K_a, rows, cols)
    p = torch.stack([rx.flatten(1) * z, ry.flatten(1) * z, z], -1)  # (N, C, 3) in a
    T = torch.linalg.inv(T_b) @ T_a
    q = p @ T[:, :3, :3].transpose(1, 2) + T[:, None, :3, 3]
    ub, vb = projected_pixel(q, K_b)
    inside = (z > 0) & (q[..., 2] > 0.05) & (ub > -0.5) & (ub < W - 0.5) & (vb > -0.5) & (
        vb < H - 0.5)  # fmt: skip
    jb = (ub + 0.5).long().clamp(0, W - 1)
    ib = (vb + 0.5).long().clamp(0, H - 1)
    d_b = torch.gather(depth_b.flatten(1), 1, ib * W + jb)
    seen = inside & (d_b > 0) & ((d_b - q[..., 2]).abs() < 0.02 + 0.02 * q[..., 2])
    cx = px_to_cell(ub, 1.0).round().long().clamp(0, wc - 1)
    cy = px_to_cell(vb, 1.0).round().long().clamp(0, hc - 1)
    return torch.where(seen, cy * wc + cx, torch.full_like(cx, -1))


def pair_loss(d_a: torch.Tensor, d_b: torch.Tensor, target: torch.Tensor, queries: int,
              gen: torch.Generator) -> torch.Tensor:  # fmt: skip
    """Cross-entropy of each sampled cell's true cell, (N, D, hc, wc) descriptors."""
    losses = []
    for n in range(d_a.shape[0]):
        valid = torch.nonzero(target[n] >= 0).flatten()
        if valid.numel() < 8:
            continue
        pick = valid[torch.randperm(valid.numel(), generator=gen, device=valid.device)[:queries]]
        q = d_a[n].flatten(1)[:, pick]  # (D, Q)
        logits = q.T @ d_b[n].flatten(1) / TEMPERATURE  # (Q, C)
        losses.append(F.cross_entropy(logits, target[n, pick]))
    return torch.stack(losses).mean() if losses else d_a.sum() * 0.0


def augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-image brightness / contrast jitter and pixel noise; (M, 3, H, W) in [0, 1]."""
    M, dev = images.shape[0], images.device
    gain = 0.8 + 0.4 * torch.rand(M, 1, 1, 1, generator=gen, device=dev)
    bias = 0.1 * (torch.rand(M, 1, 1, 1, generator=gen, device=dev) - 0.5)
    noise = 0.01 * torch.randn(images.shape, generator=gen, device=dev)
    return (images * gain + bias + noise).clamp(0, 1)


def sevenscenes_pairs(path: str, gap: int = 10) -> list:
    """View pairs ``gap`` positions apart of a 7-Scenes folder (validation, never training).

    Colour and the recorded poses only (no depth: the folder may travel without its depth
    images), every position that has a partner; ``gap`` 10 is ``nova3r eval --stride 10``'s
    spacing of the dev frames (20 recorded frames).
    """
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    seq = SevenScenesSequence(path)
    views = [seq.view(i, with_depth=False, known_pose=True) for i in range(len(seq))]
    return [(views[i], views[i + gap]) for i in range(len(seq) - gap)]


def validate(net: MatchNet, pairs: list) -> dict[str, float]:
    """Pose from the matches alone on validation view pairs (module docstring).

    ``pairs``: ``(View, View)`` with known poses; ``match_precision@4px`` only where the
    first views have depth.
    """
    net.eval()
    rot, trans, good, total, with_depth = [], [], 0, 0, False
    for a, b in pairs:
        xa, xb, _ = dense_matches(net, a.image, b.image)
        with_depth = with_depth or a.depth is not None
        if len(xa) and a.depth is not None:
            t = cell_targets_px(a, b, xa)
            ok = np.isfinite(t[:, 0])
            good += int((np.linalg.norm(t[ok] - xb[ok], axis=1) < 4).sum())
            total += int(ok.sum())
        pose = None
        if len(xa) >= 8:
            thr = 2.0 * a.image.shape[1] / 256 / float(a.K[0, 0])  # 2 px at the net's width
            pose = pair_pose(normalise(xa, a.K), normalise(xb, b.K), np.eye(3), np.zeros(3), thr)
        T_rel = np.eye(4)
        if pose is not None:
            T_rel[:3, :3], T_rel[:3, 3] = pose.R, pose.t
        T_b = np.linalg.inv(T_rel)  # camera b in a's frame
        r, t_ = metrics.pairwise_pose_errors([np.eye(4), T_b], [a.T_world_cam, b.T_world_cam])
        rot.append(r[0])
        trans.append(t_[0])
    net.train()
    score = metrics.pose_metrics_from_errors(np.array(rot), np.array(trans))
    out = {"rra@15": score["rra@15"], "rta@15": score["rta@15"], "auc@30": score["auc@30"]}
    if with_depth:
        out["match_precision@4px"] = good / max(total, 1)
    return out


def cell_targets_px(a, b, xa: np.ndarray) -> np.ndarray:
    """Where the truth puts pixels ``xa`` of view a in view b (NaN: not seen there)."""
    iu = np.clip(np.round(xa[:, 0]).astype(int), 0, a.depth.shape[1] - 1)
    iv = np.clip(np.round(xa[:, 1]).astype(int), 0, a.depth.shape[0] - 1)
    z = a.depth[iv, iu]
    p = np.stack([(xa[:, 0] - a.K[0, 2]) / a.K[0, 0] * z,
                  (xa[:, 1] - a.K[1, 2]) / a.K[1, 1] * z, z], 1)  # fmt: skip
    T = np.linalg.inv(b.T_world_cam) @ a.T_world_cam
    q = p @ T[:3, :3].T + T[:3, 3]
    out = np.stack([b.K[0, 0] * q[:, 0] / q[:, 2] + b.K[0, 2],
                    b.K[1, 1] * q[:, 1] / q[:, 2] + b.K[1, 2]], 1)  # fmt: skip
    out[(z <= 0) | (q[:, 2] <= 0)] = np.nan
    return out


def lr_factor(decay: str, elapsed_s: float, total_s: float) -> float:
    """Return the learning rate's factor at ``elapsed_s`` of a ``total_s`` run (``--decay``)."""
    if decay == "none":
        return 1.0
    f = min(max(elapsed_s / total_s, 0.0), 1.0)
    return 0.05 + 0.95 * 0.5 * (1.0 + float(np.cos(np.pi * f)))


def main(argv: list[str] | None = None) -> int:
    """Train; exit code 2 on a bad argument."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--queries", type=int, default=384)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val-windows", type=int, default=64)
    ap.add_argument("--val-every", type=float, default=2.0)
    ap.add_argument("--init", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-last", action="store_true", help="also save OUT/last")
    ap.add_argument("--decay", choices=("none", "cosine"), default="none")
    ap.add_argument("--p-robot", type=float, default=0.0, help="share of robot-mix batches")
    ap.add_argument("--p-sensor", type=float, default=0.0, help="share of degraded images")
    ap.add_argument(
        "--photo-textures",
        default=None,
        help="a photo bank folder (nova3r_ros.synth.photo_textures)",
    )
    ap.add_argument(
        "--p-photo",
        type=float,
        default=0.5,
        help="share of objects that take a photo texture (with --photo-textures)",
    )
    ap.add_argument(
        "--val-7scenes",
        default=None,
        help="7-Scenes folder: also validate on its pairs 10 positions apart",
    )
    ap.add_argument(
        "--val-criterion",
        choices=("synthetic", "real", "mean"),
        default="synthetic",
        help="AUC@30 that picks OUT/best",
    )
    a = ap.parse_args(argv)
    ok = 0 < a.minutes <= 600 and 1 <= a.batch <= 256 and 1 <= a.pairs <= 6
    ok = ok and 0 <= a.p_robot <= 1 and 0 <= a.p_sensor <= 1 and 0 <= a.p_photo <= 1
    ok = ok and (a.val_7scenes is not None or a.val_criterion == "synthetic")
    if not (ok and 8 <= a.queries <= 3072 and 0 < a.lr < 1 and 1 <= a.val_windows <= 1024):
        print(
            "error: --minutes (0, 600], --batch 1-256, --pairs 1-6, --queries 8-3072,"
            " --lr (0, 1), --val-windows 1-1024, --p-robot, --p-sensor and --p-photo"
            " [0, 1]; --val-criterion real|mean needs --val-7scenes",
            file=sys.stderr,
        )
        return 2
    dev = torch.device(a.device)
    try:
        photo = PhotoTextures.load(a.photo_textures, dev, a.p_photo) if a.photo_textures else None
        real = sevenscenes_pairs(a.val_7scenes) if a.val_7scenes else None
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    net = load_matcher(a.init, dev)[0] if a.init else MatchNet().to(dev)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    cfg = benchmark_config(4, family="tabletop", height=192, width=256, device=a.device)
    val_cfg = benchmark_config(2, family="tabletop", height=192, width=256)
    val = [tuple(generate_window(VAL_SEED + i, val_cfg)[0].views) for i in range(a.val_windows)]
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    log = open(out / "log.jsonl", "a")  # noqa: SIM115
    t0 = time.time()
    step, best, next_val = 0, -1.0, a.val_every * 60
    total_s = a.minutes * 60
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * lr_factor(a.decay, time.time() - t0, total_s)
    )
    while True:
        elapsed = time.time() - t0
        done = elapsed >= total_s
        if elapsed >= next_val or done:
            score = validate(net, val)
            if real is not None:
                score.update({f"real_{k}": v for k, v in validate(net, real).items()})
            rec = {"step": step, "minutes": round(elapsed / 60, 2), **score}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            if a.keep_last:
                save_matcher(out / "last", net, {"step": step, **score})
            crit = {
                "synthetic": score["auc@30"],
                "real": score.get("real_auc@30"),
                "mean": (score["auc@30"] + score.get("real_auc@30", 0.0)) / 2,
            }[a.val_criterion]
            if crit > best:
                best = crit
                save_matcher(out / "best", net, {"step": step, **score})
            next_val += a.val_every * 60
        if done:
            break
        seeds = rng.integers(0, 1_000_000, a.batch).tolist()
        synth = cfg
        if a.p_robot > 0 and rng.random() < a.p_robot:  # a quarter of the windows: slow layout
            synth = training_config(rng, 4, height=192, width=256, device=a.device)
            seeds = seeds[: max(1, a.batch // 4)]
        with torch.no_grad():
            batch = generate_batch(seeds, config=synth, image_dtype="float32", photo=photo)
            if a.p_sensor > 0:
                batch = degrade_batch(batch, gen, p_clean=1.0 - a.p_sensor)
        images = augment(batch["images"].flatten(0, 1), gen)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            desc = net(images).float()
        desc = desc.view(len(seeds), 4, *desc.shape[1:])
        loss = 0.0
        for _ in range(a.pairs):
            i, j = PAIRS4[int(rng.integers(len(PAIRS4)))]
            for s, d in ((i, j), (j, i)):
                tgt = cell_targets(batch["depth"][:, s], batch["K"][:, s],
                                   batch["T_world_cam"][:, s], batch["depth"][:, d],
                                   batch["K"][:, d], batch["T_world_cam"][:, d])  # fmt: skip
                loss = loss + pair_loss(desc[:, s], desc[:, d], tgt, a.queries, gen)
        loss = loss / (2 * a.pairs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        if step % 50 == 0:
            rec = {"step": step, "minutes": round((time.time() - t0) / 60, 2),
                   "loss": round(float(loss.detach()), 4)}  # fmt: skip
            log.write(json.dumps(rec) + "\n")
            log.flush()
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
