"""The diagnostics of a gated window say what the published cloud holds (plain functions)."""

from diagnostic_msgs.msg import DiagnosticStatus

from nova3r_ros.ros.diagnostics import WindowStats, summarise


def test_a_gated_window_names_its_plane_and_hidden_surface_points():
    stats = WindowStats()
    stats.add({"gated": 1, "completed": 0, "plane_points": 4484, "hidden_points": 428,
               "side_points": 1200, "agreement": 0.21, "free_share": 0.4})  # fmt: skip
    values = stats.values()
    assert values["plane_points_last"] == 4484 and values["hidden_points_last"] == 428
    assert values["side_points_last"] == 1200
    level, message = summarise({**values, "windows_processed": 1}, {})
    assert level == DiagnosticStatus.OK
    assert "gated (agreement 0.21, free share 0.40)" in message
    assert (
        "observed surfaces + 4484 plane points + 428 hidden-surface points + 1200 "
        "occluder side points, no decoder completion"
    ) in message
    stats.add({"gated": 1, "completed": 0, "plane_points": 0, "hidden_points": 0})
    level, message = summarise({**stats.values(), "windows_processed": 2}, {})
    assert level == DiagnosticStatus.OK and "observed surfaces only" in message
    assert stats.values()["windows_gated"] == 2
    stats.add({"gated": 0, "completed": 900, "plane_points": 0, "hidden_points": 0})
    values = stats.values()
    assert values["completed_points_last"] == 900 and values["hidden_points_last"] == 0
    assert summarise({**values, "windows_processed": 3}, {}) == (DiagnosticStatus.OK, "running")


def test_open_space_is_reported():
    stats = WindowStats()
    stats.add({"gated": 0, "completed": 900, "open_pixels": 120000})
    values = stats.values()
    assert values["open_pixels_last"] == 120000
    level, message = summarise({**values, "windows_processed": 1}, {})
    assert level == DiagnosticStatus.OK
    assert message == "120000 depth-hole pixels taken as open space: no completion along them"
    stats.add({"gated": 0, "completed": 900})
    assert stats.values()["open_pixels_last"] == 0
