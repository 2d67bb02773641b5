"""The launch file's arguments as plain functions, its --show-args text, configs, setup.py."""

import ast
from pathlib import Path

import pytest
import yaml

from nova3r_ros.ros.launch_args import (
    LaunchArgumentError,
    cameras_in_files,
    launch_overrides,
    resolve_params_file,
    shipped_configs,
)
from nova3r_ros.ros.params import CAMERA_PARAMETERS, PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
LAUNCH = ROOT / "launch" / "reconstruct.launch.py"


def test_specialization_is_a_name_or_a_path(tmp_path):
    rig = str((CONFIG / "rgbd_rig.yaml").resolve())
    assert resolve_params_file("rgbd_rig", CONFIG) == rig  # as the README writes it
    assert resolve_params_file("rgbd_rig.yaml", CONFIG) == rig
    assert resolve_params_file(str(CONFIG / "rgbd_rig.yaml"), CONFIG) == rig
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    cameras: [a]\n")
    assert resolve_params_file(str(mine), CONFIG) == str(mine.resolve())
    assert resolve_params_file("", CONFIG) == "" and resolve_params_file("  ", CONFIG) == ""


@pytest.mark.parametrize("value", ["rgbd_ring", "/no/such/file.yaml", "sub/rgbd_rig"])
def test_unknown_specialization_fails_with_what_exists(value):
    with pytest.raises(LaunchArgumentError) as err:
        resolve_params_file(value, CONFIG)
    text = str(err.value)
    assert value in text and "rgbd_rig" in text and "realsense" in text and "usb_cam" in text


def test_shipped_driver_configs_name_the_drivers_topics():
    assert {"reconstruct", "rgbd_rig", "rgb_unposed", "realsense", "realsense_rig",
            "usb_cam"} <= set(shipped_configs(CONFIG))  # fmt: skip
    rs = yaml.safe_load((CONFIG / "realsense.yaml").read_text())["/**"]["ros__parameters"]
    cam = rs["camera"]["camera"]
    assert rs["cameras"] == ["camera"] and rs["use_depth"] is True
    assert cam["image_topic"] == "camera/camera/color/image_raw"
    assert cam["info_topic"] == "camera/camera/color/camera_info"
    assert cam["depth_topic"] == "camera/camera/aligned_depth_to_color/image_raw"
    assert "align_depth.enable" in (CONFIG / "realsense.yaml").read_text()
    rig = yaml.safe_load((CONFIG / "realsense_rig.yaml").read_text())["/**"]["ros__parameters"]
    assert len(rig["cameras"]) >= 2 and rig["rig_frame"] == "base_link"
    for name in rig["cameras"]:
        assert rig["camera"][name]["depth_topic"].endswith("aligned_depth_to_color/image_raw")
    usb = yaml.safe_load((CONFIG / "usb_cam.yaml").read_text())["/**"]["ros__parameters"]
    assert usb["use_depth"] is False
    assert usb["camera"]["camera"] == {"image_topic": "image_raw", "info_topic": "camera_info"}


def test_every_topic_in_the_shipped_configs_is_relative():
    """Relative names: a namespace moves the inputs with the outputs (TF frames stay global)."""
    for p in CAMERA_PARAMETERS:
        if p.name.endswith("_topic"):
            assert not p.default.startswith("/"), p.name
    for file in CONFIG.glob("*.yaml"):
        params = yaml.safe_load(file.read_text())["/**"]["ros__parameters"]
        for cam in (params.get("camera") or {}).values():
            for key, topic in cam.items():
                assert not (key.endswith("_topic") and topic.startswith("/")), (file, topic)


def test_every_config_sets_only_known_parameters():
    known = {p.name for p in PARAMETERS}

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    for file in CONFIG.glob("*.yaml"):
        params = yaml.safe_load(file.read_text())["/**"]["ros__parameters"]
        for name in flat(params):
            if name.startswith("camera."):
                assert name.rsplit(".", 1)[1] in {p.name for p in CAMERA_PARAMETERS}, name
            else:
                assert name in known, f"{file.name}: unknown parameter {name}"


def test_camera_launch_arguments_become_parameters():
    assert launch_overrides({"cameras": "", "use_depth": "", "image_topic": ""}) == {}
    out = launch_overrides({"cameras": "front, back", "use_depth": "false", "backend": "depth"})
    assert out == {"cameras": ["front", "back"], "use_depth": False, "backend": "depth",
                   "camera.front.use_depth": False, "camera.back.use_depth": False}  # fmt: skip
    rs = str(CONFIG / "realsense.yaml")
    assert cameras_in_files([str(CONFIG / "reconstruct.yaml"), rs]) == ["camera"]
    out = launch_overrides({"image_topic": "color/image_raw", "use_depth": "false"},
                           [str(CONFIG / "reconstruct.yaml"), rs])  # fmt: skip
    assert out["camera.camera.image_topic"] == "color/image_raw"
    assert out["camera.camera.use_depth"] is False
    out = launch_overrides({"image_topic": "image_raw", "info_topic": "camera_info"})
    assert out == {"camera.cam0.image_topic": "image_raw", "camera.cam0.info_topic": "camera_info"}


@pytest.mark.parametrize(
    "args, match",
    [
        ({"use_depth": "maybe"}, "use_depth must be true or false"),
        ({"cameras": " , "}, "at least one camera"),
        ({"cameras": "a,b", "image_topic": "x"}, "name the topics of one camera"),
    ],
)
def test_bad_launch_arguments_say_why(args, match):
    with pytest.raises(LaunchArgumentError, match=match):
        launch_overrides(args)


def _declared_arguments() -> dict[str, ast.Call]:
    tree = ast.parse(LAUNCH.read_text())
    return {n.args[0].value: n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", "") == "DeclareLaunchArgument"}  # fmt: skip


def test_every_launch_argument_has_a_description():
    """``ros2 launch ... --show-args`` never says "no description given"."""
    args = _declared_arguments()
    assert {"node_name", "autostart", "log_level", "specialization", "cameras", "use_depth",
            "image_topic", "depth_topic", "info_topic", "backend"} <= set(args)  # fmt: skip
    for name, call in args.items():
        assert any(k.arg == "description" for k in call.keywords), name


def test_setup_py_has_no_option_colcon_warns_about():
    tree = ast.parse((ROOT / "setup.py").read_text())
    setup = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", "") == "setup")  # fmt: skip
    keywords = {k.arg for k in setup.keywords}
    assert "tests_require" not in keywords  # "Unknown distribution option" under colcon
    data = ast.unparse(setup)
    assert "config/*.yaml" in data and "launch/*.launch.py" in data
