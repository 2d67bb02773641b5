"""Plot the hidden-surface head's validation over consecutive training runs.

Each log is a ``hidden_train.jsonl`` (``nova3r_ros.train.hidden_train``); runs that
continue one another (``--init``) are laid end to end: a run's steps are offset by the
steps of the runs before it. Plotted per saved step: the synthetic validation loss and,
on the 7-Scenes dev frames (validation only), the precision and hidden recall of the
head's points at each confidence threshold, for 1 and 4 views.

Usage: python scripts/plot_hidden_validation.py OUT.png RUN1.jsonl [RUN2.jsonl ...]
       [--mark STEP:label ...]   (vertical lines, e.g. where the training mix changed)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def rows(paths: list[Path]) -> list[tuple[int, dict]]:
    """Return (cumulative step, val dict) of every validation line of the runs in order."""
    out, offset = [], 0
    for path in paths:
        last = 0
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if "val" in row and (row["step"] > 0 or not out):
                out.append((offset + row["step"], row["val"]))
            last = max(last, row["step"])
        offset += last
    return out


def main(argv=None) -> int:
    """Write the figure; exit 2 on unreadable logs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("logs", nargs="+", type=Path)
    p.add_argument("--mark", action="append", default=[], help="STEP:label")
    args = p.parse_args(argv)
    try:
        data = rows(args.logs)
        marks = [(int(m.split(":", 1)[0]), m.split(":", 1)[1]) for m in args.mark]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s, _ in data]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].plot(steps, [v["total"] for _, v in data], "k.-")
    axes[0].set_title("synthetic validation loss (BCE + NLL)")
    for ax, key in zip(axes[1:], ("precision", "hidden_recall"), strict=True):
        for views, style in (("1v", "-"), ("4v", "--")):
            for t, colour in (("0.2", "tab:blue"), ("0.3", "tab:orange"), ("0.5", "tab:green")):
                k = f"real_{views}/head_{key}@{t}"
                pts = [(s, v[k]) for s, v in data if k in v and v[k] == v[k]]
                if pts:
                    ax.plot(*zip(*pts, strict=True), style, color=colour, marker=".",
                            label=f"{views}, confidence >= {t}")  # fmt: skip
        ax.set_title(f"dev frames: head points' {key.replace('_', ' ')}@5cm")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("training step (runs end to end)")
        for s, label in marks:
            ax.axvline(s, color="grey", lw=0.8, ls=":")
            ax.text(s, ax.get_ylim()[1], label, fontsize=7, va="top", rotation=90)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
