"""Training data: dataset shards on disk and an on-the-fly iterable dataset.

Shards are ``shard_XXXXX.npz`` (or ``.safetensors`` when that package is installed and
asked for) holding the stacked arrays of :func:`~nova3r_ros.synth.generate.generate_batch`
for consecutive seeds, plus ``meta.json`` (config, seeds, format version). Window ``i`` of
a shard set written with ``seed`` is the window of seed ``seed + i``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from nova3r_ros.synth.config import SynthConfig
from nova3r_ros.synth.generate import generate_batch

FORMAT_VERSION = 1
KEYS = ("images", "depth", "ids", "K", "T_world_cam", "points", "visible", "seeds")


def write_shards(
    out_dir: str | Path,
    n_windows: int,
    config: SynthConfig,
    seed: int = 0,
    shard_size: int = 64,
    batch_size: int = 16,
    fmt: str = "npz",
) -> list[Path]:
    """Generate ``n_windows`` windows (seeds ``seed .. seed + n - 1``) into shard files.

    Args:
        out_dir: directory to create or reuse (existing shards are overwritten).
        n_windows: number of windows.
        config: generator configuration (its ``device`` renders).
        seed: seed of the first window.
        shard_size: windows per shard file.
        batch_size: windows generated per :func:`generate_batch` call.
        fmt: ``"npz"`` or ``"safetensors"``.

    Returns:
        The shard paths, in order.

    """
    if n_windows < 1 or shard_size < 1 or batch_size < 1:
        raise ValueError("n_windows, shard_size and batch_size must be >= 1")
    if fmt not in ("npz", "safetensors"):
        raise ValueError(f"fmt must be 'npz' or 'safetensors', got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s0 in range(0, n_windows, shard_size):
        seeds = list(range(seed + s0, seed + min(s0 + shard_size, n_windows)))
        parts = [generate_batch(seeds[i : i + batch_size], config=config)
                 for i in range(0, len(seeds), batch_size)]  # fmt: skip
        arrays = {k: torch.cat([p[k] for p in parts]).cpu().numpy() for k in KEYS}
        path = out / f"shard_{s0 // shard_size:05d}.{fmt}"
        if fmt == "npz":
            np.savez(path, **arrays)
        else:
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))
        paths.append(path)
    meta = {
        "format_version": FORMAT_VERSION,
        "n_windows": n_windows,
        "seed": seed,
        "shard_size": shard_size,
        "shards": [p.name for p in paths],
        "config": dataclasses.asdict(config),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return paths


def read_shard(path: str | Path) -> dict[str, torch.Tensor]:
    """Read one shard (npz or safetensors) into CPU tensors keyed as in ``generate_batch``."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    elif path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        arrays = load_file(str(path))
    else:
        raise ValueError(f"unknown shard format {path.suffix!r} ({path})")
    missing = set(KEYS) - set(arrays)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}")
    return {k: torch.from_numpy(np.ascontiguousarray(arrays[k])) for k in KEYS}


class ShardDataset(Dataset):
    """Map-style dataset over a shard directory; item ``i`` is window ``i`` as a dict.

    Items hold the per-window slices of :func:`read_shard` (``images`` (V, 3, H, W) uint8
    ...). One shard is cached at a time, so iterate in order (or shard-wise) for speed.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root / "meta.json"
        if not meta_path.is_file():
            raise ValueError(f"{self.root} has no meta.json (not a shard directory)")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported shard format version {self.meta.get('format_version')}")
        self.shard_size = int(self.meta["shard_size"])
        self._cache: tuple[int, dict[str, torch.Tensor]] | None = None

    def __len__(self) -> int:
        return int(self.meta["n_windows"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        s, j = divmod(i, self.shard_size)
        if self._cache is None or self._cache[0] != s:
            self._cache = (s, read_shard(self.root / self.meta["shards"][s]))
        return {k: v[j] for k, v in self._cache[1].items()}


class SynthStream(IterableDataset):
    """Windows generated on the fly; each DataLoader worker takes its own seeds.

    Batch ``j`` holds seeds ``base_seed + j * batch_size + (0 .. batch_size - 1)`` and is
    produced by worker ``j % num_workers``, so the stream is the same for any number of
    workers (up to order). Items are per-window dicts (``batch_size`` only sets how many
    are rendered together) unless ``yield_batches``, which yields whole batch dicts (use
    with ``DataLoader(batch_size=None)``; e.g. on the GPU with ``num_workers=0``).

    Args:
        config: generator configuration (``device``: where workers render; keep ``"cpu"``
            with worker processes).
        base_seed: seed of the first window.
        batch_size: windows rendered per call.
        n_windows: total windows (None = endless).
        yield_batches: yield batch dicts instead of single windows.

    """

    def __init__(
        self,
        config: SynthConfig,
        base_seed: int = 0,
        batch_size: int = 8,
        n_windows: int | None = None,
        yield_batches: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1 or (n_windows is not None and n_windows < 1):
            raise ValueError("batch_size and n_windows must be >= 1")
        self.config, self.base_seed, self.batch_size = config, int(base_seed), int(batch_size)
        self.n_windows, self.yield_batches = n_windows, yield_batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        j = wid
        while True:
            first = j * self.batch_size
            if self.n_windows is not None and first >= self.n_windows:
                return
            last = first + self.batch_size
            if self.n_windows is not None:
                last = min(last, self.n_windows)
            seeds = [self.base_seed + k for k in range(first, last)]
            batch = generate_batch(seeds, config=self.config)
            if self.yield_batches:
                yield batch
            else:
                for i in range(len(seeds)):
                    yield {k: v[i] for k, v in batch.items()}
            j += nw
