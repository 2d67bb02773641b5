"""Synthetic scenes, camera rigs, RGB-D rendering and amodal ground truth (torch + numpy).

Main entry points (imported lazily, so ``import nova3r_ros.synth.bag_writer`` stays light):

- :class:`~nova3r_ros.synth.config.SynthConfig`,
  :func:`~nova3r_ros.synth.config.benchmark_config`
- :func:`~nova3r_ros.synth.generate.generate_window` -> ``(Window, GroundTruth)``
- :func:`~nova3r_ros.synth.generate.generate_batch` -> dict of tensors
- :func:`~nova3r_ros.synth.dataset.write_shards`, :func:`~nova3r_ros.synth.dataset.read_shard`,
  :class:`~nova3r_ros.synth.dataset.ShardDataset`, :class:`~nova3r_ros.synth.dataset.SynthStream`
- :func:`~nova3r_ros.synth.training_mix.training_config` -> the training distribution's
  :class:`~nova3r_ros.synth.config.SynthConfig` for one batch
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SynthConfig": "config",
    "benchmark_config": "config",
    "BENCHMARK_CONFIGS": "config",
    "generate_window": "generate",
    "generate_batch": "generate",
    "write_shards": "dataset",
    "read_shard": "dataset",
    "ShardDataset": "dataset",
    "SynthStream": "dataset",
    "training_config": "training_mix",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import the public API on first use."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
