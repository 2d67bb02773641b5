"""CPU lists and pinning (Linux), for the backend process (``NOVA3R_BACKEND_CPUS``).

A diagnosis aid of ``bench/node_e2e.py --cpus NODE:BACKEND``: the backend process on
some cores, the node and its publishers on the others. ROS-free.
"""

from __future__ import annotations

import contextlib
import os
import sys


def cpu_list(text: str) -> set[int]:
    """Parse a CPU list such as ``8-15`` or ``0,2,4-6`` (ValueError when malformed)."""
    cpus: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if first < 0 or last < first:
            raise ValueError(f"bad CPU range {part!r}")
        cpus.update(range(first, last + 1))
    return cpus


def pin_threads(cpus: set[int]) -> None:
    """Run every thread of this process, and those it starts later, on ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(tid), cpus)


def pin_from_env(name: str = "NOVA3R_BACKEND_CPUS") -> None:
    """Pin this process to the CPU list in the environment variable ``name`` (unset: no-op).

    A malformed or unusable list is reported on stderr and ignored.
    """
    text = os.environ.get(name, "")
    if not text:
        return
    try:
        pin_threads(cpu_list(text))
    except (ValueError, OSError) as exc:
        print(f"{name}={text!r} ignored: {exc}", file=sys.stderr)
