import numpy as np
import pytest

from nova3r_ros.core.camera import CameraModelError, PinholeCamera

K = np.array([[500.0, 0.0, 319.5], [0.0, 480.0, 239.5], [0.0, 0.0, 1.0]])


def test_unproject_inverts_project():
    cam = PinholeCamera(K, 640, 480)
    rng = np.random.default_rng(0)
    pts = np.column_stack(
        [rng.uniform(-1, 1, 100), rng.uniform(-1, 1, 100), rng.uniform(0.2, 5, 100)]
    )
    uv, z = cam.project(pts)
    np.testing.assert_allclose(cam.unproject(uv, z), pts, atol=1e-12)


def test_project_known_pixel_and_behind_camera():
    cam = PinholeCamera(K, 640, 480)
    uv, _ = cam.project(np.array([[0.0, 0.0, 2.0], [1.0, 0.5, 2.0], [0.0, 0.0, -1.0]]))
    np.testing.assert_allclose(uv[0], [319.5, 239.5])
    np.testing.assert_allclose(uv[1], [319.5 + 250.0, 239.5 + 120.0])
    assert np.all(np.isnan(uv[2]))


def test_resize_keeps_projection_consistent():
    cam = PinholeCamera(K, 640, 480)
    small = cam.resized(320, 240)
    pt = np.array([[0.3, -0.2, 1.7]])
    uv, _ = cam.project(pt)
    uv2, _ = small.project(pt)
    # pixel-centre convention: u' = (u + 0.5) / 2 - 0.5
    np.testing.assert_allclose(uv2, (uv + 0.5) / 2 - 0.5, atol=1e-12)
    # the image's outer corners map to the outer corners
    np.testing.assert_allclose(small.K[0, 2], 159.5)


def test_crop_shifts_principal_point():
    cam = PinholeCamera(K, 640, 480)
    crop = cam.cropped(100, 50, 200, 100)
    pt = np.array([[0.1, 0.05, 1.0]])
    np.testing.assert_allclose(crop.project(pt)[0], cam.project(pt)[0] - [100, 50])
    with pytest.raises(CameraModelError, match="exceeds"):
        cam.cropped(600, 0, 100, 10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"K": np.zeros((3, 3))}, "focal lengths must be positive"),
        ({"K": K * np.nan}, "non-finite"),
        ({"width": 0}, "image size must be positive"),
        ({"distortion_model": "thin_prism", "D": np.ones(12)}, "unsupported distortion"),
        ({"distortion_model": "equidistant", "D": np.ones(5)}, "expects 4"),
    ],
)
def test_bad_intrinsics_rejected(kwargs, match):
    args = {"K": K, "width": 640, "height": 480, **kwargs}
    with pytest.raises(CameraModelError, match=match):
        PinholeCamera(**args)


@pytest.mark.parametrize(
    ("model", "D"),
    [
        ("plumb_bob", [-0.25, 0.08, 0.001, -0.0015, -0.01]),
        ("equidistant", [0.1, -0.02, 0.01, -0.003]),
    ],
)
def test_distortion_roundtrip_and_undistorted_image(model, D):
    cam = PinholeCamera(K, 640, 480, model, np.array(D))
    rng = np.random.default_rng(1)
    xy = rng.uniform(-0.5, 0.5, (200, 2))
    np.testing.assert_allclose(cam.undistort_normalized(cam.distort_normalized(xy)), xy, atol=1e-9)
    # A distorted image of a vertical edge at x/z = 0.2 undistorts to a straight column.
    rays_d = cam.pixel_rays()[..., :2].reshape(-1, 2)
    xy_u = cam.undistort_normalized(rays_d).reshape(480, 640, 2)
    img = np.where(xy_u[..., 0] > 0.2, 255, 0).astype(np.uint8)
    out = cam.undistorter().image(img)
    u_edge = 0.2 * cam.fx + cam.cx
    cols = np.arange(640)
    rows = slice(100, 380)
    assert np.all(out[rows][:, cols < u_edge - 1.5] == 0)
    assert np.all(out[rows][:, cols > u_edge + 1.5] == 255)
    depth = np.full((480, 640), 2.0, np.float32)
    d_out = cam.undistorter().depth(depth)
    assert set(np.unique(d_out)) <= {0.0, 2.0}  # nearest lookup never mixes depths


def test_zero_distortion_is_identity():
    cam = PinholeCamera(K, 640, 480, "plumb_bob", np.zeros(5))
    img = np.arange(480 * 640, dtype=np.uint16).reshape(480, 640)
    assert cam.undistorter().image(img) is img
    assert not cam.is_distorted


def test_rational_polynomial_matches_opencv_and_inverts():
    import cv2

    D = np.array([0.5, -0.1, 0.001, -0.002, 0.01, 0.8, -0.05, 0.02])  # Azure Kinect-like
    cam = PinholeCamera(K, 640, 480, "rational_polynomial", D)
    xy = np.random.default_rng(0).uniform(-0.5, 0.5, (50, 2))
    ref, _ = cv2.projectPoints(np.c_[xy, np.ones(50)], np.zeros(3), np.zeros(3), np.eye(3), D)
    np.testing.assert_allclose(cam.distort_normalized(xy), ref[:, 0], atol=1e-12)
    np.testing.assert_allclose(cam.undistort_normalized(cam.distort_normalized(xy)), xy, atol=1e-9)
