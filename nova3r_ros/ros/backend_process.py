"""The reconstruction backend in its own process: own interpreter, GIL and CUDA context.

Why: in the node the backend shares one interpreter with the executor that takes the
camera messages; each message holds the GIL for a millisecond or two, and every
host-device synchronisation of the backend gives the GIL away and waits for it back, so
the same reconstruction ran 17-77 % slower in the node than alone (H200, 4 cameras x
30 Hz 640x480 RGB-D). In a child process it runs as it does alone, and a crash of the
backend (a segfault, the kernel's OOM killer, a hung CUDA call) costs one window, not
the node.

:class:`ProcessBackend` is a :class:`~nova3r_ros.ros.backend.Backend` (same options,
``label``, ``device``, ``needs_depth``) whose :meth:`load` starts the child
(``python -m nova3r_ros.ros.backend_process``) and waits until it loaded the weights,
whose :meth:`run` hands it a window and waits for the reconstruction, and whose
:meth:`release` stops it. Transport, no pickle in either direction: length-prefixed
JSON messages over the child's stdin/stdout; image, depth and output arrays through
shared-memory files (``/dev/shm``, mode 0600) that each side writes and the other maps,
described by offset, shape and a dtype from :data:`DTYPES` (checked on reading). One
window in flight at a time: the parent writes its input file only while the child waits.

Failures (each raises in :meth:`run`, so the node publishes that window's observed-only
cloud and goes on): the backend's own exception (re-raised as :class:`PipelineError` or
:class:`BackendProcessError` with the child's type and message; the child keeps
running); the child exiting or not answering within ``backend_timeout`` seconds (it is
killed; the next window starts a new child: :attr:`ProcessBackend.restarts`; a restart
that fails is not tried again for :data:`RESTART_BACKOFF_S`). The child exits when its
stdin closes, so it never outlives the node. It runs at the worker's lower CPU priority
(nice + ``backend_nice``, default :data:`~nova3r_ros.ros.worker.NICE`). ROS-free.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import select
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np

from nova3r_ros.core.types import Reconstruction, View, Window
from nova3r_ros.pipeline import PipelineError
from nova3r_ros.ros.backend import Backend, open_backend
from nova3r_ros.ros.worker import NICE

DTYPES = ("uint8", "uint16", "float32", "float64", "bool")
LOAD_TIMEOUT_S = 300.0  # importing torch and loading weights on a slow CPU
RESTART_BACKOFF_S = 10.0
MAX_HEADER = 16 << 20  # bytes of one JSON message
_LEN = struct.Struct("<I")
_ALIGN = 64
_names = count()


class BackendProcessError(RuntimeError):
    """The backend process failed: it raised, exited, or did not answer in time."""


class _NoAnswer(BackendProcessError):
    """The child did not answer in time."""


def _shm_dir() -> str:
    """Return the directory of the shared-memory files (/dev/shm where it exists)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else tempfile.gettempdir()


class _Slab:
    """A growable shared-memory file this process writes arrays into."""

    def __init__(self, tag: str) -> None:
        self.tag, self.path, self.size = tag, "", 0
        self._mm: mmap.mmap | None = None

    def put(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """Copy ``arrays`` in; return the layout (path, size, per array offset/shape/dtype)."""
        offsets, total = {}, 0
        for name, a in arrays.items():
            offsets[name] = total
            total += -(-a.nbytes // _ALIGN) * _ALIGN
        if total > self.size or self._mm is None:
            self._grow(max(total + total // 4, 1 << 20))
        entries = {}
        for name, a in arrays.items():
            dst = np.ndarray(a.shape, a.dtype, buffer=self._mm, offset=offsets[name])
            np.copyto(dst, a)
            del dst
            entries[name] = [offsets[name], list(a.shape), a.dtype.name]
        return {"path": self.path, "size": self.size, "arrays": entries}

    def _grow(self, size: int) -> None:
        self.close()
        path = os.path.join(_shm_dir(), f"nova3r-{os.getpid()}-{self.tag}-{next(_names)}")
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.path, self.size = path, size
        weakref.finalize(self._mm, _unlink, path)  # also on an exit without close()

    def close(self) -> None:
        """Unmap and remove the file (the reader removes it too, once it mapped it)."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self.path:
            Path(self.path).unlink(missing_ok=True)
            self.path, self.size = "", 0


class _Mapped:
    """The other side's shared-memory file, mapped read-only (remapped when it changes)."""

    def __init__(self) -> None:
        self.path = ""
        self._mm: mmap.mmap | None = None

    def arrays(self, layout: dict[str, Any], copy: bool = True) -> dict[str, np.ndarray]:
        """Return the arrays ``layout`` describes (offsets checked against the file).

        ``copy`` False: read-only views of the mapping, valid until the other side writes
        its next message (the child's input: the parent waits for the reply). Read-only
        so that a backend writing into its input fails loudly: a private copy-on-write
        mapping would keep such pages and miss the next windows' data in them.
        """
        path, size = str(layout["path"]), int(layout["size"])
        if path != self.path or self._mm is None or len(self._mm) != size:
            self.close()
            if not Path(path).name.startswith("nova3r-") or Path(path).parent != Path(_shm_dir()):
                raise BackendProcessError(f"unexpected shared-memory file {path!r}")
            with open(path, "rb") as f:
                self._mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
            self.path = path
            _unlink(path)  # both sides hold it mapped: no file left behind after a crash
        out = {}
        for name, (offset, shape, dtype) in layout["arrays"].items():
            if dtype not in DTYPES or any(int(s) < 0 for s in shape):
                raise BackendProcessError(f"bad array {name!r} in the layout: {dtype} {shape}")
            n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if offset < 0 or offset + n > size:
                raise BackendProcessError(f"array {name!r} runs past the shared-memory file")
            view = np.frombuffer(self._mm, np.dtype(dtype), n // np.dtype(dtype).itemsize, offset)
            out[name] = view.reshape(shape).copy() if copy else view.reshape(shape)
            del view
        return out

    def close(self) -> None:
        """Unmap (left to the garbage collector while arrays still view the mapping)."""
        if self._mm is not None:
            with contextlib.suppress(BufferError):
                self._mm.close()
            self._mm = None
        self.path = ""


def _unlink(path: str) -> None:
    Path(path).unlink(missing_ok=True)


def _encode(msg: dict[str, Any]) -> bytes:
    data = json.dumps(msg).encode()
    return _LEN.pack(len(data)) + data


def _decode(data: bytes) -> dict[str, Any]:
    msg = json.loads(data)
    if not isinstance(msg, dict) or "op" not in msg:
        raise BackendProcessError("malformed message from the backend process")
    return msg


# ------------------------------------------------------------------------- windows
def window_message(window: Window, slab: _Slab) -> dict[str, Any]:
    """Copy ``window``'s images and depth maps into ``slab``; return the run message."""
    arrays, views = {}, []
    for i, v in enumerate(window.views):
        arrays[f"image{i}"] = np.ascontiguousarray(v.image)
        if v.depth is not None:
            arrays[f"depth{i}"] = np.ascontiguousarray(v.depth, np.float32)
        views.append({
            "K": None if v.K is None else np.asarray(v.K, float).tolist(),
            "T": None if v.T_world_cam is None else np.asarray(v.T_world_cam, float).tolist(),
            "stamp": int(v.stamp), "frame_id": v.frame_id, "camera": v.camera,
        })  # fmt: skip
    return {"op": "run", "input": slab.put(arrays), "views": views}


def window_from_message(msg: dict[str, Any], mapped: _Mapped) -> Window:
    """Rebuild the window of a run message (the inverse of :func:`window_message`)."""
    arrays = mapped.arrays(msg["input"], copy=False)
    views = []
    for i, v in enumerate(msg["views"]):
        K, T = v["K"], v["T"]
        views.append(View(arrays[f"image{i}"], arrays.get(f"depth{i}"),
                          None if K is None else np.array(K, np.float64),
                          None if T is None else np.array(T, np.float64),
                          int(v["stamp"]), str(v["frame_id"]), str(v["camera"])))  # fmt: skip
    return Window(views)


def result_message(rec: Reconstruction, slab: _Slab, seconds: float) -> dict[str, Any]:
    """Copy ``rec``'s arrays into ``slab``; return the result message."""
    arrays = {"points": rec.points, "colors": rec.colors, "observed": rec.observed,
              "confidence": rec.confidence}  # fmt: skip
    return {
        "op": "result", "output": slab.put(arrays), "seconds": seconds,
        "T_ref_cam": [np.asarray(T, float).tolist() for T in rec.T_ref_cam],
        "K": [np.asarray(K, float).tolist() for K in rec.K], "scale_mode": rec.scale_mode,
        "frame": rec.frame, "timings": {k: float(v) for k, v in rec.timings.items()},
        "stats": {k: _number(v) for k, v in rec.stats.items()},
    }  # fmt: skip


def _number(v: Any) -> int | float | bool:
    """Return ``v`` as a JSON number of its own kind (bool, int or float)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return int(v) if isinstance(v, (int, np.integer)) else float(v)


def reconstruction_from_message(msg: dict[str, Any], mapped: _Mapped) -> Reconstruction:
    """Rebuild the reconstruction of a result message (arrays copied out of the file)."""
    a = mapped.arrays(msg["output"])
    return Reconstruction(
        a["points"], a["colors"], a["observed"], a["confidence"],
        [np.array(T, np.float64) for T in msg["T_ref_cam"]],
        [np.array(K, np.float64) for K in msg["K"]], str(msg["scale_mode"]),
        str(msg["frame"]), dict(msg["timings"]), dict(msg["stats"]),
    )  # fmt: skip


# ------------------------------------------------------------------------- parent side
class ProcessBackend(Backend):
    """A :class:`Backend` whose reconstruction runs in a child process (module docstring).

    Args:
        name, values, world_frame: as :class:`Backend`; ``values["backend_timeout"]``
            (seconds, 0 = none) bounds one window's wait for the child.

    """

    def __init__(self, name: str, values: dict[str, Any], world_frame: str) -> None:
        super().__init__(name, values, world_frame)
        self.values = {k: v for k, v in values.items() if _jsonable(v)}
        if hasattr(self.config, "checkpoint"):
            self.values["checkpoint"] = self.config.checkpoint  # resolved here, once
        self.timeout = float(values.get("backend_timeout", 60.0)) or None
        self.nice = int(values.get("backend_nice", NICE))
        self.restarts = 0  # children started again after one failed
        self.views_limit: int | None = None
        self._proc: subprocess.Popen | None = None
        self._slab, self._mapped = _Slab("in"), _Mapped()
        self._down_until, self._down_reason = 0.0, ""

    @property
    def pid(self) -> int | None:
        """Return the child's process id while it runs, else None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def load(self) -> None:
        """Start the child and wait until it loaded the backend (PipelineError on failure)."""
        if self.pid is None:
            self._start()

    def run(self, window: Window) -> Reconstruction:
        """Reconstruct ``window`` in the child (see the module docstring for failures)."""
        if self.pid is None:
            if time.monotonic() < self._down_until:
                raise BackendProcessError(f"backend process down: {self._down_reason}")
            self.restarts += 1
            try:
                self._start()
            except PipelineError as exc:
                self._down_until = time.monotonic() + RESTART_BACKOFF_S
                self._down_reason = str(exc)
                raise
        t0 = time.perf_counter()
        msg = window_message(window, self._slab)
        t_put = time.perf_counter() - t0
        reply = self._exchange(msg, self.timeout)
        if reply["op"] == "error":
            cls = PipelineError if reply.get("type") == "PipelineError" else BackendProcessError
            text = str(reply.get("error", ""))
            raise cls(text if cls is PipelineError else f"{reply.get('type')}: {text}")
        rec = reconstruction_from_message(reply, self._mapped)
        rec.timings["ipc"] = max(time.perf_counter() - t0 - float(reply["seconds"]), 0.0)
        rec.timings["ipc_put"] = t_put  # of ipc: the window copied into shared memory
        return rec

    def release(self) -> None:
        """Stop the child (asked, then killed after 5 s) and remove the shared memory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.write(_encode({"op": "stop"}))
                proc.stdin.flush()
                proc.stdin.close()
                proc.wait(5.0)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self._slab.close()
        self._mapped.close()

    def _start(self) -> None:
        self.release()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p))  # fmt: skip
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "nova3r_ros.ros.backend_child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )  # fmt: skip
        try:
            reply = self._exchange({
                "op": "load", "name": self.name, "values": self.values,
                "world_frame": self.world_frame, "nice": self.nice,
            }, LOAD_TIMEOUT_S)  # fmt: skip
        except BackendProcessError as exc:
            raise PipelineError(f"cannot start the backend process: {exc}") from exc
        if reply["op"] != "ready":
            self.release()
            raise PipelineError(str(reply.get("error", "the backend process did not load")))
        self.device = str(reply["device"])
        self.views_limit = None if reply["max_views"] is None else int(reply["max_views"])

    def _exchange(self, msg: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        """Send ``msg``, return the reply; on a dead or silent child kill it and raise."""
        proc = self._proc
        try:
            proc.stdin.write(_encode(msg))
            proc.stdin.flush()
            size = _LEN.unpack(self._read(proc, _LEN.size, timeout))[0]
            if size > MAX_HEADER:
                raise BackendProcessError(f"reply of {size} bytes from the backend process")
            return _decode(self._read(proc, size, timeout))
        except (OSError, ValueError, BackendProcessError) as exc:
            code, hung = proc.poll(), isinstance(exc, _NoAnswer)
            if code is None and not hung:  # its pipe closed: it is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = proc.wait(2.0)
            if code is None:
                proc.kill()
                proc.wait()
            why = f"exited with code {code}" if code is not None and not hung else str(exc)
            self.release()
            raise BackendProcessError(f"backend process {why}") from None

    @staticmethod
    def _read(proc: subprocess.Popen, n: int, timeout: float | None) -> bytes:
        fd, out = proc.stdout.fileno(), bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(out) < n:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not select.select([fd], [], [], left)[0]:
                raise _NoAnswer(f"gave no answer within {timeout:g} s (killed)")
            chunk = os.read(fd, n - len(out))
            if not chunk:
                raise BackendProcessError("closed its output")
            out += chunk
        return bytes(out)


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


def open_process_backend(values: dict[str, Any], world_frame: str) -> Backend:
    """Return :func:`~nova3r_ros.ros.backend.open_backend`'s backend, in a child process.

    The model runs in a child process when ``backend_process`` is true. Same fallback
    rule and errors; the depth backend (primary or fallback) always runs in this process.
    """
    cls = ProcessBackend if values.get("backend_process") else Backend
    return open_backend(values, world_frame, cls)
