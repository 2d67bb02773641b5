import numpy as np
import pytest

from nova3r_ros.core.types import GroundTruth, Reconstruction, View, Window

IMG = np.zeros((4, 6, 3), np.uint8)
K = np.array([[5.0, 0, 3], [0, 5.0, 2], [0, 0, 1]])


def test_view_and_window_contract():
    v0 = View(
        IMG, depth=np.ones((4, 6), np.float32), K=K, T_world_cam=np.eye(4), stamp=5, camera="a"
    )
    v1 = View(IMG, stamp=9, camera="b")
    w = Window([v0, v1])
    assert len(w) == 2 and w.stamp == 9
    assert not w.has_depth and not w.has_poses and not w.has_intrinsics
    assert Window([v0]).has_depth and Window([v0]).has_poses
    assert (v0.height, v0.width) == (4, 6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image": np.zeros((4, 6), np.uint8)}, "uint8 HxWx3"),
        ({"image": np.zeros((4, 6, 3), np.float32)}, "uint8 HxWx3"),
        ({"image": np.zeros((0, 6, 3), np.uint8)}, "must not be empty"),
        ({"depth": np.ones((3, 6), np.float32)}, "must match"),
        ({"depth": np.ones((4, 6), np.float64)}, "float32 metres"),
        ({"K": np.eye(4)}, "3x3"),
        ({"K": -K}, "focal lengths must be positive"),
        ({"T_world_cam": np.ones((4, 4))}, "last row"),
        ({"T_world_cam": np.full((4, 4), np.nan)}, "non-finite"),
    ],
)
def test_view_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        View(**{"image": IMG, **kwargs})


def test_window_rejects_empty_and_non_views():
    with pytest.raises(ValueError, match="at least one"):
        Window([])
    with pytest.raises(TypeError, match="must be a View"):
        Window([IMG])


def test_ground_truth_and_reconstruction_shapes():
    gt = GroundTruth(np.zeros((5, 3)), np.ones(5), [np.eye(4)], [K])
    assert gt.points.dtype == np.float32 and gt.visible.dtype == bool
    with pytest.raises(ValueError, match="visible"):
        GroundTruth(np.zeros((5, 3)), np.ones(4), [np.eye(4)], [K])
    rec = Reconstruction(
        np.zeros((3, 3)), np.zeros((3, 3)), np.ones(3), np.ones(3), [np.eye(4)], [K], "metric"
    )
    assert len(rec) == 3 and rec.frame == "reference"
    with pytest.raises(ValueError, match="scale_mode"):
        Reconstruction(np.zeros((3, 3)), np.zeros((3, 3)), np.ones(3), np.ones(3), [], [], "m")
    with pytest.raises(ValueError, match="confidence"):
        Reconstruction(
            np.zeros((3, 3)), np.zeros((3, 3)), np.ones(3), np.ones(2), [], [], "metric"
        )
