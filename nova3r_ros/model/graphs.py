"""CUDA-graph replay of one flow-decoder evaluation and of the image encoder.

Decoding is launch-bound on a GPU: an evaluation is a few hundred small kernels,
and a sampler makes 25 of them per chunk. A captured graph replays them with one
launch. The image encoder (a few hundred kernels once per window) is captured the
same way. Graphs are cached per decoder, input shapes, dtype mode and parameter
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
_MAX_GRAPHS = 4  # per decoder; the oldest is dropped beyond this


class GraphedDecoder:
    """``decoder(x, t, scene, geo)`` captured once for fixed shapes; ``scene``/``geo`` bound."""

    def __init__(self, decoder: FlowDecoder, x, t, scene, geo):
        self.x, self.t, self.scene = x.clone(), t.clone(), scene.clone()
        self.geo = None if geo is None else {k: v.clone() for k, v in geo.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up (lazy initialisation) off the capture
            for _ in range(2):
                decoder(self.x, self.t, self.scene, self.geo)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = decoder(self.x, self.t, self.scene, self.geo)

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
        torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"),
        torch.is_inference_mode_enabled(),
        tuple(p.data_ptr() for p in decoder.parameters()),
    )  # fmt: skip
    graphs = _CACHE.setdefault(decoder, {})
    if key in graphs:
        return graphs[key] and graphs[key].bind(scene, geo)
    if len(graphs) >= _MAX_GRAPHS:
        graphs.pop(next(iter(graphs)))
    try:
        graphs[key] = GraphedDecoder(decoder, x, t, scene, geo)
    except RuntimeError as exc:  # e.g. an op that cannot be captured: stay eager
        _LOG.warning("CUDA graph capture failed, decoding eagerly: %s", exc)
        graphs[key] = None
    return graphs[key]


class GraphedEncoder:
    """``model.encode_images(pixels, pose_in, pose_known)`` captured for fixed shapes."""

    def __init__(self, model: Nova3r, pixels, pose_in, pose_known):
        self.inputs = (pixels.clone(), pose_in.clone(), pose_known.clone())
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up (lazy initialisation) off the capture
            for _ in range(2):
                model.encode_images(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = model.encode_images(*self.inputs)

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
    key = (
        "encoder", tuple(pixels.shape), pixels.dtype, tuple(pose_in.shape), str(pixels.device),
        torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"),
        torch.is_inference_mode_enabled(),
        tuple(p.data_ptr() for p in model.parameters()),
    )  # fmt: skip
    graphs = _CACHE.setdefault(model, {})
    if key in graphs:
        return graphs[key]
    if len(graphs) >= _MAX_GRAPHS:
        graphs.pop(next(iter(graphs)))
    try:
        graphs[key] = GraphedEncoder(model, pixels, pose_in, pose_known)
    except RuntimeError as exc:  # e.g. an op that cannot be captured: stay eager
        _LOG.warning("CUDA graph capture of the encoder failed, encoding eagerly: %s", exc)
        graphs[key] = None
    return graphs[key]
