"""Probe: does the correlation over the decoded objects' pixels tell wrong-but-ok pair placements apart?"""
import sys, json, glob, numpy as np, cv2
from multiprocessing import Pool
from nova3r_ros.eval import metrics
from nova3r_ros.model.pose_rgb import refine_rgb_views, dominant_plane
from nova3r_ros.model.pose_rgb_direct import inverse_depth

def ncc(x, y):
    x = x - x.mean(); y = y - y.mean()
    d = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / d) if d > 0 else float("nan")

def corr_parts(T_ref, a, b, grey, K, plane, pts, cell_px=8.0, margin=0.05):
    T_a = np.linalg.inv(T_ref[a]); T_ba = np.linalg.inv(T_ref[b]) @ T_ref[a]
    n_a = T_ref[a][:3, :3].T @ plane[0]; d_a = plane[1] - plane[0] @ T_ref[a][:3, 3]
    h, w = grey[a].shape
    ys, xs = np.mgrid[0:h, 0:w]
    rays = np.stack([(xs.ravel() - K[a][0, 2]) / K[a][0, 0], (ys.ravel() - K[a][1, 2]) / K[a][1, 1], np.ones(h * w)], 1)
    pa = pts @ T_a[:3, :3].T + T_a[:3, 3]
    q = inverse_depth(rays, n_a, d_a, pa, cell_px / K[a][0, 0], margin)
    qp = rays @ n_a / d_a
    obj = q > np.maximum(qp, 0) * (1 + margin)
    valid = q > 0
    X = rays[valid] / q[valid, None]
    Xb = X @ T_ba[:3, :3].T + T_ba[:3, 3]
    ok = Xb[:, 2] > 1e-6
    u = K[b][0, 0] * Xb[:, 0] / Xb[:, 2] + K[b][0, 2]; v = K[b][1, 1] * Xb[:, 1] / Xb[:, 2] + K[b][1, 2]
    inside = ok & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    idx = np.flatnonzero(valid)[inside]
    ui, vi = u[inside], v[inside]
    x0, y0 = np.floor(ui).astype(int), np.floor(vi).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = ui - x0, vi - y0
    G = grey[b]
    gb = (G[y0, x0] * (1 - fx) * (1 - fy) + G[y0, x1] * fx * (1 - fy) + G[y1, x0] * (1 - fx) * fy + G[y1, x1] * fx * fy)
    ga = grey[a].ravel()[idx]
    o = obj[idx]
    return ncc(ga[o], gb[o]) if o.sum() > 30 else float("nan"), ncc(ga[~o], gb[~o]), int(o.sum())

def run(f):
    cv2.setNumThreads(1)
    z = np.load(f)
    imgs = list(z["images"]); K = z["K"]; pts = z["pts"]
    out = refine_rgb_views(z["T"], imgs, K, pts)
    rot, tr = metrics.pairwise_pose_errors(list(out.T_ref_cam), list(z["gt"]))
    grey = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32) for im in imgs]
    plane = dominant_plane(pts)
    recs = []
    import itertools
    for k, (a, b) in enumerate(itertools.combinations(range(len(imgs)), 2)):
        if not (out.ok[a] and out.ok[b]):
            continue
        co, cp, no = corr_parts(out.T_ref_cam, a, b, grey, K, plane, pts)
        recs.append({"f": f.split("/")[-1], "a": a, "b": b, "rot": float(rot[k]), "tr": float(tr[k]), "c_obj": co, "c_plane": cp, "n_obj": no})
    return recs

if __name__ == "__main__":
    files = sorted(glob.glob(sys.argv[1]))
    with Pool(2) as p:
        allr = [r for rs in p.map(run, files, chunksize=4) for r in rs]
    with open(sys.argv[2], "w") as fh:
        for r in allr: fh.write(json.dumps(r) + "\n")
    print(len(allr))
