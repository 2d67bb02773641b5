"""SE(3) / Sim(3) transforms, quaternions and least-squares alignment (numpy only).

Conventions:
    A transform is a 4x4 float64 matrix ``T_a_b`` that maps points expressed in
    frame ``b`` into frame ``a``: ``p_a = T_a_b @ [p_b, 1]``. ``T_world_cam`` is
    camera-to-world; camera optical frames are OpenCV (x right, y down, z forward).
    SE(3) is ``[[R, t], [0, 1]]``; Sim(3) is ``[[s R, t], [0, 1]]`` with ``s > 0``.
    Quaternions are in ROS order ``(x, y, z, w)``, unit norm, returned with
    ``w >= 0``. Batched functions accept any leading shape ``...``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_ORTHO_TOL = 1e-5  # max |R^T R - I| accepted as a rotation
_COLLINEAR_RATIO = 1e-3  # 2nd/1st singular value of centred camera centres below this: a line


def _as_array(x, name: str, shape_tail: tuple[int, ...]) -> np.ndarray:
    """Return ``x`` as finite float64 with trailing shape ``shape_tail``, else raise."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < len(shape_tail) or a.shape[a.ndim - len(shape_tail) :] != shape_tail:
        want = "x".join(map(str, shape_tail))
        raise ValueError(f"{name} must have shape (..., {want}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values")
    return a


def _as_transform(T, name: str = "T") -> np.ndarray:
    """Return ``T`` as a finite float64 (..., 4, 4) with last row [0, 0, 0, 1], else raise."""
    T = _as_array(T, name, (4, 4))
    if not np.allclose(T[..., 3, :], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
        raise ValueError(f"{name} last row must be [0, 0, 0, 1], got {T[..., 3, :].tolist()}")
    return T


def _check_rotation(R: np.ndarray, name: str) -> None:
    err = np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)).max(initial=0.0)
    if err > _ORTHO_TOL or np.any(np.linalg.det(R) <= 0):
        raise ValueError(
            f"{name} must be a rotation (orthonormal, det +1); |R^T R - I| = {err:.2e}"
        )


def project_to_so3(M: np.ndarray) -> np.ndarray:
    """Return the rotations (..., 3, 3) nearest (Frobenius) to ``M`` (..., 3, 3), via SVD."""
    M = _as_array(M, "M", (3, 3))
    U, _, Vt = np.linalg.svd(M)
    D = np.broadcast_to(np.eye(3), M.shape).copy()
    D[..., 2, 2] = np.sign(np.linalg.det(U @ Vt))
    return U @ D @ Vt


def se3_from_rt(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Build a 4x4 float64 SE(3) ``T_a_b`` from rotation ``R`` (3x3) and translation ``t`` (3,).

    ``R`` must be orthonormal with det +1; ``t`` is frame b's origin expressed in frame a.
    """
    R = _as_array(R, "R", (3, 3))
    t = _as_array(t, "t", (3,))
    if R.shape != (3, 3) or t.shape != (3,):
        raise ValueError(f"R must be 3x3 and t (3,), got {R.shape} and {t.shape}")
    _check_rotation(R, "R")
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def sim3_scale(T: np.ndarray) -> float:
    """Return the scale ``s`` of a 4x4 Sim(3) ``[[s R, t], [0, 1]]`` (cbrt of det(s R))."""
    T = _as_transform(T)
    if T.shape != (4, 4):
        raise ValueError(f"T must be 4x4, got {T.shape}")
    det = float(np.linalg.det(T[:3, :3]))
    if det <= 0:
        raise ValueError(f"Sim(3) linear block must have positive determinant, got {det:.3e}")
    return float(np.cbrt(det))


def se3_inverse(T: np.ndarray) -> np.ndarray:
    """Invert rigid transforms: ``T_a_b`` (..., 4, 4) -> ``T_b_a`` (..., 4, 4) float64.

    Uses ``[R^T, -R^T t]``; raises if the 3x3 block is not a rotation (use ``sim3_inverse``).
    """
    T = _as_transform(T)
    R, t = T[..., :3, :3], T[..., :3, 3:]
    _check_rotation(R, "T's rotation block")
    out = np.zeros_like(T)
    out[..., :3, :3] = np.swapaxes(R, -1, -2)
    out[..., :3, 3:] = -np.swapaxes(R, -1, -2) @ t
    out[..., 3, 3] = 1.0
    return out


def sim3_inverse(T: np.ndarray) -> np.ndarray:
    """Invert similarity transforms ``[[s R, t], [0, 1]]`` (..., 4, 4) -> (..., 4, 4) float64.

    The inverse is ``[[R^T / s, -R^T t / s], [0, 1]]``; ``s`` must be positive.
    """
    T = _as_transform(T)
    A, t = T[..., :3, :3], T[..., :3, 3:]
    det = np.linalg.det(A)
    if np.any(det <= 0):
        raise ValueError("Sim(3) linear block must have positive determinant (s > 0, det R = 1)")
    s2 = np.cbrt(det)[..., None, None] ** 2
    A_inv = np.swapaxes(A, -1, -2) / s2  # (sR)^-1 = R^T / s = (sR)^T / s^2
    out = np.zeros_like(T)
    out[..., :3, :3] = A_inv
    out[..., :3, 3:] = -A_inv @ t
    out[..., 3, 3] = 1.0
    return out


def compose(*Ts: np.ndarray) -> np.ndarray:
    """Chain 4x4 transforms left to right: (T_a_b, T_b_c) gives T_a_c (4x4 float64)."""
    if not Ts:
        raise ValueError("compose needs at least one 4x4 transform")
    out = _as_transform(Ts[0], "Ts[0]")
    for i, T in enumerate(Ts[1:], start=1):
        out = out @ _as_transform(T, f"Ts[{i}]")
    return out


def transform_points(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map points (N, 3) in frame b into frame a with ``T_a_b`` (4x4, SE(3) or Sim(3)).

    Computes in float64; returns the input's dtype if it is floating, else float64.
    """
    T = _as_transform(T)
    if T.shape != (4, 4):
        raise ValueError(f"T must be a single 4x4 transform, got {T.shape}")
    pts = np.asarray(pts)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"pts must have shape (N, 3), got {pts.shape}")
    out_dtype = pts.dtype if np.issubdtype(pts.dtype, np.floating) else np.float64
    p = pts.astype(np.float64, copy=False)
    if not np.all(np.isfinite(p)):
        raise ValueError("pts contains non-finite values")
    return (p @ T[:3, :3].T + T[:3, 3]).astype(out_dtype, copy=False)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Convert quaternions ``(x, y, z, w)`` (..., 4) to rotation matrices (..., 3, 3) float64.

    Input is normalised first; a zero-norm quaternion raises.
    """
    q = _as_array(q, "q", (4,))
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < 1e-12):
        raise ValueError("quaternion has (near) zero norm; expected a unit (x, y, z, w)")
    x, y, z, w = np.moveaxis(q / n, -1, 0)
    R = np.empty((*q.shape[:-1], 3, 3))
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - z * w)
    R[..., 0, 2] = 2 * (x * z + y * w)
    R[..., 1, 0] = 2 * (x * y + z * w)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - x * w)
    R[..., 2, 0] = 2 * (x * z - y * w)
    R[..., 2, 1] = 2 * (y * z + x * w)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Convert rotations (..., 3, 3) to unit quaternions ``(x, y, z, w)`` (..., 4), ``w >= 0``.

    Shepperd's method: the largest of (w, x, y, z) is taken from the diagonal, the
    others from off-diagonal sums, so it is stable near 180 degrees (w ~ 0).
    """
    R = _as_array(R, "R", (3, 3))
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2) up to a common factor; pick the largest per matrix.
    diag = np.stack([m00 + m11 + m22, m00 - m11 - m22, m11 - m00 - m22, m22 - m00 - m11], -1)
    k = np.argmax(diag, axis=-1)
    s = np.sqrt(np.maximum(1.0 + np.take_along_axis(diag, k[..., None], -1)[..., 0], 1e-300))
    a21, a12 = R[..., 2, 1], R[..., 1, 2]
    a02, a20 = R[..., 0, 2], R[..., 2, 0]
    a10, a01 = R[..., 1, 0], R[..., 0, 1]
    cand = np.stack(  # (..., 4 branches, 4 components x y z w), each scaled by 2 s
        [
            np.stack([a21 - a12, a02 - a20, a10 - a01, s * s], -1),
            np.stack([s * s, a01 + a10, a02 + a20, a21 - a12], -1),
            np.stack([a01 + a10, s * s, a12 + a21, a02 - a20], -1),
            np.stack([a02 + a20, a12 + a21, s * s, a10 - a01], -1),
        ],
        -2,
    )
    q = np.take_along_axis(cand, k[..., None, None], -2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:] < 0, -q, q)


def pose_to_matrix(translation_xyz: Sequence[float], quat_xyzw: Sequence[float]) -> np.ndarray:
    """Build a 4x4 float64 SE(3) ``T_parent_child`` from translation (3,) and quat (x, y, z, w)."""
    t = _as_array(translation_xyz, "translation_xyz", (3,))
    q = _as_array(quat_xyzw, "quat_xyzw", (4,))
    if t.shape != (3,) or q.shape != (4,):
        raise ValueError(
            f"expected translation (3,) and quaternion (4,), got {t.shape}, {q.shape}"
        )
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = quat_to_matrix(q), t
    return T


def matrix_to_pose(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a 4x4 SE(3) ``T_parent_child`` into (translation (3,), quat (x, y, z, w) (4,)).

    Raises for a Sim(3) with scale != 1: a pose must be rigid.
    """
    T = _as_transform(T)
    if T.shape != (4, 4):
        raise ValueError(f"T must be 4x4, got {T.shape}")
    _check_rotation(T[:3, :3], "T's rotation block")
    return T[:3, 3].copy(), matrix_to_quat(T[:3, :3])


def rotation_angle_deg(R: np.ndarray) -> np.ndarray | float:
    """Return the rotation angle in degrees, in [0, 180], of rotation matrices (..., 3, 3).

    Uses ``atan2(|axis * sin|, cos)``, accurate for small and near-180 angles alike.
    Returns a float for a single matrix, else an array of shape (...).
    """
    R = _as_array(R, "R", (3, 3))
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    v = np.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1
    )
    ang = np.degrees(np.arctan2(np.linalg.norm(v, axis=-1) / 2.0, cos))
    return float(ang) if ang.ndim == 0 else ang


def umeyama(
    src: np.ndarray,
    dst: np.ndarray,
    with_scale: bool = True,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Return the least-squares ``T`` (4x4 float64) with ``dst ~ T @ src`` (Umeyama 1991).

    Args:
        src: (N, 3) points in frame b.
        dst: (N, 3) corresponding points in frame a.
        with_scale: True for Sim(3) ``[[s R, t], [0, 1]]``; False for SE(3) (s = 1).
        weights: optional (N,) non-negative weights (normalised internally).

    Returns:
        ``T_a_b`` mapping src's frame into dst's frame.

    Raises:
        ValueError: on shape mismatch, non-finite input, fewer than 3 weighted points,
            or a degenerate configuration (coincident or collinear points).

    """
    src = _as_array(src, "src", (3,))
    dst = _as_array(dst, "dst", (3,))
    if src.ndim != 2 or src.shape != dst.shape:
        raise ValueError(
            f"src and dst must have the same shape (N, 3), got {src.shape} and {dst.shape}"
        )
    n = src.shape[0]
    if weights is None:
        w = np.full(n, 1.0 / max(n, 1))
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be finite, non-negative, shape ({n},); got {w.shape}")
        w = w / w.sum() if w.sum() > 0 else w
    if np.count_nonzero(w) < 3:
        raise ValueError(
            f"umeyama needs >= 3 points with positive weight, got {np.count_nonzero(w)}"
        )
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs  # (3, 3): dst x src
    var_s = float(w @ np.sum(xs * xs, axis=1))
    U, S, Vt = np.linalg.svd(cov)
    if var_s <= 0 or S[0] <= 0 or S[1] <= 1e-9 * S[0]:
        raise ValueError(
            "umeyama: degenerate points (coincident or collinear); rotation is not determined"
        )
    D = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2] = -1.0
    R = (U * D) @ Vt
    s = float(S @ D / var_s) if with_scale else 1.0
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = mu_d - s * R @ mu_s
    return T


def align_camera_centres(
    T_a_cams: Sequence[np.ndarray], T_b_cams: Sequence[np.ndarray]
) -> np.ndarray:
    """Estimate the Sim(3) ``T_b_a`` (4x4 float64, frame a -> b) from matched camera poses.

    Args:
        T_a_cams: N >= 2 camera-to-a poses (4x4 each, rigid or Sim(3)).
        T_b_cams: the same N cameras' camera-to-b poses.

    With >= 3 non-collinear centres (translation parts) this is Umeyama on the centres.
    With 2 cameras, or collinear centres, the rotation about the line is not determined
    by the centres, so ``R_b_a`` is the SO(3) projection of the mean of
    ``R_b_i R_a_i^T``; then the scale is the ratio of the centres' RMS spreads and
    ``t = mean(c_b) - s R mean(c_a)``.

    Raises:
        ValueError: on mismatched lengths, fewer than 2 cameras, bad matrices, or
            centres that all coincide in either frame (scale undetermined).

    """
    if len(T_a_cams) != len(T_b_cams):
        raise ValueError(
            f"need the same cameras in both frames, got {len(T_a_cams)} and {len(T_b_cams)}"
        )
    if len(T_a_cams) < 2:
        raise ValueError(f"need >= 2 cameras to fix the scale, got {len(T_a_cams)}")
    Ta = _as_transform(np.stack([np.asarray(T, np.float64) for T in T_a_cams]), "T_a_cams")
    Tb = _as_transform(np.stack([np.asarray(T, np.float64) for T in T_b_cams]), "T_b_cams")
    ca, cb = Ta[:, :3, 3], Tb[:, :3, 3]  # (N, 3) camera centres
    xa, xb = ca - ca.mean(0), cb - cb.mean(0)
    sv = np.linalg.svd(xa, compute_uv=False)
    spread_a, spread_b = float(np.sum(xa * xa)), float(np.sum(xb * xb))
    if spread_a <= 1e-18 or spread_b <= 1e-18:
        raise ValueError("camera centres coincide in one frame; the scale is not determined")
    if len(sv) >= 2 and sv[1] > _COLLINEAR_RATIO * sv[0]:
        try:
            return umeyama(ca, cb, with_scale=True)
        except ValueError:
            pass  # centres in b degenerate: fall back to rotations
    Ra = project_to_so3(Ta[:, :3, :3])
    Rb = project_to_so3(Tb[:, :3, :3])
    R = project_to_so3(np.sum(Rb @ np.swapaxes(Ra, -1, -2), axis=0))  # mean R_b_i R_a_i^T
    s = float(np.sqrt(spread_b / spread_a))
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = cb.mean(0) - s * R @ ca.mean(0)
    return T
