"""FrameSync (approximate-time grouping, drop-oldest counters), grouping thread, keyframes."""

import threading
import time

import numpy as np
import pytest

from nova3r_ros.core.transforms import se3_from_rt
from nova3r_ros.ros.grouping import GroupingThread
from nova3r_ros.ros.keyframes import Keyframe, KeyframePolicy, KeyframeWindow, thumbnail
from nova3r_ros.ros.sync import CameraFrame, FrameGroup, FrameSync

MS = 1_000_000
IMG = np.zeros((4, 6, 3), np.uint8)
DEPTH = np.ones((4, 6), np.float32)


def frame(cam, stamp_ms, image=IMG):
    return CameraFrame(cam, stamp_ms * MS, f"{cam}_optical_frame", image)


def test_groups_across_two_cameras_within_slop():
    sync = FrameSync(["a", "b"], [False, False], slop_ns=10 * MS, queue_length=10)
    for t in (0, 100, 200):
        sync.push_image(frame("a", t))
    for t in (4, 107, 230):  # b lags a by 4, 7 and 30 ms
        sync.push_image(frame("b", t))
    g = sync.pop_newest_group()
    assert [f.stamp // MS for f in g.frames] == [100, 107]  # 200/230 exceeds the slop
    assert g.stamp == 107 * MS
    assert sync.counters()["superseded"] == 2  # a@0 and b@4: older than the group
    assert sync.pop_newest_group() is None  # a@200 and b@230 never match
    sync.push_image(frame("b", 205))
    g = sync.pop_newest_group()
    assert [f.stamp // MS for f in g.frames] == [200, 205]
    assert sync.counters()["groups"] == 2


def test_group_spread_is_bounded_by_slop():
    sync = FrameSync(["a", "b", "c"], [False] * 3, slop_ns=10 * MS, queue_length=10)
    sync.push_image(frame("a", 100))
    sync.push_image(frame("b", 92))
    sync.push_image(frame("c", 108))  # each within 10 ms of a, but b..c spans 16 ms
    assert sync.pop_newest_group() is None
    sync.push_image(frame("c", 99))
    assert [f.stamp // MS for f in sync.pop_newest_group().frames] == [100, 92, 99]


def test_depth_is_paired_by_nearest_stamp():
    sync = FrameSync(["a"], [True], slop_ns=5 * MS, queue_length=10)
    sync.push_image(frame("a", 100))
    assert sync.pop_newest_group() is None  # no depth yet
    sync.push_depth("a", 90 * MS, DEPTH * 9)  # too far
    assert sync.pop_newest_group() is None
    sync.push_depth("a", 102 * MS, DEPTH * 2)
    sync.push_depth("a", 99 * MS, DEPTH * 3)
    (f,) = sync.pop_newest_group().frames
    assert f.depth[0, 0] == 3.0  # the nearest (1 ms), not the newest


def test_drop_oldest_counts_per_topic():
    sync = FrameSync(["a", "b"], [True, False], slop_ns=MS, queue_length=3)
    for t in range(10):
        sync.push_image(frame("a", t))
        sync.push_depth("a", t * MS, DEPTH)
    sync.push_image(frame("b", 9))
    c = sync.counters()
    assert c["a/image_received"] == 10 and c["a/image_dropped"] == 7
    assert c["a/depth_received"] == 10 and c["a/depth_dropped"] == 7
    assert c["b/image_received"] == 1 and c["b/image_dropped"] == 0
    assert "b/depth_dropped" not in c
    g = sync.pop_newest_group()  # the newest survive the drops
    assert [f.stamp // MS for f in g.frames] == [9, 9]


def kf(stamp_s, T=None, image=IMG):
    f = CameraFrame("a", int(stamp_s * 1e9), "a_optical_frame", image)
    return Keyframe(FrameGroup([f]), [T], [None], [thumbnail(image)])


def test_keyframe_policy_interval_motion_and_image_change():
    win = KeyframeWindow(3, KeyframePolicy(0.5, 0.05, 5.0, 0.02))
    I4 = np.eye(4)
    assert win.offer(kf(0.0, I4))
    assert not win.offer(kf(0.3, I4))  # too soon
    assert not win.offer(kf(1.0, I4))  # no motion, same image
    moved = se3_from_rt(np.eye(3), [0.06, 0, 0])
    assert win.offer(kf(1.1, moved))
    assert not win.offer(kf(2.0, moved.copy()))  # stayed there
    bright = np.full_like(IMG, 40)  # 40/255 = 0.16 change, with poses unchanged
    assert win.offer(kf(3.0, moved.copy(), bright))
    assert win.offer(kf(4.0, None, np.zeros_like(IMG)))  # no TF: image change decides
    assert len(win.keyframes) == 3 and win.keyframes[0].stamp == int(1.1e9)
    assert (win.accepted, win.rejected_interval, win.rejected_static) == (4, 1, 2)
    assert [k.stamp for k in win.snapshot()] == [int(1.1e9), int(3e9), int(4e9)]


def test_admits_rejects_early_groups_before_a_keyframe_is_built():
    win = KeyframeWindow(2, KeyframePolicy(0.5, 0.0, 0.0, 0.0))
    assert win.admits(0) and win.offer(kf(0.0))
    assert not win.admits(int(0.3e9)) and win.rejected_interval == 1
    assert not win.admits(0) and win.rejected_interval == 2  # not newer
    assert win.admits(int(0.6e9)) and win.rejected_interval == 2
    win.clear()
    assert win.admits(0)


def test_grouping_thread_runs_a_step_as_soon_as_a_frame_arrives():
    sync = FrameSync(["a", "b"], [False, False], slop_ns=10 * MS, queue_length=4)
    groups, got = [], threading.Event()

    def step():
        g = sync.pop_newest_group()
        if g is not None:
            groups.append(g)
            got.set()

    errors = []
    t = GroupingThread(sync, step, period=30.0, on_error=errors.append)  # no polling
    t.start()
    sync.push_image(frame("a", 100))
    time.sleep(0.02)
    assert not groups  # b has not come yet
    t0 = time.monotonic()
    sync.push_image(frame("b", 101))
    assert got.wait(2.0) and time.monotonic() - t0 < 0.5  # woken by the push, not the period
    assert [f.stamp // MS for f in groups[0].frames] == [100, 101]
    assert t.stop(2.0) and not t.alive and not errors


def test_grouping_thread_survives_a_failing_step():
    sync = FrameSync(["a"], [False], slop_ns=0, queue_length=2)
    errors, calls = [], []

    def step():
        calls.append(1)
        raise RuntimeError("bad group")

    t = GroupingThread(sync, step, period=0.01, on_error=errors.append)
    t.start()
    deadline = time.monotonic() + 2
    while len(errors) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(errors) >= 3 and t.alive  # the period runs the step with no push too
    assert t.stop(2.0)


@pytest.mark.parametrize("angle_deg, accepted", [(3.0, False), (6.0, True)])
def test_keyframe_rotation_threshold(angle_deg, accepted):
    a = np.radians(angle_deg)
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    win = KeyframeWindow(2, KeyframePolicy(0.0, 1.0, 5.0, 1.0))
    assert win.offer(kf(0.0, np.eye(4)))
    assert win.offer(kf(1.0, se3_from_rt(R, [0, 0, 0]))) is accepted


class FakeClock:
    def __init__(self):
        """Start at 0 ns; tests set ``ns``."""
        self.ns = 0

    def __call__(self):
        return self.ns


def test_silent_camera_is_left_out_after_the_timeout_and_comes_back():
    clock = FakeClock()
    sync = FrameSync(["a", "b"], [False, False], 5 * MS, 10, timeout_ns=300 * MS, clock=clock)
    sync.push_image(frame("a", 0))
    sync.push_image(frame("b", 1))
    assert [f.camera for f in sync.pop_newest_group().frames] == ["a", "b"]
    clock.ns = 200 * MS
    sync.push_image(frame("a", 200))  # b is silent, but not for long enough yet
    assert sync.pop_newest_group() is None and sync.missing() == []
    clock.ns = 400 * MS
    sync.push_image(frame("a", 400))
    assert sync.missing() == ["b"]
    g = sync.pop_newest_group()
    assert [(f.camera, f.stamp // MS) for f in g.frames] == [("a", 400)]
    assert sync.counters()["b/timeouts"] == 1 and sync.counters()["a/timeouts"] == 0
    sync.push_image(frame("b", 500))  # b is back: groups need it again
    sync.push_image(frame("a", 600))
    assert sync.missing() == [] and sync.pop_newest_group() is None
    sync.push_image(frame("b", 601))
    assert [f.stamp // MS for f in sync.pop_newest_group().frames] == [600, 601]


def test_camera_never_heard_from_times_out_from_construction():
    clock = FakeClock()
    sync = FrameSync(["a", "b"], [False, False], MS, 10, timeout_ns=100 * MS, clock=clock)
    sync.push_image(frame("a", 0))
    assert sync.pop_newest_group() is None
    clock.ns = 150 * MS
    assert sync.pop_newest_group() is None  # a timed out too: no camera left, no group
    sync.push_image(frame("a", 150))
    assert [f.camera for f in sync.pop_newest_group().frames] == ["a"]
    no_timeout = FrameSync(["a", "b"], [False, False], MS, 10, clock=clock)
    no_timeout.push_image(frame("a", 0))
    clock.ns = 10**12
    assert no_timeout.pop_newest_group() is None and no_timeout.missing() == []


def test_keyframes_compare_the_cameras_they_share():
    a0, b0 = frame("a", 0), frame("b", 0)
    bright = np.full_like(IMG, 40)
    both = Keyframe(FrameGroup([a0, b0]), [None, None], [None, None], [thumbnail(IMG)] * 2)
    only_b = Keyframe(
        FrameGroup([CameraFrame("b", 10**9, "b_optical_frame", bright)]), [None], [None],
        [thumbnail(bright)],
    )  # fmt: skip
    win = KeyframeWindow(3, KeyframePolicy(0.0, 1.0, 90.0, 0.02))
    assert win.offer(both)
    assert win.offer(only_b)  # b's image changed; a is not compared
    only_a = Keyframe(FrameGroup([frame("a", 2000)]), [None], [None], [thumbnail(IMG)])
    assert win.offer(only_a)  # no camera in common with the last keyframe: accepted
