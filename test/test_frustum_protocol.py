"""The frustum protocol on a small sequence in the 7-Scenes layout with a known surface.

The sequence: three 64x48 frames of a fronto-parallel wall at z = 2 m (camera looking
along +z, translated 0 / 5 / 10 cm along x), written as PNG colour, 16-bit millimetre
depth and pose files. The evaluated window is frame 0 alone. The prediction is made by
hand so that every number can be counted:

- A: every pixel of frame 0 back-projected onto the wall (3072 points): in the region,
  judged, on the reference;
- B: 50 points at z = 1 m inside the image: in the region, judged (seen free space),
  1 m from the wall;
- C: 50 points at z = 2.12 m inside the image: in the region (z <= 2 + 0.15), behind
  the wall in every frame, so no frame measured them: unjudged;
- D: 25 points far to the side: outside the region.
"""

import cv2
import numpy as np
import pytest

from nova3r_ros.core.types import Reconstruction
from nova3r_ros.eval import frustum
from nova3r_ros.eval.run import EvalConfig, evaluate

H, W, F = 48, 64, 100.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
WALL = 2.0


def pose(tx: float) -> np.ndarray:
    T = np.eye(4)
    T[0, 3] = tx
    return T


def write_sequence(root, shifts=(0.0, 0.05, 0.10)):
    root.mkdir(exist_ok=True)
    np.savetxt(root / "camera-intrinsics.txt", K)
    for i, tx in enumerate(shifts):
        stem = root / f"frame-{2 * i:06d}"
        cv2.imwrite(f"{stem}.color.png", np.full((H, W, 3), 128, np.uint8))
        cv2.imwrite(f"{stem}.depth.png", np.full((H, W), int(WALL * 1000), np.uint16))
        np.savetxt(f"{stem}.pose.txt", pose(tx))
    return root


def wall_pixels() -> np.ndarray:
    v, u = np.mgrid[0:H, 0:W]
    x = (u - K[0, 2]) / F * WALL
    y = (v - K[1, 2]) / F * WALL
    return np.stack([x, y, np.full_like(x, WALL)], -1).reshape(-1, 3)


def hand_prediction() -> np.ndarray:
    rng = np.random.default_rng(0)
    b = np.c_[rng.uniform(-0.2, 0.2, (50, 2)), np.full(50, 1.0)]
    c = np.c_[rng.uniform(-0.4, 0.4, (50, 2)), np.full(50, 2.12)]
    d = np.c_[np.full(25, 30.0), rng.uniform(-0.4, 0.4, 25), np.full(25, 2.0)]
    return np.concatenate([wall_pixels(), b, c, d])


@pytest.fixture
def sequence(tmp_path, monkeypatch):
    monkeypatch.setenv("NOVA3R_CACHE", str(tmp_path / "cache"))
    return write_sequence(tmp_path / "seq")


def test_hand_counted_window(sequence):
    pred = hand_prediction()

    def model_fn(window, method):
        n = len(pred)
        return Reconstruction(pred, np.zeros((n, 3)), np.ones(n, bool), np.ones(n),
                              [v.T_world_cam for v in window.views],
                              [v.K for v in window.views], "metric", "world")  # fmt: skip

    cfg = EvalConfig(data=f"7scenes:{sequence}", n_views=1, windows=1, stride=1,
                     methods=("oracle", "model"), model_fn=model_fn)  # fmt: skip
    m = evaluate(cfg, log=lambda _: None)
    model, oracle = m["model"], m["oracle"]
    n_in = 3072 + 50 + 50
    assert model["outside"] == pytest.approx(25 / (n_in + 25))
    assert model["unjudged"] == pytest.approx(50 / n_in)
    for cm in (2, 5, 10):
        assert model[f"precision@{cm}cm"] == pytest.approx(3072 / (3072 + 50)), cm
        assert model[f"precision_all@{cm}cm"] == pytest.approx(3072 / n_in), cm
        assert model[f"recall@{cm}cm"] == pytest.approx(1.0), cm
        assert model[f"completed_share@{cm}cm"] == pytest.approx(100 / n_in), cm
        assert model[f"completed_precision@{cm}cm"] == 0.0, cm
        assert model[f"hidden_fraction@{cm}cm"] == 0.0, cm
        p, r = 3072 / 3122, 1.0
        assert model[f"fscore@{cm}cm"] == pytest.approx(2 * p * r / (p + r)), cm
        assert oracle[f"precision@{cm}cm"] == 1.0 and oracle[f"recall@{cm}cm"] == 1.0, cm
    assert oracle["outside"] == 0.0 and oracle["unjudged"] == 0.0
    assert "fscore@1cm" not in model  # real data: 2/5/10 cm only


def test_region_cut_judged_rule_and_reference_cache(sequence):
    depth = np.full((H, W), WALL, np.float32)
    cam = frustum.region_camera(depth, K, pose(0.0))
    assert cam.z_max == pytest.approx(WALL + 0.15)
    pts = np.array([[0, 0, 0.05], [0, 0, 0.2], [0, 0, 2.14], [0, 0, 2.16], [5.0, 0, 1.0]])
    assert frustum.in_region(pts, [cam]).tolist() == [False, True, True, False, False]
    frames = [(depth, cam)]
    on = np.array([[0, 0, 2.0], [0, 0, 2.029], [0, 0, 2.031], [0, 0, 1.0]])
    assert frustum.judged(on, frames).tolist() == [True, True, False, True]
    holes = np.zeros_like(depth)
    assert not frustum.judged(on, [(holes, cam)]).any()  # no valid depth: nothing measured

    from nova3r_ros.eval.reference import sequence_reference
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    logs = []
    ref = sequence_reference(SevenScenesSequence(sequence), log=logs.append)
    assert any("fused 3/3" in line for line in logs)
    assert len(ref) > 1000 and np.abs(ref[:, 2] - WALL).max() < 1e-3
    logs.clear()
    again = sequence_reference(SevenScenesSequence(sequence), log=logs.append)
    assert np.array_equal(ref, again) and not any("fused" in line for line in logs)
    depth_png = sequence / "frame-000000.depth.png"
    cv2.imwrite(str(depth_png), np.full((H, W), 1900, np.uint16))  # changed content: new key
    logs.clear()
    sequence_reference(SevenScenesSequence(sequence), log=logs.append)
    assert any("fused 3/3" in line for line in logs)


def test_calibration_error():
    conf = np.array([0.9] * 10 + [0.1] * 10)
    correct = np.array([True] * 9 + [False] + [False] * 9 + [True])
    assert frustum.calibration_error(conf, correct) == pytest.approx(0.0)
    assert frustum.calibration_error(np.full(10, 0.8), np.zeros(10, bool)) == pytest.approx(0.8)
    assert np.isnan(frustum.calibration_error(np.zeros(0), np.zeros(0, bool)))


def test_bad_stride_is_a_clear_error(sequence):
    with pytest.raises(ValueError, match="need more than the 3 frames"):
        evaluate(EvalConfig(data=f"7scenes:{sequence}", n_views=2, windows=1, stride=5,
                            methods=("oracle",)), log=lambda _: None)  # fmt: skip
