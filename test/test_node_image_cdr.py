"""Images read from their serialized bytes match rclpy's deserialization (real CDR)."""

import numpy as np
import pytest
from rclpy.serialization import serialize_message

from nova3r_ros.ros.conversions import header, image_to_depth, image_to_rgb, numpy_to_image
from nova3r_ros.ros.image_cdr import image_from_cdr
from nova3r_ros.ros.image_msgs import ConversionError, ImageSizeError


@pytest.mark.parametrize("frame_id", ["", "c", "cam0_optical_frame", "camera_color_optical_frame"])
@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("rgb8", np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)),
        ("bgr8", np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)),
        ("mono8", np.arange(6 * 5, dtype=np.uint8).reshape(6, 5)),
        ("16UC1", np.arange(4 * 9, dtype=np.uint16).reshape(4, 9) * 100),
        ("32FC1", np.linspace(0.1, 5, 30, dtype=np.float32).reshape(5, 6)),
    ],
)
def test_fields_and_pixels_match_the_deserialized_message(frame_id, encoding, pixels):
    msg = numpy_to_image(pixels, encoding, header(frame_id, 1_700_000_000_123_456_789))
    raw = image_from_cdr(serialize_message(msg))
    assert (raw.header.stamp.sec, raw.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert raw.header.frame_id == frame_id and raw.encoding == encoding
    assert (raw.height, raw.width, raw.step, raw.is_bigendian) == (
        msg.height, msg.width, msg.step, msg.is_bigendian)  # fmt: skip
    assert bytes(raw.data) == bytes(msg.data)
    if encoding in ("16UC1", "32FC1"):
        np.testing.assert_array_equal(image_to_depth(raw).depth, image_to_depth(msg).depth)
    else:
        np.testing.assert_array_equal(image_to_rgb(raw), image_to_rgb(msg))


def test_padded_rows_and_big_endian_flag():
    msg = numpy_to_image(np.full((3, 4), 1000, np.uint16), "16UC1", header("f", 5))
    msg.is_bigendian, msg.step = 1, 10  # 2 bytes of padding per row, big-endian pixels
    msg.data = np.frombuffer(np.full((3, 5), 1000, ">u2").tobytes(), np.uint8).tolist()
    raw = image_from_cdr(serialize_message(msg))
    assert raw.is_bigendian == 1 and raw.step == 10
    np.testing.assert_allclose(image_to_depth(raw).depth, 1.0)


def test_truncated_bytes_are_bad_input_not_a_crash():
    data = serialize_message(numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8"))
    for cut in (3, 10, 20, len(data) - 5):
        with pytest.raises(ConversionError):
            out = image_from_cdr(data[:cut])
            image_to_rgb(out)
    with pytest.raises(ImageSizeError):
        image_from_cdr(data[:-5])
