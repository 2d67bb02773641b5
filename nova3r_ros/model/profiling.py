"""Diagnosis: profilers over a run of windows, written as plain-text tables.

Used by the backend process when ``NOVA3R_PROFILE_DIR`` / ``NOVA3R_PYPROFILE_DIR`` are
set (``ros/backend_child.py``) and by ``bench/node_e2e.py --profile DIR`` for the bare
pipeline, so that the two can be compared. Nothing here runs unless asked for.

Files written: :class:`WindowProfiler` (``torch.profiler``) ``DIR/<label>_cpu.txt`` and
``DIR/<label>_cuda.txt``, the ``key_averages`` sorted by self CPU time and by device time
(top 60 rows), each headed by the profiled windows' wall times (ms) and the process's
context switches over them; :class:`PyWindowProfiler` (``cProfile``: Python functions,
not slowed by device tracing) ``DIR/<label>_py.txt``, sorted by own time (top 40).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import resource
import time
from pathlib import Path


class _WindowRange:
    """Windows ``first`` .. ``first + count - 1`` of a loop (count from 0), each profiled.

    Use ``with profiler.window(): ...`` around each window's work; subclasses start and
    stop their profiler around a profiled window (``_enter`` / ``_exit``) and write their
    tables after the last one.
    """

    def __init__(self, out_dir: str | Path, label: str, first: int = 5, count: int = 10):
        if first < 0 or count < 1:
            raise ValueError(f"profile windows from {first}, {count} of them: need >= 0 and >= 1")
        self.out_dir, self.label, self.first, self.count = Path(out_dir), label, first, count
        self._n = 0
        self.written: list[Path] = []

    @contextlib.contextmanager
    def window(self):
        """Run one window, profiled when its index is in the range."""
        i, self._n = self._n, self._n + 1
        on = self.first <= i < self.first + self.count
        if on:
            self._enter(i == self.first)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if on:
                self._exit((time.perf_counter() - t0) * 1e3, i == self.first + self.count - 1)

    def _enter(self, first: bool) -> None:
        raise NotImplementedError

    def _exit(self, wall_ms: float, last: bool) -> None:
        raise NotImplementedError

    def _write(self, suffix: str, text: str) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{self.label}_{suffix}.txt"
        path.write_text(text)
        self.written.append(path)


class WindowProfiler(_WindowRange):
    """``torch.profiler`` over the windows (one profile for all of them)."""

    def __init__(self, out_dir: str | Path, label: str, first: int = 5, count: int = 10):
        super().__init__(out_dir, label, first, count)
        self._prof = None
        self._walls: list[float] = []
        self._switches = (0, 0)

    def _enter(self, first: bool) -> None:
        if first:
            import torch

            self._prof = torch.profiler.profile(activities=_activities())
            self._prof.__enter__()
            self._switches = _switches()

    def _exit(self, wall_ms: float, last: bool) -> None:
        self._walls.append(wall_ms)
        if last:
            self._finish()

    def _finish(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._prof.__exit__(None, None, None)
        vol, invol = (b - a for a, b in zip(self._switches, _switches(), strict=True))
        head = (
            f"# {self.label}: windows {self.first}-{self.first + self.count - 1}, wall ms "
            + " ".join(f"{w:.1f}" for w in self._walls)
            + f"\n# context switches over them: voluntary {vol}, involuntary {invol}\n"
        )
        averages = self._prof.key_averages()
        sorts = {"cpu": "self_cpu_time_total"}
        if torch.cuda.is_available():
            sorts["cuda"] = "self_device_time_total"
        for name, key in sorts.items():
            self._write(name, head + averages.table(sort_by=key, row_limit=60) + "\n")
        self._prof = None


def _activities() -> list:
    import torch

    acts = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    return acts


def _switches() -> tuple[int, int]:
    """Return this process's (voluntary, involuntary) context switches so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_nvcsw, ru.ru_nivcsw


class PyWindowProfiler(_WindowRange):
    """``cProfile`` over the windows (Python functions, sorted by own time)."""

    def __init__(self, out_dir: str | Path, label: str, first: int = 5, count: int = 10):
        super().__init__(out_dir, label, first, count)
        self._prof = cProfile.Profile()

    def _enter(self, first: bool) -> None:
        self._prof.enable()

    def _exit(self, wall_ms: float, last: bool) -> None:
        self._prof.disable()
        if last:
            text = io.StringIO()
            pstats.Stats(self._prof, stream=text).sort_stats("tottime").print_stats(40)
            self._write("py", text.getvalue())


def profilers_from_env(label: str) -> list:
    """Profilers asked for by ``NOVA3R_PROFILE_DIR`` (torch) and ``NOVA3R_PYPROFILE_DIR``.

    Imports torch only when a torch profile is asked for.
    """
    out: list[_WindowRange] = []
    if os.environ.get("NOVA3R_PROFILE_DIR"):
        out.append(WindowProfiler(os.environ["NOVA3R_PROFILE_DIR"], label))
    if os.environ.get("NOVA3R_PYPROFILE_DIR"):
        out.append(PyWindowProfiler(os.environ["NOVA3R_PYPROFILE_DIR"], label))
    return out
