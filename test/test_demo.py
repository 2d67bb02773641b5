"""The demo path end to end, shortened: small bag, tiny model config, CPU, lock-step."""

import json

import numpy as np

from nova3r_ros.cli import main
from nova3r_ros.core.ply import read_ply


def test_short_demo_writes_every_output(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--steps", "2", "--height", "48", "--width", "64",
            "--points", "256", "--ode-steps", "2"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr()
    for step in ("[demo 1/4]", "[demo 2/4]", "[demo 3/4]", "[demo 4/4]", "window 2/2"):
        assert step in printed.err, step
    assert "| oracle (depth only) |" in printed.out and "| node (model) |" in printed.out
    doc = json.loads((out / "metrics.json").read_text())
    node = doc["methods"]["node (model)"]
    assert doc["windows"] == 2 and not doc["windows_failed"] and node["published"] == 1.0
    assert 0.0 < node["fscore@2cm"] <= 1.0 and doc["seconds"]["total"] > 0
    cloud = read_ply(out / "cloud.ply")
    assert len(cloud["points"]) > 100 and set(np.unique(cloud["observed"])) <= {0.0, 1.0}
    assert np.all(np.isfinite(cloud["points"])) and "confidence" in cloud
    for png in ("reconstruction.png", "occupancy.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, png
    # a second run replaces its own bag; a folder that is not its bag is left alone
    assert main(args) == 0
    (out / "bag").rename(out / "kept")
    (out / "bag").mkdir()
    capsys.readouterr()
    assert main(args) == 2
    assert "is not a demo bag" in capsys.readouterr().err


def test_demo_out_that_is_a_file_exits_2(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("x")
    assert main(["demo", "--out", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is an existing file" in err
