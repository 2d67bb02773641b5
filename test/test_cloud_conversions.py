import array

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from nova3r_ros.ros.cloud_msgs import (
    PointCloudError,
    pack_rgb,
    pointcloud2_to_arrays,
    points_to_pointcloud2,
    unpack_rgb,
)

RNG = np.random.default_rng(3)
PTS = RNG.normal(size=(1000, 3)).astype(np.float32)
COLS = RNG.integers(0, 256, (1000, 3), dtype=np.uint8)


def test_round_trip_through_rclpy_serialization():
    observed = (RNG.random(1000) > 0.5).astype(np.float32)
    conf = RNG.random(1000).astype(np.float32)
    msg = points_to_pointcloud2(
        PTS, COLS, {"observed": observed, "confidence": conf}, Header(frame_id="map")
    )
    assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb", "observed", "confidence"]
    assert msg.point_step == 24 and msg.row_step == 24000 and msg.is_dense
    back = pointcloud2_to_arrays(deserialize_message(serialize_message(msg), PointCloud2))
    np.testing.assert_array_equal(back["points"], PTS)
    np.testing.assert_array_equal(back["colors"], COLS)
    np.testing.assert_array_equal(back["observed"], observed)
    np.testing.assert_array_equal(back["confidence"], conf)


def test_rgb_packing_is_pcl_convention():
    packed = pack_rgb(np.array([[255, 128, 1]], np.uint8))
    assert packed[0] == 0x00FF8001
    np.testing.assert_array_equal(unpack_rgb(packed.view(np.float32)), [[255, 128, 1]])


def test_empty_cloud():
    msg = points_to_pointcloud2(np.zeros((0, 3), np.float32))
    assert msg.width == 0 and len(msg.data) == 0
    assert pointcloud2_to_arrays(msg)["points"].shape == (0, 3)


def foreign_cloud(bigendian):
    """Build an organised 2x3 cloud with padding and a double field, as a driver might send."""
    endian = ">" if bigendian else "<"
    dt = np.dtype(
        {
            "names": ["x", "y", "z", "intensity", "t"],
            "formats": [endian + "f4"] * 4 + [endian + "f8"],
            "offsets": [0, 4, 8, 16, 24],
            "itemsize": 32,
        }
    )
    rec = np.zeros(6, dt)
    rec["x"], rec["y"], rec["z"] = np.arange(6), np.arange(6) * 2, np.arange(6) * 3
    rec["intensity"] = 7
    rec["t"] = np.linspace(0, 1, 6)
    rows = np.zeros((2, 3 * 32 + 8), np.uint8)  # 8 bytes of row padding
    rows[:, :96] = rec.view(np.uint8).reshape(2, 96)
    fields = [
        PointField(name=n, offset=o, datatype=d, count=1)
        for n, o, d in [("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("intensity", 16, 7), ("t", 24, 8)]
    ]
    return PointCloud2(
        height=2,
        width=3,
        fields=fields,
        is_bigendian=bigendian,
        point_step=32,
        row_step=104,
        data=array.array("B", rows.tobytes()),
        is_dense=True,
    )


@pytest.mark.parametrize("bigendian", [False, True])
def test_parse_foreign_layout(bigendian):
    out = pointcloud2_to_arrays(foreign_cloud(bigendian))
    np.testing.assert_array_equal(out["points"][:, 2], np.arange(6) * 3)
    np.testing.assert_array_equal(out["intensity"], 7)
    np.testing.assert_allclose(out["t"], np.linspace(0, 1, 6))
    assert out["t"].dtype == np.float64 and out["t"].dtype.isnative


def test_skip_nans():
    pts = PTS[:4].copy()
    pts[1, 0] = np.nan
    out = pointcloud2_to_arrays(points_to_pointcloud2(pts, COLS[:4]), skip_nans=True)
    assert out["points"].shape == (3, 3)
    np.testing.assert_array_equal(out["colors"], COLS[[0, 2, 3]])


def test_bad_inputs_rejected():
    with pytest.raises(PointCloudError, match="points must be Nx3"):
        points_to_pointcloud2(np.zeros((4, 2)))
    with pytest.raises(PointCloudError, match="colors must be uint8"):
        points_to_pointcloud2(PTS, COLS.astype(np.float32))
    with pytest.raises(PointCloudError, match="field 'confidence' must have shape"):
        points_to_pointcloud2(PTS, extra_fields={"confidence": np.ones(3)})
    msg = points_to_pointcloud2(PTS)
    msg.data = msg.data[:-1]
    with pytest.raises(PointCloudError, match="expected row_step"):
        pointcloud2_to_arrays(msg)
    msg = foreign_cloud(False)
    msg.fields[4].offset = 28
    with pytest.raises(PointCloudError, match="overruns point_step"):
        pointcloud2_to_arrays(msg)
    msg = foreign_cloud(False)
    msg.fields = msg.fields[1:]
    with pytest.raises(PointCloudError, match="needs x, y, z"):
        pointcloud2_to_arrays(msg)
