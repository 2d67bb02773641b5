"""scripts/plot_training_history.py places runs on cumulative steps and writes its figure."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "plot_training_history.py"


def _module():
    spec = importlib.util.spec_from_file_location("plot_training_history", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _val(precision, covered, points=100.0):
    """Return a voxel_train validation dict at thresholds 0.5 and 0.7."""
    return {f"{k}@{t}": v for t in ("0.5", "0.7")
            for k, v in (("precision@5cm", precision), ("hidden_covered@5cm", covered),
                         ("points_per_window", points))}  # fmt: skip


def _write(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture
def logs(tmp_path):
    """Two voxel_train logs: A validates at 40 and 80 and trains to 100; B at 0, 30, 60."""
    a = _write(tmp_path / "a.jsonl", [
        {"step": 1, "s": 0.1, "loss": 1.0},
        {"step": 40, "s": 4.0, "val": _val(0.3, 0.4), "coverage": 0.4, "threshold": 0.5},
        {"step": 80, "s": 8.0, "val": _val(0.5, 0.6), "coverage": 0.6, "threshold": 0.5},
        {"step": 100, "s": 10.0, "loss": 0.5},
    ])  # fmt: skip
    b = _write(tmp_path / "b.jsonl", [
        {"step": 0, "val": _val(0.0, 0.0, points=0.0)},
        {"step": 25, "s": 2.5, "loss": 0.4},
        {"step": 30, "s": 3.0, "val": _val(0.55, 0.65)},
        {"step": 60, "s": 6.0, "val": _val(0.6, 0.7), "final": True},
    ])  # fmt: skip
    return a, b


def _steps(runs):
    return [[step for step, _ in run.rows] for run in runs]


def test_runs_end_to_end_continue_from_a_step_or_start_at_one(logs):
    m = _module()
    a, b = logs
    chained = m.read_runs([str(a), str(b)])
    assert [r.start for r in chained] == [0, 100]  # b after a's last step (a loss line)
    assert [r.last for r in chained] == [100, 60]
    assert _steps(chained) == [[40, 80], [100, 130, 160]]
    assert chained[1].rows[1][1]["precision@5cm@0.5"] == 0.55

    from_best = m.read_runs([str(a), f"{b}:80"])  # INIT from a's step 80
    assert _steps(from_best) == [[40, 80], [80, 110, 140]]
    assert [r.lineage for r in from_best] == [0, 0]
    third = m.read_runs([str(a), str(b), f"{a}:40"])  # from b's step 40, b starting at 100
    assert _steps(third) == [[40, 80], [100, 130, 160], [180, 220]]

    branch = m.read_runs([str(a), f"{b}@10", str(a)])  # b at 10; a again after b's end
    assert _steps(branch) == [[40, 80], [10, 40, 70], [110, 150]]
    assert [r.lineage for r in branch] == [0, 1, 1]

    first_offset = m.read_runs([f"{a}@500"])
    assert _steps(first_offset) == [[540, 580]]

    with pytest.raises(ValueError, match="past"):
        m.read_runs([str(a), f"{b}:101"])


def test_decoder_validation_lines_and_undefined_precision(tmp_path, logs):
    m = _module()
    dec = _write(tmp_path / "validation.jsonl", [
        {"step": 0, "criterion": 0.33, "seconds": 3.2, "real_1v/f@5cm": 0.27},
        {"step": 994, "criterion": 0.34, "seconds": 1.4, "real_1v/f@5cm": 0.29},
    ])  # fmt: skip
    (run,) = m.read_runs([f"{dec}@1376"])
    assert [s for s, _ in run.rows] == [1376, 2370]
    assert run.rows[1][1] == {"criterion": 0.34, "real_1v/f@5cm": 0.29}
    # a precision with no points behind it is not plotted; the coverage is
    (_, b) = logs
    zero = m.read_log(b)[0][0][1]
    assert m.metric(zero, "precision@5cm@0.5") is None
    assert m.metric(zero, "hidden_covered@5cm@0.5") == 0.0
    assert m.metric({"x": float("nan")}, "x") is None


def test_main_writes_the_figure(tmp_path, logs):
    m = _module()
    a, b = logs
    out = tmp_path / "fig.png"
    assert m.main([str(out), "--voxel", str(a), f"{b}:80", "--mark", "voxel:80:run b"]) == 0
    assert out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert m.main([str(tmp_path / "no.png"), "--voxel", str(tmp_path / "missing.jsonl")]) == 2
    assert m.main([str(tmp_path / "no.png"), "--voxel", str(a), "--mark", "nopanel:1:x"]) == 2
    assert not (tmp_path / "no.png").exists()
