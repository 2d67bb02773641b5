"""Batched analytic ray casting: RGB, z-depth and object ids (torch, CPU or CUDA).

One pass casts every pixel ray of every view of every scene in the batch. Per primitive
kind, all (primitive, view, pixel) pairs of the primitive's own scene are intersected at
once (shape (N, V, H*W)); the nearest hit per pixel is a min over primitives (a
``scatter_reduce`` over scenes when B > 1). Meshes are intersected per instance
(Moller-Trumbore written as one matrix product of ray features with per-face vectors, on
the rays of all views that enter the instance's bounding box, in chunks). Shading is
Lambertian with a directional light plus ambient; procedural textures (checker, stripes,
value noise), evaluated in object-local coordinates, modulate the albedo; for training, a
share of the objects can take photographic textures instead (``photo``).
"""

from __future__ import annotations

import torch

from nova3r_ros.synth.intersect import EPS, HIT, INF, normals
from nova3r_ros.synth.photo_textures import PhotoTextures
from nova3r_ros.synth.primitives import KINDS, MeshBatch, PrimBatch, SceneBatch
from nova3r_ros.synth.sampling import hash_uniform

_PAIR_CHUNK = 1 << 21


def camera_rays(K: torch.Tensor, T_world_cam: torch.Tensor, height: int, width: int):
    """Return unit world-frame rays through the pixel centres (integer pixel coordinates).

    Args:
        K: float32 (B, V, 3, 3) intrinsics.
        T_world_cam: float32 (B, V, 4, 4) camera-to-world poses (OpenCV optical frames).
        height: H (px).
        width: W (px).

    Returns:
        ``(origins (B, V, 3), dirs (B, V, H*W, 3), zscale (B, V, H*W))``; the z-depth of a
        hit at distance ``t`` is ``t * zscale``.

    """
    dev, dt = K.device, K.dtype
    vv, uu = torch.meshgrid(torch.arange(height, device=dev, dtype=dt),
                            torch.arange(width, device=dev, dtype=dt), indexing="ij")  # fmt: skip
    x = (uu.reshape(1, 1, -1) - K[..., 0, 2, None]) / K[..., 0, 0, None]
    y = (vv.reshape(1, 1, -1) - K[..., 1, 2, None]) / K[..., 1, 1, None]
    zscale = torch.rsqrt(x * x + y * y + 1.0)
    dc = torch.stack([x * zscale, y * zscale, zscale], -1)
    dirs = torch.einsum("bvij,bvpj->bvpi", T_world_cam[..., :3, :3], dc)
    return T_world_cam[..., :3, 3], dirs, zscale


def _prim_hits(pb: PrimBatch, o: torch.Tensor, comps, single: bool) -> torch.Tensor:
    """Hit distances (N, V, P) of one kind's primitives against their own scene's rays."""
    s = pb.scene
    gx, gy, gz = comps if single else (c[s] for c in comps)
    ow = o[s] - pb.pos[:, None, :]
    params = tuple(p[:, None, None] for p in pb.params.unbind(1))
    if pb.kind == "rect":
        ox, oy, oz = (ow[..., i, None] for i in range(3))
        t = HIT["rect"](ox, oy, oz, gx, gy, gz, params)
    else:
        c, sn = torch.cos(pb.yaw)[:, None, None], torch.sin(pb.yaw)[:, None, None]
        ox = c * ow[..., 0, None] + sn * ow[..., 1, None]
        oy = -sn * ow[..., 0, None] + c * ow[..., 1, None]
        oz = ow[..., 2, None]
        t = HIT[pb.kind](ox, oy, oz, c * gx + sn * gy, c * gy - sn * gx, gz, params)
    return t.expand(len(pb), *comps[0].shape[1:])


def _face_weights(v0: torch.Tensor, e1: torch.Tensor, e2: torch.Tensor):
    """Per-face matrices turning ray features into Moller-Trumbore numerators.

    With ray direction ``d`` and origin ``o`` (vertices in the same frame, centred on the
    instance), ``(d, o x d) @ A`` gives per face ``det``, ``u * det`` and ``v * det``, and
    ``(o, 1) @ C`` gives ``t * det``: each is linear in those features (scalar triple
    products), so every ray of every view meets every face in two matrix products.

    Returns:
        ``A`` (6, 3F) and ``C`` (4, F).

    """
    nrm = torch.linalg.cross(e1, e2)
    z = torch.zeros_like(v0)
    det = torch.cat([-nrm.T, z.T], 0)
    un = torch.cat([-torch.linalg.cross(e2, v0).T, e2.T], 0)
    vn = torch.cat([-torch.linalg.cross(v0, e1).T, -e1.T], 0)
    tq = torch.cat([nrm.T, -(e2 * torch.linalg.cross(v0, e1)).sum(-1)[None]], 0)
    return torch.cat([det, un, vn], 1), tq


def _trace_mesh(mesh: MeshBatch, o, dirs, tmin, face):
    """Lower ``tmin`` (B, V, P) in place where a mesh face is nearer; record it in ``face``.

    Per instance, the rays of all its scene's views that enter the instance's bounding box
    (and are not already blocked nearer) are intersected with all its faces at once
    (:func:`_face_weights`), in chunks of about ``_PAIR_CHUNK`` ray-face pairs.
    """
    inst = mesh.inst
    lo_all, hi_all = inst.params[:, :3], inst.params[:, 3:]
    inv_all = 1.0 / torch.where(dirs.abs() < 1e-12, torch.full_like(dirs, 1e-12), dirs)
    for i, (start, count) in enumerate(zip(mesh.face_start, mesh.face_count, strict=True)):
        b = int(inst.scene[i])
        ob, db = o[b], dirs[b]  # (V, 3), (V, P, 3)
        t1 = (lo_all[i] - ob[:, None]) * inv_all[b]
        t2 = (hi_all[i] - ob[:, None]) * inv_all[b]
        tn = torch.minimum(t1, t2).amax(-1)
        tf = torch.maximum(t1, t2).amin(-1)
        vi, pi = torch.nonzero((tn <= tf) & (tf > EPS) & (tn < tmin[b]), as_tuple=True)
        if len(vi) == 0:
            continue
        centre = 0.5 * (lo_all[i] + hi_all[i])
        v0 = mesh.v0[start : start + count] - centre
        A, C = _face_weights(v0, mesh.e1[start : start + count], mesh.e2[start : start + count])
        step = max(1, _PAIR_CHUNK // (4 * count))
        for r0 in range(0, len(vi), step):
            rv, rp = vi[r0 : r0 + step], pi[r0 : r0 + step]
            d = db[rv, rp]
            oc = ob[rv] - centre
            det, un, vn = (torch.cat([d, torch.linalg.cross(oc, d)], 1) @ A).split(count, 1)
            tq = torch.cat([oc, torch.ones_like(d[:, :1])], 1) @ C
            ok = det.abs() > 1e-12
            det = torch.where(ok, det, torch.ones_like(det))
            uu, vv, t = un / det, vn / det, tq / det
            ok &= (uu >= 0) & (vv >= 0) & (uu + vv <= 1) & (t > EPS)
            best, arg = torch.where(ok, t, INF).min(1)
            closer = best < tmin[b, rv, rp]
            tmin[b, rv, rp] = torch.where(closer, best, tmin[b, rv, rp])
            face[b, rv, rp] = torch.where(closer, arg + start, face[b, rv, rp])


def trace(scenes: SceneBatch, o: torch.Tensor, dirs: torch.Tensor):
    """Find the nearest surface along every ray.

    Args:
        scenes: the batch (B scenes).
        o: float32 (B, V, 3) ray origins (camera centres, world).
        dirs: float32 (B, V, P, 3) unit world directions.

    Returns:
        ``(t (B, V, P) float32 distance or inf, prim (B, V, P) int64 global primitive index
        (kinds concatenated in :data:`KINDS` order) or -1, face (B, V, P) int64 mesh face
        index or -1)``; ``prim`` and ``face`` are never both >= 0.

    """
    B, V, P = dirs.shape[:3]
    single = B == 1
    comps = tuple(dirs[..., i] for i in range(3))
    parts, scenes_of = [], []
    for kind in KINDS:
        if kind in scenes.prims:
            pb = scenes.prims[kind]
            parts.append(_prim_hits(pb, o, comps, single))
            scenes_of.append(pb.scene)
    if not parts:
        tmin = torch.full((B, V, P), INF, dtype=dirs.dtype, device=dirs.device)
        prim = torch.full((B, V, P), -1, dtype=torch.int64, device=dirs.device)
    elif single:
        t_all = torch.cat(parts, 0)
        tmin, prim = t_all.min(0, keepdim=True)
    else:
        t_all = torch.cat(parts, 0)
        sc = torch.cat(scenes_of)
        index = sc.view(-1, 1, 1).expand_as(t_all)
        tmin = torch.full((B, V, P), INF, dtype=t_all.dtype, device=t_all.device)
        tmin = tmin.scatter_reduce(0, index, t_all, "amin")
        gid = torch.arange(len(sc), device=sc.device).view(-1, 1, 1)
        none = len(sc)  # ties go to the lowest index, as with min() for B == 1
        win = torch.where(t_all == tmin[sc], gid, none)
        prim = torch.full((B, V, P), none, dtype=torch.int64, device=sc.device)
        prim = prim.scatter_reduce(0, index, win, "amin")
    prim = torch.where(torch.isfinite(tmin), prim, -1)
    face = torch.full_like(prim, -1)
    if scenes.mesh is not None:
        tmin = tmin.clone()
        _trace_mesh(scenes.mesh, o, dirs, tmin, face)
        prim = torch.where(face >= 0, -1, prim)
    return tmin, prim, face


def _value_noise(q: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    base = torch.floor(q)
    f = q - base
    w = (f * f * (3 - 2 * f)).unsqueeze(1)
    corners = torch.tensor([[(c >> a) & 1 for a in range(3)] for c in range(8)], device=q.device)
    c = (base.long().unsqueeze(1) + corners) & 1023
    h = hash_uniform(key.unsqueeze(1), 7, c[..., 0] | (c[..., 1] << 10) | (c[..., 2] << 20))
    wc = torch.where(corners.bool(), w, 1 - w).prod(-1)
    return (wc * h).sum(1)


def texture(tex: torch.Tensor, scale: torch.Tensor, key: torch.Tensor, local: torch.Tensor):
    """Procedural texture value in [0, 1] that mixes an object's two colours.

    Args:
        tex: int64 (n,) texture index (0 plain, 1 checker, 2 stripes, 3 noise).
        scale: float32 (n,) cell size (m).
        key: int64 (n,) per-object hash key (noise pattern).
        local: float32 (n, 3) object-local coordinates of the surface points (m).

    Returns:
        float32 (n,).

    """
    q = local / scale[:, None]
    fl = torch.floor(q)
    checker = torch.remainder(fl.sum(1), 2.0)
    stripes = torch.remainder(torch.floor(q[:, 0] + 0.5 * q[:, 2]), 2.0)
    out = torch.where(tex == 1, checker, torch.where(tex == 2, stripes, torch.zeros_like(checker)))
    sel = torch.nonzero(tex == 3).squeeze(1)
    if len(sel):
        qq = q[sel] + 37.0
        n = 0.65 * _value_noise(qq, key[sel]) + 0.35 * _value_noise(2.3 * qq, key[sel])
        out[sel] = ((n - 0.5) * 2.5 + 0.5).clamp(0, 1)
    return out


def _rotz(v: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(yaw), torch.sin(yaw)
    return torch.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], 1)


def _planar_uv(local: torch.Tensor, nrm_local: torch.Tensor) -> torch.Tensor:
    """(n, 2) surface coordinates: the two local axes across the normal's dominant one."""
    axis = nrm_local.abs().argmax(1)
    u = torch.where(axis == 0, local[:, 1], local[:, 0])
    v = torch.where(axis == 2, local[:, 1], local[:, 2])
    return torch.stack([u, v], 1)


def _surface(scenes: SceneBatch, p: torch.Tensor, g: torch.Tensor, face: torch.Tensor,
             with_uv: bool = False):  # fmt: skip
    """World normals (n, 3), texture coordinates (n, 3) and attribute rows of hit points.

    With ``with_uv`` the attributes also hold ``uv`` (n, 2): metres along the surface in
    object-local axes (a rectangle's own axes; elsewhere the local plane across the
    normal's dominant axis), for :mod:`nova3r_ros.synth.photo_textures`.
    """
    batches = [scenes.prims[k] for k in KINDS if k in scenes.prims]
    mesh = scenes.mesh
    n_prims = sum(len(pb) for pb in batches)
    gid = g
    if mesh is not None:
        batches.append(mesh.inst)
        gid = torch.where(g >= 0, g, n_prims + mesh.face_inst[face.clamp(min=0)])

    def cat(name: str) -> torch.Tensor:
        return torch.cat([getattr(pb, name) for pb in batches])

    pos, yaw = cat("pos")[gid], cat("yaw")[gid]
    local = _rotz(p - pos, -yaw)
    nrm = torch.zeros_like(local)
    uv = torch.zeros_like(local[:, :2]) if with_uv else None
    off = 0
    for pb in batches:
        sel = torch.nonzero((gid >= off) & (gid < off + len(pb))).squeeze(1)
        rows = gid[sel] - off
        off += len(pb)
        if pb.kind == "mesh":
            fn = torch.linalg.cross(mesh.e1[face[sel]], mesh.e2[face[sel]])
            nrm[sel] = fn / fn.norm(dim=1, keepdim=True).clamp(min=1e-20)
            if uv is not None:
                uv[sel] = _planar_uv(local[sel], _rotz(nrm[sel], -yaw[sel]))
            continue
        params = tuple(pb.params[rows].unbind(1))
        if pb.kind == "rect":  # world-frame axes; texture coordinates along them
            rel = local[sel]
            u, v = pb.params[rows, 0:3], pb.params[rows, 3:6]
            local[sel] = torch.stack(
                [(rel * u).sum(1), (rel * v).sum(1), torch.zeros_like(rel[:, 0])], 1
            )
            nrm[sel] = normals("rect", *local[sel].unbind(1), params)
            if uv is not None:
                uv[sel] = local[sel, :2]
        else:
            n_local = normals(pb.kind, *local[sel].unbind(1), params)
            nrm[sel] = _rotz(n_local, yaw[sel])
            if uv is not None:
                uv[sel] = _planar_uv(local[sel], n_local)
    names = ("color", "color2", "tex", "tex_scale", "obj_id")
    at = {name: cat(name)[gid] for name in names}
    if uv is not None:
        at["uv"] = uv
    return nrm, local, at


def render(
    scenes: SceneBatch,
    K: torch.Tensor,
    T_world_cam: torch.Tensor,
    height: int,
    width: int,
    view_chunk: int | None = None,
    photo: PhotoTextures | None = None,
) -> dict[str, torch.Tensor]:
    """Render every view of every scene.

    Args:
        scenes: the batch (B scenes), on the device to render on.
        K: float (B, V, 3, 3) intrinsics (px).
        T_world_cam: float (B, V, 4, 4) camera-to-world poses, OpenCV optical frames.
        height: H (px).
        width: W (px).
        view_chunk: render this many views at a time (bounds memory; None = all).
        photo: photographic textures for a share of the objects (training only; None,
            the default, renders the procedural textures alone, as the benchmarks do).

    Returns:
        ``image`` uint8 (B, V, H, W, 3) RGB, ``depth`` float32 (B, V, H, W) z-depth in
        metres (0 = no hit), ``ids`` int32 (B, V, H, W) object ids (0 = background).

    """
    dev = scenes.device
    K = K.to(dev, torch.float32)
    T = T_world_cam.to(dev, torch.float32)
    V = K.shape[1]
    if view_chunk is not None and view_chunk < V:
        outs = [render(scenes, K[:, i : i + view_chunk], T[:, i : i + view_chunk], height, width,
                       photo=photo) for i in range(0, V, view_chunk)]  # fmt: skip
        return {k: torch.cat([o[k] for o in outs], 1) for k in outs[0]}
    B, P = scenes.n_scenes, height * width
    o, dirs, zscale = camera_rays(K, T, height, width)
    t, prim, face = trace(scenes, o, dirs)
    hit = torch.isfinite(t)
    depth = torch.where(hit, t * zscale, torch.zeros_like(t))
    idx = torch.nonzero(hit.reshape(-1)).squeeze(1)
    b = idx // (V * P)
    d = dirs.reshape(-1, 3)[idx]
    p = o.reshape(-1, 3)[idx // P] + t.reshape(-1)[idx, None] * d
    nrm, local, at = _surface(scenes, p, prim.reshape(-1)[idx], face.reshape(-1)[idx],
                              with_uv=photo is not None)  # fmt: skip
    key = at["obj_id"] * 7919 + (at["color"][:, 0] * 1048576.0).long()
    tval = texture(at["tex"], at["tex_scale"], key, local)
    c1, c2, obj = at["color"], at["color2"], at["obj_id"]
    nrm = torch.where(((nrm * d).sum(1) > 0)[:, None], -nrm, nrm)
    lam = (nrm * scenes.light[b]).sum(1).clamp(min=0.0)
    amb = scenes.ambient[b]
    albedo = c1 + tval[:, None] * (c2 - c1)
    if photo is not None:
        sel = torch.nonzero(photo.pick(key)).squeeze(1)
        albedo[sel] = photo.albedo(key[sel], at["uv"][sel], c1[sel])
    rgb = albedo * (amb + (1 - amb) * lam)[:, None]
    rows = torch.arange(height, device=dev, dtype=torch.float32).repeat_interleave(width)
    grad = 0.8 + 0.2 * (1.0 - rows / max(height - 1, 1))
    img = (scenes.background[:, None, None, :] * grad[None, None, :, None]).expand(B, V, P, 3)
    img = img.reshape(-1, 3).clone()
    img[idx] = rgb
    ids = torch.zeros(B * V * P, dtype=torch.int32, device=dev)
    ids[idx] = obj.to(torch.int32)
    img8 = (img.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
    return {
        "image": img8.view(B, V, height, width, 3),
        "depth": depth.view(B, V, height, width),
        "ids": ids.view(B, V, height, width),
    }
