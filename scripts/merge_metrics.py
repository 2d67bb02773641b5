"""Merge the metrics.json of every evaluation folder under DIR into one JSON file.

Used by the GPU evaluation scripts. ``--md`` also concatenates their metrics.md;
``--prefix`` keeps only folders whose name starts with it; ``--keys`` prints one line
per folder and method with those metrics.

Usage: python scripts/merge_metrics.py DIR OUT.json [--md OUT.md] [--prefix P]
       [--keys k1 k2 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    """Merge, write and optionally print (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("out")
    ap.add_argument("--md", default=None)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--keys", nargs="*", default=[])
    args = ap.parse_args(argv)
    folders = [d for d in sorted(Path(args.dir).iterdir())
               if d.name.startswith(args.prefix) and (d / "metrics.json").exists()]  # fmt: skip
    res = {d.name: json.loads((d / "metrics.json").read_text()) for d in folders}
    Path(args.out).write_text(json.dumps(res, indent=1))
    if args.md:
        md = "".join(f"## {d.name}\n\n" + (d / "metrics.md").read_text() + "\n"
                     for d in folders if (d / "metrics.md").exists())  # fmt: skip
        Path(args.md).write_text(md)
        print(md)
    for name, methods in res.items():
        for method, m in methods.items():
            if args.keys:
                cells = " ".join(f"{k}={m[k]:.3f}" for k in args.keys if k in m)
                print(name, method, cells)
    return 0


if __name__ == "__main__":
    sys.exit(main())
