"""The process keeps the memory it frees: glibc's malloc tuned for inference on the CPU.

Each decoder step on the CPU allocates and frees tensors of several MB to tens of MB.
With glibc's defaults the largest of them are mmapped and unmapped again (and the heap
is trimmed back after them), so every step faults fresh zeroed pages in from the kernel:
on the 2-core EPYC, 40,000-470,000 page faults and 0.4-1.7 s of system time per 2-view
window with the fast preset (docs/eval/session59). :func:`keep_freed_memory` has malloc
serve every allocation from its heap and give freed memory back to the system only when
more than 1 GiB lies free at the heap's top, so the pages stay mapped and are reused: the
faults go to almost none. The process's
resident memory then stays at its peak (the largest window's working set) instead of
falling back after each window.

Linux with glibc only (elsewhere, and where ``NOVA3R_KEEP_FREED_MEMORY=0`` is set, it does
nothing). :func:`~nova3r_ros.pipeline.load_model` calls it when it loads a model for the
CPU; it is process-wide and cannot be undone.
"""

from __future__ import annotations

import ctypes
import os
import sys
from threading import Lock

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30
ENV_SWITCH = "NOVA3R_KEEP_FREED_MEMORY"

_lock = Lock()
_applied = False


def glibc():
    """Return the process's C library where that is GNU libc with mallopt, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Tune this process's malloc as the module docstring says; return whether it is tuned.

    Idempotent and thread-safe. False where the platform is not Linux with glibc, where
    ``NOVA3R_KEEP_FREED_MEMORY`` is ``0``, or where glibc refuses a setting.
    """
    global _applied
    with _lock:
        if _applied:
            return True
        if os.environ.get(ENV_SWITCH, "1").strip() == "0":
            return False
        libc = glibc()
        if libc is None:
            return False
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        ok = libc.mallopt(M_MMAP_MAX, 0) == 1
        ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
        _applied = ok
        return ok


def is_kept() -> bool:
    """Whether :func:`keep_freed_memory` has tuned this process."""
    return _applied
