"""Scoring poses against another reference of a sequence (``nova3r eval --pose-reference``).

The sequence: three 64x48 frames in the 7-Scenes layout (frame-000000/2/4) of a wall 2 m
ahead, the camera translated 0 / 5 / 10 cm along x. The reference files are written in
Brachmann et al.'s format (``NAME qw qx qy qz tx ty tz f``, world to camera).
"""

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nova3r_ros.cli import main
from nova3r_ros.core.types import Reconstruction
from nova3r_ros.eval.pose_reference import load_pose_reference, sequences, window_poses
from nova3r_ros.eval.run import EvalConfig, evaluate

H, W, F = 48, 64, 100.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])


def pose(t, yaw_deg: float = 0.0) -> np.ndarray:
    """Return a camera-to-world pose at ``t`` turned ``yaw_deg`` about the camera's y axis."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix()
    T[:3, 3] = t
    return T


RECORDED = [pose([0.0, 0, 0]), pose([0.05, 0, 0], 2.0), pose([0.10, 0, 0], 4.0)]


def line(name: str, T_world_cam: np.ndarray) -> str:
    """Return one reference line of a camera-to-world pose (world to camera, COLMAP order)."""
    W2C = np.linalg.inv(T_world_cam)
    x, y, z, w = Rotation.from_matrix(W2C[:3, :3]).as_quat()
    t = W2C[:3, 3]
    return f"{name} {w} {x} {y} {z} {t[0]} {t[1]} {t[2]} 525.5\n"


def write_reference(path, poses, seq="seq-01", extra=""):
    """Write ``poses`` (frame number -> camera-to-world) as a reference file; return it."""
    text = "# image qw qx qy qz tx ty tz f\n" + extra
    text += "".join(line(f"{seq}/frame-{n:06d}.color.png", T) for n, T in poses.items())
    path.write_text(text)
    return path


@pytest.fixture
def sequence(tmp_path, monkeypatch):
    """Return the three-frame sequence's folder (NOVA3R_CACHE in tmp_path)."""
    monkeypatch.setenv("NOVA3R_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "seq"
    root.mkdir()
    np.savetxt(root / "camera-intrinsics.txt", K)
    rng = np.random.default_rng(0)
    for i, T in enumerate(RECORDED):
        stem = root / f"frame-{2 * i:06d}"
        cv2.imwrite(f"{stem}.color.png", rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        cv2.imwrite(f"{stem}.depth.png", np.full((H, W), 2000, np.uint16))
        np.savetxt(f"{stem}.pose.txt", T)
    return root


def test_a_reference_file_round_trips_to_camera_to_world_poses(tmp_path):
    poses = {0: RECORDED[0], 2: RECORDED[1], 4: RECORDED[2]}
    path = write_reference(tmp_path / "ref.txt", poses)
    write_reference(
        tmp_path / "two.txt", poses, extra=line("seq-02/frame-000000.png", RECORDED[0])
    )
    loaded = load_pose_reference(path)  # its only sequence
    assert sorted(loaded) == [0, 2, 4]
    for n, T in poses.items():
        assert np.allclose(loaded[n], T, atol=1e-9)
    assert sequences(tmp_path / "two.txt") == ["seq-01", "seq-02"]
    assert sorted(load_pose_reference(tmp_path / "two.txt", "seq-02")) == [0]
    assert np.allclose(window_poses(loaded, [4, 0])[0], RECORDED[2])
    # Windows line ends and a byte-order mark read the same
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"\xef\xbb\xbf" + path.read_text().replace("\n", "\r\n").encode())
    again = load_pose_reference(crlf, "seq-01")
    assert sorted(again) == [0, 2, 4] and np.allclose(again[2], loaded[2])


@pytest.mark.parametrize(
    "text, sequence, message",
    [
        ("seq-01/frame-000000.png 1 0 0 0 0 0\n", None, "expected 'NAME qw"),
        ("seq-01/frame-000000.png 1 0 0 zero 0 0 0 5\n", None, "not a number"),
        ("seq-01/frame-000000.png 1 0 0 0 nan 0 0 5\n", None, "not finite"),
        ("seq-01/frame-000000.png 2 0 0 0 0 0 0 5\n", None, "not a rotation"),
        ("seq-01/image.png 1 0 0 0 0 0 0 5\n", None, "names no frame-<number>"),
        ("seq-01/frame-000000.png 1 0 0 0 0 0 0\nseq-01/frame-0.png 1 0 0 0 0 0 0\n", None,
         "listed twice"),
        ("seq-01/frame-000000.png 1 0 0 0 0 0 0\n", "seq-09", "no line of sequence 'seq-09'"),
        ("a/frame-000000.png 1 0 0 0 0 0 0\nb/frame-000000.png 1 0 0 0 0 0 0\n", None,
         "name one with --pose-reference-sequence"),
    ],
)  # fmt: skip
def test_a_bad_reference_file_is_one_clear_error(tmp_path, text, sequence, message):
    path = tmp_path / "ref.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_pose_reference(path, sequence)


def test_missing_file_and_missing_frame_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_pose_reference(tmp_path / "none.txt")
    poses = load_pose_reference(write_reference(tmp_path / "ref.txt", {0: RECORDED[0]}))
    with pytest.raises(ValueError, match=r"no pose for frame\(s\) \[2\]"):
        window_poses(poses, [0, 2])


def _evaluate(sequence, reference=None):
    """Evaluate the sequence's 3-view window with a model that returns the recorded poses."""

    def model_fn(window, method):
        T = [np.linalg.inv(RECORDED[0]) @ T for T in RECORDED]
        pts = np.array([[0.0, 0.0, 2.0], [0.1, 0.0, 2.0]])
        return Reconstruction(pts, np.zeros((2, 3)), np.ones(2, bool), np.ones(2), T,
                              [v.K for v in window.views], "metric", "reference")  # fmt: skip

    cfg = EvalConfig(data=f"7scenes:{sequence}", n_views=3, windows=1, stride=1, unposed=True,
                     methods=("no_motion", "model"), model_fn=model_fn,
                     pose_reference=reference)  # fmt: skip
    return evaluate(cfg, log=lambda _: None)


def test_pose_metrics_follow_the_reference_and_the_geometry_does_not(sequence, tmp_path):
    recorded = _evaluate(sequence)
    assert recorded["model"]["rta@5"] == 1.0 and recorded["model"]["rra@5"] == 1.0
    assert "pose_reference" not in recorded["model"]
    same = write_reference(tmp_path / "same.txt", {0: RECORDED[0], 2: RECORDED[1], 4: RECORDED[2]})
    again = _evaluate(sequence, str(same))
    assert again["model"]["rta@5"] == 1.0 and again["model"]["pose_reference"] == str(same)
    # another reference: the last camera moved 5 cm up and turned 10 more degrees
    other = write_reference(tmp_path / "other.txt", {0: RECORDED[0], 2: RECORDED[1],
                                                     4: pose([0.10, 0.05, 0], 14.0)})  # fmt: skip
    moved = _evaluate(sequence, str(other))
    assert moved["model"]["rta@5"] < 0.7 and moved["model"]["rra@5"] < 0.7
    assert moved["no_motion"]["rra@5"] < recorded["no_motion"]["rra@5"]
    for key in ("fscore@2cm", "precision@5cm", "outside", "unjudged"):  # the recorded poses
        assert moved["model"][key] == recorded["model"][key], key


def test_the_command_line_refuses_a_bad_reference_with_exit_code_2(sequence, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("seq-01/frame-000000.png 1 0 0\n")
    args = ["eval", "--data", f"7scenes:{sequence}", "--views", "2", "--windows", "1",
            "--stride", "1", "--unposed", "--method", "no_motion"]  # fmt: skip
    assert main([*args, "--pose-reference", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "expected 'NAME qw" in err and len(err.splitlines()) == 1
    short = write_reference(tmp_path / "short.txt", {0: RECORDED[0]})
    assert main([*args, "--pose-reference", str(short)]) == 2
    assert "no pose for frame(s) [2]" in capsys.readouterr().err
    synthetic = ["eval", "--data", "synthetic:1500000-1500000", "--method", "no_motion",
                 "--pose-reference", str(short)]  # fmt: skip
    assert main(synthetic) == 2
    assert "needs 7scenes: data" in capsys.readouterr().err
    assert main([*args, "--pose-reference-sequence", "seq-01"]) == 2
    assert "--pose-reference-sequence needs --pose-reference" in capsys.readouterr().err
    good = write_reference(tmp_path / "good.txt", {0: RECORDED[0], 2: RECORDED[1], 4: RECORDED[2]})
    assert main([*args, "--pose-reference", str(good), "--pose-reference-sequence", "seq-01"]) == 0


def test_the_agreement_script_scores_the_recorded_poses_against_a_reference(sequence, tmp_path):
    """``scripts/pose_reference_agreement.py``: 1.0 against itself; exit code 2 on a bad file."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "pose_reference_agreement.py"
    same = write_reference(tmp_path / "same.txt", {0: RECORDED[0], 2: RECORDED[1], 4: RECORDED[2]})
    run = [sys.executable, str(script), "--data", str(sequence), "--views", "2", "3",
           "--windows", "2", "--stride", "1"]  # fmt: skip
    out = subprocess.run([*run, "--pose-reference", str(same)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = [r for r in out.stdout.splitlines() if r.startswith(("| 2 |", "| 3 |"))]
    assert len(rows) == 2 and all(r.count("1.000") == 6 for r in rows), out.stdout
    other = write_reference(tmp_path / "other.txt", {0: RECORDED[0], 2: RECORDED[1],
                                                     4: pose([0.10, 0.05, 0], 14.0)})  # fmt: skip
    moved = subprocess.run([*run, "--pose-reference", str(other)], capture_output=True, text=True)
    assert moved.returncode == 0 and "| 3 | 1.000" not in moved.stdout
    bad = tmp_path / "bad.txt"
    bad.write_text("seq-01/frame-000000.png 1 0\n")
    out = subprocess.run([*run, "--pose-reference", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "expected 'NAME" in out.stderr
