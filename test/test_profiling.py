"""WindowProfiler: profiles only its windows and writes readable tables."""

from __future__ import annotations

import pytest
import torch

from nova3r_ros.model.profiling import WindowProfiler


def test_writes_tables_after_the_last_profiled_window(tmp_path):
    prof = WindowProfiler(tmp_path, "bare", first=2, count=3)
    x = torch.randn(64, 64)
    for i in range(7):
        with prof.window():
            (x @ x).sum()
        done = (tmp_path / "bare_cpu.txt").exists()
        assert done == (i >= 4), i  # written when window 4 (the 3rd profiled) ends
    text = (tmp_path / "bare_cpu.txt").read_text()
    assert text.startswith("# bare: windows 2-4, wall ms ")
    assert len(text.splitlines()[0].split("wall ms ")[1].split()) == 3
    assert "aten::mm" in text and "context switches" in text
    assert prof.written[0] == tmp_path / "bare_cpu.txt"


def test_bad_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match="profile windows"):
        WindowProfiler(tmp_path, "x", first=0, count=0)


def test_python_profiler_and_the_environment(tmp_path, monkeypatch):
    from nova3r_ros.model.profiling import PyWindowProfiler, profilers_from_env

    prof = PyWindowProfiler(tmp_path, "child", first=1, count=2)
    for _ in range(4):
        with prof.window():
            sorted(range(1000), key=lambda v: -v)
    text = (tmp_path / "child_py.txt").read_text()
    assert "function calls" in text and "<lambda>" in text
    monkeypatch.delenv("NOVA3R_PROFILE_DIR", raising=False)
    monkeypatch.delenv("NOVA3R_PYPROFILE_DIR", raising=False)
    assert profilers_from_env("x") == []
    monkeypatch.setenv("NOVA3R_PYPROFILE_DIR", str(tmp_path))
    assert [type(p).__name__ for p in profilers_from_env("x")] == ["PyWindowProfiler"]
