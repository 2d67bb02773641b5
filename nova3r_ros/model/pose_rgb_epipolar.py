"""Two-view epipolar geometry from feature matches for :mod:`.pose_rgb` (RGB-only windows).

Matches are normalised image coordinates (N, 2) of views a and b; a relative pose is
``x_b = R x_a + t`` (camera a's points into camera b) with unit ``t``. Ratio-test SIFT
matching, Sampson distances, triangulation, the essential matrix by MAGSAC++ with the
decomposition nearest the camera head's rotation, and its Gauss-Newton refinement, and
the planar twin of a pose (:func:`planar_twin`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from nova3r_ros.model.pose_rgb_align import angle_deg


def _skew(t: np.ndarray) -> np.ndarray:
    return np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]], dtype=np.float64)


def relative_pose(P: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (R, t) of view b in view a (``x_b = R x_a + t``) from camera-to-ref poses P."""
    T = np.linalg.inv(P[b]) @ P[a]
    return T[:3, :3], T[:3, 3]


def sift_features(image: np.ndarray, max_width: int, min_width: int, n_features: int,
                  contrast: float) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """Return SIFT keypoints (N, 2) in full-size pixels and descriptors (N, 128) or None.

    ``image``: HxWx3 uint8 RGB. Wider than ``max_width`` px it is downscaled; narrower than
    ``min_width`` upscaled by an integer factor (small synthetic views); ``n_features``
    keypoints at most, SIFT's ``contrast`` threshold.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    f = max_width / grey.shape[1]
    f = f if f < 1.0 else max(1.0, float(np.floor(min_width / grey.shape[1])))
    if f != 1.0:
        interp = cv2.INTER_AREA if f < 1.0 else cv2.INTER_CUBIC
        grey = cv2.resize(grey, None, fx=f, fy=f, interpolation=interp)
    sift = cv2.SIFT_create(nfeatures=n_features, contrastThreshold=contrast)
    kp, desc = sift.detectAndCompute(grey, None)
    xy = np.float64([k.pt for k in kp]).reshape(-1, 2)
    return (xy + 0.5) / f - 0.5, desc


def se3(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return the 4x4 pose of rotation R (3, 3) and translation t (3,), unchecked."""
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def match(d_a: np.ndarray | None, d_b: np.ndarray | None, ratio: float) -> np.ndarray:
    """Return ratio-test matches (M, 2) as (index in a, index in b), one per b keypoint."""
    if d_a is None or d_b is None or len(d_a) < 2 or len(d_b) < 2:
        return np.zeros((0, 2), np.int64)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d_a, d_b, k=2)
    good = [p for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    m = np.int64([(p[0].queryIdx, p[0].trainIdx) for p in good]).reshape(-1, 2)
    _, first = np.unique(m[:, 1], return_index=True)  # one match per b keypoint
    return m[np.sort(first)]


def normalise(px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Return pixel coordinates (N, 2) as normalised image coordinates of intrinsics K."""
    return (px - K[:2, 2]) / np.diag(K)[:2]


def sampson(R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """Return Sampson distances of normalised matches ``x_a`` <-> ``x_b`` (N, 2).

    The epipolar geometry is that of ``x_b = R x_a + t`` (camera a's points into b).
    """
    E = _skew(t) @ R
    a = np.column_stack([x_a, np.ones(len(x_a))])
    b = np.column_stack([x_b, np.ones(len(x_b))])
    Ea, Etb = a @ E.T, b @ E
    num = np.einsum("ij,ij->i", b, Ea)
    den = Ea[:, 0] ** 2 + Ea[:, 1] ** 2 + Etb[:, 0] ** 2 + Etb[:, 1] ** 2
    return np.abs(num) / np.sqrt(np.maximum(den, 1e-18))


def explained(R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray, thr: float) -> int:
    """Return how many matches (normalised x_a, x_b) the pose ``x_b = R x_a + t`` explains.

    A match is explained where its Sampson distance is under ``thr`` (normalised units).
    """
    t = t / max(float(np.linalg.norm(t)), 1e-12)
    return int((sampson(R, t, x_a, x_b) < thr).sum())


def triangulate(R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """Triangulate normalised matches into camera a's frame (N, 3); x_b = R x_a + t."""
    if not len(x_a):
        return np.zeros((0, 3))
    X = cv2.triangulatePoints(np.eye(3, 4), np.column_stack([R, t]), x_a.T, x_b.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (X[:3] / X[3]).T


def _front(R: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
    z_b = X @ R[2] + t[2]
    return np.isfinite(X).all(1) & (X[:, 2] > 0) & (z_b > 0)


def _gauss_newton(R, t, x_a, x_b, iters: int = 5):
    """Refine (R, unit t) on inlier matches by Gauss-Newton on Sampson errors (numeric J)."""

    def residual(p):
        Rp = cv2.Rodrigues(p[:3])[0] @ R
        tp = t + p[3:]
        tp = tp / np.linalg.norm(tp)
        E = _skew(tp) @ Rp
        a = np.column_stack([x_a, np.ones(len(x_a))])
        b = np.column_stack([x_b, np.ones(len(x_b))])
        Ea, Etb = a @ E.T, b @ E
        den = Ea[:, 0] ** 2 + Ea[:, 1] ** 2 + Etb[:, 0] ** 2 + Etb[:, 1] ** 2
        return np.einsum("ij,ij->i", b, Ea) / np.sqrt(np.maximum(den, 1e-18))

    for _ in range(iters):
        r0 = residual(np.zeros(6))
        J = np.empty((len(r0), 6))
        for k in range(6):
            d = np.zeros(6)
            d[k] = 1e-6
            J[:, k] = (residual(d) - r0) / 1e-6
        step = np.linalg.lstsq(J.T @ J + 1e-9 * np.eye(6), -J.T @ r0, rcond=None)[0]
        if not np.isfinite(step).all() or float(np.sum(residual(step) ** 2)) >= float(r0 @ r0):
            break
        R = cv2.Rodrigues(step[:3])[0] @ R
        t = (t + step[3:]) / np.linalg.norm(t + step[3:])
    return R, t


def _inliers(R, t, x_a, x_b, threshold: float) -> np.ndarray:
    inl = sampson(R, t, x_a, x_b) < threshold
    X = triangulate(R, t, x_a[inl], x_b[inl])
    inl[np.flatnonzero(inl)[~_front(R, t, X)]] = False
    return inl


def _local_opt(R, t, x_a, x_b, threshold: float, rounds: int = 3):
    """Alternate inliers (Sampson < 2x then 1x ``threshold``, in front) and Gauss-Newton."""
    for k in range(rounds):
        inl = _inliers(R, t, x_a, x_b, threshold * (2.0 if k == 0 else 1.0))
        if inl.sum() < 6:
            break
        R, t = _gauss_newton(R, t, x_a[inl], x_b[inl])
    return R, t, _inliers(R, t, x_a, x_b, threshold)


@dataclass
class PairPose:
    """Relative pose of view b in view a: ``x_b = R x_a + t`` (|t| = 1), and its support."""

    R: np.ndarray
    t: np.ndarray
    inliers: np.ndarray  # bool over the pair's matches
    disagree_deg: float


def pair_pose(x_a, x_b, R_head, t_head, threshold: float) -> PairPose | None:
    """Estimate the pose from normalised matches (N, 2) by E, decomposition nearest the head's.

    ``R_head``, ``t_head``: the camera head's ``x_b = R x_a + t``; ``threshold`` in
    normalised units. None when RANSAC finds no model.
    """
    if len(x_a) < 5:
        return None
    th = t_head / max(np.linalg.norm(t_head), 1e-12)
    cands = [_local_opt(R_head, th, x_a, x_b, threshold)]  # the prior, refined on its inliers
    E, mask = cv2.findEssentialMat(x_a, x_b, np.eye(3), cv2.USAC_MAGSAC, 0.999, threshold)
    if E is not None and E.shape == (3, 3) and mask is not None:
        inl = mask.ravel() > 0
        R1, R2, t = cv2.decomposeEssentialMat(E)
        sols = []
        for R in (R1, R2):
            for sign in (1.0, -1.0):
                X = triangulate(R, sign * t.ravel(), x_a[inl], x_b[inl])
                sols.append((int(_front(R, sign * t.ravel(), X).sum()), R, sign * t.ravel()))
        most = max(c[0] for c in sols)
        eligible = [c for c in sols if c[0] >= 0.9 * most]
        _, R, t = min(eligible, key=lambda c: angle_deg(c[1] @ R_head.T) - 1e-3 * (c[2] @ th))
        cands.append(_local_opt(R, t, x_a, x_b, threshold))
    R, t, inl = max(cands, key=lambda c: int(c[2].sum()))
    return PairPose(R, t, inl, angle_deg(R @ R_head.T))


def supported_pair_pose(x_a, x_b, T_head, thr, cfg):
    """Return the pair's E pose (:func:`pair_pose`) from its matches, or None without support.

    ``x_a``, ``x_b`` (N, 2) normalised matches; ``T_head`` the head's (4, 4) pose of view a
    in view b; ``thr`` the epipolar threshold (normalised units); ``cfg`` an
    :class:`~.pose_rgb_config.RgbPoseConfig`. No support: fewer than ``min_inliers``
    matches or inliers, or more than ``max_disagree_deg`` from the head's rotation with
    under ``min_share_disagree`` of the matches as inliers.
    """
    if len(x_a) < cfg.min_inliers:
        return None
    pose = pair_pose(x_a, x_b, T_head[:3, :3], T_head[:3, 3], thr)
    if pose is None or pose.inliers.sum() < cfg.min_inliers or (
            pose.disagree_deg > cfg.max_disagree_deg
            and pose.inliers.mean() < cfg.min_share_disagree):  # fmt: skip
        return None
    return pose


def _normal_deg(n: np.ndarray, m: np.ndarray) -> float:
    """Return the angle (deg) between two plane normals, signed (orientation counts)."""
    c = float(n @ m) / max(float(np.linalg.norm(n) * np.linalg.norm(m)), 1e-12)
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def plane_decompositions(x_a, x_b, thr: float, min_fit: float) -> list | None:
    """Return the decompositions [(R, t, n), ...] of the matches' homography, or None.

    RANSAC homography of normalised matches (N, 2) with threshold ``thr``; None where it
    fails, is not finite or fits under ``min_fit`` of the matches. ``x_b = R x_a + t``
    with ``t`` over the plane's distance, ``n`` the plane's normal in camera a
    (``cv2.decomposeHomographyMat``).
    """
    H, mask = cv2.findHomography(x_a, x_b, cv2.RANSAC, thr)
    if H is None or mask is None or not np.isfinite(H).all() or mask.mean() < min_fit:
        return None
    _, Rs, ts, ns = cv2.decomposeHomographyMat(H, np.eye(3))
    return [(R, t.ravel(), n.ravel()) for R, t, n in zip(Rs, ts, ns, strict=True)]


def nearest_normal(sols: list, n_a: np.ndarray) -> tuple[tuple, float]:
    """Return the decomposition whose normal is nearest ``n_a`` and that angle (deg)."""
    best = min(sols, key=lambda s: _normal_deg(s[2], n_a))
    return best, _normal_deg(best[2], n_a)


def planar_twin(pose: PairPose, x_a, x_b, thr: float, n_a: np.ndarray, R_head: np.ndarray,
                cfg) -> tuple[PairPose, bool]:  # fmt: skip
    """Return (``pose`` or its planar twin, whether the twin replaced it).

    Where most of a pair's matches lie on one plane (a table), two poses explain them
    equally well: the homography of the plane decomposes into two (R, t, n), and the
    essential matrix can pick either. The decoded plane tells them apart. A homography is
    fitted to the E pose's inliers (RANSAC, ``thr``); where it holds
    ``cfg.twin_min_plane_share`` of them, the decomposition whose normal is nearest the
    decoded normal ``n_a`` (camera a's frame, ``n_a . X = d`` with d > 0), refined on the
    matches (:func:`_local_opt`), replaces the E pose where it is a different pose (more
    than 2 degrees of rotation), its normal lies within ``cfg.twin_max_normal_deg`` of
    the decoded one, and either the E pose is one of the decompositions (within
    ``cfg.twin_on_plane_deg``), whose normal lies ``cfg.twin_min_gain_deg`` farther from
    the decoded one, and the twin explains at least ``cfg.twin_min_share`` as many
    matches, or the E pose is none of them and the twin explains at least as many.
    ``twin_min_gain_deg`` 0: off. Matches: normalised (N, 2); ``R_head``: the head's
    rotation (for the disagreement).
    """
    inl = pose.inliers
    if cfg.twin_min_gain_deg <= 0 or inl.sum() < 8:
        return pose, False
    sols = plane_decompositions(x_a[inl], x_b[inl], thr, cfg.twin_min_plane_share)
    if sols is None:
        return pose, False
    own = min(sols, key=lambda s: angle_deg(s[0] @ pose.R.T))
    twin, near = nearest_normal(sols, n_a)
    if angle_deg(twin[0] @ pose.R.T) <= 2.0 or near > cfg.twin_max_normal_deg:
        return pose, False
    on_plane = angle_deg(own[0] @ pose.R.T) <= cfg.twin_on_plane_deg
    if on_plane and _normal_deg(own[2], n_a) - near < cfg.twin_min_gain_deg:
        return pose, False
    t = twin[1] / max(float(np.linalg.norm(twin[1])), 1e-12)
    R, t, inl_twin = _local_opt(twin[0], t, x_a, x_b, thr)
    if inl_twin.sum() < (cfg.twin_min_share if on_plane else 1.0) * inl.sum():
        return pose, False
    return PairPose(R, t, inl_twin, angle_deg(R @ R_head.T)), True
