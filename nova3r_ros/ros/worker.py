"""One worker thread that owns the backend (and the GPU) and processes the newest window.

:meth:`Worker.submit` never blocks: it puts a job into a one-slot mailbox; a job
still waiting there is replaced by the newer one and counted as ``replaced``.
The thread sleeps on a condition variable (no polling) until a job comes, takes
the newest job, runs ``process(job)`` and hands the result to ``on_result`` (or
the exception to ``on_error``); the result carries the window's stamp, so
outputs are stamped with the data they came from. Stage times are folded into
:attr:`Worker.times` after ``on_result``, so stages it runs (publishing, the
occupancy update) are counted too. ROS-free.

The thread lowers its own CPU priority (its nice value + ``nice``, default :data:`NICE`,
the node's ``backend_nice``; Linux; threads it starts, e.g. torch's pool, inherit it): on
a contended CPU the executor that takes the camera messages runs first, so processing
never starves the inputs (the mailbox keeps only the newest window anyway).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NICE = 10  # added to the worker thread's nice value (lower CPU priority)
RECENT_WINDOWS = 100  # StageTimes.mean: over this many recent windows


def lower_priority(increment: int = NICE) -> bool:
    """Raise the calling thread's nice value by ``increment``; False where unsupported."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except (AttributeError, OSError):
        return False
    return True


@dataclass
class StageTimes:
    """Last seconds per stage, and their mean over the recent windows.

    ``mean[stage]``: over the last ``RECENT_WINDOWS`` windows that had that stage, the
    first window left out once a second one came: it loads the model and captures its
    CUDA graphs (a few hundred ms in the encoder alone), and a mean since start kept it
    in every figure (on the H200 it was the node's "slow encoder": 5-7 ms against 1.6).
    """

    last: dict[str, float] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    count: int = 0
    _recent: dict[str, deque] = field(default_factory=dict, repr=False)

    def add(self, timings: dict[str, float]) -> None:
        """Fold one result's ``timings`` into the statistics."""
        self.count += 1
        if self.count == 2:  # the first window was the warm-up
            for recent in self._recent.values():
                recent.clear()
        for k, v in timings.items():
            self.last[k] = float(v)
            recent = self._recent.setdefault(k, deque(maxlen=RECENT_WINDOWS))
            recent.append(float(v))
            self.mean[k] = sum(recent) / len(recent)


class Worker:
    """A thread running ``process`` on the newest submitted job.

    Args:
        process: job -> result; runs on the worker thread only.
        on_result: called on the worker thread with each result.
        on_error: called on the worker thread with each exception of ``process``.
        name: the thread's name.
        nice: added to the thread's nice value (0: unchanged).

    """

    def __init__(
        self,
        process: Callable[[Any], Any],
        on_result: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        name: str = "nova3r_worker",
        nice: int = NICE,
    ) -> None:
        self._process = process
        self._on_result = on_result
        self._on_error = on_error
        self._nice = nice
        self._cond = threading.Condition()
        self._job = None
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.submitted = 0
        self.replaced = 0
        self.processed = 0
        self.failed = 0
        self.times = StageTimes()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Return True while the thread runs."""
        return self._thread.is_alive()

    @property
    def busy(self) -> bool:
        """Return True while a job is being processed."""
        return self._busy

    def submit(self, job) -> None:
        """Queue ``job``, replacing a job not taken yet; never blocks on processing."""
        with self._cond:
            if self._job is not None:
                self.replaced += 1
            self._job = (job, time.perf_counter())
            self.submitted += 1
            self._cond.notify()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish its current job and exit; return True if it did in time."""
        with self._cond:
            self._stop = True
            self._job = None
            self._cond.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        if self._nice:
            lower_priority(self._nice)
        while True:
            with self._cond:
                while self._job is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                (job, queued), self._job = self._job, None
                self._busy = True
            try:
                wait = time.perf_counter() - queued
                result = self._process(job)
            except Exception as exc:  # the worker must survive any bad window
                self.failed += 1
                self._busy = False
                self._on_error(exc)
                continue
            self.processed += 1
            try:
                self._on_result(result)  # may add stages (publish, occupancy) to the timings
            except Exception as exc:
                self._on_error(exc)
            timings = dict(getattr(result, "timings", {}) or {})
            timings["queue_wait"] = wait
            self.times.add(timings)
            self._busy = False
