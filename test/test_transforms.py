"""Tests for nova3r_ros.core.transforms: analytic answers and scipy cross-checks."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nova3r_ros.core.transforms import (
    align_camera_centres,
    compose,
    matrix_to_pose,
    matrix_to_quat,
    pose_to_matrix,
    project_to_so3,
    quat_to_matrix,
    rotation_angle_deg,
    se3_from_rt,
    se3_inverse,
    sim3_inverse,
    sim3_scale,
    transform_points,
    umeyama,
)

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def random_sim3(rng, scale=True):
    R = Rotation.random(random_state=rng).as_matrix()
    s = rng.uniform(0.3, 3.0) if scale else 1.0
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = s * R, rng.normal(size=3) * 5
    return T, s


def same_quat(a, b, atol=1e-12):
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    d = np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1))
    return np.all(d < atol)


def test_se3_from_rt_and_transform_points_exact():
    T = se3_from_rt(RZ90, [1.0, 2.0, 3.0])
    assert T.dtype == np.float64 and T.shape == (4, 4)
    out = transform_points(T, np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1.0, 3.0, 3.0], [1.0, 2.0, 3.0]])


def test_inverse_compose_is_identity():
    rng = np.random.default_rng(0)
    T, _ = random_sim3(rng, scale=False)
    np.testing.assert_allclose(compose(se3_inverse(T), T), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(compose(T, se3_inverse(T)), np.eye(4), atol=1e-12)
    S, s = random_sim3(rng)
    assert sim3_scale(S) == pytest.approx(s, rel=1e-12)
    np.testing.assert_allclose(compose(sim3_inverse(S), S), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(sim3_inverse(S), np.linalg.inv(S), atol=1e-12)
    # batched
    Ts = np.stack([random_sim3(rng, scale=False)[0] for _ in range(5)])
    np.testing.assert_allclose(
        se3_inverse(Ts) @ Ts, np.broadcast_to(np.eye(4), Ts.shape), atol=1e-12
    )


def test_compose_order():
    T_a_b = se3_from_rt(RZ90, [1.0, 0.0, 0.0])
    T_b_c = se3_from_rt(np.eye(3), [0.0, 0.0, 2.0])
    p_c = np.array([[1.0, 0.0, 0.0]])
    expected = transform_points(T_a_b, transform_points(T_b_c, p_c))
    np.testing.assert_allclose(transform_points(compose(T_a_b, T_b_c), p_c), expected)
    np.testing.assert_allclose(expected, [[1.0, 1.0, 2.0]])


def test_se3_inverse_rejects_scaled():
    with pytest.raises(ValueError, match="rotation"):
        se3_inverse(np.diag([2.0, 2.0, 2.0, 1.0]))


@pytest.mark.parametrize(
    "q",
    [
        [0.0, 0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0, 0.0],  # 180 deg about x: w = 0
        [0.0, 0.70710678, 0.70710678, 0.0],
        [0.6, -0.8, 0.0, 1e-9],  # w ~ 0
        [0.1, 0.2, 0.3, -0.9],  # negative w: same rotation as -q
    ],
)
def test_quaternion_known_cases(q):
    q = np.asarray(q)
    R = quat_to_matrix(q)
    ref = Rotation.from_quat(q).as_matrix()  # scipy also uses (x, y, z, w)
    np.testing.assert_allclose(R, ref, atol=1e-12)
    back = matrix_to_quat(R)
    assert back[3] >= 0
    assert same_quat(back, q / np.linalg.norm(q), atol=1e-9)


def test_quaternion_exact_values():
    np.testing.assert_allclose(
        quat_to_matrix([0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)]), RZ90, atol=1e-15
    )
    np.testing.assert_allclose(
        matrix_to_quat(RZ90), [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-15
    )
    np.testing.assert_allclose(matrix_to_quat(np.diag([1.0, -1.0, -1.0])), [1, 0, 0, 0], atol=0)
    np.testing.assert_allclose(matrix_to_quat(np.diag([-1.0, 1.0, -1.0])), [0, 1, 0, 0], atol=0)
    np.testing.assert_allclose(matrix_to_quat(np.diag([-1.0, -1.0, 1.0])), [0, 0, 1, 0], atol=0)
    # unnormalised input is normalised
    np.testing.assert_allclose(quat_to_matrix([0.0, 0.0, 0.0, 7.0]), np.eye(3), atol=0)


def test_quaternion_batched_matches_scipy():
    rot = Rotation.random(500, random_state=1)
    R = rot.as_matrix()
    q = matrix_to_quat(R)
    assert q.shape == (500, 4)
    assert same_quat(q, rot.as_quat(), atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q), R, atol=1e-12)
    # near-180-degree rotations (w ~ 0), the hard case for the trace formula
    axes = rot.as_rotvec() / np.linalg.norm(rot.as_rotvec(), axis=1, keepdims=True)
    near = Rotation.from_rotvec(axes * (np.pi - 1e-7))
    assert same_quat(matrix_to_quat(near.as_matrix()), near.as_quat(), atol=1e-9)
    assert q.reshape(50, 10, 4).shape == matrix_to_quat(R.reshape(50, 10, 3, 3)).shape


def test_pose_round_trip():
    T = pose_to_matrix([1.0, -2.0, 0.5], [0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)])
    np.testing.assert_allclose(T[:3, :3], RZ90, atol=1e-15)
    t, q = matrix_to_pose(T)
    np.testing.assert_array_equal(t, [1.0, -2.0, 0.5])
    np.testing.assert_allclose(q, [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-15)
    with pytest.raises(ValueError, match="rotation"):
        matrix_to_pose(np.diag([2.0, 2.0, 2.0, 1.0]))


def test_rotation_angle_deg():
    assert rotation_angle_deg(RZ90) == pytest.approx(90.0, abs=1e-12)
    assert rotation_angle_deg(np.eye(3)) == 0.0
    assert rotation_angle_deg(np.diag([1.0, -1.0, -1.0])) == pytest.approx(180.0, abs=1e-12)
    small = Rotation.from_rotvec([1e-9, 0, 0]).as_matrix()
    assert rotation_angle_deg(small) == pytest.approx(np.degrees(1e-9), rel=1e-6)
    angles = rotation_angle_deg(np.stack([RZ90, np.eye(3)]))
    np.testing.assert_allclose(angles, [90.0, 0.0], atol=1e-12)


def test_umeyama_recovers_sim3_and_se3():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(50, 3))
    T, _ = random_sim3(rng)
    np.testing.assert_allclose(umeyama(src, transform_points(T, src)), T, atol=1e-6)
    T_rigid, _ = random_sim3(rng, scale=False)
    est = umeyama(src, transform_points(T_rigid, src), with_scale=False)
    np.testing.assert_allclose(est, T_rigid, atol=1e-6)
    # weights: a corrupted point with zero weight is ignored
    dst = transform_points(T, src)
    dst[0] += 100.0
    w = np.ones(50)
    w[0] = 0.0
    np.testing.assert_allclose(umeyama(src, dst, weights=w), T, atol=1e-6)


def test_umeyama_planar_points_no_reflection():
    src = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    T = se3_from_rt(RZ90, [0.0, 0.0, 1.0])
    est = umeyama(src, transform_points(T, src), with_scale=False)
    np.testing.assert_allclose(est, T, atol=1e-12)


def test_umeyama_errors():
    with pytest.raises(ValueError, match=">= 3"):
        umeyama(np.zeros((2, 3)), np.zeros((2, 3)))
    line = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    with pytest.raises(ValueError, match="degenerate"):
        umeyama(line, line)
    with pytest.raises(ValueError, match="shape"):
        umeyama(np.zeros((4, 3)), np.zeros((5, 3)))
    bad = np.eye(3)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        umeyama(bad, np.eye(3))


def cams_from_centres(centres, rots):
    return [se3_from_rt(R, c) for c, R in zip(centres, rots, strict=True)]


@pytest.mark.parametrize("n", [2, 4])
def test_align_camera_centres(n):
    rng = np.random.default_rng(3 + n)
    T_b_a, _ = random_sim3(rng)
    centres = rng.normal(size=(n, 3)) * 2
    rots = Rotation.random(n, random_state=n).as_matrix()
    T_a_cams = cams_from_centres(centres, rots)
    T_b_cams = [T_b_a @ T for T in T_a_cams]  # Sim(3) camera-to-b poses
    np.testing.assert_allclose(align_camera_centres(T_a_cams, T_b_cams), T_b_a, atol=1e-9)


def test_align_camera_centres_collinear_uses_rotations():
    T_b_a = se3_from_rt(RZ90, [1.0, 2.0, 3.0])
    T_b_a[:3, :3] *= 2.0
    centres = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])  # a straight line
    rots = Rotation.random(3, random_state=7).as_matrix()
    T_a_cams = cams_from_centres(centres, rots)
    T_b_cams = [T_b_a @ T for T in T_a_cams]
    np.testing.assert_allclose(align_camera_centres(T_a_cams, T_b_cams), T_b_a, atol=1e-12)


def test_align_camera_centres_errors():
    T = np.eye(4)
    with pytest.raises(ValueError, match=">= 2 cameras"):
        align_camera_centres([T], [T])
    with pytest.raises(ValueError, match="same cameras"):
        align_camera_centres([T, T], [T])
    with pytest.raises(ValueError, match="coincide"):
        align_camera_centres([T, T], [T, T])


def test_project_to_so3():
    noisy = RZ90 + 1e-3 * np.arange(9).reshape(3, 3)
    R = project_to_so3(noisy)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert rotation_angle_deg(R.T @ RZ90) < 0.5


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="rotation"):
        se3_from_rt(np.ones((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        se3_from_rt(np.eye(3), np.zeros(4))
    with pytest.raises(ValueError, match="last row"):
        se3_inverse(np.ones((4, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        transform_points(np.full((4, 4), np.inf), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        transform_points(np.eye(4), np.zeros((3,)))
    with pytest.raises(ValueError, match="zero norm"):
        quat_to_matrix([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="at least one"):
        compose()
    with pytest.raises(ValueError, match="positive determinant"):
        sim3_inverse(np.diag([-1.0, 1.0, 1.0, 1.0]))
