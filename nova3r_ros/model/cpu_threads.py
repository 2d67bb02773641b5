"""Independent CPU work of the pose refinement spread over threads (same results as serial).

OpenCV and numpy release the GIL inside their kernels, so SIFT on several views or
several photometric alignment starts run side by side on a multi-core CPU. The number of
threads follows ``torch.get_num_threads()`` (what the node's ``threads`` parameter, or
``OMP_NUM_THREADS``, gives the process), so a job pinned to one thread stays serial.
Results come back in the items' order, each computed exactly as the serial loop would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from threading import Lock, current_thread

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
