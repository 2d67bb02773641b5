"""Plot the voxel prototype's own validation over its three training runs (session 41).

Usage: python docs/eval/session41/plot_voxel_validation.py OUT.png RUN1.jsonl RUN2.jsonl ...
(the runs in order; each continues the one before, so steps add up).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    """Read the runs' validation rows and draw precision and coverage against the step."""
    out, runs = sys.argv[1], sys.argv[2:]
    fig, ax = plt.subplots(figsize=(7, 4))
    offset = 0
    series = {"precision@5cm@0.7": [], "hidden_covered@5cm@0.7": []}
    steps, marks = [], []
    for path in runs:
        last = 0
        with open(path) as f:
            rows = [json.loads(line) for line in f]
        for row in rows:
            last = max(last, row["step"])
            if "val" in row:
                steps.append(offset + row["step"])
                for k in series:
                    series[k].append(row["val"][k])
        offset += last
        marks.append(offset)
    for k, v in series.items():
        ax.plot(steps, v, "o-", label=k.replace("@0.7", " (threshold 0.7)"))
    for m in marks[:-1]:
        ax.axvline(m, color="grey", lw=0.5, ls="--")
    ax.axhline(
        0.486,
        color="k",
        lw=0.8,
        ls=":",
        label="shipped cloud, all parts (session 38, 30 of these rooms)",
    )
    ax.set_xlabel("training step (runs 1-3, 8 windows per step)")
    ax.set_ylabel("48 validation rooms, 1 view")
    ax.set_title("Voxel completion prototype: its own validation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
