"""Periodic validation inside a training run: scores logged, the best step's checkpoint kept.

Writes ``<out>/validation.jsonl`` (one row per validation: step, seconds, the scores of
:func:`nova3r_ros.train.validate.score` and, with ``val_criterion`` ``pose``, of
:func:`nova3r_ros.train.validate.pose_scores`, the criterion) and, whenever the criterion is the
best so far, the inference checkpoint ``<out>/best`` (bfloat16, like the final one). A
resumed run starts from the best of the run it continues (``<resume>/best``), so the best
over all segments is kept.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from nova3r_ros.model.checkpoint import save_checkpoint
from nova3r_ros.model.config import CONFIGS
from nova3r_ros.train.validate import criterion, default_sets, pose_scores, pose_sets, score


class Validation:
    """Validation sets of one run and its best step so far (rank 0 only)."""

    def __init__(self, cfg, device, out_dir: Path) -> None:
        t0 = time.monotonic()
        self.cfg, self.out_dir = cfg, Path(out_dir)
        mc = CONFIGS[cfg.model]  # synthetic windows at twice the input size, as nova3r eval
        self.sets = default_sets(device, cfg.val_7scenes, cfg.val_windows,
                                 2 * mc.image_height, 2 * mc.image_width)  # fmt: skip
        self.poses = []
        if cfg.val_criterion == "pose":
            self.poses = pose_sets(device, 2 * cfg.val_windows, 2 * mc.image_height,
                                   2 * mc.image_width)  # fmt: skip
        self.build_seconds = time.monotonic() - t0
        self.best: dict | None = None
        self.rows = 0
        previous = Path(cfg.resume or "") / "best"
        if cfg.resume and (previous / "config.json").is_file():  # a resumed run's best so far
            meta = json.loads((previous / "config.json").read_text()).get("meta", {})
            if "validation" in meta:
                self.best = meta["validation"]
                shutil.copytree(previous, self.out_dir / "best", dirs_exist_ok=True)
        self._next = time.monotonic()

    def due(self) -> bool:
        """Return True when ``val_every`` minutes passed since the last validation."""
        return time.monotonic() >= self._next

    def run(self, model, step: int) -> dict:
        """Score ``model`` now; log it; keep it as ``best`` when the criterion improved."""
        t0 = time.monotonic()
        scores = score(model, self.sets)
        for vs in self.poses:
            scores.update(pose_scores(model, vs))
        value = criterion(scores, self.cfg.val_criterion)
        row = {"step": step, "criterion": round(value, 5), "seconds": 0.0,
               **{k: round(v, 5) for k, v in scores.items()}}  # fmt: skip
        if self.best is None or (math.isfinite(value) and value > self.best["criterion"]):
            self.best = dict(row)
            save_checkpoint(self.out_dir / "best", model, "bfloat16",
                            inference_only=self.cfg.stage >= 2, stage=self.cfg.stage, step=step,
                            meta={"validation": row})  # fmt: skip
        row["seconds"] = round(time.monotonic() - t0, 2)
        with open(self.out_dir / "validation.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps({"validation": row}), flush=True)
        self.rows += 1
        self._next = time.monotonic() + self.cfg.val_every * 60
        return row

    def summary(self) -> dict:
        """Return the best row and how many validations ran."""
        return {"validations": self.rows, "best": self.best,
                "build_seconds": round(self.build_seconds, 2)}  # fmt: skip
