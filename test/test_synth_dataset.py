"""Dataset shards (write/read) and the on-the-fly iterable dataset."""

import pytest
import torch
from torch.utils.data import DataLoader

from nova3r_ros.synth import (
    ShardDataset,
    SynthConfig,
    SynthStream,
    generate_batch,
    read_shard,
    write_shards,
)

CFG = SynthConfig(n_views=2, height=24, width=32, n_gt_points=500)


def test_shards_round_trip(tmp_path):
    paths = write_shards(tmp_path / "ds", 5, CFG, seed=100, shard_size=2, batch_size=2)
    assert [p.name for p in paths] == ["shard_00000.npz", "shard_00001.npz", "shard_00002.npz"]
    shard = read_shard(paths[1])
    assert shard["images"].shape == (2, 2, 3, 24, 32) and shard["seeds"].tolist() == [102, 103]
    ds = ShardDataset(tmp_path / "ds")
    assert len(ds) == 5
    ref = generate_batch([104, 101], config=CFG)
    for i, seed in ((0, 104), (1, 101)):
        item = ds[seed - 100]
        assert int(item["seeds"]) == seed
        for k in ("images", "depth", "points", "visible", "K", "T_world_cam"):
            assert torch.equal(item[k], ref[k][i]), k
    with pytest.raises(IndexError):
        ds[5]


def test_safetensors_shards(tmp_path):
    pytest.importorskip("safetensors")
    (path,) = write_shards(tmp_path, 2, CFG, seed=7, fmt="safetensors")
    assert path.suffix == ".safetensors"
    assert read_shard(path)["seeds"].tolist() == [7, 8]


def test_stream_is_worker_seeded_and_covers_every_seed_once():
    stream = SynthStream(CFG, base_seed=50, batch_size=2, n_windows=5)
    seeds = [int(x["seeds"]) for x in stream]
    assert seeds == [50, 51, 52, 53, 54]
    loader = DataLoader(stream, batch_size=None, num_workers=2)
    got = sorted(int(x["seeds"]) for x in loader)
    assert got == seeds
    batches = list(SynthStream(CFG, base_seed=0, batch_size=3, n_windows=4, yield_batches=True))
    assert [b["images"].shape[0] for b in batches] == [3, 1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="fmt"):
        write_shards("/tmp/unused_synth_shards", 1, CFG, fmt="hdf5")
    with pytest.raises(ValueError, match=r"meta\.json"):
        ShardDataset("/nonexistent")
