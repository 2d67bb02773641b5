"""Tests of the CUDA-graph replay of the pose refinements' loops (``model.cuda_graphs``).

The graph tests need a CUDA device (skipped elsewhere); on the CPU the refinements run
eagerly, which the other tests check. ``GRAPHS.captures`` / ``replays`` / ``fallbacks``
count what the cache did.
"""

import numpy as np
import pytest
import torch
from test_pose_refine import T_WORLD_REF, K, pose, render

from nova3r_ros.model import cuda_graphs
from nova3r_ros.model.cuda_graphs import GRAPHS
from nova3r_ros.model.pose_views import refine_views

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def window(n=8, half=False):
    """Return a window of ``n`` views: pose guesses a little off the truth, depth and K."""
    Kh, h, w = K.copy(), 120, 160
    if half:
        Kh[:2] /= 2
        h, w = 60, 80
    T_true = np.stack([pose([0, 1, 0.2], 1.5 * i, [0.025 * i, -0.005 * i, 0.01 * i])
                       for i in range(n)])  # fmt: skip
    rng = np.random.default_rng(1)
    T0 = T_true.copy()
    for i in range(1, n):
        T0[i] = T_true[i] @ pose(rng.normal(size=3), 1.0, rng.normal(size=3) * 0.01)
    d = torch.from_numpy(np.stack([render(T_WORLD_REF @ T, Kh, h, w) for T in T_true]))
    return T0, d, torch.from_numpy(np.stack([Kh] * n)).float()


def run(T0, d, Kd, device):
    return refine_views(T0, d.to(device), Kd.to(device))


def test_switch_and_cpu_inputs_run_eagerly(monkeypatch):
    monkeypatch.setenv("NOVA3R_CUDA_GRAPHS", "0")
    assert not cuda_graphs.enabled()
    monkeypatch.setenv("NOVA3R_CUDA_GRAPHS", "1")
    assert cuda_graphs.enabled()
    cache = cuda_graphs.GraphCache()
    x = torch.arange(4.0)
    (y,) = cache("double", lambda a: (2 * a,), x)
    assert torch.equal(y, 2 * x) and cache.captures == cache.replays == cache.fallbacks == 0


def test_little_runs_outside_graphs(monkeypatch):
    # On the CPU GRAPHS runs its functions eagerly; count the torch ops of a window's
    # refinement that run outside them (on a GPU: launched one by one, not replayed).
    # Each stage (chain batch, joint) is one graph; what is left is input copies, pose
    # arrays and the read back (was about 1150 with a graph per level).
    from torch.utils._python_dispatch import TorchDispatchMode

    inside, calls = [0], []

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.n += not inside[0]
            return func(*args, **(kwargs or {}))

    def cache(key, fn, *inputs):
        calls.append(key[0])
        inside[0] += 1
        try:
            return tuple(fn(*inputs))
        finally:
            inside[0] -= 1

    monkeypatch.setattr(cuda_graphs.GraphCache, "__call__", lambda self, *a: cache(*a))
    T0, d, Kd = window(2, half=True)
    with Count():
        vp = run(T0, d, Kd, "cpu")
    assert vp.ok.all() and calls == ["icp", "joint"]
    print(f"eager ops outside graphs: {Count.n}")
    assert Count.n < 300, Count.n


@CUDA
def test_graphs_give_the_eager_poses(monkeypatch):
    T0, d, Kd = window()
    monkeypatch.setenv("NOVA3R_CUDA_GRAPHS", "0")
    captures = GRAPHS.captures
    eager = run(T0, d, Kd, "cuda")
    assert GRAPHS.captures == captures
    monkeypatch.setenv("NOVA3R_CUDA_GRAPHS", "1")
    GRAPHS.clear()
    fallbacks = GRAPHS.fallbacks
    first, again = run(T0, d, Kd, "cuda"), run(T0, d, Kd, "cuda")
    print(f"captures {GRAPHS.captures - captures}, replays {GRAPHS.replays}, "
          f"fallbacks {GRAPHS.fallbacks - fallbacks}")  # fmt: skip
    assert GRAPHS.fallbacks == fallbacks and GRAPHS.captures > captures
    assert eager.ok.all() and eager.joint
    for vp in (first, again):
        assert np.abs(vp.T_ref_cam - eager.T_ref_cam).max() < 1e-5
        assert (vp.ok == eager.ok).all() and vp.joint == eager.joint


@CUDA
def test_same_shapes_replay_and_new_shapes_capture(monkeypatch):
    monkeypatch.setenv("NOVA3R_CUDA_GRAPHS", "1")
    GRAPHS.clear()
    T0, d, Kd = window()
    run(T0, d, Kd, "cuda")
    captures, replays, keys = GRAPHS.captures, GRAPHS.replays, len(GRAPHS.graphs)
    run(T0, d, Kd, "cuda")
    assert keys >= 2  # a graph for the chain's batch and one for the joint stage
    assert GRAPHS.captures == captures and GRAPHS.replays >= replays + keys
    T0h, dh, Kh = window(half=True)
    run(T0h, dh, Kh, "cuda")
    assert GRAPHS.captures >= captures + 2
    captures, replays = GRAPHS.captures, GRAPHS.replays
    run(T0h, dh, Kh, "cuda")
    assert GRAPHS.captures == captures and GRAPHS.replays >= replays + 2
    assert not GRAPHS.eager_keys  # no key fell back to eager


@CUDA
def test_cache_keeps_the_latest_keys():
    cache = cuda_graphs.GraphCache(max_keys=2)

    def f(a, b):
        return (a * b + 1, (a - b).abs().sum())

    for n in (3, 4, 5, 3):
        a, b = (torch.rand(n, device="cuda") for _ in range(2))
        y, s = cache(("f", 1.0), f, a, b)
        assert torch.allclose(y, a * b + 1) and torch.allclose(s, (a - b).abs().sum())
    assert cache.captures == 4 and cache.replays == 0 and len(cache.graphs) == 2
    a, b = (torch.rand(3, device="cuda") for _ in range(2))
    assert torch.allclose(cache(("f", 1.0), f, a, b)[0], a * b + 1)
    assert cache.captures == 4 and cache.replays == 1 and cache.fallbacks == 0


def test_storage_key_follows_the_parameters():
    """The graph key's parameter storage: cached, renewed when the parameters move."""
    from nova3r_ros.model.graphs import _storage_key

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    key = _storage_key(net)
    assert key == tuple(p.data_ptr() for p in net.parameters()) and _storage_key(net) == key
    net.double()  # every parameter gets new storage
    assert _storage_key(net) == tuple(p.data_ptr() for p in net.parameters()) != key
    net[0].weight = torch.nn.Parameter(torch.zeros(4, 3, dtype=torch.float64))  # the first
    assert _storage_key(net)[0] == net[0].weight.data_ptr()
