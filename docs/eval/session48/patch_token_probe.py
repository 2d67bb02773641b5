"""Probe: the image encoder's patch tokens matched between two views (session 48, section 5)."""

import numpy as np
import torch

from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.batch import prepare
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

torch.set_num_threads(2)
model = load_checkpoint(PACKAGED_CHECKPOINT, "cpu")
cfg = model.cfg
ph, pw = cfg.image_height // cfg.patch, cfg.image_width // cfg.patch
res = []
for seed in range(1500100, 1500130):
    w, gt = generate_window(seed, benchmark_config(2, family="tabletop", height=192, width=256))
    inp = strip_inputs(w, depth=True, poses=True)
    images = torch.from_numpy(np.stack([v.image for v in inp.views]))
    K = torch.from_numpy(np.stack([v.K for v in inp.views])).float()
    one = torch.ones(1, dtype=torch.bool)
    x = prepare(
        cfg,
        images.permute(0, 3, 1, 2)[None],
        K[None],
        None,
        None,
        use_depth=~one,
        use_K=one,
        use_pose=~one,
    )
    with torch.no_grad():
        _, _, ctx = model.image_encoder(x["pixels"], x["pose_in"], x["pose_known"])
    P = ph * pw
    tok = ctx[0].view(2, 1 + P, -1)[:, 1:]  # (2,P,D)
    # also raw patch embed features
    with torch.no_grad():
        pe = model.image_encoder.patch_embed(x["pixels"][0]).flatten(2).transpose(1, 2)
    H, W = 192, 256
    sy, sx = H / ph, W / pw
    ys, xs = np.mgrid[0:ph, 0:pw]
    u = (xs + 0.5) * sx
    v = (ys + 0.5) * sy
    d0 = w.views[0].depth[v.astype(int), u.astype(int)].ravel()
    K0 = w.views[0].K
    K1 = w.views[1].K
    pts = np.stack(
        [(u.ravel() - K0[0, 2]) / K0[0, 0] * d0, (v.ravel() - K0[1, 2]) / K0[1, 1] * d0, d0], 1
    )
    T = np.linalg.inv(w.views[1].T_world_cam) @ w.views[0].T_world_cam
    q = pts @ T[:3, :3].T + T[:3, 3]
    u1 = K1[0, 0] * q[:, 0] / q[:, 2] + K1[0, 2]
    v1 = K1[1, 1] * q[:, 1] / q[:, 2] + K1[1, 2]
    vis = (d0 > 0) & (q[:, 2] > 0) & (u1 >= 0) & (u1 < W) & (v1 >= 0) & (v1 < H)
    gtp = (np.clip(v1 // sy, 0, ph - 1) * pw + np.clip(u1 // sx, 0, pw - 1)).astype(int)
    for name, f in (("ctx", tok), ("embed", pe)):
        a = torch.nn.functional.normalize(f[0].float(), dim=-1)
        b = torch.nn.functional.normalize(f[1].float(), dim=-1)
        s = a @ b.T
        nn01 = s.argmax(1).numpy()
        nn10 = s.argmax(0).numpy()
        mutual = nn10[nn01] == np.arange(P)
        m = mutual & vis
        py, px = nn01 // pw, nn01 % pw
        gy, gx = gtp // pw, gtp % pw
        corr = (np.abs(py - gy) <= 1) & (np.abs(px - gx) <= 1)
        res.append(
            (
                name,
                seed,
                m.sum(),
                (corr & m).sum(),
                (nn01 == np.arange(P))[m].mean() if m.sum() else 0,
            )
        )
for name in ("ctx", "embed"):
    r = [x for x in res if x[0] == name]
    print(
        name,
        "mutual visible",
        np.mean([x[2] for x in r]),
        "correct(<=1 patch)",
        np.mean([x[3] for x in r]),
        "share same-index",
        np.mean([x[4] for x in r]),
    )
