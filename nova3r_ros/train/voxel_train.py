"""Train the voxel completion head (:mod:`nova3r_ros.model.voxel_completion`).

``python -m nova3r_ros.train.voxel_train --out DIR --minutes M [options]``

- Data: synthetic windows of the robot mix (``--family-weights``; rooms, kitchens,
  counters, shelves, clutter; wide camera ranges), ``--views`` per window, rendered on
  the device at ``--height`` x ``--width`` (the head's ``input_width``), depth through
  the sensor models with ``--p-sensor``, the complete scene surface as the target. Seeds
  below 1,000,000 only; the held-out YCB meshes stay out.
- Gravity: each window's grid is levelled by the true "down" turned by up to
  ``--down-noise-deg`` (the support plane's error at run time), or with
  ``--p-unlevelled`` left in view 0's optical frame (a window whose gravity is unknown).
- Loss: :func:`~nova3r_ros.model.voxel_completion.voxel_loss` over each window's grid
  cut as at run time (:func:`cut_batch`; the box of what its views measured or saw empty
  plus ``crop_margin_m``: about a third of the grid's cells on the 7-Scenes dev frames;
  ``--whole-grid`` for the whole grid); AdamW, linear warm-up, bfloat16 autocast on CUDA.
- Every ``--val-every`` minutes and at the end: :mod:`nova3r_ros.train.voxel_validation`
  on ``--val-windows`` validation rooms (and with ``--val-7scenes`` on the dev frames,
  logged only), ``--val-points-per-cell`` points per completed cell as published;
  ``DIR/last`` (the head, float32, and the AdamW state) for ``--resume``; ``DIR/best``
  (the head alone) the one with the best validation coverage at precision >= 0.7, its
  threshold stored with it.
  ``DIR/voxel_train.jsonl``: the log.
- ``--resume DIR/last`` continues a run (weights, moments, step and the data stream);
  ``--init HEAD_DIR`` starts from a head's weights with a fresh optimiser.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from nova3r_ros.model.gravity import world_down
from nova3r_ros.model.voxel_completion import (
    VoxelConfig,
    VoxelHead,
    crop_box,
    grid_inputs,
    grid_poses,
    grid_rotation,
    grid_targets,
    voxel_loss,
)
from nova3r_ros.model.voxel_files import load_voxel_head, save_voxel_head
from nova3r_ros.train.hidden_train import HELD_OUT_MESHES
from nova3r_ros.train.hidden_train_args import family_weights
from nova3r_ros.train.state import load_train_state, save_train_state
from nova3r_ros.train.voxel_validation import (
    selection,
    validate,
    validate_real,
    validation_windows,
)

DEFAULT_MIX = "room=0.5,kitchen=0.2,counter=0.1,shelf=0.1,clutter=0.1"
STATE_NAME = "voxel_head"


def tilted(down: torch.Tensor, max_deg: float, gen: torch.Generator) -> torch.Tensor:
    """``down`` (B, 3) each turned by a random angle up to ``max_deg`` about a random axis."""
    if max_deg <= 0:
        return down
    B = down.shape[0]
    axis = torch.nn.functional.normalize(torch.randn(B, 3, generator=gen), dim=1).to(down)
    angle = (torch.rand(B, 1, generator=gen) * math.radians(max_deg)).to(down)
    cos, sin = torch.cos(angle), torch.sin(angle)
    cross = torch.linalg.cross(axis, down, dim=1)
    dot = (axis * down).sum(1, keepdim=True)
    return down * cos + cross * sin + axis * dot * (1 - cos)  # Rodrigues


def batch_grids(batch: dict, cfg: VoxelConfig, gen: torch.Generator, down_noise_deg: float,
                p_unlevelled: float) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Network input (B, 6, X, Y, Z), target occupancy and offsets of a generated batch."""
    T_world = batch["T_world_cam"].float()
    T0inv = torch.linalg.inv(T_world[:, 0])
    T_ref = T0inv[:, None] @ T_world
    down = tilted(world_down(T_world[:, 0]), down_noise_deg, gen)
    flat = torch.rand(down.shape[0], generator=gen) < p_unlevelled
    down[flat.to(down.device)] = 0.0
    x = grid_inputs(batch["depth"].float(), batch["K"].float(), grid_poses(T_ref, down), cfg)
    R = grid_rotation(down) @ T0inv[:, :3, :3]
    pts = batch["points"].float() @ R.transpose(1, 2) + (
        grid_rotation(down) @ T0inv[:, :3, 3:]
    ).transpose(1, 2)
    occ, off = grid_targets(pts, cfg)
    return x, occ, off


def cut_batch(x: torch.Tensor, occ: torch.Tensor, off: torch.Tensor,
              cfg: VoxelConfig) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Cut each window's grids as at run time (:func:`crop_box`), to one size per batch.

    The size is the batch's largest box per axis, at least twice the network's
    downsampling (a window that saw little still trains). Each window's cut starts at its
    own box (moved back inside the grid where needed), so it holds the whole box. Inputs
    (B, 6, X, Y, Z), occupancy (B, X, Y, Z), offsets (B, 3, X, Y, Z); the same cells.
    """
    boxes = [crop_box(x[b], cfg) for b in range(x.shape[0])]
    least = 2 * cfg.downsampling  # the deepest level keeps 2 x 2 x 2 cells (batch norm)
    size = [min(cfg.dims[a], max(least, *(box[a].stop - box[a].start for box in boxes)))
            for a in range(3)]  # fmt: skip
    xs, occs, offs = [], [], []
    for b, box in enumerate(boxes):
        starts = [min(box[a].start, cfg.dims[a] - size[a]) for a in range(3)]
        cut = tuple(slice(s, s + n) for s, n in zip(starts, size, strict=True))
        xs.append(x[b][(slice(None), *cut)])
        occs.append(occ[b][cut])
        offs.append(off[b][(slice(None), *cut)])
    return torch.stack(xs), torch.stack(occs), torch.stack(offs)


def _args(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m nova3r_ros.train.voxel_train",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--views", type=int, nargs="+", default=[1, 1, 2, 4])
    p.add_argument("--family-weights", type=family_weights, default=family_weights(DEFAULT_MIX))
    p.add_argument("--p-sensor", type=float, default=0.9)
    p.add_argument("--n-points", type=int, default=200_000, help="ground-truth points")
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--cell", type=float, default=0.1, help="cell size (m)")
    p.add_argument("--dims", type=int, nargs=3, default=[80, 64, 80])
    p.add_argument("--lower", type=float, nargs=3, default=[-4.0, -3.2, -0.5])
    p.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64, 96])
    p.add_argument("--down-noise-deg", type=float, default=2.0)
    p.add_argument("--p-unlevelled", type=float, default=0.1)
    p.add_argument("--whole-grid", action="store_true",
                   help="train on whole grids (default: each cut as at run time)")  # fmt: skip
    p.add_argument("--mesh-dir", default=None)
    p.add_argument("--init", default=None, help="a voxel head directory to start from")
    p.add_argument("--resume", default=None, help="OUT/last of an earlier run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-workers", type=int, default=-1,
                   help="scene-layout processes (-1: cores - 1 on CUDA, 0 on CPU)")  # fmt: skip
    p.add_argument("--val-every", type=float, default=3.0, help="minutes (0: at the end only)")
    p.add_argument("--val-windows", type=int, default=48)
    p.add_argument("--val-views", type=int, default=1, choices=(1, 2, 4))
    p.add_argument("--val-points-per-cell", type=int, default=5, choices=(1, 5, 9),
                   help="points per completed cell in validation (as published)")  # fmt: skip
    p.add_argument("--val-7scenes", default=None,
                   help="7-Scenes dev folder scored at each validation, 1 and 4 views, 8 "
                   "windows (logged; never trained on, not used to pick the best)")  # fmt: skip
    a = p.parse_args(argv)
    if a.minutes <= 0 or a.batch < 1 or a.lr <= 0 or a.val_windows < 1:
        p.error("--minutes, --batch, --lr and --val-windows must be positive")
    for name in ("p_sensor", "p_unlevelled"):
        if not 0.0 <= getattr(a, name) <= 1.0:
            p.error(f"--{name.replace('_', '-')} must be in [0, 1]")
    if a.init and a.resume:
        p.error("--init and --resume exclude each other")
    return a


def _head(a) -> tuple[VoxelHead, int]:
    """Return the head to train and its first step (ValueError on unreadable files)."""
    if a.resume:
        return load_voxel_head(a.resume), -1
    if a.init:
        return load_voxel_head(a.init), 0
    cfg = VoxelConfig(cell_m=a.cell, dims=tuple(a.dims), lower_m=tuple(a.lower),
                      channels=tuple(a.channels), input_width=a.width)  # fmt: skip
    return VoxelHead(cfg), 0


def _save(directory: Path, head, opt, step: int, meta: dict, threshold=None) -> None:
    """Write the head (and with ``opt``, the AdamW state for ``--resume``) to ``directory``."""
    save_voxel_head(directory, head, meta={**meta, "step": step}, min_probability=threshold)
    if opt is not None:
        save_train_state(directory, head, opt, STATE_NAME, step, with_model=False)


def train(a: argparse.Namespace) -> dict:
    """Run (module docstring); return the last validation scores."""
    import os

    from nova3r_ros.train.data import BatchSource
    from nova3r_ros.train.loop import TrainConfig

    dev = torch.device(a.device)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    head, step = _head(a)
    head = head.to(dev).train()
    opt = torch.optim.AdamW(head.parameters(), lr=a.lr, weight_decay=0.01)
    if step < 0:
        step = load_train_state(a.resume, head, opt, STATE_NAME)
    cfg = head.config
    workers = a.data_workers if a.data_workers >= 0 else (
        max(0, (os.cpu_count() or 1) - 1) if dev.type == "cuda" else 0)  # fmt: skip
    tcfg = TrainConfig(batch=a.batch, views=tuple(a.views), p_robot=1.0, p_sensor=a.p_sensor,
                       targets="scene", n_points=a.n_points, mesh_dir=a.mesh_dir,
                       mesh_exclude=HELD_OUT_MESHES, family_weights=a.family_weights,
                       seed=a.seed, device=str(dev))  # fmt: skip
    size = SimpleNamespace(image_height=a.height, image_width=a.width)
    source = BatchSource(tcfg, size, 0, dev, workers=workers, start=step)
    val = validation_windows(a.val_windows, a.val_views, a.height, a.width, dev,
                             a.n_points, a.mesh_dir)  # fmt: skip
    real = []
    if a.val_7scenes:
        from nova3r_ros.train.validate import sevenscenes_set

        real = [sevenscenes_set(a.val_7scenes, v, dev) for v in (1, 4)]
    gen = torch.Generator().manual_seed(a.seed * 7_919 + step)
    meta = {"views": a.views, "family_weights": a.family_weights, "p_sensor": a.p_sensor,
            "size": [a.height, a.width], "val_views": a.val_views,
            "whole_grid": a.whole_grid,
            "val_points_per_cell": a.val_points_per_cell}  # fmt: skip
    best_file = out / "best" / "voxel_head.json"
    best = json.loads(best_file.read_text())["meta"].get("coverage", -1.0) if (
        best_file.is_file()) else -1.0  # fmt: skip
    log = (out / "voxel_train.jsonl").open("a")
    t0 = last_val = time.time()
    scores: dict = {}
    validated = -1  # the step last validated
    try:
        while True:
            done = time.time() - t0 >= a.minutes * 60
            due = a.val_every > 0 and time.time() - last_val >= a.val_every * 60
            recent = validated >= 0 and time.time() - last_val < 60
            if done and (step == validated or recent):
                _save(out / "last", head, opt, step, meta, selection(scores)[1])
            elif (done or due) and step != validated:  # (a run's end just after one: saved)
                validated = step
                scores = validate(head, val, a.val_points_per_cell)
                coverage, threshold = selection(scores)
                scores.update(validate_real(head, real, a.val_points_per_cell))
                last_val = time.time()
                log.write(json.dumps({"step": step, "s": round(last_val - t0, 1),
                                      "val": scores, "coverage": coverage,
                                      "threshold": threshold}) + "\n")  # fmt: skip
                log.flush()
                _save(out / "last", head, opt, step, meta, threshold)
                if threshold is not None and coverage > best:
                    best = coverage
                    _save(out / "best", head, None, step, {**meta, "coverage": coverage},
                          threshold)  # fmt: skip
            if done:
                break
            batch = source.next()
            for group in opt.param_groups:
                group["lr"] = a.lr * min(1.0, (step + 1) / max(a.warmup, 1))
            x, occ, off = batch_grids(batch, cfg, gen, a.down_noise_deg, a.p_unlevelled)
            if not a.whole_grid:
                x, occ, off = cut_batch(x, occ, off, cfg)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                loss = voxel_loss(head, x, occ, off)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 25 == 0 or step == 1:
                log.write(json.dumps({"step": step, "s": round(time.time() - t0, 1),
                                      "loss": round(float(loss.detach()), 5)}) + "\n")  # fmt: skip
                log.flush()
    finally:
        source.close()
        log.close()
    return scores


def main(argv=None) -> int:
    """Command line (module docstring); exit code 2 on bad arguments or files."""
    a = _args(argv)
    try:
        train(a)
    except ValueError as exc:
        print(f"voxel_train: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
