import json

import pytest

from nova3r_ros.cli import main
from nova3r_ros.eval.run import EvalConfig


def test_nova3r_eval_writes_metrics_json(tmp_path, capsys):
    args = ["eval", "--views", "2", "--windows", "2", "--height", "48", "--width", "64"]
    rc = main([*args, "--methods", "oracle", "oracle_merged", "colmap", "--out", str(tmp_path)])
    assert rc == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m) == {"oracle", "oracle_merged", "colmap"}
    oracle = m["oracle"]
    assert oracle["windows"] == 2 and oracle["scale_mode"] == "metric"
    assert oracle["hidden_recall@1cm"] == 0.0 and oracle["hidden_recall@2cm"] == 0.0
    assert 0 < oracle["hidden_fraction@2cm"] < 1 and oracle["precision@1cm"] > 0.9
    for key in ("chamfer_accuracy", "fscore@1cm", "fscore@0.05n", "nn_cv", "duplication",
                "voxel_iou@2cm", "grid_iou"):  # fmt: skip
        assert key in oracle, key
    assert {"rra@5", "rta@15", "auc@30"} <= set(m["colmap"])
    assert "oracle:" in capsys.readouterr().out


def test_bad_eval_configs():
    with pytest.raises(ValueError, match="unknown methods"):
        EvalConfig(methods=("magic",))
    with pytest.raises(ValueError, match="needs a model"):
        EvalConfig(methods=("model",))
    assert main(["eval", "--windows", "0"]) == 2
