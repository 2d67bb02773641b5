"""scripts/hidden_where_wrong.py's neighbourhood baselines on a hand-made depth map."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from hidden_where_wrong import neighbourhood


def test_neighbourhood_finds_a_nearby_depth_and_the_farthest_one():
    d = torch.zeros(1, 9, 9)  # one view of 9x9 cells, nothing measured ...
    d[0, 4, 6] = 2.00  # ... but a cell two to the right of the centre
    d[0, 0, 0] = 3.00  # and a far corner cell
    zt = torch.full((1, 9, 9), 2.03)
    far, near = neighbourhood(d, zt, radius=2)
    assert bool(near[0, 4, 4]) and float(far[0, 4, 4]) == 2.0  # within 2 cells
    assert not bool(near[0, 4, 1])  # 5 cells away: out of reach
    assert float(far[0, 1, 1]) == 3.0 and not bool(near[0, 1, 1])  # 3 m is not within 5 cm
    zt[0, 4, 4] = 2.06  # 6 cm off: not a hit
    assert not bool(neighbourhood(d, zt, radius=2)[1][0, 4, 4])
