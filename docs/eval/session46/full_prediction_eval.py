"""Session 46 probe: ``nova3r eval`` with the prediction scored whole (no 16,384-point subsample).

The frustum protocol (``eval/frustum.py``) subsamples the predicted cloud (cut to the
region) and the reference to 16,384 points each. Where the published cloud's observed
points are far denser per square metre than its completed ones (1 cm spacing against a
few points per 10 cm voxel cell), the subsample keeps few completed points and
``hidden_recall`` falls with it. This runs the same command with the prediction kept
whole (the reference still subsampled, as in the protocol), to separate what the
subsample costs from what the published cloud's rules cost. Diagnostic only; every table
of the README uses the protocol as it is.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python docs/eval/session46/full_prediction_eval.py
       <nova3r eval arguments>
"""

import sys

from nova3r_ros import cli
from nova3r_ros.eval import frustum
from nova3r_ros.eval.metrics import N_EVAL_POINTS, resample


def _resample_target_only(points, n=N_EVAL_POINTS, seed=0):
    """Subsample the reference (odd seeds) as the protocol does; keep the prediction whole."""
    return resample(points, n, seed) if seed % 2 else points


if __name__ == "__main__":
    frustum.resample = _resample_target_only
    sys.exit(cli.main(["eval", *sys.argv[1:]]))
