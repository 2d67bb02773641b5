"""``nova3r eval`` with fields of the plane completion's PlaneConfig overridden (experiments).

PublishConfig exposes the closing, reach and oblique rule; this reaches the rest (for
example ``max_planes``) without a code change, for every PlaneConfig the published cloud
builds in this process.

Usage: PYTHONPATH=. python scripts/eval_plane_config.py max_planes=8 reach_m=0.15 -- \
           <nova3r eval arguments>
"""

import sys

import nova3r_ros.model.publish_config as pc
from nova3r_ros.cli import main

cut = sys.argv.index("--")
over = {}
for kv in sys.argv[1:cut]:
    k, v = kv.split("=")
    over[k] = int(v) if k in ("max_planes", "max_rounds", "sample", "hypotheses") else float(v)
PlaneConfig = pc.PlaneConfig


def overridden(**fields) -> PlaneConfig:
    """Return a PlaneConfig: the command line's fields win over the caller's."""
    return PlaneConfig(**{**fields, **over})


pc.PlaneConfig = overridden
sys.exit(main(["eval", *sys.argv[cut + 1 :]]))
