"""scripts/recorded_pose_agreement.py refuses bad folders with one line and exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "recorded_pose_agreement.py"


def refusal(folder: Path) -> str:
    """Run the script on ``folder``; check it exits 2 with one ``error:`` line; return it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(SCRIPT), "--data", str(folder)],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    return out.stderr


def test_a_folder_without_frames_exits_2_with_one_line(tmp_path):
    (tmp_path / "frame-000000.depth.png").write_bytes(b"not read")
    assert "fewer than 11 depth frames" in refusal(tmp_path)


def test_an_unreadable_depth_image_exits_2_with_one_line(tmp_path):
    for i in range(12):
        (tmp_path / f"frame-{i:06d}.depth.png").write_bytes(b"not a png")
    assert "not a 16-bit depth image" in refusal(tmp_path)
