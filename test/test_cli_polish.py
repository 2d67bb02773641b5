"""The nova3r command line: defaults in --help, one-line errors with exit 2, namespaces."""

import pytest

from nova3r_ros.cli import build_parser, main, normalize_namespace

SUBCOMMANDS = ("eval", "node", "make-bag", "replay", "eval-bag", "demo")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_shows_defaults(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.count("(default:") >= 2, text


def test_namespace_is_normalised_as_launch_ros_does():
    assert normalize_namespace("robot1") == "/robot1"
    assert normalize_namespace("/robot1/") == "/robot1"
    assert normalize_namespace("a/b") == "/a/b"
    with pytest.raises(ValueError):
        normalize_namespace("robot 1")


def test_eval_rejects_bad_input_before_any_work(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(5):  # a 7-Scenes folder of 5 frames (only the pose files are counted)
        (seq / f"frame-{i:06d}.pose.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    cases = (
        (["eval", "--out", str(f)], "is an existing file"),
        (["eval", "--data", f"7scenes:{seq}", "--views", "2", "--stride", "2", "--windows", "4"],
         "hold at most 3"),
        (["eval", "--data", f"bag:{tmp_path}"], "no ground-truth sidecar"),
        (["eval", "--data", "colmap:x"], "--data must start with"),
        (["eval", "--hidden-head", str(seq)], "no hidden_head.json there"),
        (["eval", "--hidden-min-probability", "1.5"], "must be in [0, 1]"),
        (["eval", "--hidden-consensus", "-0.5"], "--hidden-consensus must be in [0, 1]"),
        (["eval", "--hidden-snap-subcells", "9"], "--hidden-snap-subcells must be an integer"),
        (["eval", "--hidden-snap-subcells", "0"], "--hidden-snap-subcells must be an integer"),
        (["eval", "--hidden-snap-bounding-subcells", "9"],
         "--hidden-snap-bounding-subcells must be an integer"),
        (["eval", "--hidden-single-view-min-probability", "1.5"],
         "--hidden-single-view-min-probability must be in [0, 1]"),
        (["eval", "--hidden-snap-existence", "-0.1"], "--hidden-snap-existence must be in"),
        (["eval", "--hidden-snap-tolerance", "2"], "--hidden-snap-tolerance must be in"),
        (["eval", "--hidden-snap-reach", "-1"], "--hidden-snap-reach must be in"),
        (["eval", "--hidden-snap-bounding-reach", "11"], "--hidden-snap-bounding-reach must be"),
        (["eval", "--hidden-snap-bounding-existence", "2"], "--hidden-snap-bounding-existence mu"),
        (["eval", "--plane-max-oblique", "91"], "--plane-max-oblique must be in [0, 90]"),
        (["eval", "--silhouette-depth", "-0.1"], "--silhouette-depth must be in [0, 1] m"),
        (["eval", "--open-hole-share", "1.5"], "--open-hole-share must be in [0, 1]"),
        (["eval", "--fusion-sigmas", "21"], "--fusion-sigmas must be in [0, 20]"),
        (["eval", "--voxel-head", str(seq)], "no voxel_head.json there"),
        (["eval", "--voxel-min-probability", "-0.2"], "--voxel-min-probability must be in"),
        (["eval", "--voxel-far", "1.5"], "--voxel-far must be in [0, 1] m"),
        (["eval", "--voxel-points-per-cell", "3"], "--voxel-points-per-cell must be 1, 5 or 9"),
        (["eval", "--voxel-snap", "0.5"], "--voxel-snap must be in [0, 0.2] m"),
        (["eval", "--reference", "measured"], "reference 'measured' needs 7scenes: data"),
    )  # fmt: skip
    for args, text in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and text in err, err
