"""Evaluation report: ``metrics.md`` (markdown table) and PNG figures.

``metrics.png``: bars per metric, one per method. ``example.png``: the first
window seen from above and from the side, ground truth in grey, each method's
observed points (near input depth) in blue and completed points in orange.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

TABLE_KEYS = (
    "fscore@1cm", "fscore@2cm", "fscore@5cm", "fscore@10cm", "precision@1cm", "precision@2cm",
    "precision@5cm", "recall@1cm", "recall@5cm", "hidden_recall@1cm", "hidden_recall@2cm",
    "hidden_recall@5cm", "hidden_fraction@2cm", "hidden_fraction@5cm", "completed_share@5cm",
    "completed_precision@5cm", "outside", "unjudged", "gated", "confidence_ece@5cm",
    "duplication", "fscore@0.05n", "rra@15", "rta@15", "auc@30", "ate", "seconds",
)  # fmt: skip


def markdown_table(result: dict[str, dict]) -> str:
    """Methods as rows, the table keys present in any method as columns."""
    keys = [k for k in TABLE_KEYS if any(k in m for m in result.values())]
    lines = ["| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for method, m in result.items():
        cells = []
        for k in keys:
            v = m.get(k)
            cells.append("-" if v is None or (isinstance(v, float) and math.isnan(v))
                         else f"{v:.3f}")  # fmt: skip
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, result: dict[str, dict], cfg, example=None) -> None:
    """Write metrics.md, metrics.png and (given a (window, gt) example) example.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    header = (f"# nova3r eval: {cfg.data}, {cfg.n_views} view(s), depth={not cfg.rgb_only}, "
              f"unposed={cfg.unposed}\n\n")  # fmt: skip
    (out / "metrics.md").write_text(header + markdown_table(result))
    keys = [k for k in TABLE_KEYS[:-1] if any(k in m for m in result.values())]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.0 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        names = [n for n in result if key in result[n]]
        ax.bar(range(len(names)), [result[n][key] for n in names], color="tab:blue")
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        ax.set_title(key, fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)
    if example is not None:
        _example_figure(out / "example.png", *example, cfg)


def _example_figure(path: Path, window, gt, cfg) -> None:
    import matplotlib.pyplot as plt

    from nova3r_ros.eval.run import reconstructions

    recs = reconstructions(window, gt, cfg)
    fig, axes = plt.subplots(2, max(1, len(recs)), figsize=(3.2 * max(1, len(recs)), 6),
                             squeeze=False)  # fmt: skip
    rng = np.random.default_rng(0)
    g = gt.points[rng.choice(len(gt.points), min(20_000, len(gt.points)), replace=False)]
    for col, (name, rec) in enumerate(recs.items()):
        pts = rec.points
        if rec.frame == "reference":
            T = gt.T_world_cam[0]
            pts = pts @ T[:3, :3].T.astype(np.float32) + T[:3, 3].astype(np.float32)
        keep = rng.choice(len(pts), min(20_000, len(pts)), replace=False) if len(pts) else []
        pts, obs = pts[keep], rec.observed[keep]
        for row, (a, b) in enumerate(((0, 1), (0, 2))):
            ax = axes[row, col]
            ax.scatter(g[:, a], g[:, b], s=0.2, c="0.75")
            ax.scatter(pts[obs, a], pts[obs, b], s=0.2, c="tab:blue")
            ax.scatter(pts[~obs, a], pts[~obs, b], s=0.2, c="tab:orange")
            ax.set_aspect("equal")
            ax.set_title(f"{name}: {'top' if row == 0 else 'side'}", fontsize=8)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
