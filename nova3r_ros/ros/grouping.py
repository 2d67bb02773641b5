"""The thread that runs the grouping and keyframe step as soon as frames arrive (ROS-free).

Callbacks only push into :class:`~nova3r_ros.ros.sync.FrameSync` (O(1)); each
push wakes this thread, which runs ``step`` (group the cameras, apply the
keyframe policy, hand a window to the worker). A group is thus formed within
microseconds of its last message, not up to a timer period later, and the
executor thread never does the grouping. With no push for ``period`` seconds
the step runs anyway (camera timeouts are noticed on time).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from nova3r_ros.ros.sync import FrameSync


class GroupingThread:
    """Runs ``step()`` after every push into ``sync``, and at least every ``period`` seconds.

    Args:
        sync: the buffers whose pushes wake the thread.
        step: the grouping and keyframe step.
        period: the longest wait (s) between two steps.
        on_error: called with an exception of ``step`` (the thread goes on).
        name: the thread's name.

    """

    def __init__(
        self,
        sync: FrameSync,
        step: Callable[[], None],
        period: float,
        on_error: Callable[[BaseException], None],
        name: str = "nova3r_grouping",
    ) -> None:
        self.sync = sync
        self.step = step
        self.period = float(period)
        self.on_error = on_error
        self.steps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Return True while the thread runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the thread to exit after its current step; return True if it did in time."""
        self._stop.set()
        self.sync.wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sync.wait_for_push(self.period)
            if self._stop.is_set():
                return
            try:
                self.step()
            except Exception as exc:  # a bad group must not end the thread
                self.on_error(exc)
            self.steps += 1
