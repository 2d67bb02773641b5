"""scripts/rgb_pose_ab.py refuses bad seed ranges with one line and exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rgb_pose_ab.py"


BAD = ["5", "a-b", "10-3", "4-2-1", "1000050-1000060", "999990-1000000"]


@pytest.mark.parametrize("seeds", BAD)
def test_bad_seed_ranges_exit_2_with_one_line(seeds):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(SCRIPT), "--seeds", seeds], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1


def test_a_bad_job_count_exits_2_with_one_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(SCRIPT), "--seeds", "1-2", "--jobs", "0"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == "error: --jobs must be 1-256, got 0"


@pytest.mark.parametrize("extra", [["--define", "x={\"no_such_field\": 1}"],
                                   ["--define", "x=[1]"], ["--settings", "nope"],
                                   ["--views", "3"], ["--views", "1", "4"],
                                   ["--checkpoint", "/nonexistent/model"]])  # fmt: skip
def test_bad_settings_exit_2_with_one_line(extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(SCRIPT), "--seeds", "1-2", *extra],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1


def test_matchers_need_their_files_and_distinct_names(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dirs = []
    for parent in ("x", "y"):
        d = tmp_path / parent / "run" / "best"
        d.mkdir(parents=True)
        (d / "matcher.json").write_text("{}")
        dirs.append(str(d))
    for extra, message in (
        ([str(tmp_path / "none")], "has no matcher.json"),
        (dirs, "error: --matcher directories need distinct names"),
    ):
        out = subprocess.run([sys.executable, str(SCRIPT), "--seeds", "1-2", "--matcher", *extra],
                             capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
        assert out.returncode == 2, out.stderr
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
