"""CPU threads of the pose refinement: independent work side by side, numpy's BLAS on one.

:func:`thread_map`: OpenCV and numpy release the GIL inside their kernels, so SIFT on
several views or several photometric alignment starts run side by side on a multi-core
CPU. The number of threads follows ``torch.get_num_threads()`` (what the node's
``threads`` parameter, or ``OMP_NUM_THREADS``, gives the process), so a job pinned to one
thread stays serial. Results come back in the items' order, each computed exactly as the
serial loop would.

:func:`one_blas_thread`: the refinement's numpy products are small ((N, 3) by (3, 3),
(6, N) by (N, 6)); OpenBLAS splits them over its threads, which then spin waiting for the
next one and take the cores from torch's threads (the learned matcher's convolutions and
matching took twice as long after numpy work on a 2-core CPU). Inside the decorated
call numpy's OpenBLAS runs on one thread; its count is restored when the last such call
ends.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Lock, current_thread

import numpy as np
import torch

MAX_THREADS = 8
_pools: dict[int, ThreadPoolExecutor] = {}
_lock = Lock()


def worker_count(n_items: int) -> int:
    """Threads for ``n_items`` independent items: torch's thread count, at most the items."""
    return max(1, min(n_items, torch.get_num_threads(), MAX_THREADS))


def _pool(n: int) -> ThreadPoolExecutor:
    with _lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="nova3r-cpu")
        return _pools[n]


def thread_map(fn: Callable, items: Iterable) -> list:
    """Return ``[fn(x) for x in items]``, computed on up to :func:`worker_count` threads.

    Serial where one thread is allowed or from inside a pool thread (no nested waits). An
    exception of any item is raised here, as in the serial loop.
    """
    items = list(items)
    n = worker_count(len(items))
    if n <= 1 or current_thread().name.startswith("nova3r-cpu"):
        return [fn(x) for x in items]
    return list(_pool(n).map(fn, items))


_blas_users = 0
_blas_saved = 0
_blas_lock = Lock()


@functools.cache
def openblas_threads_api() -> tuple[Callable, Callable] | None:
    """Return (set_num_threads, get_num_threads) of numpy's bundled OpenBLAS, or None."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for lib in sorted(libs.glob("libscipy_openblas*.so*")) if libs.is_dir() else []:
        try:
            handle = ctypes.CDLL(str(lib))
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas_", "64_"), ("openblas_", "")):
            set_fn = getattr(handle, f"{prefix}set_num_threads{suffix}", None)
            get_fn = getattr(handle, f"{prefix}get_num_threads{suffix}", None)
            if set_fn is not None and get_fn is not None:
                get_fn.restype = ctypes.c_int
                return (lambda n, f=set_fn: f(ctypes.c_int(n))), get_fn
    return None


def one_blas_thread(fn: Callable) -> Callable:
    """Decorate ``fn`` to run with numpy's OpenBLAS on one thread (module docstring)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        global _blas_users, _blas_saved
        api = openblas_threads_api()
        if api is None:
            return fn(*args, **kwargs)
        with _blas_lock:
            if _blas_users == 0:
                _blas_saved = int(api[1]())
                api[0](1)
            _blas_users += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with _blas_lock:
                _blas_users -= 1
                if _blas_users == 0:
                    api[0](_blas_saved)

    return wrapped
