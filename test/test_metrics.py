import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nova3r_ros.eval import metrics

RNG = np.random.default_rng(0)


def plane(n=200, step=0.001):
    u, v = np.meshgrid(np.arange(n) * step, np.arange(n) * step)
    return np.column_stack([u.ravel(), v.ravel(), np.zeros(n * n)])


def pose(R, t):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def test_identical_clouds_score_perfectly():
    gt = plane(100)  # 10,000 points: below the resampling cap, so both sides are whole
    m = metrics.metric_geometry(gt, gt)
    assert m["chamfer_accuracy"] == 0 and m["chamfer_completeness"] == 0
    assert all(m[f"fscore@{c}cm"] == 1.0 for c in (1, 2, 5))


def test_offset_plane_thresholds():
    gt = plane()
    pred = gt + [0, 0, 0.015]  # every point 1.5 cm off the surface
    m = metrics.metric_geometry(pred, gt)
    assert m["precision@1cm"] == 0.0 and m["recall@1cm"] == 0.0 and m["fscore@1cm"] == 0.0
    assert m["precision@2cm"] == 1.0 and m["recall@2cm"] == 1.0
    assert m["chamfer_accuracy"] == pytest.approx(0.015, abs=2e-4)


def test_half_cloud_has_full_precision_half_recall():
    gt = plane()
    pred = gt[gt[:, 0] < 0.0995]  # exactly half of the 200 columns
    m = metrics.chamfer_and_fscore(pred, gt, [0.0005], ["tight"])
    assert m["precision@tight"] == 1.0
    assert m["recall@tight"] == pytest.approx(0.5)
    assert m["fscore@tight"] == pytest.approx(2 * 0.5 / 1.5)


def test_normalized_fscore_is_scale_free():
    gt = plane() + [-0.1, -0.1, 1.0]  # in front of a camera at the origin
    m = metrics.normalized_fscores(gt * 3.7, gt, camera_centre=np.zeros(3))
    assert m == {"fscore@0.1n": 1.0, "fscore@0.05n": 1.0, "fscore@0.02n": 1.0}


def test_hidden_recall_oracle_zero_and_complete_one():
    gt = plane()
    observed = gt[gt[:, 0] < 0.1]
    oracle = metrics.hidden_recall(observed, gt, observed)
    assert oracle["hidden_recall@1cm"] == 0.0 and oracle["hidden_recall@2cm"] == 0.0
    # columns x >= 0.12 are > 2 cm from every observed point: (200 - 120) / 200 of the plane
    assert oracle["hidden_fraction@2cm"] == pytest.approx(0.4, abs=0.01)
    full = metrics.hidden_recall(gt, gt, observed)
    assert full["hidden_recall@1cm"] == 1.0 and full["hidden_recall@2cm"] == 1.0


def test_density_uniform_grid_and_duplicated_layers():
    grid = plane(100, 0.01)
    m = metrics.density_metrics(grid)
    assert m["nn_cv"] == pytest.approx(0.0, abs=1e-9) and m["duplication"] == 0.0
    # a second layer 0.1 mm away where two views overlap, over 3,000 of 10,000 points
    doubled = np.vstack([grid, grid[:3000] + [0, 0, 1e-4]])
    assert metrics.density_metrics(doubled)["duplication"] == pytest.approx(6000 / 13000)


def test_pose_metrics_exact_and_with_one_bad_camera():
    Ts = [pose(Rotation.random(random_state=i).as_matrix(), RNG.normal(size=3)) for i in range(4)]
    m = metrics.pose_metrics(Ts, Ts)
    assert m["rra@5"] == 1.0 and m["rta@5"] == 1.0 and m["auc@30"] == 1.0
    # A global Sim(3) changes nothing.
    G = pose(Rotation.random(random_state=9).as_matrix(), [1, 2, 3])
    G[:3, :3] *= 1.0
    moved = [G @ T for T in Ts]
    assert metrics.pose_metrics(moved, Ts)["rra@5"] == 1.0
    bad = list(Ts)
    bad[3] = Ts[3] @ pose(Rotation.from_euler("x", 10, degrees=True).as_matrix(), [0, 0, 0])
    r_err, _ = metrics.pairwise_pose_errors(bad, Ts)
    np.testing.assert_allclose(sorted(r_err)[-3:], [10, 10, 10], atol=1e-9)
    m = metrics.pose_metrics(bad, Ts)
    assert m["rra@5"] == pytest.approx(3 / 6) and m["rra@15"] == 1.0


def test_auc_matches_hand_computation():
    # one pair with a 4.5 degree rotation error: accurate at thresholds 5..30 of 1..30
    Ts = [np.eye(4), pose(np.eye(3), [1, 0, 0])]
    pred = [np.eye(4), pose(Rotation.from_euler("z", 4.5, degrees=True).as_matrix(), [1, 0, 0])]
    assert metrics.pose_metrics(pred, Ts)["auc@30"] == pytest.approx(26 / 30)


def test_ate_zero_after_sim3_and_known_error():
    Ts = [pose(np.eye(3), RNG.normal(size=3)) for _ in range(6)]
    S = pose(Rotation.random(random_state=1).as_matrix() * 2.5, [3, -1, 0.5])
    assert metrics.ate([S @ T for T in Ts], Ts) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="same number"):
        metrics.ate(Ts[:3], Ts)
    # all predictions at one point (failed registration): RMS spread of the true centres
    centres = np.array([T[:3, 3] for T in Ts])
    spread = np.sqrt(np.mean(np.sum((centres - centres.mean(0)) ** 2, axis=1)))
    assert metrics.ate([np.eye(4)] * 6, Ts) == pytest.approx(spread)


def test_voxel_and_grid_iou():
    a = np.array([[0.01, 0.01, 0.01], [0.03, 0.01, 0.01]])
    b = np.array([[0.011, 0.012, 0.01], [0.05, 0.01, 0.01], [0.051, 0.011, 0.01]])
    assert metrics.voxel_iou(a, b, 0.02) == pytest.approx(1 / 3)
    g1 = np.array([[100, 0], [-1, 100]], np.int8)
    g2 = np.array([[100, 100], [0, 0]], np.int8)
    assert metrics.grid_iou(g1, g2) == pytest.approx(1 / 3)


def test_resample_caps_points_and_rejects_nan():
    big = RNG.normal(size=(20_000, 3))
    assert metrics.resample(big).shape == (metrics.N_EVAL_POINTS, 3)
    with pytest.raises(ValueError, match="non-finite"):
        metrics.resample(np.full((3, 3), np.nan))
