"""Benchmark: the model backend in its own process against the same backend in this one.

No ROS: the node's backend objects only. The same windows (4 views as the node builds
them, ``_load.node_like_window``: a new array per camera, the texture shifted each
window; ``NOVA3R_BENCH_SIZE``, default 320x240) go alternately to a
:class:`~nova3r_ros.ros.backend.Backend` in this process and to a
:class:`~nova3r_ros.ros.backend_process.ProcessBackend` (``backend_nice`` ``--nice``),
one call every ``--interval`` seconds as the node gets its windows, after ``--warmup``
calls each. Prints a ratio line (process / this process, medians) and ``name=value``
lines: ``inproc_ms``, ``process_ms``, ``ratio``, and the mean stage times of each
(``inproc_<stage>_ms``, ``process_<stage>_ms``; ``process_ipc_ms``: the window to the
child and its result back). Results are compared too (``identical`` 1 when every output
array is bit-identical).

Usage: PYTHONPATH=bench:. python bench/backend_process.py [--device cpu|cuda]
           [--points N] [--steps N] [--windows N] [--warmup N] [--interval S] [--nice N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _load import node_like_window, scene

from nova3r_ros.ros.backend import Backend
from nova3r_ros.ros.backend_process import ProcessBackend
from nova3r_ros.ros.params import PARAMETERS


def _values(a) -> dict:
    """Return the node's parameter values the model backend reads (node defaults)."""
    values = {p.name: p.default for p in PARAMETERS}  # every parameter the backend may read
    values.update(backend="model", device=a.device, n_points=a.points, ode_steps=a.steps,
                  threads=0, backend_timeout=60.0, backend_nice=a.nice)  # fmt: skip
    return values


def main() -> None:
    """Run the comparison and print the ratio and ``name=value`` lines."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--points", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--windows", type=int, default=10, help="timed calls of each backend")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--interval", type=float, default=0.0, help="s from call to call")
    ap.add_argument("--nice", type=int, default=10, help="the backend process's backend_nice")
    a = ap.parse_args()
    values = _values(a)
    here = Backend("model", values, "map")
    here.load()
    child = ProcessBackend("model", values, "map")
    child.load()
    rgb, depth, _ = scene()
    times: dict[str, list[float]] = {"inproc": [], "process": []}
    stages: dict[str, dict[str, float]] = {"inproc": {}, "process": {}}
    identical = True
    try:
        for i in range(a.warmup + a.windows):
            window = node_like_window(rgb, depth, i + 1)
            recs = {}
            for name, backend in (("inproc", here), ("process", child)):
                t0 = time.perf_counter()
                recs[name] = rec = backend.run(window)
                dt = time.perf_counter() - t0
                if i >= a.warmup:
                    times[name].append(dt * 1e3)
                    for k, v in rec.timings.items():
                        stages[name][k] = stages[name].get(k, 0.0) + v * 1e3 / a.windows
                time.sleep(max(0.0, a.interval - dt))
            x, y = recs["inproc"], recs["process"]
            identical &= all(np.array_equal(getattr(x, f), getattr(y, f))
                             for f in ("points", "colors", "observed", "confidence"))  # fmt: skip
    finally:
        child.release()
    inproc, process = (statistics.median(times[k]) for k in ("inproc", "process"))
    print(f"# device {a.device} ({child.device}), {len(window)} views "
          f"{window.views[0].width}x{window.views[0].height}, {a.points} points, {a.steps} "
          f"steps, {a.windows} windows after {a.warmup}, interval {a.interval:g} s, "
          f"backend_nice {a.nice}")  # fmt: skip
    print(f"ratio: backend process {process:.1f} ms = {process / inproc:.2f} x in this "
          f"process ({inproc:.1f} ms)")  # fmt: skip
    print(f"inproc_ms={inproc:.1f}")
    print(f"process_ms={process:.1f}")
    print(f"ratio={process / inproc:.3f}")
    print(f"identical={int(identical)}")
    for name in ("inproc", "process"):
        for k, v in sorted(stages[name].items()):
            print(f"{name}_{k}_ms={v:.2f}")


if __name__ == "__main__":
    main()
