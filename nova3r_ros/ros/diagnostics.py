"""diagnostic_msgs/DiagnosticArray from the node's counters: rates, latencies, drops, modes.

One status, ``<node name>: reconstruction``; its values are flat strings
(``key: value``) so ``rqt_runtime_monitor`` and ``ros2 topic echo`` show them as
they are. Rates are the change of a counter since the previous report, per second.
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


def _fmt(value) -> str:
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
    """Pick the level and one-line message from the values and the counters' increases."""
    problems = []
    if values.get("last_window") == "failed":
        problems.append((ERROR, f"last window failed: {values.get('last_error', '')}"))
    if values.get("cameras_missing"):
        problems.append((WARN, f"no images from {values['cameras_missing']}"))
    if values.get("scale_mode") == "normalized":
        problems.append((WARN, "normalised scale: occupancy withheld"))
    dropped = sum(v for k, v in grown.items() if k.endswith("_dropped"))
    if dropped:
        problems.append((WARN, f"{dropped} input messages dropped"))
    bad = sum(v for k, v in grown.items() if k.startswith("bad_input/"))
    if bad:
        problems.append((WARN, f"{bad} bad input messages"))
    if not problems:
        return OK, "running" if values.get("windows_processed") else "waiting for windows"
    level = max(p[0] for p in problems)
    return level, "; ".join(p[1] for p in problems)
