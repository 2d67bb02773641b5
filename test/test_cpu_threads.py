"""The pose refinement's CPU threads: same results as the serial loop, in order."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from nova3r_ros.model import cpu_threads
from nova3r_ros.model.cpu_threads import thread_map, worker_count


@pytest.fixture
def torch_threads():
    """Restore torch's thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_thread_map_returns_each_result_in_the_items_order(torch_threads):
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    mats = [rng.normal(size=(200, 200)) for _ in range(5)]
    serial = [np.linalg.inv(m) for m in mats]
    names = set()

    def inv(m):
        names.add(threading.current_thread().name)
        return np.linalg.inv(m)

    out = thread_map(inv, mats)
    assert len(out) == 5 and all(np.array_equal(a, b) for a, b in zip(out, serial, strict=True))
    assert any(n.startswith("nova3r-cpu") for n in names)  # it did run on the pool


def test_one_torch_thread_keeps_the_work_serial_on_the_calling_thread(torch_threads):
    torch.set_num_threads(1)
    assert worker_count(4) == 1
    names = thread_map(lambda _: threading.current_thread().name, range(3))
    assert names == [threading.current_thread().name] * 3


def test_worker_count_is_bounded_by_the_items_and_the_cap(torch_threads, monkeypatch):
    torch.set_num_threads(4)
    assert worker_count(1) == 1 and worker_count(3) == 3 and worker_count(9) == 4
    monkeypatch.setattr(cpu_threads, "MAX_THREADS", 2)
    assert worker_count(9) == 2


def test_an_item_s_exception_reaches_the_caller(torch_threads):
    torch.set_num_threads(2)

    def fail_on_two(x):
        if x == 2:
            raise ValueError("item 2")
        return x

    with pytest.raises(ValueError, match="item 2"):
        thread_map(fail_on_two, [1, 2, 3])


def test_a_nested_map_runs_serially_inside_a_pool_thread(torch_threads):
    torch.set_num_threads(2)

    def inner(x):
        return [(x, y, threading.current_thread().name) for y in thread_map(lambda y: y, [0, 1])]

    out = thread_map(inner, [0, 1])
    assert [[(x, y) for x, y, _ in row] for row in out] == [[(0, 0), (0, 1)], [(1, 0), (1, 1)]]
    for row in out:  # each inner map stayed on its outer item's thread
        assert len({name for _, _, name in row}) == 1


def test_the_rgb_pose_refinement_places_a_pair_the_same_on_one_and_on_two_threads(torch_threads):
    """Seeds 1,500,552 and 1,500,751 (stored decodes): the serial run's poses, bit for bit.

    SIFT per view, the alignment starts and the joint step's view pairs run side by side on
    two threads.
    """
    from test_pose_rgb import _decoded_window

    from nova3r_ros.model.pose_rgb import refine_rgb_views

    joint = []
    for seed in (1_500_552, 1_500_751):
        images, _, T, pts, K = _decoded_window(seed)
        torch.set_num_threads(1)
        serial = refine_rgb_views(T, images, K, pts)
        torch.set_num_threads(2)
        threaded = refine_rgb_views(T, images, K, pts)
        assert np.array_equal(serial.T_ref_cam, threaded.T_ref_cam)
        assert np.array_equal(serial.ok, threaded.ok) and serial.ok[1]
        assert np.array_equal(serial.confidence, threaded.confidence)
        joint.append(threaded.joint_kept)
    assert all(joint)  # the joint step ran and was kept in both


def test_numpy_s_blas_runs_on_one_thread_inside_the_refinement_and_is_restored_after():
    from nova3r_ros.model.cpu_threads import one_blas_thread, openblas_threads_api

    api = openblas_threads_api()
    if api is None:
        pytest.skip("this numpy has no OpenBLAS of its own")
    set_threads, get_threads = api
    before = int(get_threads())
    set_threads(2)
    try:
        seen = []

        @one_blas_thread
        def inner():
            seen.append(int(get_threads()))

        @one_blas_thread
        def outer(fail: bool):
            seen.append(int(get_threads()))
            inner()  # nested: still one thread after the inner call returns
            seen.append(int(get_threads()))
            if fail:
                raise RuntimeError("backend failure")

        outer(False)
        assert seen == [1, 1, 1] and int(get_threads()) == 2
        with pytest.raises(RuntimeError, match="backend failure"):
            outer(True)
        assert int(get_threads()) == 2  # restored after an exception too
    finally:
        set_threads(before)


def test_the_node_s_thread_limit_reaches_torch_opencv_and_numpy_s_blas(torch_threads):
    import cv2

    from nova3r_ros.model.cpu_threads import openblas_threads_api
    from nova3r_ros.ros.backend import set_threads

    api = openblas_threads_api()
    cv_before = cv2.getNumThreads()
    blas_before = None if api is None else int(api[1]())
    try:
        done = set_threads(1)
        assert {"torch", "opencv"} <= set(done) and torch.get_num_threads() == 1
        assert cv2.getNumThreads() == 1
        if api is not None:
            assert "openblas" in done and int(api[1]()) == 1
        assert set_threads(0) == []  # 0: leaves every library as it is
    finally:
        cv2.setNumThreads(cv_before)
        if api is not None:
            api[0](blas_before)
