import numpy as np
import pytest

from nova3r_ros.core.ply import PlyError, read_ply, write_ply


def test_round_trip_with_colors_and_extras(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 3)).astype(np.float32)
    cols = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    vis = rng.random(500) > 0.5
    conf = rng.random(500).astype(np.float32)
    write_ply(tmp_path / "c.ply", pts, cols, {"visible": vis, "confidence": conf})
    back = read_ply(tmp_path / "c.ply")
    np.testing.assert_array_equal(back["points"], pts)
    np.testing.assert_array_equal(back["colors"], cols)
    np.testing.assert_array_equal(back["visible"], vis.astype(np.uint8))
    np.testing.assert_array_equal(back["confidence"], conf)


def test_untrusted_files_rejected(tmp_path):
    (tmp_path / "a.ply").write_bytes(b"not a ply")
    with pytest.raises(PlyError, match="not a PLY"):
        read_ply(tmp_path / "a.ply")
    (tmp_path / "b.ply").write_bytes(b"ply\nformat ascii 1.0\nelement vertex 1\nend_header\n")
    with pytest.raises(PlyError, match="binary_little_endian"):
        read_ply(tmp_path / "b.ply")
    write_ply(tmp_path / "c.ply", np.zeros((10, 3)))
    data = (tmp_path / "c.ply").read_bytes()
    (tmp_path / "c.ply").write_bytes(data[:-5])
    with pytest.raises(PlyError, match="truncated"):
        read_ply(tmp_path / "c.ply")
