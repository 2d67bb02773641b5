import numpy as np
import pytest

from nova3r_ros.core.types import View, Window
from nova3r_ros.pipeline import DepthBackendConfig, PipelineError, reconstruct

K = np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]])
IMG = np.full((24, 32, 3), 200, np.uint8)


def plane_view(depth=1.0, T=None, stamp=0):
    d = np.full((24, 32), depth, np.float32)
    d[0, 0] = 0.0  # one invalid pixel
    return View(IMG, d, K, T, stamp, "cam0_optical_frame", "cam0")


def test_single_view_in_reference_frame():
    rec = reconstruct(Window([plane_view(1.5)]), "depth")
    assert rec.frame == "reference" and rec.scale_mode == "metric"
    assert len(rec) == 24 * 32 - 1
    np.testing.assert_allclose(rec.points[:, 2], 1.5)
    np.testing.assert_array_equal(rec.colors, 200)
    assert rec.observed.all() and np.all(rec.confidence == 1)
    np.testing.assert_array_equal(rec.T_ref_cam[0], np.eye(4))


def test_posed_views_fused_in_world_and_voxel_merged():
    T1 = np.eye(4)
    T1[0, 3] = 0.5
    w = Window([plane_view(1.0, np.eye(4)), plane_view(1.0, T1, 1)])
    raw = reconstruct(w, "depth", DepthBackendConfig(world_frame="map"))
    assert raw.frame == "map" and len(raw) == 2 * (24 * 32 - 1)
    assert raw.points[:, 0].max() > 0.5 + 0.3  # second camera's points shifted by its pose
    merged = reconstruct(w, "depth", DepthBackendConfig(voxel_size=0.05))
    assert len(merged) < len(raw) / 4
    np.testing.assert_allclose(merged.points[:, 2], 1.0, atol=1e-6)


def test_bad_windows_rejected():
    with pytest.raises(PipelineError, match="only with known poses"):
        reconstruct(Window([plane_view(), plane_view()]), "depth")
    with pytest.raises(PipelineError, match="needs depth"):
        reconstruct(Window([View(IMG, K=K)]), "depth")
    with pytest.raises(PipelineError, match="unknown backend"):
        reconstruct(Window([plane_view()]), "magic")
    with pytest.raises(ValueError, match="stride"):
        DepthBackendConfig(stride=0)
