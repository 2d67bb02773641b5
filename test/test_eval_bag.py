"""nova3r eval-bag: the node in process on a bag, lock-step, scored against the sidecar."""

import json

import pytest

from nova3r_ros.bags.make import BagOptions, make_synthetic
from nova3r_ros.bags.sequence import SequenceConfig
from nova3r_ros.cli import main
from nova3r_ros.eval.run import EvalConfig, evaluate

SEQ = SequenceConfig(cameras=2, steps=3, height=96, width=128, n_gt_points=20_000, seed=1_200_012)


@pytest.fixture(scope="module")
def rs_bag(tmp_path_factory):
    """Write a RealSense-named bag: /camera1/camera1/..., its colour optical frame, 16UC1 depth."""
    tmp = tmp_path_factory.mktemp("rs")
    return make_synthetic(tmp / "bag", SEQ, BagOptions(topics="realsense", depth_encoding="16UC1"),
                          log=lambda s: None)  # fmt: skip


def test_eval_bag_realsense_16uc1_depth_backend(rs_bag, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eval-bag", str(rs_bag), "--backend", "depth", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "| oracle |" in printed.out and "| node (depth) |" in printed.out
    assert "window 3/3" in printed.err  # progress per window
    m = json.loads((out / "metrics.json").read_text())
    node, oracle = m["node (depth)"], m["oracle"]
    assert node["windows"] == 3 and node["published"] == 1.0
    # the depth backend fuses the same 16UC1 depth with the TF poses: it must sit on the
    # true surface as the oracle does (1 cm voxels, so a little less precise at 1 cm)
    assert node["precision@2cm"] > 0.95 and oracle["precision@2cm"] > 0.95
    for key in ("fscore@2cm", "fscore@5cm", "recall@5cm"):
        assert abs(node[key] - oracle[key]) < 0.05, key
    per = json.loads((out / "per_window.json").read_text())
    assert len(per) == 3 and all(w["node (depth)"]["published"] == 1.0 for w in per)


def test_eval_data_bag_reads_the_same_realsense_bag(rs_bag):
    res = evaluate(EvalConfig(data=f"bag:{rs_bag}", n_views=2, methods=("oracle",)))
    assert res["oracle"]["windows"] == 3 and res["oracle"]["precision@1cm"] > 0.95


def test_model_backend_lockstep_is_reproducible(tmp_path):
    bag = make_synthetic(tmp_path / "b", SequenceConfig(cameras=1, steps=2, height=48, width=64,
                         n_gt_points=5000), BagOptions(), log=lambda s: None)  # fmt: skip
    runs = []
    for i in range(2):
        out = tmp_path / f"o{i}"
        assert main(["eval-bag", str(bag), "--points", "256", "--steps", "2", "--out",
                     str(out)]) == 0  # fmt: skip
        runs.append(json.loads((out / "metrics.json").read_text())["node (model)"])
    assert runs[0]["published"] == 1.0 and runs[0]["windows"] == 2
    for key in ("fscore@1cm", "precision@2cm", "completed_share@2cm"):
        assert runs[0][key] == pytest.approx(runs[1][key], abs=1e-9), key


def test_eval_bag_bad_input_exits_2_before_work(rs_bag, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    (tmp_path / "nosidecar").mkdir()
    cases = (
        (["eval-bag", str(tmp_path / "nosidecar")], "no ground-truth sidecar"),
        (["eval-bag", str(rs_bag), "--out", str(f)], "is an existing file"),
        (["eval-bag", str(rs_bag), "--windows", "4"], "holds 3 time steps"),
        (["eval-bag", str(rs_bag), "--window-size", "0"], "--window-size must be >= 1"),
    )
    for args, text in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and text in err, err


def test_eval_bag_on_a_zero_length_bag_is_a_clear_error(rs_bag, tmp_path, capsys):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    empty = tmp_path / "empty"
    with Writer(empty, version=9) as w:
        w.add_connection("/camera1/camera1/color/image_raw", "sensor_msgs/msg/Image",
                         typestore=get_typestore(Stores.ROS2_JAZZY))  # fmt: skip
    for name in ("ground_truth.json", "ground_truth.ply"):
        (empty / name).write_bytes((rs_bag / name).read_bytes())
    assert main(["eval-bag", str(empty), "--backend", "depth"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no image of camera camera1" in err


def test_eval_bag_on_a_truncated_bag_exits_1(rs_bag, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(rs_bag, bad)
    mcap = next(bad.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    assert main(["eval-bag", str(bad), "--backend", "depth"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(mcap) in err and "byte " in err


def test_eval_bag_without_depth_scores_the_trajectory(tmp_path, capsys):
    """An RGB-only bag without TF: no oracle to judge clouds by; the trajectory is scored."""
    seq = SequenceConfig(cameras=1, steps=3, height=48, width=64, n_gt_points=5000,
                         motion="handheld", depth=False)  # fmt: skip
    bag = make_synthetic(tmp_path / "b", seq, BagOptions(tf="none"), log=lambda s: None)
    out = tmp_path / "o"
    assert main(["eval-bag", str(bag), "--points", "256", "--steps", "2", "--window-size", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr()
    assert "the clouds are not scored" in printed.err and "| oracle |" not in printed.out
    assert "Sim(3)-aligned to the sidecar" in printed.out
    row = json.loads((out / "metrics.json").read_text())["node (model)"]
    assert 0.0 <= row["published"] <= 1.0 and "ate" in row and "fscore@1cm" not in row
    traj = json.loads((out / "trajectory.json").read_text())
    assert "chain/windows_shared_disagree" in traj
