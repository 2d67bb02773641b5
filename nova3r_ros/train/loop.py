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
or under ``torchrun --nproc_per_node N`` (data parallel: each rank draws its own seeds,
gradients are averaged in one all_reduce per step; NCCL on CUDA, gloo with ``--device cpu``).
"""

from __future__ import annotations

import contextlib
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
from nova3r_ros.model.gravity import world_down
from nova3r_ros.model.network import Nova3r
from nova3r_ros.train.data import EVAL_SEED_START, BatchSource, synth_batch
from nova3r_ros.train.state import load_train_state, save_train_state, saved_step
from nova3r_ros.train.validation_log import Validation

__all__ = ["EVAL_SEED_START", "TrainConfig", "camera_loss", "losses", "synth_batch", "train"]


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
    p_robot: float = 0.0  # share of batches from synth.training_mix (families, wide cameras)
    p_sensor: float = 0.0  # share of windows degraded by a sensor model (synth.sensor)
    family_weights: dict | None = None  # robot mix: family -> weight (None: the default mix)
    camera_weight: float = 1.0
    camera_loss: str = "mse"  # "mse" (rotation matrices) or "angular" (see camera_loss)
    init: str | None = None
    out: str = "ckpt"
    seed: int = 0
    mesh_dir: str | None = None
    mesh_exclude: tuple[str, ...] = ()
    log_every: int = 25
    reuse: int = 2  # optimiser steps per generated batch (new noise, t and input dropout)
    data_workers: int = -1  # scene-layout processes; -1 = cores - 1 on CUDA, 0 on CPU
    targets: str = "frustum"  # ground truth: "frustum" region of the views, or whole "scene"
    witnesses: int = 0  # extra cameras per window that only mark what is seen (batch "witnessed")
    schedule: str = "cosine"  # "cosine" (to 10 % of lr) or "constant" (after warm-up)
    resume: str | None = None  # directory of a train_state to continue (weights + AdamW)
    save_state: bool = False  # also write the full train_state to ``out``
    val_every: float = 0.0  # minutes between validations (0 = none); best kept in out/best
    val_7scenes: str | None = None  # 7-Scenes dev folder for validation (never trained on)
    val_windows: int = 16  # synthetic validation windows per set
    val_criterion: str = "f"  # best checkpoint by decoder F-scores ("f") or RGB-only poses
    gravity_frame: bool = False  # train a levelled canonical frame (ModelConfig.gravity_frame)
    p_gravity: float = 0.8  # windows (with depth) whose gravity is given, when levelled
    gravity_noise_deg: float = 2.0  # error of the given gravity (a support-plane estimate)
    device: str = "cuda"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, got {self.stage}")
        if self.model not in CONFIGS:
            raise ValueError(f"model must be one of {sorted(CONFIGS)}, got {self.model!r}")
        if self.stage >= 2 and not (self.init or self.resume):
            raise ValueError(f"stage {self.stage} needs --init with an earlier checkpoint")
        if self.targets not in ("frustum", "scene"):
            raise ValueError(f"targets must be 'frustum' or 'scene', got {self.targets!r}")
        if self.camera_loss not in ("mse", "angular"):
            raise ValueError(f"camera_loss must be 'mse' or 'angular', got {self.camera_loss!r}")
        if not 0.0 <= self.camera_weight < math.inf:
            raise ValueError(f"camera_weight must be finite and >= 0, got {self.camera_weight!r}")
        if self.val_criterion not in ("f", "pose"):
            raise ValueError(f"val_criterion must be 'f' or 'pose', got {self.val_criterion!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.resume and self.init:
            raise ValueError("give --init (a checkpoint) or --resume (a train state), not both")
        if self.val_every < 0 or self.val_windows < 1:
            raise ValueError("val_every must be >= 0 and val_windows >= 1")
        if not isinstance(self.witnesses, int) or not 0 <= self.witnesses <= 64:
            raise ValueError(f"witnesses must be an int in [0, 64], got {self.witnesses!r}")
        if self.data_workers < -1:
            raise ValueError(f"data_workers must be >= -1, got {self.data_workers}")
        if self.family_weights is not None:
            from nova3r_ros.synth.training_mix import CAMERA_RANGES

            w = self.family_weights
            numbers = all(isinstance(v, int | float) and 0 <= v < math.inf for v in w.values())
            if not (w and set(w) <= set(CAMERA_RANGES) and numbers and sum(w.values()) > 0):
                raise ValueError(f"family_weights must map families of {tuple(CAMERA_RANGES)}"
                                 f" to finite weights >= 0, sum > 0, got {w!r}")  # fmt: skip
        for name in ("p_depth", "p_pose", "p_room", "p_robot", "p_sensor", "p_gravity"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")


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


def synthetic_gravity(T_world_cam: torch.Tensor, p_given: float, noise_deg: float):
    """Return "down" (B, 3) in view 0's optical frame for z-up synthetic worlds.

    Each window gets it with probability ``p_given`` (zero rows otherwise: the camera frame
    is kept), tilted by a random rotation of up to ``noise_deg`` degrees (the error of an
    estimate from a support plane).
    """
    down = world_down(T_world_cam[:, 0])
    B, dev = len(down), down.device
    tilt = torch.randn(B, 3, device=dev) * math.radians(noise_deg) / math.sqrt(3)
    down = down + torch.linalg.cross(tilt, down)  # small rotation by the vector ``tilt``
    given = torch.rand(B, device=dev) < p_given
    return torch.where(given[:, None], down / down.norm(dim=-1, keepdim=True), 0.0)


def losses(model: Nova3r, batch: dict, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """Compute the stage's losses on one synthetic batch."""
    B, dev = batch["images"].shape[0], batch["images"].device
    use_depth = torch.rand(B, device=dev) < cfg.p_depth
    use_pose = torch.rand(B, device=dev) < cfg.p_pose
    gravity = None
    if model.cfg.gravity_frame:
        gravity = synthetic_gravity(batch["T_world_cam"], cfg.p_gravity, cfg.gravity_noise_deg)
    inp = prepare(model.cfg, batch["images"], batch["K"], batch["depth"], batch["T_world_cam"],
                  use_depth, None, use_pose, batch["points"], gravity)  # fmt: skip
    target = inp["points"]
    if cfg.stage == 1:
        scene = model.point_encoder(target)
        return flow_loss(model.decoder, scene, target, batch["visible"], model.cfg.noise_std)
    scene, T_pred, focal = model.encode_images(inp["pixels"], inp["pose_in"], inp["pose_known"])
    out = flow_loss(model.decoder, scene, target, batch["visible"], model.cfg.noise_std,
                    inp.get("geo"))  # fmt: skip
    if T_pred.shape[1] > 1:
        out["camera"] = camera_loss(T_pred[:, 1:], inp["T_ref_cam"][:, 1:], cfg.camera_loss)
    else:
        out["camera"] = torch.zeros((), device=dev)
    out["focal"] = F.l1_loss(focal, inp["focal"])
    out["total"] = out["total"] + cfg.camera_weight * (out["camera"] + out["focal"])
    return out


def camera_loss(T_pred: torch.Tensor, T_true: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Return the camera loss of predicted against true poses (..., 4, 4), canonical units.

    ``mse``: mean squared error of the rotation matrices' entries plus the L1 error of the
    translations (the shipped model's loss; its gradient vanishes as a rotation error
    shrinks, so errors of 10-20 degrees cost little). ``angular``: the chordal distance
    ``||R_pred - R_true||_F`` per view (2 sqrt(2) sin(angle / 2): linear in the angle),
    the translations' L1 error and, where the true translation is not zero, 1 - the
    cosine between the translations (their direction, which RTA scores).
    """
    R_p, R_t = T_pred[..., :3, :3], T_true[..., :3, :3]
    t_p, t_t = T_pred[..., :3, 3], T_true[..., :3, 3]
    trans = F.l1_loss(t_p, t_t)
    if kind == "mse":
        return F.mse_loss(R_p, R_t) + trans
    rot = torch.sqrt(((R_p - R_t) ** 2).sum(dim=(-2, -1)) + 1e-8).mean()
    moving = t_t.norm(dim=-1) > 1e-4
    cos = F.cosine_similarity(t_p, t_t, dim=-1, eps=1e-6)
    direction = torch.where(moving, 1.0 - cos, 0.0).sum() / moving.sum().clamp(min=1)
    return rot + trans + direction


def setup_distributed(cfg: TrainConfig):
    """Pick the device and, under torchrun (``WORLD_SIZE`` > 1), join the process group.

    Returns ``(device, rank, world, ctrl)``. The group uses NCCL when training on CUDA
    (each rank on GPU ``LOCAL_RANK``) and gloo on CPU. ``ctrl`` is the group for the small
    host-side control messages (stop flag, step estimate, final barrier): a separate gloo
    group next to NCCL so they never wait on the GPU, else ``None`` (the default group).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device(cfg.device if torch.cuda.is_available() or cfg.device == "cpu"
                          else "cpu")  # fmt: skip
    if world <= 1:
        return device, 0, 1, None
    dist = torch.distributed
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl")
        ctrl = dist.new_group(backend="gloo")
    else:
        dist.init_process_group("gloo")
        ctrl = None
    return device, dist.get_rank(), world, ctrl


def from_rank0(value: float, group) -> float:
    """Return rank 0's ``value`` on every rank (a float64 CPU broadcast over ``group``)."""
    t = torch.tensor([float(value)], dtype=torch.float64)
    torch.distributed.broadcast(t, 0, group=group)
    return float(t[0])


def all_reduce_grads(params: list[torch.Tensor], world: int) -> None:
    """Average the gradients of ``params`` over all ranks with a single all_reduce.

    Every rank sends one flat fp32 buffer with the same layout: each parameter's gradient
    (zeros where this rank has ``grad=None``), then one has-gradient flag per parameter.
    A parameter that got a gradient on any rank ends with the averaged gradient on every
    rank; one that got none anywhere keeps ``grad=None`` (as under DDP), so all ranks
    step the same parameters with the same gradients.
    """
    dev = params[0].device
    have = [p.grad is not None for p in params]
    parts = [p.grad.reshape(-1).float() if h else torch.zeros(p.numel(), device=dev)
             for p, h in zip(params, have, strict=True)]  # fmt: skip
    flat = torch.cat([*parts, torch.tensor(have, dtype=torch.float32, device=dev)])
    torch.distributed.all_reduce(flat)
    n = flat.numel() - len(params)
    flat[:n] /= world
    # a host read (GPU sync) only when this rank lacks a gradient others may have
    anywhere = flat[n:].tolist() if not all(have) else have
    offset = 0
    for p, got in zip(params, anywhere, strict=True):
        if got:
            p.grad = flat[offset : offset + p.numel()].view_as(p).to(p.dtype)
        offset += p.numel()


def train(cfg: TrainConfig) -> dict:
    """Run one stage for ``cfg.minutes`` of wall time; write checkpoint + JSON log.

    Under torchrun each rank draws its own windows and gradients are averaged; rank 0's
    clock decides when to stop and how long the LR schedule is, so all ranks run the same
    steps with the same LRs. Only rank 0 writes the checkpoint, log and summary; all ranks
    wait for it, then leave the process group.
    """
    device, rank, world, ctrl = setup_distributed(cfg)
    workers = cfg.data_workers
    if workers == -1:
        from nova3r_ros.synth.scene_pool import default_workers

        workers = max(1, default_workers() // world) if device.type == "cuda" else 0
    first = saved_step(cfg.resume) if cfg.resume else 0
    source = BatchSource(cfg, CONFIGS[cfg.model], rank, device, workers, start=first // cfg.reuse)
    try:
        summary = _train(cfg, device, rank, world, ctrl, source, first)
        if world > 1:
            torch.distributed.barrier(group=ctrl)  # rank 0 has saved: leave together
    finally:
        source.close()
        if world > 1:
            torch.distributed.destroy_process_group()
    return summary


def _train(cfg: TrainConfig, device, rank: int, world: int, ctrl, source: BatchSource,
           first: int = 0) -> dict:  # fmt: skip
    """Train on this rank (see :func:`train`); return the run's summary.

    ``first``: the global step a resumed state was saved at (0 for a new run); batches and
    logged steps continue from it, and a resumed run skips the LR warm-up.
    """
    torch.manual_seed(cfg.seed + rank)
    torch.backends.cuda.matmul.allow_tf32 = True
    model = load_checkpoint(cfg.init, device) if cfg.init else Nova3r(CONFIGS[cfg.model])
    model = widen(model, CONFIGS[cfg.model]).to(device).train()
    if cfg.gravity_frame and not model.cfg.gravity_frame:  # same weights, levelled frame
        model.cfg = replace(model.cfg, gravity_frame=1)
    if world > 1:  # ranks initialised with different seeds: start from rank 0's weights
        with torch.no_grad():
            for t in [*model.parameters(), *model.buffers()]:
                torch.distributed.broadcast(t, 0)
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
    if cfg.resume:
        load_train_state(cfg.resume, model, opt, cfg.model)
    out_dir = Path(cfg.out)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"train_stage{cfg.stage}.jsonl"
    val = None
    if cfg.val_every > 0 and rank == 0:  # the starting point is scored before the clock runs
        val = Validation(cfg, device, out_dir)
        val.run(model, first)
    deadline = time.monotonic() + cfg.minutes * 60
    step, t_start, t_data = 0, time.monotonic(), 0.0
    est_steps, lr = None, cfg.lr
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    with open(log_path, "a") if rank == 0 else contextlib.nullcontext() as log:
        while True:
            if val is not None and val.due():
                val.run(model, first + step)
            stop = time.monotonic() >= deadline
            if world > 1:  # rank 0's clock decides for all: every rank runs the same steps
                stop = from_rank0(stop, ctrl) > 0
            if stop:
                break
            t0 = time.monotonic()
            if step % cfg.reuse == 0:
                batch = source.next()
            t_data += time.monotonic() - t0
            elapsed = time.monotonic() - t_start
            if step == 20:
                est_steps = int(20 * cfg.minutes * 60 / max(elapsed, 1e-6))
                if world > 1:  # one schedule (hence identical LRs) on all ranks
                    est_steps = int(from_rank0(est_steps, ctrl))
            progress = min(1.0, step / est_steps) if est_steps else 0.0
            lr = cfg.lr * (1.0 if first else min(1.0, (step + 1) / cfg.warmup_steps))
            if cfg.schedule == "cosine":
                lr *= 0.5 * (1 + math.cos(math.pi * progress)) * 0.9 + 0.1
            for group in opt.param_groups:
                group["lr"] = lr
            with autocast:
                loss = losses(model, batch, cfg)
            opt.zero_grad(set_to_none=True)
            loss["total"].backward()
            if world > 1:  # average gradients across ranks (each rank drew its own windows)
                all_reduce_grads(params, world)
            grad = torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if step % cfg.log_every == 0 and rank == 0:
                row = {k: round(float(v.detach()), 5) for k, v in loss.items()}
                row.update(step=first + step, lr=lr, grad=float(grad), seconds=round(elapsed, 1),
                           data_fraction=round(t_data / max(elapsed, 1e-6), 3))  # fmt: skip
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(json.dumps(row), flush=True)
            step += 1
        if val is not None:
            val.run(model, first + step)
    summary = {"stage": cfg.stage, "steps": step, "first_step": first, "minutes": cfg.minutes,
               "config": asdict(cfg), "validation": None if val is None else val.summary(),
               "data_fraction": t_data / max(time.monotonic() - t_start, 1e-6)}  # fmt: skip
    if world > 1:  # replicas must agree: same steps, same last LR, same weights
        checksum = sum(float(p.detach().double().sum()) for p in model.parameters())
        final = {"rank": rank, "steps": step, "lr": lr, "checksum": checksum}
        print(json.dumps(final) + "\n", end="", flush=True)  # one write: ranks share stdout
    if rank == 0:
        save_checkpoint(out_dir, model, "bfloat16", inference_only=cfg.stage >= 2,
                        stage=cfg.stage, step=first + step, meta=summary)  # fmt: skip
        if cfg.save_state:
            save_train_state(out_dir, model, opt, cfg.model, first + step)
        (out_dir / f"summary_stage{cfg.stage}.json").write_text(json.dumps(summary, indent=1))
    return summary
