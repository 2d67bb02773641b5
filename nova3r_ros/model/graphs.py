"""CUDA-graph replay of one flow-decoder evaluation and of the image encoder.

Decoding is launch-bound on a GPU: an evaluation is a few hundred small kernels,
and a sampler makes 25 of them per chunk. A captured graph replays them with one
launch. The image encoder (a few hundred kernels once per window) is captured the
same way. Graphs are cached per module (decoder or model), input shapes, dtype mode and parameter
storage (a model moved between devices gets a new graph, never a stale one).
Each replay overwrites the same output buffer: callers copy what they keep. A
cached graph's static buffers are shared, so one decoder must not be sampled from
two threads at once (the node has one worker thread; evaluation is sequential).
"""

from __future__ import annotations

import logging
import weakref

import torch

from nova3r_ros.model.network import FlowDecoder, Nova3r

_LOG = logging.getLogger(__name__)
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MAX_GRAPHS = 4  # per module; the oldest is dropped beyond this
_CAPTURES = [0]  # graphs built in this process (a capture costs a few eager runs)
_STORAGE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> _storage_key


def captures() -> int:
    """Return how many graphs this process has captured (or tried to) so far."""
    return _CAPTURES[0]


def _capture(fn):
    """Warm ``fn()`` up on a side stream (lazy initialisation), then capture it: (graph, out)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


def _mode_key(module: torch.nn.Module) -> tuple:
    """Return what a capture also depends on: autocast, inference mode, parameter storage."""
    return (
        torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"),
        torch.is_inference_mode_enabled(), _storage_key(module),
    )  # fmt: skip


def _storage_key(module: torch.nn.Module) -> tuple[int, ...]:
    """Return the data pointers of ``module``'s parameters, in order.

    Walking every parameter cost 0.7-0.8 ms per window on the H200 machine (294
    parameters): the tuple is kept per module and walked again only when
    the first parameter is another object or the first or last one's storage moved
    (``module.to`` and ``load_state_dict(assign=True)`` move them all). Not noticed: a
    parameter in the middle replaced by assignment alone; clear both caches then
    (``_CACHE.clear()``, ``_STORAGE.clear()``).
    """
    entry = _STORAGE.get(module)
    if entry is not None:
        first, last, ptrs = entry
        now = next(module.parameters())
        if now is first and first.data_ptr() == ptrs[0] and last.data_ptr() == ptrs[-1]:
            return ptrs
    params = list(module.parameters())
    ptrs = tuple(p.data_ptr() for p in params)
    if params:
        _STORAGE[module] = (params[0], params[-1], ptrs)
    return ptrs


def _cached(owner: torch.nn.Module, key: tuple, build, what: str):
    """Return ``owner``'s graph for ``key``, building it with ``build()`` on a miss.

    At most ``_MAX_GRAPHS`` per owner (the oldest is dropped). A capture that fails is
    logged once and cached as None, so the caller runs eagerly from then on.
    """
    graphs = _CACHE.setdefault(owner, {})
    if key not in graphs:
        if len(graphs) >= _MAX_GRAPHS:
            graphs.pop(next(iter(graphs)))
        _CAPTURES[0] += 1
        try:
            graphs[key] = build()
        except RuntimeError as exc:  # e.g. an op that cannot be captured: stay eager
            _LOG.warning("CUDA graph capture of the %s failed, running eagerly: %s", what, exc)
            graphs[key] = None
    return graphs[key]


class GraphedDecoder:
    """``decoder(x, t, scene, geo)`` captured once for fixed shapes; ``scene``/``geo`` bound."""

    def __init__(self, decoder: FlowDecoder, x, t, scene, geo):
        self.x, self.t, self.scene = x.clone(), t.clone(), scene.clone()
        self.geo = None if geo is None else {k: v.clone() for k, v in geo.items()}
        self.graph, self.out = _capture(lambda: decoder(self.x, self.t, self.scene, self.geo))

    def bind(self, scene: torch.Tensor, geo: dict | None) -> GraphedDecoder:
        """Copy this window's tokens and ray geometry into the static inputs."""
        self.scene.copy_(scene)
        if geo is not None:
            for k, v in geo.items():
                self.geo[k].copy_(v)
        return self

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Evaluate at ``x``, ``t``; the result is overwritten by the next call."""
        self.x.copy_(x)
        self.t.copy_(t)
        self.graph.replay()
        return self.out


def graphed(decoder: FlowDecoder, x, t, scene, geo) -> GraphedDecoder | None:
    """Return a cached or new graph for these inputs, or None where graphs do not apply.

    None on a non-CUDA device, with gradients enabled, or when capture fails (logged
    once per shape; the caller then runs eagerly).
    """
    if x.device.type != "cuda" or torch.is_grad_enabled():
        return None
    key = (
        tuple(x.shape), tuple(scene.shape), scene.dtype, str(x.device),
        None if geo is None else tuple((k, tuple(v.shape), v.dtype, str(v.device))
                                       for k, v in sorted(geo.items())),
        None if geo is None else tuple(geo["size"].tolist()),
        *_mode_key(decoder),
    )  # fmt: skip
    graph = _cached(decoder, key, lambda: GraphedDecoder(decoder, x, t, scene, geo), "decoder")
    return graph and graph.bind(scene, geo)


class GraphedEncoder:
    """``model.encode_images(pixels, pose_in, pose_known)`` captured for fixed shapes."""

    def __init__(self, model: Nova3r, pixels, pose_in, pose_known):
        self.inputs = (pixels.clone(), pose_in.clone(), pose_known.clone())
        self.graph, self.out = _capture(lambda: model.encode_images(*self.inputs))

    def __call__(self, pixels, pose_in, pose_known):
        """Encode; the outputs are overwritten by the next call (copy what you keep)."""
        for static, value in zip(self.inputs, (pixels, pose_in, pose_known), strict=True):
            static.copy_(value)
        self.graph.replay()
        return self.out


def graphed_encoder(model: Nova3r, pixels, pose_in, pose_known) -> GraphedEncoder | None:
    """Return a cached or new encoder graph for these inputs, or None (as :func:`graphed`)."""
    if pixels.device.type != "cuda" or torch.is_grad_enabled():
        return None
    key = (tuple(pixels.shape), pixels.dtype, tuple(pose_in.shape), str(pixels.device),
           *_mode_key(model))  # fmt: skip
    return _cached(model, key, lambda: GraphedEncoder(model, pixels, pose_in, pose_known),
                   "encoder")  # fmt: skip
