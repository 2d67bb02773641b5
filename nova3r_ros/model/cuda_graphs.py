"""Replay fixed-shape functions of CUDA tensors as CUDA graphs (eager elsewhere).

The pose refinements' inner loops (:func:`.pose_icp.icp`'s levels and
:func:`.pose_joint.joint_arrays`'s Gauss-Newton loop) are thousands of small kernels of
fixed shapes: launching them costs more than running them. :class:`GraphCache` captures
such a function once per key (its static settings and its inputs' shapes, dtypes and
device) and afterwards copies the inputs into the graph's static buffers and replays it
(https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs).

A function given to :class:`GraphCache` must be a pure function of its tensor inputs
(every tensor it reads is an input; Python values it closes over are part of the key) and
must run without host reads, CPU tensors, data-dependent shapes or random numbers. On the
first use of a key it runs once eagerly on a side stream (the warm-up the docs require,
and the reference), is captured and replayed once, and the replay is compared with the
eager outputs: if capture or replay raises, or they differ, the key runs eagerly from then
on (logged once). ``NOVA3R_CUDA_GRAPHS=0`` or :data:`ENABLED` ``= False`` turns graphs
off; inputs not on a CUDA device always run eagerly.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import torch

LOG = logging.getLogger(__name__)

#: Module-level switch; the environment variable ``NOVA3R_CUDA_GRAPHS=0`` also disables.
ENABLED = True


def enabled() -> bool:
    """Return whether CUDA graphs are on (:data:`ENABLED` and ``NOVA3R_CUDA_GRAPHS``)."""
    return ENABLED and os.environ.get("NOVA3R_CUDA_GRAPHS", "1").strip() not in ("0", "")


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Return whether a replayed output equals its eager reference (float: allclose)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        tol = (1e-7, 1e-7) if a.dtype == torch.float64 else (1e-5, 1e-5)  # (rtol, atol)
        return torch.allclose(a, b, rtol=tol[0], atol=tol[1], equal_nan=True)
    return torch.equal(a, b)


class _Graph:
    """One captured graph with its static input and output buffers."""

    def __init__(self, fn, inputs: Sequence[torch.Tensor]):
        """Capture ``fn`` on copies of ``inputs`` (after a warm-up run by the caller)."""
        self.inputs = [x.clone() for x in inputs]
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.outputs = tuple(fn(*self.inputs))

    def __call__(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Copy ``inputs`` into the static buffers, replay, return copies of the outputs."""
        for buf, x in zip(self.inputs, inputs, strict=True):
            buf.copy_(x)
        self.graph.replay()
        return tuple(y.clone() for y in self.outputs)


class GraphCache:
    """Capture-and-replay of functions of fixed-shape CUDA tensors, an LRU of graphs.

    ``cache(key, fn, *inputs)`` returns ``fn(*inputs)`` (a tuple of tensors). Counters
    ``captures`` (graphs captured), ``replays`` and ``fallbacks`` (keys run eagerly
    after a failure or a mismatch) let tests and benchmarks see what happened. Each graph has
    its own memory pool, freed when the graph leaves the cache (a pool shared by graphs
    tripped an allocator assertion on the H200 once graphs were dropped and new ones
    captured into it).
    """

    def __init__(self, max_keys: int = 16, check: bool = True):
        """Keep at most ``max_keys`` graphs; ``check``: compare the first replay with eager."""
        self.max_keys = max_keys
        self.check = check
        self.graphs: OrderedDict = OrderedDict()
        self.eager_keys: OrderedDict = OrderedDict()  # keys that failed: eager from now on
        self.captures = self.replays = self.fallbacks = 0
        self._streams: dict = {}  # device -> the side stream of the warm-ups
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Drop every graph and forget the failed keys (counters are kept)."""
        with self._lock:
            self.graphs.clear()
            self.eager_keys.clear()

    def __call__(self, key: Hashable, fn: Callable, *inputs: torch.Tensor) -> tuple:
        """Return ``fn(*inputs)``, replayed from a graph on CUDA when graphs are on."""
        if not (inputs and all(x.is_cuda for x in inputs) and enabled()):
            return tuple(fn(*inputs))
        full = (key, tuple((tuple(x.shape), x.dtype, x.device) for x in inputs))
        with self._lock:
            eager = full in self.eager_keys
        if eager:
            return tuple(fn(*inputs))
        with self._lock:
            graph = self.graphs.get(full)
            if graph is not None:
                self.graphs.move_to_end(full)
                try:
                    out = graph(inputs)
                    self.replays += 1
                    return out
                except Exception as e:  # any failure: eager from now on
                    self._fail(full, f"replay failed: {e!r}")
                    return tuple(fn(*inputs))
            return self._capture(full, fn, inputs)

    def _fail(self, full, why: str) -> None:
        """Run ``full`` eagerly from now on and log why (once per key)."""
        self.graphs.pop(full, None)
        self.eager_keys[full] = True
        while len(self.eager_keys) > 4 * self.max_keys:
            self.eager_keys.popitem(last=False)
        self.fallbacks += 1
        LOG.warning("CUDA graph of %s: %s; running it eagerly", full[0], why)

    def _capture(self, full, fn, inputs) -> tuple:
        """Warm up (eagerly, on a side stream), capture, check and cache ``full``."""
        dev = inputs[0].device
        if dev not in self._streams:
            self._streams[dev] = torch.cuda.Stream(device=dev)
        side = self._streams[dev]
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            eager = tuple(fn(*inputs))
        torch.cuda.current_stream(dev).wait_stream(side)
        try:
            graph = _Graph(fn, inputs)
            self.captures += 1
            out = graph(inputs)
        except Exception as e:  # any failure: eager from now on
            self._fail(full, f"capture failed: {e!r}")
            return eager
        if self.check and not all(_same(a, b) for a, b in zip(out, eager, strict=True)):
            self._fail(full, "replay differs from the eager run")
            return eager
        self.graphs[full] = graph
        while len(self.graphs) > self.max_keys:
            self.graphs.popitem(last=False)
        return out


#: The cache the pose refinements use.
GRAPHS = GraphCache()
