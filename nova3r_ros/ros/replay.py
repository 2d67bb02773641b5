"""Play a rosbag2 (MCAP or sqlite3) into ROS with rclpy: a small ``ros2 bag play``.

The bag is read with the pure-Python ``rosbags`` package; each message's CDR
bytes go to ``Publisher.publish`` unchanged (rclpy publishes serialized
messages as they are), so nothing is decoded. Timing follows the bag's receive
times divided by ``rate``; header stamps are the bag's own. Topics recorded
with a transient-local offer (``/tf_static``) are republished latched.

Command line::

    python -m nova3r_ros.ros.replay BAG [--rate 1.0] [--loop] [--topics /a /b]
"""

from __future__ import annotations

import argparse
import importlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def message_class(type_name: str):
    """Return the rclpy message class of ``pkg/msg/Name`` (e.g. ``sensor_msgs/msg/Image``)."""
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"not a message type name: {type_name!r}")
    return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])


def _latched(connection) -> bool:
    qos = getattr(connection.ext, "offered_qos_profiles", None) or []
    return any(getattr(q.durability, "name", "") == "TRANSIENT_LOCAL" for q in qos)


class BagPlayer:
    """Publishes a bag's messages on ``node`` from a background thread.

    Args:
        node: the rclpy node that owns the publishers.
        bag: path of the bag folder.
        rate: playback speed factor (2.0 = twice as fast); > 0.
        topics: only these topics (None = all).
        loop: start again at the end until :meth:`stop`.

    """

    def __init__(
        self,
        node,
        bag: str | Path,
        rate: float = 1.0,
        topics: Sequence[str] | None = None,
        loop: bool = False,
    ) -> None:
        from rosbags.rosbag2 import Reader

        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.node, self.bag, self.rate, self.loop = node, Path(bag), float(rate), loop
        self._reader_class = Reader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.publishers = {}
        with Reader(self.bag) as reader:
            for c in reader.connections:
                if (topics is not None and c.topic not in topics) or c.topic in self.publishers:
                    continue
                latched = _latched(c)
                qos = QoSProfile(
                    depth=100 if latched else 10,
                    history=HistoryPolicy.KEEP_LAST,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else (
                        DurabilityPolicy.VOLATILE),
                )  # fmt: skip
                self.publishers[c.topic] = node.create_publisher(
                    message_class(c.msgtype), c.topic, qos
                )

    def play(self) -> int:
        """Publish every message once (or until stopped), blocking; return how many."""
        with self._reader_class(self.bag) as reader:
            conns = [c for c in reader.connections if c.topic in self.publishers]
            start_wall, start_bag = time.monotonic(), None
            for conn, t_ns, raw in reader.messages(connections=conns):
                if self._stop.is_set():
                    break
                start_bag = t_ns if start_bag is None else start_bag
                delay = start_wall + (t_ns - start_bag) / 1e9 / self.rate - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                self.publishers[conn.topic].publish(bytes(raw))
                self.published += 1
        return self.published

    def start(self) -> None:
        """Play in a background thread (looping if asked)."""

        def run():
            while True:
                self.play()
                if not self.loop or self._stop.is_set():
                    return

        self._thread = threading.Thread(target=run, name="bag_player", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background playback to end; return True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self) -> None:
        """Stop playback and wait for the thread."""
        self._stop.set()
        self.wait(5.0)

    def destroy(self) -> None:
        """Stop and destroy the publishers."""
        self.stop()
        for pub in self.publishers.values():
            self.node.destroy_publisher(pub)
        self.publishers = {}


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line player (see the module docstring)."""
    import rclpy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bag", type=Path)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--topics", nargs="*", default=None)
    args, ros_args = parser.parse_known_args(argv)
    rclpy.init(args=ros_args)
    node = rclpy.create_node("nova3r_bag_player")
    player = BagPlayer(node, args.bag, args.rate, args.topics, args.loop)
    player.start()
    try:
        while rclpy.ok() and not player.wait(0.1):
            rclpy.spin_once(node, timeout_sec=0.0)
        rclpy.spin_once(node, timeout_sec=0.5)  # let latched and reliable traffic drain
    except KeyboardInterrupt:
        pass
    finally:
        player.destroy()
        node.destroy_node()
        rclpy.try_shutdown()
    print(f"published {player.published} messages")


if __name__ == "__main__":
    main()
