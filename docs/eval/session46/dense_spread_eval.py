"""Session 46 probe: ``nova3r eval`` with the voxel points spread as densely as a 2 cm grid.

The protocol's 16,384-point subsample weighs each part of the published cloud by its
point count (``full_prediction_eval.py``). This asks what the voxel head gives through
the protocol when its points are about as dense per square metre as the plane points: with
``--voxel-points-per-cell 9`` each completed cell gives, instead of a 3 x 3 square a
quarter of a cell apart, a 5 x 5 square 0.2 of a cell (2 cm in 10 cm cells) apart in the
plane of its neighbourhood (``model/voxel_spread.py``, patched in this process only; the
package's counts stay 1, 5 and 9). Diagnostic only.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session46/dense_spread_eval.py
       <nova3r eval arguments, with --voxel-head DIR --voxel-points-per-cell 9>
"""

import sys

from nova3r_ros import cli
from nova3r_ros.model import voxel_spread

_quarters = voxel_spread._steps


def _dense_steps(points_per_cell: int) -> list[tuple[float, float]]:
    """For 9: a 5 x 5 square 0.2 of a cell apart (in the spread's quarter-cell units)."""
    if points_per_cell != 9:
        return _quarters(points_per_cell)
    grid = (-1.6, -0.8, 0.0, 0.8, 1.6)  # x 0.25 cell: -0.4 .. 0.4 cell
    return [(a, b) for a in grid for b in grid if (a, b) != (0.0, 0.0)]


if __name__ == "__main__":
    voxel_spread._steps = _dense_steps
    sys.exit(cli.main(["eval", *sys.argv[1:]]))
