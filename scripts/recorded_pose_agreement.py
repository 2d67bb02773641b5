"""Do the recorded 7-Scenes poses agree with the depth? Point-to-plane ICP against them.

For frame pairs ``--gap`` positions apart (every 3rd start), Open3D point-to-plane ICP
between the two depth maps, started at the recorded relative pose, and the change ICP
makes to it: rotation (degrees), translation direction (RTA, degrees) and translation
(cm). Repeated with other intrinsics (focal length, principal point), with the recorded
poses shifted by one position (a time offset) and, over pairs 5 and 10 positions apart,
with a rigid depth-to-pose extrinsic fitted on half the pairs and scored on the other
half (``X^-1 T_recorded X``). Where no variant brings ICP much closer to the recorded
poses, the disagreement is in the recorded poses rather than in a calibration we could
correct (issue 12's RTA@5 on the dev frames; docs/eval/session27).

Usage: PYTHONPATH=. python scripts/recorded_pose_agreement.py --data DIR [--gap 10]
"""

from __future__ import annotations

import argparse
import glob
import sys

import cv2
import numpy as np
import open3d as o3d
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation


def cloud(depth: np.ndarray, f: float, cx: float, cy: float):
    """Every 2nd pixel's point (optical frame), 1 cm voxels, normals."""
    v, u = np.nonzero(depth[::2, ::2])
    v, u = v * 2, u * 2
    z = depth[v, u]
    p = np.stack([(u - cx) * z / f, (v - cy) * z / f, z], 1).astype(np.float64)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p)).voxel_down_sample(0.01)
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(0.05, 30))
    return pc


def errors(T_a: np.ndarray, T_b: np.ndarray) -> tuple[float, float, float]:
    """Rotation (deg), translation direction (deg), translation (m) between two poses."""
    R = T_a[:3, :3].T @ T_b[:3, :3]
    rot = np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))
    a, b = T_a[:3, 3], T_b[:3, 3]
    cos = a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    return rot, np.degrees(np.arccos(np.clip(cos, -1, 1))), np.linalg.norm(a - b)


def icp_pairs(depths, poses, gaps, f=585.0, cx=320.0, cy=240.0, offset=0, every=3):
    """Return (recorded relative pose, ICP pose) of pairs ``gaps`` apart (poses shifted)."""
    clouds, out = {}, []
    for gap in gaps:
        for i in range(0, len(depths) - gap, every):
            j = i + gap
            if not (0 <= i + offset < len(poses) and 0 <= j + offset < len(poses)):
                continue
            for k in (i, j):
                if k not in clouds:
                    clouds[k] = cloud(depths[k], f, cx, cy)
            rec = np.linalg.inv(poses[i + offset]) @ poses[j + offset]
            icp = o3d.pipelines.registration.registration_icp(
                clouds[j], clouds[i], 0.03, rec,
                o3d.pipelines.registration.TransformationEstimationPointToPlane(),
                o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=60),
            )  # fmt: skip
            out.append((rec, np.asarray(icp.transformation)))
    return out


def summary(pairs, X: np.ndarray | None = None) -> str:
    """One line: how far ICP moved the recorded poses (seen through extrinsic ``X``)."""
    X = np.eye(4) if X is None else X
    Xi = np.linalg.inv(X)
    e = np.array([errors(icp, Xi @ rec @ X) for rec, icp in pairs])
    return (f"pairs {len(e)}: rotation median {np.median(e[:, 0]):.2f} deg, RTA@5 "
            f"{np.mean(e[:, 1] < 5):.2f} (median {np.median(e[:, 1]):.2f} deg), translation "
            f"median {100 * np.median(e[:, 2]):.2f} cm")  # fmt: skip


def pose_of(p: np.ndarray) -> np.ndarray:
    """Return the 4x4 pose of a rotation vector and translation (6,)."""
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = Rotation.from_rotvec(p[:3]).as_matrix(), p[3:]
    return T


def main(argv=None) -> int:
    """Print the agreement lines; exit 2 on a folder without enough frames."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="7-Scenes folder (frame-*.depth.png, pose)")
    ap.add_argument("--gap", type=int, default=10, help="positions between the two frames")
    args = ap.parse_args(argv)
    files = sorted(glob.glob(f"{args.data}/frame-*.depth.png"))
    if len(files) <= args.gap:
        print(f"error: {args.data}: fewer than {args.gap + 1} depth frames", file=sys.stderr)
        return 2
    depths = []
    for name in files:
        raw = cv2.imread(name, cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2:
            print(f"error: {name}: not a 16-bit depth image", file=sys.stderr)
            return 2
        d = raw.astype(np.float32) / 1000.0
        d[(d <= 0.1) | (d >= 4.0)] = 0.0  # 65.535 = no depth
        depths.append(d)
    poses = [np.loadtxt(name.replace("depth.png", "pose.txt")) for name in files]
    variants = [("recorded intrinsics (585, 320, 240)", {}), ("f 575", {"f": 575.0}),
                ("f 595", {"f": 595.0}), ("cx 310", {"cx": 310.0}), ("cx 330", {"cx": 330.0}),
                ("cy 230", {"cy": 230.0}), ("cy 250", {"cy": 250.0}),
                ("poses one position later", {"offset": 1}),
                ("poses one position earlier", {"offset": -1})]  # fmt: skip
    for name, kw in variants:
        print(f"gap {args.gap}, {name}: {summary(icp_pairs(depths, poses, [args.gap], **kw))}")
    pairs = icp_pairs(depths, poses, [5, 10], every=2)
    fit, test = pairs[0::2], pairs[1::2]

    def residuals(p):
        X = pose_of(p)
        Xi = np.linalg.inv(X)
        r = []
        for rec, icp in fit:
            M = Xi @ rec @ X
            r += [(M[:3, :3] - icp[:3, :3]).ravel(), 10 * (M[:3, 3] - icp[:3, 3])]
        return np.concatenate(r)

    p = least_squares(residuals, np.zeros(6)).x
    print(f"fitted extrinsic: {np.degrees(np.linalg.norm(p[:3])):.1f} deg, "
          f"{100 * np.linalg.norm(p[3:]):.1f} cm")  # fmt: skip
    print(f"held-out pairs (gaps 5 and 10), recorded poses: {summary(test)}")
    print(
        f"held-out pairs (gaps 5 and 10), with the fitted extrinsic: {summary(test, pose_of(p))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
