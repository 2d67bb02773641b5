"""README's node reference stays true: every parameter and output topic is listed."""

from pathlib import Path

from nova3r_ros.ros.params import CAMERA_PARAMETERS, PARAMETERS

README = Path(__file__).resolve().parents[1] / "README.md"


def _node_section() -> str:
    text = README.read_text()
    start = text.index("## The node")
    return text[start : text.index("\n## ", start + 1)]


def test_every_parameter_is_in_the_readme_table():
    section = _node_section()
    for p in PARAMETERS:
        assert f"| `{p.name}` |" in section, f"parameter {p.name} missing from README"
    for p in CAMERA_PARAMETERS:
        assert f"| `camera.<cam>.{p.name}` |" in section, f"camera.<cam>.{p.name} missing"


def test_topics_and_frames_are_in_the_readme():
    section = _node_section()
    for topic in ("~/cloud", "~/camera_poses", "~/occupancy", "~/voxels", "/diagnostics"):
        assert f"| `{topic}` |" in section
    assert "nova3r/<cam>_optical_frame" in section and "TRANSIENT_LOCAL" in section
