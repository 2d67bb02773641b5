"""The fused reference's tails behind silhouettes, and the measured reference without them.

Frames of 160x120 (f = 200 px) of a card 60 x 40 cm with no thickness at z = 1 m in front
of a wall at z = 2 m, the camera moved sideways between frames (written in the 7-Scenes
layout for the cached reference). With two viewpoints TSDF fusion leaves zero crossings
behind the card (one frame's negative band behind the card meets what the other saw as
free space): surfaces no frame measured, where nothing is. The measured reference keeps
the card and the wall and drops them.
"""

import cv2
import numpy as np
import pytest

from nova3r_ros.eval.reference import measured_mask, sequence_reference, tsdf_points

H, W, F = 120, 160, 200.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
BOX = (slice(40, 80), slice(50, 110))


def card_view(tx: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(depth, K, T_world_cam) of the camera moved ``tx`` metres along x."""
    v, u = np.mgrid[0:H, 0:W]
    x = tx + (u - K[0, 2]) / F
    y = (v - K[1, 2]) / F
    on_card = (np.abs(x) <= 0.3) & (np.abs(y) <= 0.2)
    T = np.eye(4)
    T[0, 3] = tx
    return np.where(on_card, 1.0, 2.0).astype(np.float32), K, T


def tails(points: np.ndarray) -> np.ndarray:
    """(N,) bool: behind the card and in front of the wall (nothing is there)."""
    return (points[:, 2] > 1.02) & (points[:, 2] < 1.9)


def test_fusion_leaves_tails_that_no_frame_measured():
    assert not tails(tsdf_points([card_view(0.0)])).any()  # one viewpoint: none
    views = [card_view(0.0), card_view(0.1)]
    ref = tsdf_points(views)
    behind = tails(ref)
    assert behind.sum() > 50  # two viewpoints: the artifact
    keep = measured_mask(ref, views)
    assert not keep[behind].any()
    on_card = np.abs(ref[:, 2] - 1.0) < 0.01
    on_wall = np.abs(ref[:, 2] - 2.0) < 0.01
    assert keep[on_card].all() and keep[on_wall].all()
    assert not measured_mask(ref, [(np.zeros((H, W), np.float32), K, np.eye(4))]).any()


def write_card_sequence(root):
    """Write the two card frames in the 7-Scenes layout (poses 10 cm apart along x)."""
    root.mkdir()
    np.savetxt(root / "camera-intrinsics.txt", K)
    for i, tx in enumerate((0.0, 0.1)):
        depth, _, T = card_view(tx)
        stem = root / f"frame-{2 * i:06d}"
        cv2.imwrite(f"{stem}.color.png", np.full((H, W, 3), 128, np.uint8))
        cv2.imwrite(f"{stem}.depth.png", (depth * 1000).astype(np.uint16))
        np.savetxt(f"{stem}.pose.txt", T)
    return root


def test_measured_sequence_reference_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NOVA3R_CACHE", str(tmp_path / "cache"))
    root = write_card_sequence(tmp_path / "seq")
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    seq = SevenScenesSequence(root)
    full = sequence_reference(seq, log=lambda m: None)
    logs = []
    measured = sequence_reference(seq, log=logs.append, measured=True)
    assert tails(full).sum() > 50 and not tails(measured).any()
    assert 0.5 * len(full) < len(measured) < len(full)
    assert any("measured by some frame" in line for line in logs)
    logs.clear()
    again = sequence_reference(seq, log=logs.append, measured=True)
    assert np.array_equal(again, measured) and not logs


def test_a_bad_reference_name_or_data_is_refused(tmp_path, capsys):
    from nova3r_ros.cli import main
    from nova3r_ros.eval.run import EvalConfig

    with pytest.raises(ValueError, match="reference must be 'tsdf' or 'measured'"):
        EvalConfig(reference="mesh")
    with pytest.raises(ValueError, match="needs 7scenes: data"):
        EvalConfig(data="synthetic:1500000-1500001", reference="measured")
    capsys.readouterr()
    assert main(["make-bag", str(tmp_path / "b"), "--reference", "measured"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--reference measured needs --from 7scenes:DIR" in err
    assert not (tmp_path / "b").exists()


def test_make_bag_writes_the_measured_reference_as_its_sidecar(tmp_path, monkeypatch):
    from nova3r_ros.bags.sidecar import read_sidecar
    from nova3r_ros.cli import main

    monkeypatch.setenv("NOVA3R_CACHE", str(tmp_path / "cache"))
    root = write_card_sequence(tmp_path / "seq")
    args = ["make-bag", "--from", f"7scenes:{root}", "--tf", "none"]
    assert main([*args[:1], str(tmp_path / "fused"), *args[1:]]) == 0
    assert main([*args[:1], str(tmp_path / "meas"), *args[1:], "--reference", "measured"]) == 0
    fused, meas = read_sidecar(tmp_path / "fused"), read_sidecar(tmp_path / "meas")
    assert tails(fused.points).sum() > 50 and not tails(meas.points).any()
    assert len(meas.points) < len(fused.points) and "measured reference" in meas.source
    bad = [*args[:1], str(tmp_path / "bad"), *args[1:], "--reference", "mesh"]
    with pytest.raises(SystemExit) as exc:
        main(bad)
    assert exc.value.code == 2
