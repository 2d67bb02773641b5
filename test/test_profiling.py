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
