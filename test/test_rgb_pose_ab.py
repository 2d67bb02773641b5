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
                                   ["--define", "x=[1]"], ["--settings", "nope"], ["--settings"],
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


def test_matcher_with_names_a_known_setting_and_rows_per_setting(tmp_path):
    """``--matcher-with`` takes the settings' and ``--define``'s names only; rows per pair.

    An unknown name exits 2 with one line; the rows are ``SETTING+matcher`` for one
    directory and ``SETTING+matcher:LABEL`` for several, for each setting named.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    d = tmp_path / "m"
    d.mkdir()
    (d / "matcher.json").write_text("{}")
    out = subprocess.run([sys.executable, str(SCRIPT), "--seeds", "1-2", "--matcher", str(d),
                          "--matcher-with", "current", "nope"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "--matcher-with must be among" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from rgb_pose_ab import matcher_rows
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert matcher_rows(["a/best"]) == {"current+matcher": ("current", "a/best")}
    rows = matcher_rows(["r1/best", "r2"], ("current", "mp5"))
    assert rows == {
        "current+matcher:r1": ("current", "r1/best"),
        "current+matcher:r2": ("current", "r2"),
        "mp5+matcher:r1": ("mp5", "r1/best"),
        "mp5+matcher:r2": ("mp5", "r2"),
    }


def test_redecode_scores_the_own_matcher_then_the_second_decode(tmp_path):
    """``--redecode`` adds ``current+own`` and ``current+redecode`` rows on the same window.

    ``current+own`` refines with the model's own matcher (the packaged one runs on the
    CPU by default), as ``infer`` does; the second decode's row counts that refinement's
    time as well, so it takes longer.
    """
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    per = tmp_path / "w.jsonl"
    out = subprocess.run([sys.executable, str(SCRIPT), "--seeds", "1500100-1500100", "--views",
                          "2", "--device", "cpu", "--settings", "current", "--redecode",
                          "--per-window", str(per)],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "| 2 | current+own |" in out.stdout and "| 2 | current+redecode |" in out.stdout
    recs = {r["setting"]: r for r in map(json.loads, per.read_text().splitlines())}
    assert set(recs) == {"current", "current+own", "current+redecode"}
    assert recs["current+redecode"]["seconds"] > recs["current+own"]["seconds"]
