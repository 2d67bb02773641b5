"""Post-decode stages as CUDA graphs against their eager runs.

``measurement.measure`` (padded points) and ``depth_consistency.apply_depth_consistency``
(random draws taken before the graph). The padding is checked on the CPU (each point's
result depends on that point alone); graph replay needs a CUDA device (skipped
elsewhere) and must give the eager results.
"""

import pytest
import torch

from nova3r_ros.model import cuda_graphs
from nova3r_ros.model.depth_consistency import (
    CONSISTENCY_GRAPHS,
    DepthConsistency,
    apply_depth_consistency,
)
from nova3r_ros.model.measurement import (
    MEASURE_GRAPHS,
    Measurement,
    _classify,
    clean_pixels,
    measure,
    padded_count,
    region_depth,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
FIELDS = list(Measurement.__dataclass_fields__)


def scene(device="cpu", n=5000, views=3, seed=0):
    """Return points (n, 3) around 1-3 m in front of ``views`` cameras, their depth, K and T."""
    g = torch.Generator().manual_seed(seed)
    H, W = 48, 64
    depth = 1.0 + 2.0 * torch.rand(views, H, W, generator=g)
    depth[:, :5, :7] = 0.0  # a hole
    K = torch.tensor([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]]).repeat(views, 1, 1)
    T = torch.eye(4).repeat(views, 1, 1)
    T[:, 0, 3] = torch.linspace(0.0, 0.2, views)
    points = torch.rand(n, 3, generator=g) * torch.tensor([2.0, 1.5, 3.0]) - torch.tensor(
        [1.0, 0.75, 0.0]
    )
    return [x.to(device) for x in (points, depth, K, T)]


def test_padded_count_is_at_most_double_and_few_sizes():
    sizes = set()
    for n in range(1, 1_000_000, 997):
        p = padded_count(n)
        assert p >= n and p >= 4096 and p & (p - 1) == 0
        if n > 4096:
            assert p < 2 * n
        sizes.add(p)
    assert len(sizes) == 9  # 4096 ... 1048576


@pytest.mark.parametrize("n", [1, 37, 4096, 4097, 20_000])
def test_padding_changes_no_point(n):
    points, depth, K, T = scene(n=n)
    clean, z_far = clean_pixels(depth), region_depth(depth)
    plain = _classify(points, depth, K, T, clean, z_far, 0.1, 1 << 20)
    padded = torch.nn.functional.pad(points, (0, 0, 0, padded_count(n) - n))
    cols = _classify(padded, depth, K, T, clean, z_far, 0.1, 1 << 20)
    for a, b in zip(plain, cols, strict=True):
        assert torch.equal(a, b[:n])


@CUDA
@pytest.mark.parametrize("n", [1, 4096, 5000, 70_000])
def test_graph_gives_the_eager_measurement(n, monkeypatch):
    points, depth, K, T = scene("cuda", n=n, seed=n)
    monkeypatch.setattr(cuda_graphs, "ENABLED", False)
    eager = measure(points, depth, K, T, near_m=0.07)
    monkeypatch.setattr(cuda_graphs, "ENABLED", True)
    fallbacks, replays = MEASURE_GRAPHS.fallbacks, MEASURE_GRAPHS.replays
    first = measure(points, depth, K, T, near_m=0.07)
    again = measure(points.flip(0), depth, K, T, near_m=0.07)  # same size: replayed
    assert MEASURE_GRAPHS.fallbacks == fallbacks and MEASURE_GRAPHS.replays > replays
    for f in FIELDS:
        a, b, c = getattr(eager, f), getattr(first, f), getattr(again, f)
        assert a.shape == b.shape == (n,)
        if a.dtype == torch.bool:
            assert torch.equal(a, b) and torch.equal(a.flip(0), c), f
        else:
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(c, a.flip(0), rtol=1e-5, atol=1e-6)


@CUDA
@pytest.mark.parametrize(
    "config", [DepthConsistency(), DepthConsistency(plane_m=0.0), DepthConsistency(dedupe_m=0.0)]
)
def test_consistency_graph_gives_the_eager_points(config, monkeypatch):
    points, depth, K, T = scene("cuda", n=16_384, views=4, seed=5)
    depth[1, 10, 10] = float("nan")

    def run():
        gen = torch.Generator(device="cuda").manual_seed(7)
        return apply_depth_consistency(points, depth, K, T, config, gen)

    monkeypatch.setattr(cuda_graphs, "ENABLED", False)
    eager = run()
    monkeypatch.setattr(cuda_graphs, "ENABLED", True)
    fallbacks, replays = CONSISTENCY_GRAPHS.fallbacks, CONSISTENCY_GRAPHS.replays
    first, again = run(), run()
    assert CONSISTENCY_GRAPHS.fallbacks == fallbacks and CONSISTENCY_GRAPHS.replays > replays
    for a, b, c in zip(eager, first, again, strict=True):
        assert a.shape == b.shape == c.shape
        if a.dtype == torch.bool:
            assert torch.equal(a, b) and torch.equal(a, c)
        else:
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(c, a, rtol=1e-5, atol=1e-6)
