import shutil
from pathlib import Path

import numpy as np
import pytest

from nova3r_ros.synth.sevenscenes import SequenceError, SevenScenesSequence

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "7scenes-redkitchen-dev"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not present")


@needs_data
def test_reads_the_shared_sequence():
    seq = SevenScenesSequence(DATA)
    assert len(seq) == 100
    np.testing.assert_allclose(seq.K, [[585, 0, 320], [0, 585, 240], [0, 0, 1]])
    window, gt = seq.window([0, 10, 20], known_poses=False)
    assert len(window) == 3 and not window.has_poses and window.has_depth
    v = window.views[0]
    assert v.image.shape == (480, 640, 3) and v.depth.dtype == np.float32
    assert 0.3 < np.median(v.depth[v.depth > 0]) < 4.0  # metres, a kitchen
    assert len(gt.T_world_cam) == 3
    posed, _ = seq.window([0], known_poses=True)
    np.testing.assert_allclose(posed.views[0].T_world_cam, gt.T_world_cam[0])


def copy_frames(tmp_path, n=2):
    for f in sorted(DATA.glob("frame-00000[02].*")) + [DATA / "camera-intrinsics.txt"]:
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


@needs_data
def test_malformed_pose_rejected(tmp_path):
    copy_frames(tmp_path)
    (tmp_path / "frame-000002.pose.txt").write_text("1 0 0\n0 1 0\n")
    seq = SevenScenesSequence(tmp_path)
    with pytest.raises(SequenceError, match=r"frame-000002.pose.txt: expected a 4x4 matrix"):
        seq.view(1, known_pose=True)


@needs_data
def test_corrupt_image_and_wrong_depth_rejected(tmp_path):
    import cv2

    copy_frames(tmp_path)
    (tmp_path / "frame-000000.color.jpg").write_bytes(b"\xff\xd8garbage")
    cv2.imwrite(str(tmp_path / "frame-000002.depth.png"), np.zeros((10, 10), np.uint16))
    seq = SevenScenesSequence(tmp_path)
    with pytest.raises(SequenceError, match="not a decodable image"):
        seq.view(0)
    with pytest.raises(SequenceError, match="does not match colour"):
        seq.view(1)


def test_empty_folder_rejected(tmp_path):
    with pytest.raises(SequenceError, match=r"no frame-XXXXXX\.pose\.txt"):
        SevenScenesSequence(tmp_path)
