import array

import cv2
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from nova3r_ros.ros.image_msgs import (
    CameraInfoError,
    ConversionError,
    ImageSizeError,
    UnsupportedEncodingError,
    camera_info_to_camera,
    compressed_to_depth,
    compressed_to_rgb,
    image_to_depth,
    image_to_numpy,
    image_to_rgb,
    numpy_to_image,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def raw_image(pixels, encoding, step=None, bigendian=False):
    """Build an Image by hand (as a foreign publisher would), optionally row-padded."""
    pixels = np.ascontiguousarray(pixels)
    if bigendian:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">"))
    h, w = pixels.shape[:2]
    row = pixels.reshape(h, -1).view(np.uint8)
    step = step or row.shape[1]
    padded = np.full((h, step), 0xAB, np.uint8)
    padded[:, : row.shape[1]] = row
    return Image(
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=step,
        data=array.array("B", padded.tobytes()),
    )


@pytest.mark.parametrize(
    ("encoding", "pixels", "expected_rgb"),
    [
        ("rgb8", RGB, RGB),
        ("bgr8", RGB[..., ::-1], RGB),
        ("rgba8", np.dstack([RGB, np.full((5, 7), 9, np.uint8)]), RGB),
        ("bgra8", np.dstack([RGB[..., ::-1], np.full((5, 7), 9, np.uint8)]), RGB),
        ("mono8", RGB[..., 0], np.repeat(RGB[..., :1], 3, axis=2)),
        ("mono16", RGB[..., 0].astype(np.uint16) << 8, np.repeat(RGB[..., :1], 3, axis=2)),
    ],
)
@pytest.mark.parametrize("pad", [0, 5])
def test_colour_encodings_with_row_padding(encoding, pixels, expected_rgb, pad):
    msg = raw_image(pixels, encoding, step=pixels.nbytes // pixels.shape[0] + pad)
    np.testing.assert_array_equal(image_to_numpy(msg), pixels)
    np.testing.assert_array_equal(image_to_rgb(msg), expected_rgb)


def test_unpadded_rgb_is_zero_copy():
    msg = numpy_to_image(RGB, "rgb8")
    view = image_to_numpy(msg)
    assert np.shares_memory(view, np.frombuffer(msg.data, np.uint8))


def test_depth_16uc1_millimetres_and_bigendian():
    mm = np.array([[0, 1000, 1500], [65535, 250, 1]], np.uint16)
    for big in (False, True):
        msg = raw_image(mm, "16UC1", bigendian=big)
        depth = image_to_depth(msg)
        np.testing.assert_allclose(depth.depth, mm.astype(np.float32) / 1000, rtol=1e-6)
        assert depth.depth.dtype == np.float32 and depth.invalid_count == 0


def test_depth_32fc1_nan_inf_negative_masked_and_counted():
    m = np.array([[1.5, np.nan, np.inf], [-2.0, 0.0, 3.25]], np.float32)
    for big in (False, True):
        depth = image_to_depth(raw_image(m, "32FC1", step=16, bigendian=big))
        np.testing.assert_array_equal(depth.depth, [[1.5, 0, 0], [0, 0, 3.25]])
        assert depth.invalid_count == 3


def test_numpy_to_image_round_trip_through_rclpy_serialization():
    for encoding, pixels in [
        ("rgb8", RGB),
        ("16UC1", (RGB[..., 0].astype(np.uint16) * 7)),
        ("32FC1", RGB[..., 1].astype(np.float32) / 3),
    ]:
        msg = numpy_to_image(pixels, encoding)
        back = deserialize_message(serialize_message(msg), Image)
        np.testing.assert_array_equal(image_to_numpy(back), pixels)


def test_unsupported_encoding_rejected():
    msg = raw_image(RGB, "yuv422")
    with pytest.raises(UnsupportedEncodingError, match="unsupported image encoding 'yuv422'"):
        image_to_numpy(msg)
    with pytest.raises(UnsupportedEncodingError, match="not a depth encoding"):
        image_to_depth(raw_image(RGB, "rgb8"))
    with pytest.raises(UnsupportedEncodingError, match="not a colour encoding"):
        image_to_rgb(raw_image(np.ones((2, 2), np.float32), "32FC1"))


def test_data_length_mismatch_rejected():
    msg = raw_image(RGB, "rgb8")
    msg.data = msg.data[:-3]
    with pytest.raises(ImageSizeError, match=r"expected height\*step = 5\*21 = 105"):
        image_to_numpy(msg)


def test_step_too_small_rejected():
    msg = raw_image(RGB, "rgb8")
    msg.step = 20
    with pytest.raises(ImageSizeError, match="step 20 is smaller"):
        image_to_numpy(msg)


def test_zero_size_image_rejected():
    with pytest.raises(ImageSizeError, match="image is empty"):
        image_to_numpy(Image(height=0, width=7, encoding="rgb8", step=21))
    with pytest.raises(ImageSizeError, match="empty"):
        numpy_to_image(np.zeros((0, 3, 3), np.uint8), "rgb8")


def test_numpy_to_image_wrong_dtype_rejected():
    with pytest.raises(ConversionError, match="needs dtype uint16"):
        numpy_to_image(RGB[..., 0], "16UC1")


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_compressed_colour(ext):
    v, u = np.mgrid[0:48, 0:64]
    rgb = np.dstack([u * 3, v * 4, np.full_like(u, 80)]).astype(np.uint8)
    _, buf = cv2.imencode(ext, rgb[..., ::-1])
    msg = CompressedImage(format=f"rgb8; {ext[1:]} compressed bgr8", data=buf.tobytes())
    out = compressed_to_rgb(msg)
    tol = 0 if ext == ".png" else 12
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).max() <= tol


def test_compressed_garbage_and_wrong_format():
    with pytest.raises(ConversionError, match="could not decode"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"not an image at all"))
    with pytest.raises(UnsupportedEncodingError, match="expected jpeg or png"):
        compressed_to_rgb(CompressedImage(format="theora", data=b"x"))
    with pytest.raises(ImageSizeError, match="no data"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b""))


def test_compressed_depth_16uc1_with_header():
    mm = np.array([[0, 1234], [2000, 65535]], np.uint16)
    _, png = cv2.imencode(".png", mm)
    header = np.array([0], "<i4").tobytes() + np.array([0, 0], "<f4").tobytes()
    msg = CompressedImage(format="16UC1; compressedDepth png", data=header + png.tobytes())
    np.testing.assert_allclose(compressed_to_depth(msg).depth, mm / 1000.0, rtol=1e-6)


def test_compressed_depth_32fc1_inverse_quantised():
    depth = np.array([[0.5, 1.0], [2.0, 0.0]], np.float32)
    qa, qb = 100.0, 0.0
    q = np.where(depth > 0, qa / np.where(depth > 0, depth, 1) + qb, 0).astype(np.uint16)
    _, png = cv2.imencode(".png", q)
    header = np.array([0], "<i4").tobytes() + np.array([qa, qb], "<f4").tobytes()
    msg = CompressedImage(format="32FC1; compressedDepth png", data=header + png.tobytes())
    np.testing.assert_allclose(compressed_to_depth(msg).depth, depth, rtol=1e-6)


def make_info(k, d=(), model="plumb_bob", w=640, h=480):
    return CameraInfo(width=w, height=h, k=list(k), d=list(d), distortion_model=model)


def test_camera_info_to_camera():
    k = [500.0, 0, 320, 0, 505.0, 240, 0, 0, 1]
    cam = camera_info_to_camera(make_info(k, [0.1, 0.01, 0, 0, 0]))
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (
        500,
        505,
        320,
        240,
        640,
        480,
    )
    assert cam.is_distorted and cam.distortion_model == "plumb_bob"


def test_camera_info_non_finite_rejected():
    with pytest.raises(CameraInfoError, match="non-finite"):
        camera_info_to_camera(make_info([np.nan, 0, 320, 0, 500, 240, 0, 0, 1]))


def test_camera_info_non_positive_rejected():
    with pytest.raises(CameraInfoError, match="focal lengths must be positive"):
        camera_info_to_camera(make_info([0.0] * 9))


def test_camera_info_unknown_distortion_rejected():
    k = [500.0, 0, 320, 0, 505.0, 240, 0, 0, 1]
    with pytest.raises(CameraInfoError, match="unsupported distortion model 'thin_prism'"):
        camera_info_to_camera(make_info(k, [0.1] * 12, "thin_prism"))
    cam = camera_info_to_camera(make_info(k, [0.1] * 8, "rational_polynomial"))  # Azure Kinect
    assert cam.distortion_model == "rational_polynomial" and cam.is_distorted
