"""The voxel completion head's files (model.voxel_files) and its trainer (train.voxel_train).

Real files: safetensors + JSON written and read back, broken files refused with one clear
error; the trainer's command line run for a few seconds on the CPU with a tiny grid,
continued from its own state, and refusing bad arguments with exit code 2.
"""

import json
import pickle

import pytest
import torch
from test_voxel_completion import CFG, all_occupied, level_inputs, room_depth

from nova3r_ros.model.voxel_completion import VoxelConfig, VoxelHead
from nova3r_ros.model.voxel_files import load_voxel_head, save_voxel_head
from nova3r_ros.train import voxel_train
from nova3r_ros.train.voxel_validation import selection, validate, validation_windows

MESHES = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared/data/meshes"


def _trained_a_little() -> VoxelHead:
    """Return a head whose batch normalisation statistics moved off their defaults."""
    torch.manual_seed(0)
    head = VoxelHead(CFG).train()
    with torch.no_grad():
        head(level_inputs(room_depth()))
    return head.eval()


def test_a_saved_head_reads_back_the_same(tmp_path):
    head = _trained_a_little()
    x = level_inputs(room_depth())
    save_voxel_head(tmp_path / "f32", head, meta={"step": 3}, min_probability=0.6)
    back = load_voxel_head(tmp_path / "f32")
    assert back.config == head.config and back.min_probability == 0.6 and not back.training
    with torch.no_grad():
        a, b = head(x), back(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    save_voxel_head(tmp_path / "f16", head, half=True)
    half = load_voxel_head(tmp_path / "f16")
    assert half.min_probability == head.min_probability
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(half(x)[0]), torch.sigmoid(a[0]), atol=2e-2)
    doc = json.loads((tmp_path / "f32" / "voxel_head.json").read_text())
    assert doc["meta"] == {"step": 3} and tuple(doc["config"]["dims"]) == CFG.dims


def test_broken_files_are_refused_with_one_error(tmp_path):
    head = _trained_a_little()
    with pytest.raises(ValueError, match="min_probability"):
        save_voxel_head(tmp_path / "x", head, min_probability=1.5)
    good = tmp_path / "good"
    save_voxel_head(good, head)
    doc = json.loads((good / "voxel_head.json").read_text())
    cases = {
        "format": {**doc, "format": "nova3r-voxel-head-0"},
        "config": {**doc, "config": {**doc["config"], "cell_m": -1}},
        "shape": {**doc, "config": {**doc["config"], "channels": [4, 16]}},
        "threshold": {**doc, "min_probability": 2},
        "missing": {k: v for k, v in doc.items() if k != "config"},
    }
    for name, bad in cases.items():
        d = tmp_path / name
        d.mkdir()
        (d / "voxel_head.json").write_text(json.dumps(bad))
        (d / "voxel_head.safetensors").write_bytes((good / "voxel_head.safetensors").read_bytes())
        with pytest.raises(ValueError, match="not a voxel completion head"):
            load_voxel_head(d)
    pickled = tmp_path / "pickled"  # a pickle where the safetensors belong: never unpickled
    pickled.mkdir()
    (pickled / "voxel_head.json").write_text(json.dumps(doc))
    (pickled / "voxel_head.safetensors").write_bytes(pickle.dumps(head.state_dict()))
    with pytest.raises(ValueError, match="not a voxel completion head"):
        load_voxel_head(pickled)
    with pytest.raises(ValueError, match="not a voxel completion head"):
        load_voxel_head(tmp_path / "nowhere")


TINY = ["--device", "cpu", "--batch", "1", "--dims", "16", "16", "16", "--cell", "0.4",
        "--lower", "-3.2", "-3.2", "-0.4", "--channels", "4", "8", "--val-windows", "2",
        "--height", "24", "--width", "32", "--n-points", "4000", "--views", "1", "2",
        "--data-workers", "0"]  # fmt: skip


@pytest.mark.skipif(not MESHES.is_dir(), reason="needs ../shared/data/meshes")
def test_the_trainer_runs_saves_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["--out", str(out), "--mesh-dir", str(MESHES), *TINY]
    assert voxel_train.main([*args, "--minutes", "0.1", "--val-every", "0"]) == 0
    lines = [json.loads(s) for s in (out / "voxel_train.jsonl").read_text().splitlines()]
    steps = [x["step"] for x in lines if "loss" in x]
    vals = [x for x in lines if "val" in x]
    assert steps and len(vals) == 1 and vals[0]["step"] >= max(steps)
    assert 0 <= vals[0]["val"]["precision@5cm@0.5"] <= 1
    first = load_voxel_head(out / "last")
    assert first.config.dims == (16, 16, 16) and first.config.input_width == 32
    done = json.loads((out / "last" / "train_state.json").read_text())["step"]
    assert done == vals[0]["step"]
    resume = ["--out", str(out), "--mesh-dir", str(MESHES), *TINY, "--resume", str(out / "last")]
    assert voxel_train.main([*resume, "--minutes", "0.05", "--val-every", "0"]) == 0
    again = json.loads((out / "last" / "train_state.json").read_text())["step"]
    assert again > done  # the run went on from its step
    first_param = next(first.parameters())
    assert not torch.equal(next(load_voxel_head(out / "last").parameters()), first_param)


def test_a_batch_is_cut_to_each_windows_seen_box_at_one_size():
    near, far = level_inputs(room_depth(wall_m=1.5, box=False)), level_inputs(room_depth())
    x = torch.cat([near, far])
    occ = torch.rand(2, *CFG.dims)
    off = torch.rand(2, 3, *CFG.dims)
    cx, cocc, coff = voxel_train.cut_batch(x, occ, off, CFG)
    assert cx.shape[0] == 2 and cx.shape[2:] == cocc.shape[1:] == coff.shape[2:]
    assert cx.shape[2:] != x.shape[2:] and cx.shape[4] < CFG.dims[2]  # the far wall's box
    for b in range(2):
        assert int(((cx[b, 0] > 0) | (cx[b, 1] > 0)).sum()) == int(
            ((x[b, 0] > 0) | (x[b, 1] > 0)).sum()
        )  # every seen cell is in the cut
        starts = [int(v) for v in torch.nonzero(occ[b] == cocc[b, 0, 0, 0])[0]]
        cut = tuple(slice(s, s + n) for s, n in zip(starts, cocc.shape[1:], strict=True))
        every = (slice(None), *cut)
        assert torch.equal(cocc[b], occ[b][cut]) and torch.equal(coff[b], off[b][every])
        assert torch.equal(cx[b], x[b][every])
    nothing = torch.zeros_like(near)  # a window that saw nothing: still a trainable cut
    tiny = voxel_train.cut_batch(nothing, occ[:1], off[:1], CFG)[0]
    assert tuple(tiny.shape[2:]) == (2 * CFG.downsampling,) * 3
    head = VoxelHead(CFG).train()
    assert head(tiny)[0].shape == tiny.shape[:1] + tiny.shape[2:]


def test_the_trainer_refuses_bad_arguments(tmp_path, capsys):
    out = ["--out", str(tmp_path / "o"), "--minutes", "1", "--device", "cpu"]
    for bad in (["--p-sensor", "2"], ["--minutes", "0"], ["--init", "a", "--resume", "b"]):
        with pytest.raises(SystemExit) as exc:
            voxel_train.main([*out, *bad])
        assert exc.value.code == 2
    assert voxel_train.main([*out, "--resume", str(tmp_path / "none")]) == 2
    assert voxel_train.main([*out, "--cell", "0"]) == 2
    err = capsys.readouterr().err
    assert "not a voxel completion head" in err and "VoxelConfig.cell_m" in err


DEV = MESHES.parent / "7scenes-redkitchen-dev"


@pytest.mark.skipif(not DEV.is_dir(), reason=f"{DEV} not present")
def test_real_validation_scores_the_published_points(tmp_path, monkeypatch):
    """Two windows of 5 dev frames: every key for every threshold, each in range."""
    import shutil

    from nova3r_ros.train.validate import sevenscenes_set
    from nova3r_ros.train.voxel_validation import THRESHOLDS, validate_real

    monkeypatch.setenv("NOVA3R_CACHE", str(tmp_path / "cache"))
    for f in sorted(DEV.glob("frame-00000[0-4].*")) + [DEV / "camera-intrinsics.txt"]:
        shutil.copy(f, tmp_path / f.name)
    sets = [sevenscenes_set(str(tmp_path), 1, "cpu", windows=2, stride=2)]
    cfg = VoxelConfig(cell_m=0.2, dims=(48, 32, 48), lower_m=(-4.8, -3.2, -0.4),
                      channels=(4, 8), input_width=80)  # fmt: skip
    head = all_occupied(cfg)
    scores = validate_real(head, sets)
    assert len(scores) == 3 * len(THRESHOLDS)
    assert scores["real_1v/head_points@0.5"] > 50
    assert 0 <= scores["real_1v/head_hidden_recall@0.5"] <= 1
    assert 0 <= scores["real_1v/head_precision@0.85"] <= 1 and not head.training


def test_validation_scores_a_perfect_and_an_empty_head():
    """Validation on two rooms: an all-occupied head covers the hidden surface, imprecisely."""
    cfg = VoxelConfig(cell_m=0.1, dims=(96, 64, 96), lower_m=(-4.8, -3.2, -0.4),
                      channels=(4, 8), input_width=32)  # fmt: skip
    rooms = validation_windows(2, 1, 24, 32, "cpu", n_points=20_000)
    head = all_occupied(cfg)
    full = validate(head, rooms)
    assert full["hidden_covered@5cm@0.5"] > 0.2 and full["points_per_window@0.85"] > 100
    assert full["precision@5cm@0.5"] < 0.7 and selection(full) == (-1.0, None)
    with torch.no_grad():
        head.out.bias.fill_(-20.0)
    empty = validate(head, rooms)
    assert empty["points_per_window@0.3"] == 0 and empty["hidden_covered@5cm@0.3"] == 0
    assert selection({**empty, "precision@5cm@0.5": 0.8, "hidden_covered@5cm@0.5": 0.4}) == (
        0.4, 0.5)  # fmt: skip
