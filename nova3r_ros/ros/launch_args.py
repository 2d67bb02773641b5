"""Plain functions behind launch/reconstruct.launch.py's arguments (no launch, no rclpy).

:func:`resolve_params_file` turns ``specialization:=rgbd_rig`` (a config name in the
package's ``share/nova3r_ros/config``) or ``specialization:=/path/to/file.yaml`` into
a path, and fails with the list of shipped configs when neither exists.
:func:`launch_overrides` turns the camera launch arguments (``cameras``,
``use_depth``, ``image_topic``, ``info_topic``, ``depth_topic``, ``backend``) into
node parameter overrides; an empty argument keeps what the parameter files say.
Topic names given here are used as they are: relative names (no leading ``/``)
resolve in the node's namespace, like every ROS driver's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

TOPIC_ARGUMENTS = ("image_topic", "info_topic", "depth_topic")


class LaunchArgumentError(ValueError):
    """A launch argument that names nothing usable; the message says what exists."""


def shipped_configs(config_dir: str | Path) -> list[str]:
    """Return the names (without .yaml) of the parameter files in ``config_dir``."""
    folder = Path(config_dir)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def resolve_params_file(value: str, config_dir: str | Path, what: str = "specialization") -> str:
    """Return the parameters file that ``value`` names; '' stays ''.

    Args:
        value: a path to a YAML file, or the name of a shipped config with or
            without ``.yaml`` (``rgbd_rig``, ``realsense.yaml``).
        config_dir: the package's ``share/nova3r_ros/config``.
        what: the launch argument's name, for the error message.

    Raises:
        LaunchArgumentError: neither a file nor a shipped config of that name exists.

    """
    value = str(value).strip()
    if not value:
        return ""
    path = Path(value).expanduser()
    if path.is_file():
        return str(path.resolve())
    folder = Path(config_dir)
    name = path.name if path.parent == Path(".") else None
    if name is not None:
        for candidate in (folder / name, folder / f"{name}.yaml"):
            if candidate.is_file():
                return str(candidate.resolve())
    known = ", ".join(shipped_configs(folder)) or "none"
    raise LaunchArgumentError(
        f"{what} {value!r} is neither a parameters file nor a config shipped in {folder} "
        f"(shipped: {known})"
    )


def _bool(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise LaunchArgumentError(f"{name} must be true or false, got {value!r}")


def cameras_in_files(files: Sequence[str]) -> list[str]:
    """Return the ``cameras`` parameter the parameter files set (the last file wins)."""
    cameras = ["cam0"]  # the table's default
    for file in files:
        if not file:
            continue
        data = yaml.safe_load(Path(file).read_text()) or {}
        for section in data.values():
            if not isinstance(section, dict):
                continue
            params = section.get("ros__parameters") or {}
            if "cameras" in params:
                cameras = [str(c) for c in params["cameras"]]
    return cameras


def launch_overrides(args: Mapping[str, str], files: Sequence[str] = ()) -> dict[str, object]:
    """Return node parameter overrides from the camera launch arguments.

    Args:
        args: launch argument values (strings); '' or a missing key = not given.
        files: the parameter files in load order (for the camera list when the
            topic arguments are given without ``cameras``).

    Raises:
        LaunchArgumentError: a bad boolean, an empty camera list, or topic
            arguments with more than one camera (a rig names its topics per
            camera in a config: ``camera.<cam>.image_topic``).

    """
    out: dict[str, object] = {}
    given = {k: str(v).strip() for k, v in args.items() if str(v).strip()}
    cameras = None
    if "cameras" in given:
        cameras = [c.strip() for c in given["cameras"].replace(",", " ").split() if c.strip()]
        if not cameras:
            raise LaunchArgumentError("cameras must name at least one camera")
        out["cameras"] = cameras
    if "use_depth" in given:
        use_depth = _bool("use_depth", given["use_depth"])
        out["use_depth"] = use_depth
        for cam in cameras if cameras is not None else cameras_in_files(files):
            out[f"camera.{cam}.use_depth"] = use_depth
    if "backend" in given:
        out["backend"] = given["backend"]
    topics = {k: given[k] for k in TOPIC_ARGUMENTS if k in given}
    if topics:
        cams = cameras if cameras is not None else cameras_in_files(files)
        if len(cams) != 1:
            raise LaunchArgumentError(
                f"{', '.join(topics)} name the topics of one camera, but the node has "
                f"{len(cams)} ({', '.join(cams)}): give each camera's topics in a config "
                "(camera.<cam>.image_topic, ...)"
            )
        for key, topic in topics.items():
            out[f"camera.{cams[0]}.{key}"] = topic
    return out
