"""A failing backend costs one window, never the node (a test backend written to fail).

``FailingBackend`` is a real :class:`Backend` (the depth backend) whose ``run`` raises
what a GPU backend raises when it runs out of memory, for chosen windows only. The
node's fallback (the depth backend) then publishes that window's observed-only cloud.
"""

from diagnostic_msgs.msg import DiagnosticStatus
from test_node_ros_user import Camera, start, values
from test_node_support import Harness

from nova3r_ros.ros.backend import Backend


class FailingBackend(Backend):
    """The depth backend, failing on the windows whose number is in ``fail_on`` (from 1)."""

    def __init__(self, values, fail_on, error=None):
        """Build the depth backend from the node's ``values``; ``error`` is what it raises."""
        super().__init__("depth", values, "map")
        self.fail_on, self.calls = set(fail_on), 0
        self.error = error or RuntimeError(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 139.8 GiB total capacity)"
        )

    def run(self, window):
        self.calls += 1
        if self.calls in self.fail_on:
            raise self.error
        return super().run(window)


def test_a_backend_failure_publishes_the_observed_cloud_and_the_node_goes_on():
    h = Harness()
    try:
        node = start(h, diagnostics_period=0.1)
        failing = FailingBackend(node.config.values, fail_on={2})
        node.processor.backend = failing  # the model's place; the fallback stays the depth one
        node.processor.fallback = Backend("depth", node.config.values, "map")
        cam = Camera(h)
        assert cam.connected()
        assert cam.cloud(cam.send()) is not None  # window 1: fine
        stamp = cam.send()  # window 2: the backend runs out of memory
        cloud = cam.cloud(stamp)
        assert cloud is not None and cloud.width > 0, "no observed-only cloud for the window"
        assert h.spin_until(lambda: node.backend_failures == 1, 5.0)
        assert "CUDA out of memory" in node.last_error and node.worker.failed == 0
        status = cam.status(where=lambda s: values(s).get("last_window") == "observed_only")
        assert status is not None and status.level == DiagnosticStatus.WARN
        assert values(status)["windows_backend_failed"] == "1"
        assert "observed-only" in status.message
        assert cam.cloud(cam.send()) is not None  # window 3: the backend is back
        assert h.spin_until(lambda: node.last_error == "", 5.0)
        assert node.state == "active" and node.worker.alive and failing.calls == 3
    finally:
        h.close()


def test_without_a_fallback_the_window_fails_is_counted_and_the_next_one_clears_it():
    h = Harness()
    try:
        node = start(h, diagnostics_period=0.1)
        node.processor.backend = FailingBackend(node.config.values, {1}, ValueError("a bug"))
        node.processor.fallback = None  # e.g. no depth to fall back on
        cam = Camera(h)
        assert cam.connected()
        first = cam.send()
        assert h.spin_until(lambda: node.worker.failed == 1, 5.0)
        assert cam.cloud(first, timeout=0.5) is None
        status = cam.status(where=lambda s: values(s).get("last_window") == "failed")
        assert status is not None and status.level == DiagnosticStatus.ERROR
        assert "ValueError: a bug" in values(status)["last_error"]
        assert cam.cloud(cam.send()) is not None
        status = cam.status(where=lambda s: values(s).get("last_window") == "ok")
        assert status is not None and values(status)["last_error"] == ""
        assert status.level != DiagnosticStatus.ERROR
        assert values(status)["windows_failed"] == "1"
    finally:
        h.close()
