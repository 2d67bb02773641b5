"""Plot issue 11's validation numbers against cumulative training steps, one panel per part.

Each panel lays the training runs of one model part along one axis of cumulative steps.
A run is named by its log (``docs/training/*.jsonl``) with an optional start:

- ``LOG``: it starts where the panel's previous log ended (that log's last step);
- ``LOG:N``: it continues from step N of the panel's previous log (``INIT=`` from a
  saved best step that was not the last one, as the voxel head's runs did);
- ``LOG@N``: it starts at cumulative step N. This opens a new line style: a branch
  (two runs from the same step) or another lineage (``@0``).

Rows read: every line holding a ``val`` dict (the hidden-surface head's
``hidden_train.jsonl``, the voxel head's ``voxel_train`` log) or a ``criterion`` (the
decoder's in-training ``validation.jsonl``); loss-only lines give the log's last step.
Validation rows at a run's step 0 are kept: they score the weights the run started from.

Usage:
    python scripts/plot_training_history.py OUT.png      # issue 11's runs, as below
    python scripts/plot_training_history.py OUT.png --voxel A.jsonl B.jsonl:2913
    python scripts/plot_training_history.py OUT.png [--decoder LOG ...] [--hidden LOG ...]
        [--voxel LOG ...] [--voxel-prototype LOG ...] [--mark PANEL:STEP:label ...]

Without a panel option the figure holds the default runs (``DEFAULT_RUNS``, read from the
repository's ``docs/training``), with their marks; with one or more, only those panels.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING = "docs/training/"

# Panel name -> (title, x label, ((metric key, legend label), ...)).
PANELS = {
    "decoder": (
        "Decoder, stage-3 sim-to-real runs 13-15: in-training validation\n"
        "(torch-only region F-scores, 16 windows a set; decoder alone)",
        "steps since the shipped run 8 (run 12's 1,376 steps before run 13)",
        (
            ("real_1v/f@5cm", "dev frames, 1 view, F@5cm"),
            ("real_4v/f@5cm", "dev frames, 4 views, F@5cm"),
            ("room_1v/f@5cm", "val rooms, 1 view, F@5cm"),
            ("tabletop_1v/f@1cm", "val tabletops, 1 view, F@1cm"),
            ("criterion", "criterion (best step kept)"),
        ),
    ),
    "hidden": (
        "Hidden-surface head, the shipped lineage (sessions 12-31):\n"
        "its own points on the dev frames at confidence >= 0.3 (no judged rule)",
        "cumulative steps (to the step each next run started from)",
        (
            ("real_1v/head_precision@0.3", "1 view, precision@5cm"),
            ("real_1v/head_hidden_recall@0.3", "1 view, hidden recall@5cm"),
            ("real_4v/head_precision@0.3", "4 views, precision@5cm"),
            ("real_4v/head_hidden_recall@0.3", "4 views, hidden recall@5cm"),
        ),
    ),
    "voxel": (
        "Voxel completion head (package), sessions 43-46:\n"
        "own validation, 48 rooms 1,500,000+, 1 view",
        "cumulative steps (each run from the previous run's best step)",
        (
            ("precision@5cm@0.5", "precision@5cm at 0.5"),
            ("hidden_covered@5cm@0.5", "hidden covered@5cm at 0.5"),
            ("precision@5cm@0.7", "precision@5cm at 0.7"),
            ("hidden_covered@5cm@0.7", "hidden covered@5cm at 0.7"),
        ),
    ),
    "voxel_prototype": (
        "Voxel prototype (session 41, H200) and CPU-trained head (session 42):\n"
        "own validation, rooms 1,500,000+, 1 view",
        "cumulative steps of each lineage",
        (
            ("precision@5cm@0.7", "precision@5cm at 0.7"),
            ("hidden_covered@5cm@0.7", "hidden covered@5cm at 0.7"),
            ("precision@5cm@0.85", "precision@5cm at 0.85"),
            ("hidden_covered@5cm@0.85", "hidden covered@5cm at 0.85"),
        ),
    ),
}

# The runs behind docs/training/issue11_ledger.md's figure. Starts from the notes:
# decoder docs/training/session6.md-session8.md (run 13 from run 12's end, 1,376 steps
# after run 8; runs 14 and 15 both from run 13's step 994); hidden head
# docs/eval/session{12,13,28,29,30,31}/README.md (the steps that shipped, 14,881 / 15,734 /
# 18,080 / 20,602); voxel head docs/eval/session{43,45,46}/README.md (5,359 / 6,783 /
# 9,708 in all); prototype docs/eval/session41/README.md (run 2 from run 1's step 4,368).
DEFAULT_RUNS = {
    "decoder": [
        TRAINING + "session6_run13_validation_in_training.jsonl@1376",
        TRAINING + "session7_run14_validation_in_training.jsonl@2370",
        TRAINING + "session8_run15_validation_in_training.jsonl@2370",
    ],
    "hidden": [
        TRAINING + "session12_hidden_head_gpu1.jsonl",
        TRAINING + "session12_hidden_head_gpu2.jsonl",
        TRAINING + "session12_hidden_head_gpu3.jsonl",
        TRAINING + "session13_hidden_head_gpu4.jsonl",
        TRAINING + "session13_hidden_head_gpu5_kitchen.jsonl",
        TRAINING + "session13_hidden_head_gpu6_kitchen.jsonl",
        TRAINING + "session28_hidden_head_witness12_a.jsonl",
        TRAINING + "session29_hidden_head_anchored_mode_a.jsonl:853",
        TRAINING + "session29_hidden_head_anchored_mode_b.jsonl",
        TRAINING + "session30_hidden_head_anchored_mode_c.jsonl:1119",
        TRAINING + "session30_hidden_head_anchored_mode_d.jsonl:1234",
        TRAINING + "session31_hidden_head_anchored_mode_e.jsonl:1288",
        TRAINING + "session31_hidden_head_anchored_mode_f.jsonl",
    ],
    "voxel": [
        TRAINING + "session43_voxel_h200.jsonl",
        TRAINING + "session45_voxel_h100.jsonl:2913",
        TRAINING + "session45_voxel_h100_run3.jsonl:2446",
        TRAINING + "session46_voxel_h200.jsonl",
    ],
    "voxel_prototype": [
        TRAINING + "session41_voxel_run1.jsonl",
        TRAINING + "session41_voxel_run2.jsonl:4368",
        TRAINING + "session41_voxel_run3.jsonl",
        TRAINING + "session42_voxel_cpu.jsonl@0",
    ],
}
DEFAULT_MARKS = {
    "decoder": [(1376, "run 13"), (2370, "runs 14 (levelled), 15 (256x192)")],
    "hidden": [
        (4898, "shipped s12"),
        (10208, "kitchens in the mix"),
        (14881, "shipped s13; witnesses"),
        (15734, "anchored mode"),
        (18080, "s30"),
        (20602, "s31"),
        (23154, "shipped s32"),
    ],
    "voxel": [
        (2913, "s45 H100; validation at 5 points per cell"),
        (5359, "s45 run 3"),
        (6783, "s46 H200"),
    ],
    "voxel_prototype": [(4368, "run 2"), (5943, "run 3")],
}
LINE_STYLES = ("-", "--", ":", "-.")
SPEC = re.compile(r"^(?P<path>.+?)(?:(?P<kind>[:@])(?P<step>\d+))?$")


@dataclass
class Run:
    """One training log placed on its panel's axis of cumulative steps."""

    path: Path
    start: int  # cumulative step of the log's step 0
    last: int  # the log's last step (its own count)
    lineage: int  # 0 for the first run, +1 at every LOG@N
    rows: list[tuple[int, dict]] = field(default_factory=list)  # (cumulative step, metrics)


def parse_spec(spec: str) -> tuple[Path, str, int]:
    """Split ``LOG``, ``LOG:N`` or ``LOG@N`` into (path, kind, N); kind is '', ':' or '@'."""
    m = SPEC.match(spec)
    if m is None:
        raise ValueError(f"not a log spec: {spec!r}")
    return Path(m["path"]), m["kind"] or "", int(m["step"] or 0)


def read_log(path: Path) -> tuple[list[tuple[int, dict]], int]:
    """Return (step, metrics) of the log's validation lines and its last step.

    A validation line holds a ``val`` dict (the metrics) or a ``criterion`` (the line's
    own keys, less ``step`` and ``seconds``, are the metrics). Lines are JSON objects with
    a ``step``; blank lines are skipped.
    """
    rows, last = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        step = int(row["step"])
        last = max(last, step)
        if isinstance(row.get("val"), dict):
            rows.append((step, row["val"]))
        elif "criterion" in row:
            rows.append((step, {k: v for k, v in row.items() if k not in ("step", "seconds")}))
    return rows, last


def read_runs(specs: list[str], root: Path | None = None) -> list[Run]:
    """Read a panel's logs in order and place each on the cumulative axis (see the module).

    Relative paths are taken from ``root`` (default: the working directory).
    """
    runs: list[Run] = []
    for spec in specs:
        path, kind, n = parse_spec(spec)
        if root is not None and not path.is_absolute():
            path = root / path
        rows, last = read_log(path)
        lineage = runs[-1].lineage if runs else 0
        if kind == "@":
            start = n
            lineage += 1 if runs else 0
        elif not runs:
            start = n if kind == ":" else 0
        elif kind == ":":
            if n > runs[-1].last:
                raise ValueError(f"{spec}: step {n} is past {runs[-1].path.name}'s last step")
            start = runs[-1].start + n
        else:
            start = runs[-1].start + runs[-1].last
        runs.append(Run(path, start, last, lineage, [(start + s, m) for s, m in rows]))
    return runs


def metric(metrics: dict, key: str) -> float | None:
    """Return ``metrics[key]`` as a float, or None where it is missing, NaN or undefined.

    A precision is undefined where its threshold kept no point: ``...precision@T`` is
    dropped when the log's matching ``...points@T`` or ``points_per_window@T`` is 0.
    """
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    if "precision" in key:
        for count_key in (
            key.replace("precision", "points"),
            key.replace("precision@5cm", "points_per_window"),
        ):
            if count_key != key and metrics.get(count_key) == 0:
                return None
    return float(value)


def draw_panel(ax, name: str, runs: list[Run], marks: list[tuple[int, str]]) -> None:
    """Draw one panel: each metric in its colour, each lineage in its line style."""
    from matplotlib.lines import Line2D

    title, xlabel, metrics = PANELS[name]
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red", "black")
    handles = []
    for (key, label), colour in zip(metrics, colours, strict=False):
        for run in runs:
            pts = [(s, metric(m, key)) for s, m in run.rows]
            pts = [(s, v) for s, v in pts if v is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                style = LINE_STYLES[run.lineage % len(LINE_STYLES)]
                ax.plot(xs, ys, style, color=colour, marker=".", ms=4, lw=1.1)
        handles.append(Line2D([], [], color=colour, marker=".", label=label))
    lineages: dict[int, list[str]] = {}
    for run in runs:
        lineages.setdefault(run.lineage, []).append(run.path.stem)
    if len(lineages) > 1:
        for lineage, stems in lineages.items():
            style = LINE_STYLES[lineage % len(LINE_STYLES)]
            label = stems[0] + (f" + {len(stems) - 1} more" if len(stems) > 1 else "")
            handles.append(Line2D([], [], color="grey", ls=style, label=label))
    for step, label in marks:
        ax.axvline(step, color="grey", lw=0.7, ls=":")
        ax.text(step, 0.99, f" {label}", transform=ax.get_xaxis_transform(), fontsize=6,
                va="top", ha="left", rotation=90, color="dimgrey")  # fmt: skip
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=6, loc="best", framealpha=0.85)


def main(argv: list[str] | None = None) -> int:
    """Write the figure; exit 2 on unreadable logs or specs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    for name in PANELS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, nargs="+", metavar="LOG")
    p.add_argument("--mark", action="append", default=[], help="PANEL:STEP:label")
    args = p.parse_args(argv)
    chosen = {name: getattr(args, name) for name in PANELS if getattr(args, name)}
    marks: dict[str, list[tuple[int, str]]] = {}
    root = None
    if not chosen:
        chosen, root = DEFAULT_RUNS, ROOT
        marks = {name: list(m) for name, m in DEFAULT_MARKS.items()}
    try:
        for mark in args.mark:
            name, step, label = mark.split(":", 2)
            if name not in PANELS:
                raise ValueError(f"--mark {mark!r}: no panel {name!r}")
            marks.setdefault(name, []).append((int(step), label))
        panels = {name: read_runs(specs, root) for name, specs in chosen.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 1 if len(panels) == 1 else 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.3 * rows), squeeze=False)
    for ax, (name, runs) in zip(axes.flat, panels.items(), strict=False):
        draw_panel(ax, name, runs, marks.get(name, []))
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    plt.close(fig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
