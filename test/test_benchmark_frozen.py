"""The synthetic benchmark windows (seeds 1,000,000-1,000,099) must never change.

The digests below were measured from the generator as it was when they were frozen
(CPU, 256x192, ``benchmark_config(n_views)`` with its defaults, no meshes). A failing test
means a change to scenes, rigs, rendering or ground-truth sampling altered the benchmark:
keep the benchmark's code path unchanged (e.g. put the change behind an option that is
off for the benchmark) rather than updating the digests, or the published numbers stop
being comparable.
"""

import hashlib

import numpy as np
import pytest

from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

FROZEN = {
    (1_000_000, 1): "65f9b5e8483c8aec01aa64d087c3c02985a22ec58560844a1ab91c2d95817a90",
    (1_000_001, 1): "325f89c08766e607c7069a7e3019b33eff42e55ea8cbe5d86f9e02621a021938",
    (1_000_002, 4): "6f061af3b8b686a762840d92a2f1639569c69eb985db3bad6c690ab439acd340",
}


def _fixed(x, step: float = 1e-5) -> bytes:
    """Round to a grid (m) and take int64 bytes, so last-bit float noise cannot matter."""
    return np.round(np.asarray(x, np.float64) / step).astype(np.int64).tobytes()


def window_digest(seed: int, n_views: int) -> str:
    """Return the SHA-256 of one benchmark window.

    Over images (uint8), depths (1e-5 m), K and poses (float32), GT points (1e-5 m) and
    visibility.
    """
    window, gt = generate_window(seed, benchmark_config(n_views))
    h = hashlib.sha256()
    for view in window.views:
        assert view.image.shape == (192, 256, 3) and view.image.dtype == np.uint8
        h.update(np.ascontiguousarray(view.image).tobytes())
        h.update(_fixed(view.depth))
        h.update(np.asarray(view.K, np.float32).tobytes())
        h.update(np.asarray(view.T_world_cam, np.float32).tobytes())
    h.update(_fixed(gt.points))
    h.update(np.asarray(gt.visible, np.bool_).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(("seed", "n_views"), sorted(FROZEN))
def test_benchmark_window_is_frozen(seed, n_views):
    assert window_digest(seed, n_views) == FROZEN[(seed, n_views)]
