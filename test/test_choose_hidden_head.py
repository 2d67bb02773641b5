"""scripts/choose_hidden_head.py applies issue 11's shipping rule to a real results file."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "choose_hidden_head.py"


def _row(recall, precision, f5=0.94, unjudged=0.02):
    return {"model": {"hidden_recall@5cm": recall, "completed_precision@5cm": precision,
                      "fscore@5cm": f5, "unjudged": unjudged}}  # fmt: skip


def _run(tmp_path, *files, extra=()):
    """Run the script on each results dict (written to a file of its own), then ``extra``."""
    paths = []
    for i, results in enumerate(files):
        paths.append(tmp_path / f"hidden_eval_{i}.json")
        paths[-1].write_text(json.dumps(results))
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, paths), *extra],
                          capture_output=True, text=True)  # fmt: skip


def test_the_most_recall_among_heads_precise_at_every_view_count(tmp_path):
    results = {
        "none_1v": _row(0.30, 0.75), "none_4v": _row(0.24, 0.72),
        "a_p0.3_1v": _row(0.36, 0.74), "a_p0.3_4v": _row(0.29, 0.69),  # 4v too imprecise
        "a_p0.4_1v": _row(0.34, 0.75), "a_p0.4_4v": _row(0.26, 0.72),  # qualifies
        "b_p0.5_1v": _row(0.33, 0.76), "b_p0.5_4v": _row(0.25, 0.73),  # qualifies, less
        "c_p0.2_1v": _row(0.50, 0.90),  # 4 views never scored
        "d_p0.2_1v": _row(0.40, 0.80, f5=0.90), "d_p0.2_4v": _row(0.30, 0.80),  # F@5cm fell
        "e_p0.2_1v": _row(0.40, 0.80, unjudged=0.3), "e_p0.2_4v": _row(0.30, 0.80),
    }  # fmt: skip
    proc = _run(tmp_path, results)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.strip().endswith("chosen: a --min-probability 0.4")
    assert "a p=0.3:" in out and "4v precision 0.690" in out
    assert "4v not scored" in out and "1v F@5cm 0.900 < 0.940" in out
    assert "1v unjudged 0.300" in out


def test_nothing_qualifies_or_bad_input(tmp_path):
    proc = _run(tmp_path, {"none_1v": _row(0.3, 0.75), "a_p0.4_1v": _row(0.4, 0.6)})
    assert proc.returncode == 1 and "no head qualifies" in proc.stdout
    proc = _run(tmp_path, {"a_p0.4_1v": {"model": {}}})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_a_pair_must_qualify_in_every_file(tmp_path):
    eight = {"none_1v": _row(0.30, 0.75), "none_4v": _row(0.24, 0.72),
             "a_p0.3_1v": _row(0.40, 0.74), "a_p0.3_4v": _row(0.35, 0.71),
             "a_p0.4_1v": _row(0.36, 0.76), "a_p0.4_4v": _row(0.30, 0.73),
             "b_p0.5_1v": _row(0.38, 0.76), "b_p0.5_4v": _row(0.33, 0.75)}  # fmt: skip
    more = {
        "a_p0.3_1v": _row(0.41, 0.73),
        "a_p0.3_4v": _row(0.36, 0.69),  # fails here
        "a_p0.4_1v": _row(0.37, 0.75),
        "a_p0.4_4v": _row(0.31, 0.71),
    }  # b never scored
    alone = _run(tmp_path, eight)
    assert alone.stdout.strip().endswith("chosen: a --min-probability 0.3"), alone.stdout
    both = _run(tmp_path, eight, more)
    assert both.returncode == 0, both.stderr
    assert both.stdout.strip().endswith("chosen: a --min-probability 0.4"), both.stdout
    assert "[1] a p=0.3: 1v 0.410/0.730 4v 0.360/0.690" in both.stdout
    bad = _run(tmp_path, eight, extra=[str(tmp_path / "no")])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr


def test_views_restricts_the_rule_to_those_rows(tmp_path):
    """``--views 1`` chooses the single-view threshold on the 1-view rows alone."""
    results = {
        "none_1v": _row(0.30, 0.80), "none_4v": _row(0.24, 0.72),
        "a_p0.2_1v": _row(0.56, 0.72), "a_p0.2_4v": _row(0.55, 0.65),  # 4v too imprecise
        "a_p0.3_1v": _row(0.52, 0.77), "a_p0.3_4v": _row(0.50, 0.71),
        "a_p0.1_1v": _row(0.60, 0.68), "a_p0.1_4v": _row(0.60, 0.60),
    }  # fmt: skip
    every = _run(tmp_path, results)
    assert every.stdout.strip().endswith("chosen: a --min-probability 0.3"), every.stdout
    one = _run(tmp_path, results, extra=["--views", "1"])
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip().endswith("chosen: a --min-probability 0.2"), one.stdout
    assert "4v" not in one.stdout and "1v precision 0.680" in one.stdout
    four = _run(tmp_path, results, extra=["--views", "4"])
    assert four.stdout.strip().endswith("chosen: a --min-probability 0.3"), four.stdout
