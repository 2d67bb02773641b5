"""The backend in its own process (``ros/backend_process.py``): real child processes.

Same reconstruction as in this process, bit for bit; the backend's exception, a killed
child, a hung child and a restart that fails each cost one call, never the caller; no
shared-memory file is left behind; the child exits with its parent's pipe.
"""

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nova3r_ros.core.types import View, Window
from nova3r_ros.pipeline import PipelineError
from nova3r_ros.ros.backend import PACKAGED_CHECKPOINT, Backend, max_views
from nova3r_ros.ros.backend_process import (
    BackendProcessError,
    ProcessBackend,
    _Mapped,
    _shm_dir,
    _Slab,
    open_process_backend,
    window_from_message,
    window_message,
)
from nova3r_ros.ros.params import PARAMETERS
from nova3r_ros.synth.config import SynthConfig
from nova3r_ros.synth.generate import generate_window

VALUES = {p.name: p.default for p in PARAMETERS}
TINY = dict(VALUES, device="cpu", n_points=256, ode_steps=2)


@pytest.fixture(scope="module")
def posed():
    window, _ = generate_window(1500003, SynthConfig(n_views=2, width=160, height=120,
                                                      known_poses=True))  # fmt: skip
    return window


@pytest.fixture(scope="module")
def unposed():
    window, _ = generate_window(1500003, SynthConfig(n_views=2, width=160, height=120))
    return window


@pytest.fixture
def depth_child():
    backend = ProcessBackend("depth", dict(VALUES, backend="depth"), "map")
    backend.load()
    yield backend
    backend.release()


def _same(a, b):
    assert np.array_equal(a.points, b.points) and np.array_equal(a.colors, b.colors)
    assert np.array_equal(a.observed, b.observed)
    assert np.array_equal(a.confidence, b.confidence)
    assert all(np.array_equal(x, y) for x, y in zip(a.T_ref_cam, b.T_ref_cam, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(a.K, b.K, strict=True))
    assert (a.scale_mode, a.frame, a.stats) == (b.scale_mode, b.frame, b.stats)


def _mine():
    return sorted(p.name for p in Path(_shm_dir()).glob(f"nova3r-{os.getpid()}-*"))


def test_depth_backend_in_a_child_matches_this_process(depth_child, posed):
    here = Backend("depth", dict(VALUES, backend="depth"), "map")
    for _ in range(2):
        rec = depth_child.run(posed)
        _same(rec, here.run(posed))
        assert rec.timings["ipc"] >= 0.0 and "backend" not in rec.timings
    assert depth_child.pid is not None and depth_child.restarts == 0
    assert max_views(depth_child) is None


def test_model_in_a_child_matches_this_process_and_reports_its_view_limit(posed):
    child = ProcessBackend("model", dict(TINY, backend="model"), "map")
    try:
        child.load()
        here = Backend("model", dict(TINY, backend="model"), "map")
        here.load()
        _same(child.run(posed), here.run(posed))
        assert child.device == "cpu" and max_views(child) == max_views(here) == 16
    finally:
        child.release()


def test_the_backends_exception_costs_one_call_and_the_child_goes_on(depth_child, posed, unposed):
    pid = depth_child.pid
    with pytest.raises(PipelineError, match="fuses several views only with known poses"):
        depth_child.run(unposed)
    assert depth_child.pid == pid  # the same child answers the next window
    assert len(depth_child.run(posed)) > 0 and depth_child.restarts == 0


def test_a_killed_child_costs_one_window_and_the_next_one_starts_another(depth_child, posed):
    pid = depth_child.pid
    os.kill(pid, signal.SIGSTOP)  # alive while the window goes out, killed while it waits
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(BackendProcessError, match="exited with code -9"):
        depth_child.run(posed)
    assert depth_child.pid is None
    assert len(depth_child.run(posed)) > 0
    assert depth_child.restarts == 1 and depth_child.pid not in (None, pid)


def test_a_child_found_dead_before_a_window_is_restarted_for_it(depth_child, posed):
    pid = depth_child.pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while depth_child.pid is not None and time.monotonic() < deadline:  # reaped by poll()
        time.sleep(0.01)
    assert depth_child.pid is None
    assert len(depth_child.run(posed)) > 0  # no window lost
    assert depth_child.restarts == 1 and depth_child.pid not in (None, pid)


def test_a_hung_child_is_killed_after_the_timeout(posed):
    child = ProcessBackend("depth", dict(VALUES, backend="depth", backend_timeout=1.0), "map")
    child.load()
    try:
        pid = child.pid
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(BackendProcessError, match="gave no answer within 1 s"):
            child.run(posed)
        assert 0.9 < time.monotonic() - t0 < 5.0
        with pytest.raises(ProcessLookupError):  # killed and reaped
            os.kill(pid, 0)
        assert len(child.run(posed)) > 0 and child.restarts == 1
    finally:
        child.release()


def test_a_restart_that_fails_is_not_retried_for_a_while(tmp_path, posed):
    ck = tmp_path / "ck"
    shutil.copytree(PACKAGED_CHECKPOINT, ck)
    child = ProcessBackend("model", dict(TINY, backend="model", checkpoint=str(ck)), "map")
    child.load()
    try:
        for f in ck.glob("weights-*.safetensors"):
            f.write_bytes(b"not a safetensors file")
        os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(BackendProcessError, match="exited"):
            child.run(posed)
        with pytest.raises(PipelineError, match=r"cannot load the model: .* is corrupted"):
            child.run(posed)  # the restart fails
        t0 = time.monotonic()
        with pytest.raises(BackendProcessError, match="backend process down"):
            child.run(posed)  # no second attempt within the back-off
        assert time.monotonic() - t0 < 0.5 and child.restarts == 1
    finally:
        child.release()


def test_release_stops_the_child_and_leaves_no_shared_memory(posed):
    child = ProcessBackend("depth", dict(VALUES, backend="depth"), "map")
    child.load()
    proc = child._proc
    child.run(posed)
    assert _mine() == []  # each side removed the other's file once it had mapped it
    child.release()
    assert proc.poll() is not None and child.pid is None and _mine() == []
    child.load()  # a released backend loads again (activate after deactivate)
    assert len(child.run(posed)) > 0
    proc = child._proc
    proc.stdin.close()  # the node died: the child sees its input end and exits
    assert proc.wait(10.0) == 0
    child.release()


def test_the_layout_from_the_other_side_is_checked():
    slab, mapped = _Slab("test"), _Mapped()
    try:
        layout = slab.put({"a": np.arange(6, dtype=np.float32).reshape(2, 3)})
        assert np.array_equal(mapped.arrays(layout)["a"], np.arange(6).reshape(2, 3))
        for bad, why in (
            ({"a": [0, [2, 3], "object"]}, "bad array"),
            ({"a": [0, [2, -3], "float32"]}, "bad array"),
            ({"a": [layout["size"] - 8, [4], "float32"]}, "runs past"),
        ):
            with pytest.raises(BackendProcessError, match=why):
                mapped.arrays(dict(layout, arrays=bad))
        with pytest.raises(BackendProcessError, match="unexpected shared-memory file"):
            mapped.arrays(dict(layout, path="/etc/passwd"))
    finally:
        slab.close()
        mapped.close()


def test_open_process_backend_follows_the_parameter():
    assert type(open_process_backend(dict(VALUES, backend="depth"), "map")) is Backend
    off = open_process_backend(dict(TINY, backend="model", backend_process=False), "map")
    assert type(off) is Backend and off.name == "model"
    off.release()
    on = open_process_backend(dict(TINY, backend="model"), "map")
    try:
        assert type(on) is ProcessBackend and on.pid is not None and on.fallback == ""
    finally:
        on.release()
    with pytest.raises(PipelineError, match="not a checkpoint directory"):
        open_process_backend(dict(TINY, backend="model", checkpoint="/nonexistent"), "map")


def test_the_childs_input_arrays_are_read_only_views_of_the_current_window(posed):
    slab, mapped = _Slab("test"), _Mapped()
    try:
        msg = window_message(posed, slab)
        first = window_from_message(msg, mapped)
        assert not first.views[0].image.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            first.views[0].depth[0, 0] = 1.0
        assert np.array_equal(first.views[1].depth, posed.views[1].depth)
        shifted = Window([View(np.roll(v.image, 5, axis=1), v.depth + 0.5, v.K, v.T_world_cam,
                               v.stamp, v.frame_id, v.camera) for v in posed.views])  # fmt: skip
        second = window_from_message(window_message(shifted, slab), mapped)
        for got, want in zip(second.views, shifted.views, strict=True):
            assert np.array_equal(got.image, want.image)
            assert np.array_equal(got.depth, want.depth)
            assert np.array_equal(got.K, want.K)
            assert np.array_equal(got.T_world_cam, want.T_world_cam)
            assert (got.stamp, got.frame_id) == (want.stamp, want.frame_id)
            assert got.camera == want.camera
        del first, second
    finally:
        slab.close()
        mapped.close()


def test_the_child_runs_at_the_requested_lower_priority():
    for nice in (0, 5):
        child = ProcessBackend("depth", dict(VALUES, backend="depth", backend_nice=nice), "map")
        child.load()
        try:
            own = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(own + nice, 19)
        finally:
            child.release()


def test_child_profiles_windows_when_asked(posed, tmp_path, monkeypatch):
    """NOVA3R_PROFILE_DIR in the node's environment: the child writes windows 5-14's tables."""
    monkeypatch.setenv("NOVA3R_PROFILE_DIR", str(tmp_path))
    child = ProcessBackend("depth", dict(VALUES, backend="depth"), "map")
    child.load()
    try:
        for i in range(15):
            assert not (tmp_path / "backend_process_cpu.txt").exists(), i
            child.run(posed)
    finally:
        child.release()
    head = (tmp_path / "backend_process_cpu.txt").read_text().splitlines()[0]
    assert head.startswith("# backend_process: windows 5-14, wall ms ")


def test_cpu_list():
    from nova3r_ros.ros.cpu_affinity import cpu_list

    assert cpu_list("8-10") == {8, 9, 10} and cpu_list("0,2,4-5") == {0, 2, 4, 5}
    assert cpu_list("") == set()
    for bad in ("3-1", "x", "-2"):
        with pytest.raises(ValueError):
            cpu_list(bad)


def test_child_runs_on_the_cpus_asked_for(posed, monkeypatch):
    """NOVA3R_BACKEND_CPUS pins the backend process (every thread); a bad list is ignored."""
    first = min(os.sched_getaffinity(0))
    for text, want in ((str(first), str(first)), ("5-1", None)):
        monkeypatch.setenv("NOVA3R_BACKEND_CPUS", text)
        child = ProcessBackend("depth", dict(VALUES, backend="depth"), "map")
        child.load()
        try:
            child.run(posed)  # still works
            allowed = set()
            for task in Path(f"/proc/{child.pid}/task").iterdir():
                try:
                    status = (task / "status").read_text()
                except FileNotFoundError:  # a thread that ended meanwhile
                    continue
                allowed.add(status.split("Cpus_allowed_list:")[1].split()[0])
        finally:
            child.release()
        mine = Path("/proc/self/status").read_text().split("Cpus_allowed_list:")[1].split()[0]
        assert allowed == {want or mine}, (text, allowed)
