import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nova3r_ros.cli import main
from nova3r_ros.eval.data import parse_data, sevenscenes_windows
from nova3r_ros.eval.run import EvalConfig, evaluate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "7scenes-redkitchen-dev"


def test_nova3r_eval_writes_metrics_table_and_figures(tmp_path, capsys):
    args = ["eval", "--data", "synthetic:1000000-1000001", "--views", "2", "--spread", "45",
            "--target", "full"]  # fmt: skip
    rc = main([*args, "--method", "oracle,oracle_merged", "opencv_sift", "--out", str(tmp_path)])
    assert rc == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m) == {"oracle", "oracle_merged", "opencv_sift"}
    oracle = m["oracle"]
    assert oracle["windows"] == 2 and oracle["scale_mode"] == "metric"
    assert oracle["hidden_recall@1cm"] == 0.0 and oracle["hidden_recall@2cm"] == 0.0
    assert 0 < oracle["hidden_fraction@2cm"] < 1 and oracle["precision@1cm"] > 0.9
    for key in ("chamfer_accuracy", "fscore@1cm", "fscore@0.05n", "nn_cv", "duplication",
                "voxel_iou@2cm", "grid_iou"):  # fmt: skip
        assert key in oracle, key
    assert {"rra@5", "rta@15", "auc@30"} <= set(m["opencv_sift"])
    assert (tmp_path / "metrics.png").stat().st_size > 1000
    assert (tmp_path / "example.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "| oracle |" in out and "| opencv_sift |" in out


def test_bag_source_matches_the_generator(tmp_path):
    from nova3r_ros.synth.bag_writer import write_bag
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_window

    window, gt = generate_window(1_000_123, benchmark_config(2, height=48, width=64))
    write_bag(tmp_path / "bag", window.views, gt)
    from_bag = evaluate(EvalConfig(data=f"bag:{tmp_path / 'bag'}", n_views=2,
                                   methods=("oracle",)))  # fmt: skip
    direct = evaluate(EvalConfig(data="synthetic:1000123-1000123", n_views=2, height=48,
                                 width=64, methods=("oracle",)))  # fmt: skip
    for key in ("fscore@1cm", "precision@1cm", "hidden_fraction@2cm"):
        assert from_bag["oracle"][key] == pytest.approx(direct["oracle"][key], abs=1e-6), key


@pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not present")
def test_sevenscenes_source_uses_fused_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("NOVA3R_CACHE", str(tmp_path / "cache"))
    for f in sorted(DATA.glob("frame-00000[0-6].*")) + [DATA / "camera-intrinsics.txt"]:
        shutil.copy(f, tmp_path / f.name)
    (window, gt, complete, frames), *_ = sevenscenes_windows(str(tmp_path), 2, 1, stride=2)
    assert not complete and len(window) == 2 and window.has_poses and len(frames) == 4
    assert len(gt.points) > 1000 and np.all(np.isfinite(gt.points))


def test_frustum_target_on_synthetic_windows():
    m = evaluate(EvalConfig(data="synthetic:1000000-1000001", n_views=2, height=48, width=64,
                            methods=("oracle", "oracle_merged")), log=lambda _: None)  # fmt: skip
    oracle = m["oracle"]
    assert oracle["outside"] == 0.0 and oracle["unjudged"] == 0.0  # synthetic: all judged
    assert oracle["hidden_recall@2cm"] == 0.0 and 0 < oracle["hidden_fraction@2cm"] < 1
    assert oracle["completed_share@1cm"] == 0.0 and oracle["precision@1cm"] > 0.9
    assert "fscore@10cm" not in oracle and "grid_iou" not in oracle


def test_bad_eval_configs():
    with pytest.raises(ValueError, match="unknown methods"):
        EvalConfig(methods=("magic",))
    with pytest.raises(ValueError, match="needs a model"):
        EvalConfig(methods=("model",))
    with pytest.raises(ValueError, match="synthetic:FIRST-LAST"):
        parse_data("synthetic:12")
    with pytest.raises(ValueError, match="does not exist"):
        parse_data("bag:/nonexistent/bag")
    assert main(["eval", "--data", "synthetic:5-1"]) == 2
    assert main(["eval", "--stride", "0"]) == 2  # one-line error, exit code 2
    with pytest.raises(ValueError, match="target must be one of"):
        EvalConfig(target="everything")


def test_every_scene_family_has_a_grid_band():
    from nova3r_ros.eval.scoring import GRID_BAND
    from nova3r_ros.synth.config import FAMILIES

    assert set(GRID_BAND) == set(FAMILIES)  # --target full scores grid IoU for any family


def test_nova3r_eval_rgb_redecode_reaches_the_model(tmp_path):
    """--rgb-redecode: the RGB-only windows are decoded again (twice the model's work)."""
    args = ["eval", "--data", "synthetic:1500102-1500102", "--views", "2", "--no-depth",
            "--unposed", "--method", "model", "--device", "cpu", "--points", "512", "--steps",
            "2"]  # fmt: skip
    seen = {}
    for name, extra in (("once", []), ("twice", ["--rgb-redecode"])):
        out = tmp_path / name
        assert main([*args, *extra, "--out", str(out)]) == 0
        seen[name] = json.loads((out / "metrics.json").read_text())["model"]
    assert seen["once"]["fscore@0.05n"] != seen["twice"]["fscore@0.05n"]  # another cloud
    assert seen["twice"]["rra@15"] == 1.0 and seen["twice"]["rta@15"] == 1.0
