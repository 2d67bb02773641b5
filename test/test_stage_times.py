"""StageTimes: the mean stage times in /diagnostics leave the warm-up window out."""

from __future__ import annotations

import pytest

from nova3r_ros.ros.worker import RECENT_WINDOWS, StageTimes


def test_first_window_is_left_out_once_a_second_came():
    t = StageTimes()
    t.add({"encode": 0.400, "decode": 0.010})  # model load + graph capture
    assert t.mean["encode"] == pytest.approx(0.400)  # nothing else to show yet
    for _ in range(9):
        t.add({"encode": 0.002, "decode": 0.010})
    assert t.mean["encode"] == pytest.approx(0.002) and t.last["encode"] == 0.002
    assert t.count == 10


def test_mean_is_over_the_recent_windows_per_stage():
    t = StageTimes()
    t.add({"a": 1.0})
    for i in range(RECENT_WINDOWS + 50):
        t.add({"a": 0.001 * (i >= 50)})  # 50 zeros, then RECENT_WINDOWS x 1 ms
    assert t.mean["a"] == pytest.approx(0.001)
    t.add({"b": 0.5})  # a stage seen later: its own count, not the windows'
    assert t.mean["b"] == pytest.approx(0.5)
