"""Stage 1 and stage 2 training on synthetic windows generated on the device itself.

Stage 1: point-cloud autoencoder (complete cloud -> point encoder -> scene tokens ->
flow decoder). Stage 2: image encoder + camera head trained to the same latent
space with the stage-1 decoder frozen, by the flow-matching loss plus the camera
loss. Stage 3: joint fine-tune of image encoder, camera head and decoder with the
same losses (needed with ``local_context``, where the decoder also attends to the
image encoder's patch tokens, which the stage-1 autoencoder cannot provide).
Optional inputs (depth, relative poses) are dropped at random per window so
that one model serves every case. Training seeds are < ``EVAL_SEED_START``;
evaluation uses seeds from there on.

Run: ``python -m nova3r_ros.train --stage 1 --minutes 8 --out ckpt/stage1`` (one GPU)
or under ``torchrun --nproc_per_node N`` (DDP: each rank draws its own seeds).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from nova3r_ros.model.batch import prepare
from nova3r_ros.model.checkpoint import load_checkpoint, save_checkpoint
from nova3r_ros.model.config import CONFIGS
from nova3r_ros.model.flow import flow_loss
from nova3r_ros.model.network import Nova3r

EVAL_SEED_START = 1_000_000


@dataclass
class TrainConfig:
    """Training run options (see ``python -m nova3r_ros.train --help``)."""

    stage: int = 1
    model: str = "base"
    minutes: float = 8.0
    batch: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_steps: int = 200
    n_points: int = 4096
    views: tuple[int, ...] = (1, 1, 2, 4)
    p_depth: float = 0.5
    p_pose: float = 0.2
    p_room: float = 0.1
    camera_weight: float = 1.0
    init: str | None = None
    out: str = "ckpt"
    seed: int = 0
    mesh_dir: str | None = None
    mesh_exclude: tuple[str, ...] = ()
    log_every: int = 25
    reuse: int = 2  # optimiser steps per generated batch (new noise, t and input dropout)
    device: str = "cuda"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, got {self.stage}")
        if self.model not in CONFIGS:
            raise ValueError(f"model must be one of {sorted(CONFIGS)}, got {self.model!r}")
        if self.stage >= 2 and not self.init:
            raise ValueError(f"stage {self.stage} needs --init with an earlier checkpoint")


def widen(model: Nova3r, target) -> Nova3r:
    """Give ``model`` the target config's ``local_context`` / ``ray_features`` where it lacks them.

    Every weight is kept; the new inputs (point-map channels of the patch embedding, the
    decoder's ray-feature embedding) start with zero weights, so the widened model
    computes what the old one did until trained. If the configs differ in anything
    else, or the model already has both, ``model`` is returned unchanged.
    """
    old = model.cfg
    flags = dict(local_context=max(old.local_context, target.local_context),
                 ray_features=max(old.ray_features, target.ray_features))  # fmt: skip
    if replace(old, **flags) == old or replace(old, **flags, noise_std=target.noise_std) != target:
        return model
    wide = Nova3r(replace(old, **flags)).to(next(model.parameters()).device)
    state = model.state_dict()
    w = state["image_encoder.patch_embed.weight"]
    new_w = torch.zeros_like(wide.image_encoder.patch_embed.weight)
    new_w[:, : w.shape[1]] = w
    state["image_encoder.patch_embed.weight"] = new_w
    for name, value in wide.state_dict().items():
        state.setdefault(name, torch.zeros_like(value))  # new layers are zero-initialised
    wide.load_state_dict(state)
    return wide


def synth_batch(cfg: TrainConfig, model_cfg, step: int, rank: int, device) -> dict:
    """Generate one training batch on ``device`` (all windows share a view count)."""
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_batch

    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 9176 + rank)
    n_views = cfg.views[int(torch.randint(len(cfg.views), (1,), generator=g))]
    family = "room" if float(torch.rand(1, generator=g)) < cfg.p_room else "tabletop"
    # 3 or more views: the 4-view configuration (within 90 deg) with that many cameras
    synth = benchmark_config(
        {1: 1, 2: 2}.get(n_views, 4), family=family,
        height=model_cfg.image_height, width=model_cfg.image_width,
        n_gt_points=cfg.n_points, mesh_dir=cfg.mesh_dir, mesh_exclude=cfg.mesh_exclude,
        device=str(device),
    )  # fmt: skip
    synth = replace(synth, n_views=n_views)
    base = (cfg.seed * 7919 + step * 64 + rank * 1_000_000_007) % (EVAL_SEED_START - cfg.batch)
    return generate_batch(base, cfg.batch, synth, device=device)


def losses(model: Nova3r, batch: dict, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """Compute the stage's losses on one synthetic batch."""
    B, dev = batch["images"].shape[0], batch["images"].device
    use_depth = torch.rand(B, device=dev) < cfg.p_depth
    use_pose = torch.rand(B, device=dev) < cfg.p_pose
    inp = prepare(model.cfg, batch["images"], batch["K"], batch["depth"], batch["T_world_cam"],
                  use_depth, None, use_pose, batch["points"])  # fmt: skip
    target = inp["points"]
    if cfg.stage == 1:
        scene = model.point_encoder(target)
        return flow_loss(model.decoder, scene, target, batch["visible"], model.cfg.noise_std)
    scene, T_pred, focal = model.encode_images(inp["pixels"], inp["pose_in"], inp["pose_known"])
    out = flow_loss(model.decoder, scene, target, batch["visible"], model.cfg.noise_std,
                    inp.get("geo"))  # fmt: skip
    if T_pred.shape[1] > 1:
        T_true = inp["T_ref_cam"][:, 1:]
        rot = F.mse_loss(T_pred[:, 1:, :3, :3], T_true[..., :3, :3])
        trans = F.l1_loss(T_pred[:, 1:, :3, 3], T_true[..., :3, 3])
        out["camera"] = rot + trans
    else:
        out["camera"] = torch.zeros((), device=dev)
    out["focal"] = F.l1_loss(focal, inp["focal"])
    out["total"] = out["total"] + cfg.camera_weight * (out["camera"] + out["focal"])
    return out


def train(cfg: TrainConfig) -> dict:
    """Run one stage for ``cfg.minutes`` of wall time; write checkpoint + JSON log."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        torch.distributed.init_process_group("nccl")
        rank = torch.distributed.get_rank()
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    device = torch.device(cfg.device if torch.cuda.is_available() or cfg.device == "cpu"
                          else "cpu")  # fmt: skip
    torch.manual_seed(cfg.seed + rank)
    torch.backends.cuda.matmul.allow_tf32 = True
    model = load_checkpoint(cfg.init, device) if cfg.init else Nova3r(CONFIGS[cfg.model])
    model = widen(model, CONFIGS[cfg.model]).to(device).train()
    if cfg.stage == 2:  # the stage-1 decoder stays frozen
        for p in model.decoder.parameters():
            p.requires_grad_(False)
        params = [p for n, p in model.named_parameters()
                  if n.startswith(("image_encoder.", "camera_head."))]  # fmt: skip
    elif cfg.stage == 3:
        params = [p for n, p in model.named_parameters() if not n.startswith("point_encoder.")]
    else:
        params = [p for n, p in model.named_parameters()
                  if n.startswith(("point_encoder.", "decoder."))]  # fmt: skip
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"train_stage{cfg.stage}.jsonl"
    deadline = time.monotonic() + cfg.minutes * 60
    step, t_start, t_data = 0, time.monotonic(), 0.0
    est_steps = None
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    with open(log_path, "a") as log:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            if step % cfg.reuse == 0:
                batch = synth_batch(cfg, model.cfg, step // cfg.reuse, rank, device)
            t_data += time.monotonic() - t0
            elapsed = time.monotonic() - t_start
            if step == 20:
                est_steps = int(20 * cfg.minutes * 60 / max(elapsed, 1e-6))
            progress = min(1.0, step / est_steps) if est_steps else 0.0
            lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)
            lr *= 0.5 * (1 + math.cos(math.pi * progress)) * 0.9 + 0.1
            for group in opt.param_groups:
                group["lr"] = lr
            with autocast:
                loss = losses(model, batch, cfg)
            opt.zero_grad(set_to_none=True)
            loss["total"].backward()
            if distributed:  # average gradients across ranks (each rank drew its own windows)
                for p in params:
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad)
                        p.grad /= torch.distributed.get_world_size()
            grad = torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if step % cfg.log_every == 0 and rank == 0:
                row = {k: round(float(v.detach()), 5) for k, v in loss.items()}
                row.update(step=step, lr=lr, grad=float(grad), seconds=round(elapsed, 1),
                           data_fraction=round(t_data / max(elapsed, 1e-6), 3))  # fmt: skip
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(json.dumps(row), flush=True)
            step += 1
    summary = {"stage": cfg.stage, "steps": step, "minutes": cfg.minutes, "config": asdict(cfg),
               "data_fraction": t_data / max(time.monotonic() - t_start, 1e-6)}  # fmt: skip
    if rank == 0:
        save_checkpoint(out_dir, model, "bfloat16", inference_only=cfg.stage >= 2,
                        stage=cfg.stage, step=step, meta=summary)  # fmt: skip
        (out_dir / f"summary_stage{cfg.stage}.json").write_text(json.dumps(summary, indent=1))
    if distributed:
        torch.distributed.destroy_process_group()
    return summary
