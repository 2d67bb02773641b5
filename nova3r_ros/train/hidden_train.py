"""Train the hidden-surface head on synthetic views with simulated depth sensors.

Windows of ``--views`` views come from the same generator as the main model's training
(:class:`~nova3r_ros.train.data.BatchSource`: the robot mix of clutter, shelves,
counters and furnished rooms with wide camera ranges, its family weights set by
``--family-weights`` (e.g. with kitchens), plus benchmark-style tabletops and rooms; seeds
below the evaluation ranges; held-out meshes excluded), rendered at the
head's input size with a simulated sensor on ``p_sensor`` of them. Each view is a
sample; its targets (:func:`~nova3r_ros.train.hidden_targets.layer_targets`) are the
surfaces the window's views see that it did not measure: what a camera moving around the
scene would add, as the real protocol's reference holds what the recording saw. Loss:
binary cross-entropy of each layer's existence (uncertain cells left out) plus the
negative log-likelihood of the log depth under the layer's Laplace (a mixture with
``--modes``; the predicted scales are the depth's uncertainty) on the layers that exist;
``l1`` (the mean absolute log-depth error of the likeliest mode) is logged. Validation:
the same loss on fixed validation seeds (1,500,000+, never the benchmark seeds), and the
head's published points scored on synthetic rooms and the 7-Scenes dev frames
(:mod:`~nova3r_ros.train.hidden_validation`, for choosing
checkpoints). Never trained on real frames.

Run: ``python -m nova3r_ros.train.hidden_train --minutes 6 --out /tmp/hh`` (``--init DIR``
starts from a saved head, ``--resume DIR`` continues a run's last step with its AdamW
moments), or under ``torchrun --nproc_per_node N`` (data parallel).
Writes ``DIR/hidden_head.*`` (last), ``DIR/step_N/`` every ``--save-every`` minutes and at
the end (the last one also with the optimiser's ``train_state.*``), and
``DIR/hidden_train.jsonl``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from nova3r_ros.model.hidden_head import HiddenHead, HiddenHeadConfig, features
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.train.hidden_grow import (
    with_anchor,
    with_anchored_mode,
    with_context,
    with_modes,
    with_picked_mode,
)
from nova3r_ros.train.hidden_targets import layer_targets
from nova3r_ros.train.hidden_train_args import STATE_NAME, head_config
from nova3r_ros.train.state import load_train_state, save_train_state

VAL_SEED = 1_500_000
HELD_OUT_MESHES = ("ycb_powerdrill", "ycb_mustardbottle")


def view_targets(batch: dict, config: HiddenHeadConfig, key: str | None = None) -> tuple:
    """Return the layer targets of every view of every window (one sample per view).

    ``key``: the batch's points that may be targets, ``"visible"`` (some view of the
    window sees them) or ``"witnessed"`` (some view or witness camera); None: witnessed
    where the batch has it, else visible.

    Returns:
        :func:`~nova3r_ros.train.hidden_targets.layer_targets`'s ``(exists, z, uncertain)``,
        each (B * V, L, h, w), float32 inputs.

    """
    B, V = batch["depth"].shape[:2]
    M = batch["points"].shape[1]
    key = key or ("witnessed" if "witnessed" in batch else "visible")
    points = batch["points"].float()[:, None].expand(B, V, M, 3).flatten(0, 1)
    eligible = batch[key][:, None].expand(B, V, M).flatten(0, 1)
    return layer_targets(points, batch["T_world_cam"].flatten(0, 1).float(),
                         batch["K"].flatten(0, 1).float(), batch["depth"].flatten(0, 1).float(),
                         config, eligible)  # fmt: skip


def batch_loss(head: HiddenHead, batch: dict) -> dict[str, torch.Tensor]:
    """Loss terms on one generated batch: every view of every window is one sample.

    A view's targets are the surfaces some view of its window sees (``batch["visible"]``),
    or with witness cameras some view or witness (``batch["witnessed"]``), that it did not
    measure. Targets and input features in float32 also under autocast
    (the network may run in bfloat16; its outputs are compared in float32).
    """
    depth = batch["depth"].flatten(0, 1).float()
    img = batch["images"].flatten(0, 1).float()
    img = img / 255.0 if batch["images"].dtype == torch.uint8 else img
    K = batch["K"].flatten(0, 1).float()
    with torch.autocast(depth.device.type, enabled=False):  # targets in float32
        exists, z, uncertain = view_targets(batch, head.config)
        x, scale = features(depth, img, K)
    logits, ratio, log_b, mode_logit = (t.float() for t in head(x))
    weight = (~uncertain).float()
    bce = F.binary_cross_entropy_with_logits(logits, exists.float(), weight, reduction="sum")
    bce = bce / weight.sum().clamp_min(1)
    target = torch.log(torch.where(exists, z, 1.0) / scale[:, None, None, None])[:, :, None]
    n = exists.sum().clamp_min(1)
    err = (ratio - target).abs()  # (B, L, K, h, w)
    log_pi = torch.log_softmax(mode_logit, dim=2)
    # Laplace mixture, scales exp(log_b) (one mode: the Laplace's own NLL)
    nll = -torch.logsumexp(log_pi - err * torch.exp(-log_b) - log_b, dim=2)
    nll = (nll * exists).sum() / n
    top = err.gather(2, log_pi.argmax(2, keepdim=True))[:, :, 0]  # the likeliest mode's error
    l1 = (top * exists).sum() / n
    return {"total": bce + nll, "bce": bce, "nll": nll, "l1": l1.detach(),
            "positive": exists.float().mean()}  # fmt: skip


def _plan(args, head_cfg: HiddenHeadConfig, device, seed: int, default_mix: bool = False):
    """Return the batch plan (TrainConfig, image size) of the head's windows, run seed ``seed``.

    ``default_mix``: the robot mix's default family weights instead of ``--family-weights``
    (validation batches stay the same whatever a run trains on).
    """
    from nova3r_ros.train.loop import TrainConfig

    weights = None if default_mix else args.family_weights
    cfg = TrainConfig(batch=args.batch, views=(args.views,), p_room=0.3, p_robot=args.p_robot,
                      p_sensor=args.p_sensor, targets="scene", n_points=args.gt_points,
                      mesh_dir=args.mesh_dir, mesh_exclude=HELD_OUT_MESHES, seed=seed,
                      witnesses=args.witnesses,
                      family_weights=weights, device=str(device))  # fmt: skip
    return cfg, SimpleNamespace(image_height=head_cfg.height, image_width=head_cfg.width)


def _source(args, head_cfg: HiddenHeadConfig, device, rank: int, world: int):
    from nova3r_ros.train.data import BatchSource

    cfg, size = _plan(args, head_cfg, device, args.seed)
    workers = max(1, args.workers // world) if device.type == "cuda" else 0
    return BatchSource(cfg, size, rank, device, workers, start=args.start_batch)


def validation_batches(args, head_cfg: HiddenHeadConfig, device, n: int) -> list[dict]:
    """``n`` fixed batches of validation windows (seeds from :data:`VAL_SEED`)."""
    from nova3r_ros.train.data import plan_batch, render_batch

    cfg, size = _plan(args, head_cfg, device, 999, default_mix=True)
    out = []
    for i in range(n):
        seeds, synth = plan_batch(cfg, size, i, 0, device)
        seeds = [VAL_SEED + i * args.batch + j for j in range(len(seeds))]
        out.append(render_batch(cfg, i, 0, seeds, synth, device))
    return out


@torch.no_grad()
def validate(head: HiddenHead, batches: list[dict], sets: tuple = ()) -> dict[str, float]:
    """Mean loss terms over the validation batches, plus the head's scores on ``sets``."""
    from nova3r_ros.train.hidden_validation import validate_head

    head.eval()
    terms = [batch_loss(head, b) for b in batches]
    head.train()
    out = {k: float(torch.stack([t[k] for t in terms]).mean()) for k in terms[0]}
    return {**out, **validate_head(head, list(sets))}


def scored_sets(args, device) -> list:
    """Return the windows the head's points are scored on.

    Synthetic rooms (1 view, seeds 1,700,000+) and kitchens (1 view, seeds 1,800,000+),
    ``--val-rooms`` windows each, and, with ``--val-7scenes``, the dev frames (1 and 4
    views; validation only).
    """
    from nova3r_ros.train.validate import (
        VAL_KITCHEN_SEED,
        VAL_ROOM_SEED,
        sevenscenes_set,
        synthetic_set,
    )

    sets = []
    if args.val_rooms > 0:
        sets.append(synthetic_set("room_1v", "room", VAL_ROOM_SEED, args.val_rooms, 1, device))
        sets.append(synthetic_set("kitchen_1v", "kitchen", VAL_KITCHEN_SEED, args.val_rooms, 1,
                                  device))  # fmt: skip
    if args.val_7scenes:
        sets += [sevenscenes_set(args.val_7scenes, v, device) for v in (1, 4)]
    return sets


def train(args) -> dict:
    """Run the training (module docstring); return the summary.

    Under torchrun each rank draws its own windows and the gradients are averaged
    (:func:`~nova3r_ros.train.loop.all_reduce_grads`); rank 0's clock decides the learning
    rate and when to stop, so all ranks run the same steps. Rank 0 alone validates and
    writes. Each rank prints a last line ``{"rank", "steps", "lr", "checksum"}``.
    """
    from nova3r_ros.train.loop import all_reduce_grads, from_rank0, setup_distributed

    want = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available()
                                                       else "cpu")  # fmt: skip
    device, rank, world, ctrl = setup_distributed(SimpleNamespace(device=want))
    torch.manual_seed(args.seed + rank)
    head = load_head(args.init, device) if args.init else HiddenHead(head_config(args))
    if args.context is not None and args.context != head.config.context:
        head = with_context(head, args.context)  # new blocks start as identities
    if args.modes is not None and args.modes != head.config.modes:
        head = with_modes(head, args.modes)  # each mode starts as the head's depth
    if args.init and args.anchor == "all":
        head = with_anchor(head)  # depths become offsets from each cell's measured depth
    elif args.init and args.anchor == "mode":
        head = with_anchored_mode(head)  # a second mode, offset from the measured depth
    if args.init and args.pick_mode:
        head = with_picked_mode(head)  # one more mode: a measured depth from around the cell
    head = head.to(device).train()
    params = list(head.parameters())
    if world > 1:  # ranks initialised with different seeds: start from rank 0's weights
        with torch.no_grad():
            for t in [*params, *head.buffers()]:
                torch.distributed.broadcast(t, 0)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    resumed = load_train_state(args.resume, head, opt, STATE_NAME) if args.resume else None
    out = Path(args.out)
    log, val_sets, scored, first, best = None, [], [], {}, (math.inf, 0)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log = (out / "hidden_train.jsonl").open("a")
        val_sets = validation_batches(args, head.config, device, args.val_batches)
        scored = scored_sets(args, device)
        first = validate(head, val_sets, scored)
        log.write(json.dumps({"step": 0, "resumed_step": resumed, "val": first}) + "\n")
        best = (first["total"], 0)
    source = _source(args, head.config, device, rank, world)
    t0 = time.monotonic()
    total_s, next_save, step, windows, lr = args.minutes * 60, args.save_every * 60, 0, 0, 0.0
    amp = device.type == "cuda"
    try:
        while True:
            frac = (time.monotonic() - t0) / max(total_s, 1e-6)
            if world > 1:
                frac = from_rank0(frac, ctrl)
            if frac >= 1.0:
                break
            batch = source.next()
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            lr *= min(1.0, (step + 1) / args.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                terms = batch_loss(head, batch)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            if world > 1:
                all_reduce_grads(params, world)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            windows += batch["depth"].shape[0] * world
            elapsed = time.monotonic() - t0
            if rank != 0:
                continue
            if step % args.log_every == 0:
                row = {"step": step, "seconds": round(elapsed, 1), "lr": lr,
                       "windows_per_s": round(windows / elapsed, 1),
                       **{k: round(float(v.detach()), 4) for k, v in terms.items()}}  # fmt: skip
                log.write(json.dumps(row) + "\n")
                log.flush()
            if elapsed >= next_save:
                next_save += args.save_every * 60
                best = min(best, _checkpoint(head, (val_sets, scored), out, step, elapsed, log))
    finally:
        source.close()
    summary = {}
    if rank == 0:
        if not (out / f"step_{step}").is_dir():  # the last step was not saved in the loop
            elapsed = time.monotonic() - t0
            best = min(best, _checkpoint(head, (val_sets, scored), out, step, elapsed, log))
        save_head(out, head, {"step": step, "windows": windows, "args": vars(args)})
        save_train_state(
            out / f"step_{step}",
            head,
            opt,
            STATE_NAME,
            step,
            with_model=False,
            moments_dtype=torch.bfloat16,
        )  # half size: fits the device's carry
        summary = {"steps": step, "windows": windows, "seconds": time.monotonic() - t0,
                   "val_start": first, "best_val_step": best[1],
                   "best_val_total": best[0], "resumed_step": resumed}  # fmt: skip
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        log.close()
    checksum = float(sum(p.detach().double().sum() for p in params))
    print(json.dumps({"rank": rank, "steps": step, "lr": lr, "checksum": checksum}), flush=True)
    if world > 1:
        torch.distributed.barrier(group=ctrl)
        torch.distributed.destroy_process_group()
    return summary


def _checkpoint(head, sets, out: Path, step: int, elapsed: float, log) -> tuple[float, int]:
    """Validate on ``sets`` (batches, scored sets), save ``out/step_<step>``, log.

    Returns (validation loss total, step).
    """
    val = validate(head, *sets)
    save_head(out / f"step_{step}", head, {"step": step, "val": val})
    log.write(json.dumps({"step": step, "seconds": round(elapsed, 1), "val": val}) + "\n")
    log.flush()
    return val["total"], step


def main(argv=None) -> int:
    """Command line (:mod:`~nova3r_ros.train.hidden_train_args`): parse, train, print."""
    from nova3r_ros.train.hidden_train_args import parse

    summary = train(parse(argv, __doc__.split("\n")[0]))
    if summary:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
