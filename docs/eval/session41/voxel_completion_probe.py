"""Session 41 prototype: a coarse volumetric completion of one depth view (rooms).

The question: can a small 3D network, which sees the whole volume in front of and behind
the measured depth, find the hidden surfaces of a furnished room (the furniture's backs
and sides, the floor and walls behind it) that the pixel-aligned head does not? Mix3R's
coarse structure is such a voxel grid.

- Grid: view 0's optical frame, x in [-4, 4), y in [-3, 3), z in [0, 8) m, ``VOXEL_M``
  cells (80 x 60 x 80).
- Input (5 channels): the cell holds measured points; the cell lies on some pixel's ray
  in front of its measured depth (seen empty); the measured points' mean offset from the
  cell centre (3, in cells).
- Target: the cell holds points of the complete ground-truth surface, and their mean
  offset from the cell centre.
- Network: a 3-level 3D U-Net; loss: weighted BCE on occupancy, L1 on the offset where
  occupied.
- Training: synthetic furnished rooms of the robot mix (one view, sensor models, seeds
  below 1,000,000), on the GPU.
- Several views (``--views``): every view's measured points and seen-empty cells go into
  view 0's grid, placed by the known poses.
- Validation: rooms of ``benchmark_config(V, family="room")`` (``--val-views``, default 1),
  seeds 1,500,000+ (never the
  benchmark's). Cells predicted occupied that are neither measured nor seen empty become
  points (centre + offset). Scored without the protocol's resampling, against the ground
  truth in the view's region (z in (0.1, p99 depth + 0.15]): precision@5cm of those points
  and the share of the hidden ground truth (more than 5 cm from every measured point)
  within 5 cm of one (the measure of session 38's ``rooms_parts_probe.py``: the shipped
  cloud covers 0.486 of it, 1 view, seeds 1,500,000-1,500,029).

Usage (GPU machine): PYTHONPATH=. python docs/eval/session41/voxel_completion_probe.py
       OUT_DIR MINUTES [--mesh-dir DIR] [--init WEIGHTS --lr LR --start-batch N]
       [--views 1 2 4] [--val-views V] [--val-every MIN] [--cpu-tiny]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

VOXEL_M = 0.1
LO = torch.tensor([-4.0, -3.0, 0.0])
DIMS = (80, 60, 80)  # x, y, z cells
HIDDEN_M = 0.05


def camera_points(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) each pixel back-projected in view 0's optical frame (depth (B, H, W))."""
    H, W = depth.shape[1:]
    v, u = torch.meshgrid(torch.arange(H, device=depth.device, dtype=torch.float32) + 0.5,
                          torch.arange(W, device=depth.device, dtype=torch.float32) + 0.5,
                          indexing="ij")  # fmt: skip
    fx, fy = K[:, 0, 0, None, None], K[:, 1, 1, None, None]
    cx, cy = K[:, 0, 2, None, None], K[:, 1, 2, None, None]
    return torch.stack([(u - cx) / fx * depth, (v - cy) / fy * depth, depth], -1)


def cell_index(p: torch.Tensor, dims=DIMS) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat cell index (N,) of points (N, 3) and whether they lie inside the grid."""
    c = torch.floor((p - LO.to(p.device)) / VOXEL_M).long()
    d = torch.tensor(dims, device=p.device)
    inside = ((c >= 0) & (c < d)).all(-1)
    c = c.clamp(min=torch.zeros_like(d), max=d - 1)
    return (c[:, 0] * dims[1] + c[:, 1]) * dims[2] + c[:, 2], inside


def scatter_cells(p: torch.Tensor, b: torch.Tensor, B: int):
    """Per cell of B grids: count (B, X*Y*Z) and mean offset from the centre (B, 3, X*Y*Z)."""
    n = DIMS[0] * DIMS[1] * DIMS[2]
    idx, inside = cell_index(p)
    idx, p, b = idx[inside], p[inside], b[inside]
    flat = b * n + idx
    count = torch.zeros(B * n, device=p.device).index_add_(
        0, flat, torch.ones_like(flat, dtype=torch.float32)
    )
    c = torch.stack([idx // (DIMS[1] * DIMS[2]), (idx // DIMS[2]) % DIMS[1], idx % DIMS[2]], -1)
    centre = LO.to(p.device) + (c.float() + 0.5) * VOXEL_M
    off = torch.zeros(B * n, 3, device=p.device).index_add_(0, flat, (p - centre) / VOXEL_M)
    off = off / count.clamp_min(1)[:, None]
    return count.view(B, n), off.view(B, n, 3).permute(0, 2, 1)


def grid_inputs(
    depth: torch.Tensor, K: torch.Tensor, T_ref: torch.Tensor | None = None, rays: int = 48
) -> torch.Tensor:
    """(B, 5, X, Y, Z) network input of V views per window (module docstring).

    ``depth`` (B, V, H, W) or (B, H, W) for one view, ``K`` (B, V, 3, 3) or (B, 3, 3),
    ``T_ref`` (B, V, 4, 4) each view's camera-to-view-0 pose (None: one view, identity).
    Every view's measured points and seen-empty cells go into view 0's grid.
    """
    if depth.dim() == 3:
        depth, K = depth[:, None], K[:, None]
    B, V, H, W = depth.shape
    if T_ref is None:
        T_ref = torch.eye(4, device=depth.device).expand(B, V, 4, 4)
    pts = camera_points(depth.flatten(0, 1), K.flatten(0, 1)).view(B, V, H, W, 3)
    R, t = T_ref[..., :3, :3].float(), T_ref[..., :3, 3].float()
    pts = torch.einsum("bvij,bvhwj->bvhwi", R, pts) + t[:, :, None, None, :]
    valid = depth > 0
    bi = torch.arange(B, device=depth.device)[:, None, None, None].expand_as(depth)
    count, off = scatter_cells(pts[valid], bi[valid], B)
    tt = (torch.arange(rays, device=depth.device, dtype=torch.float32) + 0.5) / rays
    centre = t[:, :, None, None, :].expand_as(pts)[valid]
    frac = 1 - HIDDEN_M / depth[valid].clamp_min(0.2)
    ray = (pts[valid] - centre) * frac[:, None]
    ray_pts = (centre[:, None, :] + ray[:, None, :] * tt[None, :, None]).reshape(-1, 3)
    ray_b = bi[valid][:, None].expand(-1, rays).reshape(-1)
    free, _ = scatter_cells(ray_pts, ray_b, B)
    occ = (count > 0).float()
    free = ((free > 0) & (count == 0)).float()
    x = torch.cat([occ[:, None], free[:, None], off * occ[:, None]], 1)
    return x.view(B, 5, *DIMS)


def grid_targets(points_cam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, X, Y, Z) occupancy and (B, 3, X, Y, Z) offsets of the surface points (B, M, 3)."""
    B, M, _ = points_cam.shape
    bi = torch.arange(B, device=points_cam.device)[:, None].expand(B, M).reshape(-1)
    count, off = scatter_cells(points_cam.reshape(-1, 3), bi, B)
    return (count > 0).float().view(B, *DIMS), off.view(B, 3, *DIMS)


def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Two 3x3x3 convolutions with group norm and GELU (the first with ``stride``)."""
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride, 1),
        nn.GroupNorm(8, cout),
        nn.GELU(),
        nn.Conv3d(cout, cout, 3, 1, 1),
        nn.GroupNorm(8, cout),
        nn.GELU(),
    )


class VoxelNet(nn.Module):
    """3-level 3D U-Net: (B, 5, X, Y, Z) -> occupancy logit (B, X, Y, Z), offset (B, 3, ...)."""

    def __init__(self, ch=(16, 32, 64, 96)):
        super().__init__()
        self.e0, self.e1 = block(5, ch[0]), block(ch[0], ch[1], 2)
        self.e2, self.e3 = block(ch[1], ch[2], 2), block(ch[2], ch[3], 2)
        self.d2, self.d1 = block(ch[3] + ch[2], ch[2]), block(ch[2] + ch[1], ch[1])
        self.d0 = block(ch[1] + ch[0], ch[0])
        self.out = nn.Conv3d(ch[0], 4, 1)

    def forward(self, x):
        """Return the occupancy logits and offsets of the input grids (class docstring)."""
        s0 = self.e0(x)
        s1 = self.e1(s0)
        s2 = self.e2(s1)
        y = self.e3(s2)
        for skip, dec in ((s2, self.d2), (s1, self.d1), (s0, self.d0)):
            y = F.interpolate(y, size=skip.shape[2:], mode="trilinear", align_corners=False)
            y = dec(torch.cat([y, skip], 1))
        o = self.out(y)
        return o[:, 0], 0.5 * torch.tanh(o[:, 1:])


def to_camera(batch: dict) -> tuple[torch.Tensor, ...]:
    """Return a ``generate_batch`` dict's depth, K, poses and surface points.

    Shapes: depth (B, V, H, W), K (B, V, 3, 3), camera-to-view-0 poses (B, V, 4, 4), the
    surface points in view 0's optical frame (B, M, 3).
    """
    T0 = torch.linalg.inv(batch["T_world_cam"][:, 0].float())
    pts = batch["points"].float() @ T0[:, :3, :3].transpose(1, 2) + T0[:, None, :3, 3]
    T_ref = T0[:, None] @ batch["T_world_cam"].float()
    return batch["depth"].float(), batch["K"].float(), T_ref, pts


def loss_of(net: VoxelNet, batch: dict) -> torch.Tensor:
    """Weighted occupancy BCE over every cell + offset L1 over the occupied cells."""
    depth, K, T_ref, pts = to_camera(batch)
    x = grid_inputs(depth, K, T_ref)
    occ, off = grid_targets(pts)
    logit, pred_off = net(x)
    w = 1.0 + 9.0 * occ  # surface cells are ~2 % of the grid
    bce = (F.binary_cross_entropy_with_logits(logit, occ, reduction="none") * w).mean()
    l1 = ((pred_off - off).abs().sum(1) * occ).sum() / occ.sum().clamp_min(1)
    return bce + l1


@torch.no_grad()
def completed_points(net: VoxelNet, depth, K, thr: float, T_ref=None) -> list[torch.Tensor]:
    """Per window: points (N, 3) of cells predicted occupied, not measured, not seen empty.

    Inputs as :func:`grid_inputs`; points in view 0's optical frame (metres).
    """
    x = grid_inputs(depth, K, T_ref)
    logit, off = net(x)
    keep = (torch.sigmoid(logit) > thr) & (x[:, 0] == 0) & (x[:, 1] == 0)
    out = []
    for b in range(len(depth)):
        c = keep[b].nonzero().float()
        o = off[b][:, keep[b]].T
        out.append(LO.to(depth.device) + (c + 0.5 + o) * VOXEL_M)
    return out


@torch.no_grad()
def score(net: VoxelNet, batches: list[dict], thrs=(0.3, 0.5, 0.7)) -> dict[str, float]:
    """Precision@5cm of the completed points and hidden coverage@5cm (module docstring).

    With several views the region is view 0's; "hidden" is far from every view's points.
    """
    res = {t: [0, 0, 0, 0] for t in thrs}  # right, points, hidden covered, hidden
    for batch in batches:
        depth_all, K_all, T_ref, pts = to_camera(batch)
        depth, K = depth_all[:, 0], K_all[:, 0]
        B, V, H, W = depth_all.shape
        cam = camera_points(depth_all.flatten(0, 1), K_all.flatten(0, 1)).view(B, V, H, W, 3)
        R, tr = T_ref[..., :3, :3], T_ref[..., :3, 3]
        obs_all = torch.einsum("bvij,bvhwj->bvhwi", R, cam) + tr[:, :, None, None, :]
        for t in thrs:
            comp = completed_points(net, depth_all, K_all, t, T_ref)
            for b in range(len(depth)):
                d = depth[b][depth[b] > 0]
                zmax = torch.quantile(d, 0.99) + 0.15
                gt = pts[b]
                uv_z = gt[:, 2]
                u = gt[:, 0] / uv_z * K[b, 0, 0] + K[b, 0, 2]
                v = gt[:, 1] / uv_z * K[b, 1, 1] + K[b, 1, 2]
                region = (uv_z > 0.1) & (uv_z <= zmax) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
                gt = gt[region]
                obs = obs_all[b][depth_all[b] > 0]
                hidden = gt[torch.cdist(gt, obs).min(1).values > HIDDEN_M] if len(obs) else gt
                c = comp[b]
                cz = c[:, 2]
                cu = c[:, 0] / cz * K[b, 0, 0] + K[b, 0, 2]
                cv = c[:, 1] / cz * K[b, 1, 1] + K[b, 1, 2]
                c = c[(cz > 0.1) & (cz <= zmax) & (cu >= 0) & (cu < W) & (cv >= 0) & (cv < H)]
                r = res[t]
                if len(c):
                    r[0] += int((torch.cdist(c, gt).min(1).values < HIDDEN_M).sum())
                    r[1] += len(c)
                    if len(hidden):
                        r[2] += int((torch.cdist(hidden, c).min(1).values < HIDDEN_M).sum())
                r[3] += len(hidden)
    out = {}
    for t, (right, n, cov, hid) in res.items():
        out[f"precision@5cm@{t}"] = right / max(n, 1)
        out[f"hidden_covered@5cm@{t}"] = cov / max(hid, 1)
        out[f"points_per_window@{t}"] = n / sum(len(b["depth"]) for b in batches)
    return out


def main() -> None:
    """Train for MINUTES, validate every few minutes, write the log and the best weights."""
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_batch
    from nova3r_ros.train.data import BatchSource
    from nova3r_ros.train.hidden_train import HELD_OUT_MESHES
    from nova3r_ros.train.loop import TrainConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("minutes", type=float)
    ap.add_argument("--mesh-dir", default=".device_data/meshes")
    ap.add_argument("--cpu-tiny", action="store_true")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--val-windows", type=int, default=48)
    ap.add_argument("--val-every", type=float, default=3.0)
    ap.add_argument("--init", default=None, help="weights to continue from (safetensors)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--start-batch", type=int, default=0)
    ap.add_argument("--views", type=int, nargs="+", default=[1], help="views per window")
    ap.add_argument("--val-views", type=int, default=1)
    args = ap.parse_args()
    dev = torch.device("cpu" if args.cpu_tiny else "cuda")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = SimpleNamespace(image_height=120, image_width=160)
    cfg = TrainConfig(batch=args.batch, views=tuple(args.views), p_robot=1.0, p_sensor=0.9,
                      targets="scene", n_points=200_000, mesh_dir=args.mesh_dir,
                      mesh_exclude=HELD_OUT_MESHES, family_weights={"room": 1.0},
                      device=str(dev))  # fmt: skip
    source = BatchSource(
        cfg, size, 0, dev, workers=0 if args.cpu_tiny else 12, start=args.start_batch
    )
    vcfg = benchmark_config(args.val_views, family="room", height=120, width=160,
                            n_gt_points=200_000, device=str(dev))  # fmt: skip
    n_val = 2 if args.cpu_tiny else args.val_windows
    val = [generate_batch(list(range(1_500_000 + i, 1_500_000 + min(i + 8, n_val))),
                          config=vcfg, device=dev) for i in range(0, n_val, 8)]  # fmt: skip
    net = VoxelNet()
    if args.init:
        from safetensors.torch import load_file

        net.load_state_dict(load_file(args.init))
    net = net.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    log = (out / "voxel_train.jsonl").open("w")
    t0, step, last_val, best = time.time(), 0, time.time(), -1.0
    while time.time() - t0 < args.minutes * 60:
        batch = source.next()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            loss = loss_of(net, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 25 == 0:
            log.write(json.dumps({"step": step, "s": round(time.time() - t0, 1),
                                  "loss": float(loss.detach())}) + "\n")  # fmt: skip
            log.flush()
        if time.time() - last_val > args.val_every * 60 or args.cpu_tiny:
            net.eval()
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                s = score(net, val)
            net.train()
            last_val = time.time()
            log.write(json.dumps({"step": step, "val": s}) + "\n")
            log.flush()
            print(step, json.dumps(s), flush=True)
            if s["hidden_covered@5cm@0.5"] > best:
                best = s["hidden_covered@5cm@0.5"]
                from safetensors.torch import save_file

                save_file({k: v.float().contiguous() for k, v in net.state_dict().items()},
                          str(out / "voxel_best.safetensors"))  # fmt: skip
            if args.cpu_tiny:
                break
    net.eval()
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
        s = score(net, val)
    log.write(json.dumps({"step": step, "val": s, "final": True}) + "\n")
    from safetensors.torch import save_file

    save_file({k: v.float().contiguous() for k, v in net.state_dict().items()},
              str(out / "voxel_final.safetensors"))  # fmt: skip
    print("final", step, json.dumps(s), flush=True)
    source.close()


if __name__ == "__main__":
    main()
