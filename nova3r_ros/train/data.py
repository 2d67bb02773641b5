"""Training batches: which windows a step trains on, and how they are generated.

:func:`plan_batch` decides a batch (view count, family, robot mix or benchmark camera
configuration, the window seeds) from the run seed, the batch index and the rank alone;
:func:`render_batch` generates it on the device and applies the sensor models. With
``data_workers`` > 0, :class:`BatchSource` lays the scenes of the next batches out in a
:class:`~nova3r_ros.synth.scene_pool.ScenePool` while the device trains on the current
one; the windows are the same as without workers.
"""

from __future__ import annotations

from dataclasses import replace

import torch

EVAL_SEED_START = 1_000_000
FRUSTUM_OVERSAMPLE = 4  # ground truth drawn per target point before the region cut


def _generator(cfg, index: int, rank: int, salt: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(cfg.seed * 1_000_003 + index * 9176 + rank + salt)


def plan_batch(cfg, model_cfg, index: int, rank: int, device) -> tuple[list[int], object]:
    """Return batch ``index``'s ``(seeds, SynthConfig)`` (all windows share a view count).

    With probability ``p_robot`` the batch comes from the robot mix
    (:func:`nova3r_ros.synth.training_mix.training_config`: clutter, shelves, counters,
    furnished rooms, wide camera ranges), else from the benchmark's camera configuration
    (tabletop, or room with ``p_room``; 3 or more views use the 4-view configuration with
    that many cameras). Seeds stay below :data:`EVAL_SEED_START`.
    """
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.training_mix import training_config

    g = _generator(cfg, index, rank)
    n_views = cfg.views[int(torch.randint(len(cfg.views), (1,), generator=g))]
    family = "room" if float(torch.rand(1, generator=g)) < cfg.p_room else "tabletop"
    robot = float(torch.rand(1, generator=g)) < cfg.p_robot
    size = dict(height=model_cfg.image_height, width=model_cfg.image_width,
                n_gt_points=cfg.n_points * (FRUSTUM_OVERSAMPLE if cfg.targets == "frustum" else 1),
                mesh_dir=cfg.mesh_dir, mesh_exclude=cfg.mesh_exclude,
                device=str(device))  # fmt: skip
    if robot:
        synth = training_config(g, n_views, family_weights=cfg.family_weights, **size)
    else:
        synth = benchmark_config({1: 1, 2: 2}.get(n_views, 4), family=family, **size)
        synth = replace(synth, n_views=n_views)
    if cfg.witnesses:  # batch["witnessed"]: what witness cameras see too (laid out with it)
        synth = replace(synth, witnesses=cfg.witnesses)
    base = (cfg.seed * 7919 + index * 64 + rank * 1_000_000_007) % (EVAL_SEED_START - cfg.batch)
    return [base + i for i in range(cfg.batch)], synth


def render_batch(cfg, index: int, rank: int, seeds, synth, device, built=None) -> dict:
    """Generate the planned batch on ``device``; degrade windows with ``p_sensor``.

    With ``cfg.targets == "frustum"`` the ground truth is cut to the views' frustum region
    (:func:`~nova3r_ros.train.targets.frustum_targets`, ``n_points`` per window).

    ``built``: the scenes of ``seeds`` laid out already (a scene pool), or None.
    """
    from nova3r_ros.synth.generate import generate_batch
    from nova3r_ros.synth.sensor import degrade_batch
    from nova3r_ros.train.targets import frustum_targets

    batch = generate_batch(seeds, config=synth, device=device, built=built)
    g = _generator(cfg, index, rank, salt=7_777)
    if cfg.targets == "frustum":  # on the clean depth, before any sensor model
        batch = frustum_targets(batch, cfg.n_points, g)
    if cfg.p_sensor > 0:
        batch = degrade_batch(batch, g, p_clean=1.0 - cfg.p_sensor)
    return batch


def synth_batch(cfg, model_cfg, index: int, rank: int, device) -> dict:
    """Plan and generate batch ``index`` in this process (see :func:`plan_batch`)."""
    seeds, synth = plan_batch(cfg, model_cfg, index, rank, device)
    return render_batch(cfg, index, rank, seeds, synth, device)


class BatchSource:
    """Batches 0, 1, 2, ... for one rank, with scene layout in ``workers`` processes.

    Args:
        cfg: the :class:`~nova3r_ros.train.loop.TrainConfig`.
        model_cfg: the model config (input image size).
        rank: this process's rank.
        device: where batches are rendered.
        workers: scene-layout processes (0 = lay out in this process).
        depth: batches laid out ahead of the current one.
        start: the first batch index (a resumed run continues where it stopped).
    """

    def __init__(self, cfg, model_cfg, rank: int, device, workers: int = 0, depth: int = 2,
                 start: int = 0):  # fmt: skip
        self.cfg, self.model_cfg, self.rank, self.device = cfg, model_cfg, rank, device
        self.index = start
        self._pool = self._prefetch = None
        if workers > 0:
            from nova3r_ros.synth.scene_pool import Prefetcher, ScenePool

            self._pool = ScenePool(workers)
            self._prefetch = Prefetcher(self._pool, lambda i: self._plan(start + i), depth)
            self._prefetch.start()  # the workers start laying out while the model loads

    def _plan(self, index: int):
        return plan_batch(self.cfg, self.model_cfg, index, self.rank, self.device)

    def next(self) -> dict:
        """Return the next batch (a ``generate_batch`` dict on the device)."""
        index, self.index = self.index, self.index + 1
        if self._prefetch is None:
            seeds, synth = self._plan(index)
            built = None
        else:
            seeds, synth, built = self._prefetch.next()
        return render_batch(self.cfg, index, self.rank, seeds, synth, self.device, built)

    def close(self) -> None:
        """Stop the scene-layout processes."""
        if self._pool is not None:
            self._pool.close()
            self._pool = self._prefetch = None
