"""The backend process's side (``python -m nova3r_ros.ros.backend_child``); ROS-free.

Started by :class:`~nova3r_ros.ros.backend_process.ProcessBackend`, never by hand. Reads
length-prefixed JSON messages on stdin, answers on stdout (anything else printed goes
to stderr, which it shares with the node):

    ``load``  {name, values, world_frame, nice} -> ``ready`` {device, max_views}, or
              ``error`` {type, error} and exit (the backend could not be loaded);
    ``run``   {input: layout, views} -> ``result`` {output: layout, seconds, poses, ...}
              or ``error`` {type, error} (the backend's exception; the process goes on);
    ``stop``, or stdin closed (the node exited) -> release the backend and exit.

Diagnosis, from the node's environment: ``NOVA3R_PROFILE_DIR`` / ``NOVA3R_PYPROFILE_DIR``
profile windows 5-14 with ``torch.profiler`` / ``cProfile`` and write the tables there
(:func:`~nova3r_ros.model.profiling.profilers_from_env`, label ``backend_process``);
``NOVA3R_BACKEND_CPUS`` (e.g. ``8-15``) runs the process on those CPUs only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import BinaryIO

from nova3r_ros.model.profiling import profilers_from_env
from nova3r_ros.ros.backend_process import (
    _LEN,
    MAX_HEADER,
    _decode,
    _encode,
    _Mapped,
    _Slab,
    result_message,
    window_from_message,
)
from nova3r_ros.ros.cpu_affinity import pin_from_env


def _recv(inp: BinaryIO) -> dict | None:
    """Return the next message, or None when stdin closed."""
    head = inp.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    size = _LEN.unpack(head)[0]
    if size > MAX_HEADER:
        raise ValueError(f"message of {size} bytes")
    data = inp.read(size)
    return None if len(data) < size else _decode(data)


def _error(exc: BaseException) -> dict:
    return {"op": "error", "type": type(exc).__name__, "error": str(exc)}


def serve(inp: BinaryIO, out: BinaryIO) -> int:
    """Answer the parent's messages until ``stop`` or end of input; return the exit code."""
    from nova3r_ros.ros.backend import Backend, free_accelerator_memory, max_views, set_threads

    def send(msg: dict) -> None:
        out.write(_encode(msg))
        out.flush()

    msg = _recv(inp)
    if msg is None or msg["op"] != "load":
        return 2
    with contextlib.suppress(OSError):
        os.nice(int(msg.get("nice", 0)))
    pin_from_env("NOVA3R_BACKEND_CPUS")
    values = dict(msg["values"])
    try:
        set_threads(int(values.get("threads", 0)))
        backend = Backend(str(msg["name"]), values, str(msg["world_frame"]))
        backend.load()
    except Exception as exc:  # the parent decides (fallback or a failed configure)
        send(_error(exc))
        return 1
    send({"op": "ready", "device": backend.device, "max_views": max_views(backend)})
    slab, mapped = _Slab("out"), _Mapped()
    profilers = profilers_from_env("backend_process")  # none unless asked for
    try:
        while (msg := _recv(inp)) is not None and msg["op"] == "run":
            try:
                t0 = time.perf_counter()
                with contextlib.ExitStack() as stack:
                    for p in profilers:
                        stack.enter_context(p.window())
                    rec = backend.run(window_from_message(msg, mapped))
                reply = result_message(rec, slab, time.perf_counter() - t0)
            except Exception as exc:  # one window fails, the process goes on
                free_accelerator_memory()
                reply = _error(exc)
            send(reply)
    finally:
        slab.close()
        mapped.close()
        backend.release()
    return 0


def main() -> int:
    """Serve on the process's stdin/stdout; stray prints go to stderr, not the protocol.

    Ctrl-C reaches the whole process group: ignored here, the node stops this process.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        return serve(sys.stdin.buffer, out)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0


if __name__ == "__main__":
    sys.exit(main())
