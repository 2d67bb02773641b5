"""Scene layout in worker processes, overlapped with rendering on the device.

Building a scene (:func:`~nova3r_ros.synth.generate.build_scene`: numpy layout of the
family, meshes, cameras with their validity checks) costs 4-6 ms of one CPU core per
window, while rendering a whole batch on a GPU takes a few milliseconds: one process
building scenes caps the training mix at about 250 windows/s. A :class:`ScenePool`
builds the scenes of a batch in ``workers`` processes (spawned, so they never inherit
a CUDA context) and hands them to :func:`~nova3r_ros.synth.generate.generate_batch`
through its ``built`` argument, which then only renders. The result is identical to
building in process: a scene is a deterministic function of its seed and config.

:class:`Prefetcher` keeps ``depth`` batches in flight, so the layout of the next batches
runs while the device renders (and trains on) the current one.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from nova3r_ros.synth.config import SynthConfig
from nova3r_ros.synth.generate import build_scene


def _build_chunk(seeds: list[int], config: SynthConfig) -> list:
    """Build the scenes of ``seeds`` (runs in a worker process)."""
    return [build_scene(s, config) for s in seeds]


def default_workers() -> int:
    """Return the worker count for this machine: the usable cores minus one, at least 1."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


class ScenePool:
    """Build scenes for :func:`generate_batch` in ``workers`` spawned processes.

    Args:
        workers: number of worker processes (>= 1).

    A batch's seeds are split into ``workers`` contiguous chunks, one task each; the
    result keeps the seeds' order. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        self.workers = workers
        ctx = multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def submit(self, seeds: Sequence[int], config: SynthConfig) -> Future:
        """Start building ``seeds`` with ``config``; the future gives the list of scenes."""
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("submit needs at least one seed")
        n = min(self.workers, len(seeds))
        step = -(-len(seeds) // n)
        parts = [self._executor.submit(_build_chunk, seeds[i : i + step], config)
                 for i in range(0, len(seeds), step)]  # fmt: skip
        out: Future = Future()
        pending = [len(parts)]

        def done(_f: Future) -> None:
            pending[0] -= 1
            if pending[0]:
                return
            try:
                out.set_result([scene for p in parts for scene in p.result()])
            except Exception as exc:  # a worker's error reaches the caller
                out.set_exception(exc)

        for p in parts:
            p.add_done_callback(done)
        return out

    def build(self, seeds: Sequence[int], config: SynthConfig) -> list:
        """Build ``seeds`` now (blocking); same result as ``build_scene`` in a loop."""
        return self.submit(seeds, config).result()

    def close(self) -> None:
        """Stop the worker processes (pending tasks are cancelled)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ScenePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Prefetcher:
    """Keep the scene layout of the next ``depth`` batches running in a :class:`ScenePool`.

    Args:
        pool: the pool that builds scenes.
        plan: ``plan(i) -> (seeds, config)`` for batch ``i`` (0, 1, 2, ...), deterministic.
        depth: batches in flight ahead of the one being consumed (>= 1).

    :meth:`next` returns ``(seeds, config, built)`` for batches 0, 1, 2, ... in order.
    """

    def __init__(self, pool: ScenePool, plan: Callable[[int], tuple], depth: int = 2) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.pool, self.plan, self.depth = pool, plan, depth
        self._queue: deque = deque()
        self._next_index = 0

    def start(self) -> None:
        """Submit the first batches now (:meth:`next` does it otherwise)."""
        self._fill()

    def _fill(self) -> None:
        while len(self._queue) < self.depth + 1:
            seeds, config = self.plan(self._next_index)
            self._queue.append((seeds, config, self.pool.submit(seeds, config)))
            self._next_index += 1

    def next(self) -> tuple[list[int], SynthConfig, list]:
        """Return the next batch's ``(seeds, config, built scenes)``, waiting if needed."""
        self._fill()
        seeds, config, future = self._queue.popleft()
        self._fill()
        return list(seeds), config, future.result()
