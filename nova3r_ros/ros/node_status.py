"""What the node tells its user: silent cameras and streams, the wait for TF, /diagnostics.

:class:`InputWatch` (grouping thread) logs, on change only:
    a camera that published and then stayed silent for ``sync.camera_timeout``
        (warning) and its return (info);
    a camera never heard from ``sync.camera_timeout`` after another one published
        (warning, with its topic); no camera heard from at all is not a warning
        (nothing started yet: diagnostics say ``waiting for input``);
    a stream of a camera silent while another of its streams arrives (warning:
        e.g. colour without depth, CameraInfo missing), listed as ``streams_missing``.
:class:`TfWait` holds estimation back for ``tf.startup_wait`` seconds after the first
group whose cameras TF does not resolve, so that a robot's TF arriving late is used
rather than estimated over (``groups_waiting_tf`` counts the groups held back).
:func:`publish_diagnostics` builds the node's one ``DiagnosticStatus`` (see
``ros/diagnostics.py``): it runs on a steady timer, so it goes on under sim time
without /clock, and is stamped with the node's clock (sim time when it is used).
"""

from __future__ import annotations

import time

from nova3r_ros.ros.diagnostics import diagnostic_array, summarise
from nova3r_ros.ros.inputs import stream_timeout

HINTS = {
    "depth": "a RealSense publishes aligned depth only with align_depth.enable:=true; "
    "colour only: use_depth false",
    "camera_info": "frames are dropped until a CameraInfo comes",
    "image": "check camera.<cam>.image_topic",
}


class InputWatch:
    """Logs missing cameras and streams as they change; keeps the lists for diagnostics."""

    def __init__(self, log, sync, inputs, camera_timeout: float) -> None:
        self.log, self.sync = log, sync
        self.inputs = {inp.camera.name: inp for inp in inputs}
        self.timeout = stream_timeout(camera_timeout)
        self.missing: list[str] = []  # cameras left out of the groups now
        self.streams: list[str] = []  # "<cam> <stream> (<topic>)"
        self.idle = True  # no camera publishes (never started, or the input ended)
        self._unheard_told: set[str] = set()
        self._silent: list[str] = []  # cameras said to be silent (after publishing)
        self._first_heard: float | None = None

    def step(self) -> None:
        """Compare with the previous step and log what changed."""
        missing, heard = self.sync.missing(), set(self.sync.heard())
        now = time.monotonic()
        if heard and self._first_heard is None:
            self._first_heard = now
        silent = [c for c in missing if c in heard and c not in self._silent]
        back = [c for c in self._silent if c not in missing]
        self._silent = [c for c in self._silent if c in missing] + silent
        if silent:
            self.log.warning(
                f"camera(s) {', '.join(silent)} silent for more than sync.camera_timeout = "
                f"{self.timeout:g} s: windows go on without them"
            )
        if back:
            self.log.info(f"camera(s) {', '.join(back)} publishing again: back in the windows")
        live = [c for c in self.inputs if c not in missing]
        unheard = [c for c in self.inputs if c not in heard and c not in self._unheard_told]
        started = self._first_heard is not None and now - self._first_heard > self.timeout
        if unheard and live and started:
            self._unheard_told.update(unheard)
            topics = ", ".join(self.inputs[c].topics.get("image", "?") for c in unheard)
            self.log.warning(
                f"no image yet from camera(s) {', '.join(unheard)} ({topics}) while others "
                "publish: windows go on without them"
            )
        self.missing, self.idle = missing, not live
        streams = [f"{name} {s}" for name, inp in self.inputs.items()
                   for s in inp.missing_streams(self.timeout, now)]  # fmt: skip
        for entry in streams:
            if entry not in self.streams:
                stream = entry.split()[1]
                self.log.warning(
                    f"camera {entry.split()[0]}: other streams arrive but no {stream} for "
                    f"{self.timeout:g} s on {entry.split('(')[-1].rstrip(')')}: no windows "
                    f"from it ({HINTS.get(stream, '')})"
                )
        self.streams = streams


class TfWait:
    """Holds back estimation while TF may still resolve the cameras (``tf.startup_wait``)."""

    def __init__(self, log, wait: float, world_frame: str, prefix: str) -> None:
        self.log, self.wait = log, float(wait)
        self.world_frame, self.prefix = world_frame, prefix
        self.held = 0
        self._start: float | None = None
        self._told = False

    def holds(self, unresolved: list[str]) -> bool:
        """Return True while a group with ``unresolved`` camera frames must wait for TF."""
        if not unresolved or self.wait <= 0:
            return False
        now = time.monotonic()
        if self._start is None:
            self._start = now
            self.log.info(
                f"TF does not resolve {', '.join(unresolved)} in {self.world_frame} yet: "
                f"waiting up to tf.startup_wait = {self.wait:g} s before estimating poses"
            )
        if now - self._start < self.wait:
            self.held += 1
            return True
        if not self._told:
            self._told = True
            self.log.warning(
                f"TF did not resolve {', '.join(unresolved)} within {self.wait:g} s: "
                f"estimating their poses (published as {self.prefix}<frame>)"
            )
        return False


def _values(node, take_delay: float) -> dict[str, object]:
    with node._lock:
        result, last_window, last_error = node.latest, node._last_window, node.last_error
        age, window_stats = node._stamp_age_ms, node._window_stats.values()
    watch, backend = node.watch, node.backend
    values: dict[str, object] = {
        "state": node.state,
        "backend": backend.label if backend else "",
        "device": backend.device if backend else "",
        "clock": "sim" if node.get_parameter("use_sim_time").value else "system",
        "scale_mode": result.scale_mode if result else "unknown",
        "pose_source": result.pose_source if result else "unknown",
        "anchoring": result.anchoring if result else "",
        "points": len(result.points) if result else 0,
        "last_window": last_window,
        "last_error": last_error,
        "input_idle": watch.idle if watch else True,
        "cameras_missing": ", ".join(watch.missing) if watch else "",
        "streams_missing": ", ".join(watch.streams) if watch else "",
        "windows_backend_failed": node.backend_failures,
        "backend_process_restarts": getattr(backend, "restarts", 0),
        **window_stats,
    }
    if node.processor is not None:
        values.update(node.processor.chainer.values())
    if node.tf_wait is not None:
        values["groups_waiting_tf"] = node.tf_wait.held
    if node.tf is not None:
        values.update(dict(node.tf.counters))
    if age is not None:  # clock now - window stamp at publication (the node's clock)
        values["stamp_age_ms"] = age
    values["input_take_delay_ms_max"] = 1e3 * take_delay
    return values


def publish_diagnostics(node) -> None:
    """Build and publish the node's DiagnosticArray on ``/diagnostics``."""
    counters = dict(node.sync.counters()) if node.sync is not None else {}
    counters.update({f"bad_input/{k}": v for k, v in node.bad_input.items()})
    take_delay = 0.0
    for inp in node.inputs:
        counters.update(inp.loss_counters())
        take_delay = max(take_delay, inp.take_delay())
    w = node.worker
    if w is not None:
        counters.update(windows_processed=w.processed, windows_failed=w.failed,
                        windows_replaced=w.replaced)  # fmt: skip
    rates, grown = node._rates.rates(counters)
    values = _values(node, take_delay)
    values.update(counters)
    if node.keyframes is not None:
        k = node.keyframes
        values.update(keyframes_accepted=k.accepted, keyframes_rejected_interval=(
            k.rejected_interval), keyframes_rejected_static=k.rejected_static)  # fmt: skip
    for key, rate in rates.items():
        if key.endswith("_received") or key == "windows_processed":
            values[f"rate_hz/{key.removesuffix('_received')}"] = rate
    if w is not None:
        for stage, sec in w.times.last.items():
            values[f"latency_ms/{stage}"] = 1e3 * sec
            values[f"mean_latency_ms/{stage}"] = 1e3 * w.times.mean[stage]
    if node.outputs is not None:
        values["latency_ms/publish"] = 1e3 * node.outputs.build_time
    level, message = summarise(values, grown)
    cams = ",".join(c.name for c in node.config.cameras) if node.config else ""
    hardware_id = f"{values['device'] or 'none'}/{cams or 'no cameras'}"
    node._diag_pub.publish(diagnostic_array(
        f"{node.get_name()}: reconstruction", hardware_id, level, message, values,
        node.get_clock().now().nanoseconds,
    ))  # fmt: skip
