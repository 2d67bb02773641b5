"""diagnostic_msgs/DiagnosticArray from the node's counters: rates, latencies, drops, modes.

One status, ``<node name>: reconstruction``; its values are flat strings
(``key: value``) so ``rqt_runtime_monitor`` and ``ros2 topic echo`` show them as
they are. Rates are the change of a counter since the previous report, per second.
The published cloud's decisions (:class:`WindowStats`, from ``Reconstruction.stats``):
``windows_gated`` (cumulative), ``gated_last``, ``completed_points_last`` (the
decoder's), ``plane_points_last``, ``hidden_points_last`` and ``side_points_last`` (plane
completion's, the hidden-surface head's and the sides of occluders', in gated windows),
``observed_conflict_last``, ``open_pixels_last`` (depth-hole pixels taken as open space,
where no completion is published: :mod:`nova3r_ros.model.open_space`),
``behind_cut_last`` (completed points left out for lying in the band behind a measured
surface: :mod:`nova3r_ros.model.behind_cut`),
``views_rejected_last`` (and ``agreement_last``, ``free_share_last`` when the gate
measured them). A gated window is normal operation
(observed surfaces, plus plane, hidden-surface and side points, without the decoder's
completion): OK level, said in the message. Camera poses estimated by the
model: ``views_pose_failed_last`` (views whose pose failed its checks: points left out,
TF only where the map placed them, ``chain/views_rescued``; WARN) and
``pose_confidence_min_last`` (lowest per-view pose confidence, 0..1). Chaining
(``chain/*``, :meth:`nova3r_ros.ros.chaining.MapChainer.values`): windows chained,
map-tracked, relocalised, unchecked and not placed (WARN: tracking lost), the drift the
map corrected (last, max), views withheld and rescued. ``cuda_graph_captures``
(cumulative): CUDA graphs the model captured; it stops growing once every shape the node
runs has its graph (each capture costs a few eager runs of that stage).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from nova3r_ros.ros.conversions import ns_to_stamp

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


class RateMeter:
    """Turns monotonically growing counters into per-second rates between two calls."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._time = time.monotonic()

    def rates(self, counters: Mapping[str, int]) -> tuple[dict[str, float], dict[str, int]]:
        """Return (rate per second, increase) of every counter since the previous call."""
        now = time.monotonic()
        dt = max(now - self._time, 1e-6)
        grown = {k: int(v) - self._last.get(k, 0) for k, v in counters.items()}
        self._last, self._time = {k: int(v) for k, v in counters.items()}, now
        return {k: d / dt for k, d in grown.items()}, grown


class WindowStats:
    """The backend's per-window numbers (``Reconstruction.stats``), last and cumulative."""

    def __init__(self) -> None:
        self.gated = 0
        self.captures = 0
        self.last: dict[str, float] = {}

    def add(self, stats: Mapping[str, float]) -> None:
        """Fold one window's ``stats`` in (empty for backends that gate nothing)."""
        self.last = dict(stats)
        self.gated += int(bool(stats.get("gated", 0)))
        self.captures += int(stats.get("graph_captures", 0))

    def values(self) -> dict[str, object]:
        """Return the diagnostics keys of the module docstring with their current numbers."""
        s = self.last
        out: dict[str, object] = {
            "windows_gated": self.gated,
            "cuda_graph_captures": self.captures,
            "gated_last": bool(s.get("gated", 0)),
            "completed_points_last": int(s.get("completed", 0)),
            "plane_points_last": int(s.get("plane_points", 0)),
            "hidden_points_last": int(s.get("hidden_points", 0)),
            "side_points_last": int(s.get("side_points", 0)),
            "observed_conflict_last": int(s.get("observed_conflict", 0)),
            "open_pixels_last": int(s.get("open_pixels", 0)),
            "behind_cut_last": int(s.get("behind_cut", 0)),
            "views_rejected_last": int(s.get("views_rejected", 0)),
            "views_pose_failed_last": int(s.get("views_pose_failed", 0)),
        }
        conf = [v for k, v in s.items() if k.startswith("pose_confidence_")]
        if conf:
            out["pose_confidence_min_last"] = float(min(conf))
        for key in ("agreement", "free_share"):
            if key in s:
                out[f"{key}_last"] = float(s[key])
        return out


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def diagnostic_array(
    name: str,
    hardware_id: str,
    level: int,
    message: str,
    values: Mapping[str, object],
    stamp_ns: int,
) -> DiagnosticArray:
    """Return a DiagnosticArray with one status holding ``values`` as key/value strings."""
    status = DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=str(k), value=_fmt(v)) for k, v in values.items()],
    )
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = ns_to_stamp(stamp_ns)
    return msg


def summarise(values: Mapping[str, object], grown: Mapping[str, int]) -> tuple[int, str]:
    """Pick the level and one-line message from the values and the counters' increases.

    Failures are ERROR; a window the backend failed on (its observed-only cloud was
    published), the depth fallback of the model backend, missing cameras or streams,
    normalised scale, drops, lost input and bad input WARN; a gated window is a note at
    OK level. With every camera silent (``input_idle``: the input ended or has not
    started) the node is idle, OK, and missing cameras are no warning.
    """
    notes = []
    if values.get("last_window") == "failed":
        notes.append((ERROR, f"last window failed: {values.get('last_error', '')}"))
    if values.get("last_window") == "not_placed":
        notes.append((WARN, f"last window not placed in the world: {values.get('last_error')}"))
    if values.get("views_pose_failed_last"):
        n = values["views_pose_failed_last"]
        notes.append((WARN, f"{n} view(s) of the last window failed their pose checks: "
                            "points left out, TF only where the map placed them"))  # fmt: skip
    if values.get("last_window") == "observed_only":
        notes.append((WARN, f"last window: {values.get('last_error', '')}; observed-only cloud"))
    if "(fallback: " in str(values.get("backend", "")):
        notes.append((WARN, f"backend {values['backend']}"))
    if values.get("cameras_missing") and not values.get("input_idle"):
        notes.append((WARN, f"no images from {values['cameras_missing']}"))
    if values.get("streams_missing"):
        notes.append((WARN, f"missing streams: {values['streams_missing']}"))
    if values.get("scale_mode") == "normalized":
        notes.append((WARN, "normalised scale: occupancy withheld"))
    dropped = sum(v for k, v in grown.items() if k.endswith("_dropped"))
    if dropped:
        notes.append((WARN, f"{dropped} input messages dropped"))
    lost = sum(v for k, v in grown.items() if k.endswith("_lost"))
    if lost:
        notes.append((WARN, f"{lost} input messages lost before the node took them"))
    bad = sum(v for k, v in grown.items() if k.startswith("bad_input/"))
    if bad:
        notes.append((WARN, f"{bad} bad input messages"))
    if values.get("gated_last"):
        why = (f"agreement {values['agreement_last']:.2f}, free share "
               f"{values.get('free_share_last', 0.0):.2f}" if "agreement_last" in values
               else "publish_completion false")  # fmt: skip
        extra = [f"{values[k]} {name} points" for k, name in
                 (("plane_points_last", "plane"), ("hidden_points_last", "hidden-surface"),
                  ("side_points_last", "occluder side"))
                 if values.get(k)]  # fmt: skip
        what = "observed surfaces" + (" + " + " + ".join(extra) if extra else " only")
        notes.append((OK, f"last window gated ({why}): {what}, no decoder completion"))
    if values.get("open_pixels_last"):
        notes.append((OK, f"{values['open_pixels_last']} depth-hole pixels taken as open "
                          "space: no completion along them"))  # fmt: skip
    if not notes:
        if values.get("input_idle"):
            return OK, "idle: no input" if values.get("windows_processed") else (
                "waiting for input")  # fmt: skip
        return OK, "running" if values.get("windows_processed") else "waiting for windows"
    level = max(p[0] for p in notes)
    return level, "; ".join(p[1] for p in notes)
