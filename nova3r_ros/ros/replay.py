"""Play a rosbag2 (MCAP or sqlite3) into ROS with rclpy: a small ``ros2 bag play``.

The bag is read with :mod:`nova3r_ros.bags.reader` (pure Python, tolerant of damage);
each message's CDR bytes go to ``Publisher.publish`` unchanged. Behaviour:

- Before the first message the player waits until every data topic (all but ``/tf``,
  ``/tf_static`` and other latched topics) has a subscriber, at most ``--wait`` seconds
  (default: no limit; 0 = start at once), saying every 5 s which topics still wait.
- Timing follows the bag's receive times divided by ``--rate``; ``--clock`` publishes
  ``/clock`` (rosgraph_msgs/Clock) with the bag time, before each message and every
  10 ms of wall time in between, so a node with ``use_sim_time:=true`` runs its timers.
- ``--loop`` plays again and again; pass ``n`` adds ``n`` times (bag duration + one
  message period, at least 0.1 s) to every header stamp (Image, CameraInfo,
  CompressedImage, TF...) and receive time, so a node never sees a stamp go back. A bag
  with no messages is reported once and not looped.
- ``--remap FROM:=TO`` renames a topic; ``--topics`` plays only those (bag names).
- Topics recorded with a transient-local offer (``/tf_static``) are republished latched.
- A corrupt or truncated bag: what was readable is played, then one line names the file
  and the offset and the command exits with code 1. A path that is not a bag: exit 2.

Command line: ``nova3r replay BAG [--rate R] [--loop] [--clock] [--wait S] ...`` (also
installed as ``nova3r_replay``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from nova3r_ros.bags.reader import BagCorrupt, BagError, open_bag
from nova3r_ros.cli_bags import add_replay_arguments
from nova3r_ros.ros.dds_profile import use_profile

NS = 1_000_000_000
NOT_WAITED = ("/tf", "/tf_static", "/clock")
CLOCK_PERIOD_S = 0.01


def message_class(type_name: str):
    """Return the rclpy message class of ``pkg/msg/Name`` (e.g. ``sensor_msgs/msg/Image``)."""
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"not a message type name: {type_name!r}")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"message type {type_name} is not installed here") from exc


def parse_remaps(items: Sequence[str]) -> dict[str, str]:
    """``["/a:=/b", ...]`` -> ``{"/a": "/b"}``; ValueError on a malformed item."""
    out = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep or not src.startswith("/") or not dst.startswith("/"):
            raise ValueError(f"--remap expects /FROM:=/TO (absolute names), got {item!r}")
        out[src] = dst
    return out


def _shift_stamps(msg, offset_ns: int) -> None:
    """Add ``offset_ns`` to every std_msgs/Header stamp in ``msg`` (top level and TF)."""
    heads = []
    if hasattr(msg, "header"):
        heads.append(msg.header)
    for t in getattr(msg, "transforms", []) or []:
        heads.append(t.header)
    for h in heads:
        ns = h.stamp.sec * NS + h.stamp.nanosec + offset_ns
        h.stamp.sec, h.stamp.nanosec = int(ns // NS), int(ns % NS)


class BagPlayer:
    """Publishes a bag's messages on ``node`` (blocking :meth:`play` or a thread).

    Args:
        node: the rclpy node that owns the publishers.
        bag: path of the bag folder (or one .mcap / .db3 file).
        rate: playback speed factor (2.0 = twice as fast); > 0.
        topics: only these bag topics (None = all).
        loop: start again at the end (re-stamped) until :meth:`stop`.
        remap: bag topic -> published topic.
        clock: publish /clock with the bag time.

    Raises:
        BagError: the path is not a bag; ValueError: a bad argument.

    """

    def __init__(
        self,
        node,
        bag: str | Path,
        rate: float = 1.0,
        topics: Sequence[str] | None = None,
        loop: bool = False,
        remap: Mapping[str, str] | None = None,
        clock: bool = False,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.node, self.rate, self.loop = node, float(rate), loop
        self.bag = open_bag(bag)
        self.remap = dict(remap or {})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.passes = 0
        self.error: BagCorrupt | None = None
        self.publishers = {}  # published topic name -> publisher
        self._types = {}
        known = {c.topic for c in self.bag.connections}
        unknown = sorted(set(topics or []) - known)
        if unknown:
            raise ValueError(f"topic(s) {', '.join(unknown)} not in the bag")
        for c in self.bag.connections:
            if topics is not None and c.topic not in topics:
                continue
            name = self.remap.get(c.topic, c.topic)
            if name in self.publishers:
                continue
            qos = QoSProfile(
                depth=100 if c.latched else 10, history=HistoryPolicy.KEEP_LAST,
                reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL if c.latched else (
                    DurabilityPolicy.VOLATILE),
            )  # fmt: skip
            cls = message_class(c.msgtype)
            self._types[c.topic] = cls
            self.publishers[name] = node.create_publisher(cls, name, qos)
        self.data_topics = sorted(n for n, c in self._named() if not c.latched
                                  and n not in NOT_WAITED)  # fmt: skip
        self._clock = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self._clock_msg = Clock()
            self._clock = node.create_publisher(Clock, "/clock", 10)

    def _named(self):
        for c in self.bag.connections:
            name = self.remap.get(c.topic, c.topic)
            if c.topic in self._types:
                yield name, c

    def missing_subscribers(self) -> list[str]:
        """Return the data topics nobody subscribes to yet."""
        return [t for t in self.data_topics if self.publishers[t].get_subscription_count() == 0]

    def wait_for_subscribers(self, timeout: float | None = None, say=None) -> bool:
        """Wait until every data topic has a subscriber (at most ``timeout`` s; None = no limit).

        Returns True when all are subscribed. ``say`` gets a line every 5 s.
        """
        start, last_say = time.monotonic(), time.monotonic()
        while True:
            missing = self.missing_subscribers()
            if not missing:
                return True
            now = time.monotonic()
            if timeout is not None and now - start >= timeout:
                return False
            if say is not None and now - last_say >= 5.0:
                last_say = now
                say(f"waiting for subscribers on {', '.join(missing)}")
            if self._stop.wait(0.05):
                return False

    def _publish_clock(self, bag_ns: int) -> None:
        if self._clock is not None:
            self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = bag_ns // NS, bag_ns % NS
            self._clock.publish(self._clock_msg)

    def _sleep_until(self, wall: float, bag_at) -> bool:
        """Sleep until monotonic ``wall``, ticking /clock; return False if stopped."""
        while True:
            left = wall - time.monotonic()
            if left <= 0:
                return True
            if self._clock is not None:
                self._publish_clock(bag_at(time.monotonic()))
            if self._stop.wait(min(left, CLOCK_PERIOD_S if self._clock is not None else left)):
                return False

    def play_once(self, offset_ns: int = 0) -> tuple[int, int | None, int | None]:
        """Publish every message once with ``offset_ns`` added; return (count, first, last)."""
        from rclpy.serialization import deserialize_message, serialize_message

        count, first, last = 0, None, None
        start_wall = time.monotonic()
        try:
            for topic, _, t_ns, raw in self.bag.messages(topics=list(self._types)):
                if self._stop.is_set():
                    break
                first = t_ns if first is None else first
                last = t_ns
                at = start_wall + (t_ns - first) / NS / self.rate
                base = first + offset_ns

                def bag_now(w: float, b: int = base) -> int:
                    return b + int((w - start_wall) * self.rate * NS)

                if not self._sleep_until(at, bag_now):
                    break
                self._publish_clock(t_ns + offset_ns)
                data = raw
                if offset_ns:
                    msg = deserialize_message(raw, self._types[topic])
                    _shift_stamps(msg, offset_ns)
                    data = serialize_message(msg)
                self.publishers[self.remap.get(topic, topic)].publish(data)
                count += 1
                self.published += 1
        except BagCorrupt as exc:
            self.error = exc
        return count, first, last

    def play(self) -> int:
        """Play (looping if asked) until the end, :meth:`stop` or damage; return the count."""
        offset = 0
        while not self._stop.is_set():
            count, first, last = self.play_once(offset)
            self.passes += 1
            if self.error is not None or not self.loop or count == 0:
                break
            period = max(int(0.1 * NS), (last - first) // max(1, count - 1))
            offset += last - first + period
            resume = last + offset - period
            wake = time.monotonic() + period / NS / self.rate
            if not self._sleep_until(wake, lambda _w, r=resume: r):
                break
        return self.published

    def _play_guarded(self) -> None:
        """Play in the thread; a context shut down under it (Ctrl-C) ends playback quietly."""
        try:
            self.play()
        except Exception:
            if self._stop.is_set() or not self.node.context.ok():
                return  # interrupted: rclpy's SIGINT handler shut the context down
            raise

    def start(self) -> None:
        """Play in a background thread (looping if asked)."""
        self._thread = threading.Thread(target=self._play_guarded, name="bag_player",
                                        daemon=True)  # fmt: skip
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
        if self._clock is not None:
            self.node.destroy_publisher(self._clock)
            self._clock = None
        self.publishers = {}


def run(args: argparse.Namespace, ros_args: Sequence[str] = ()) -> int:
    """Play ``args.bag``; return the exit code (0, 1 for a damaged bag, 2 for bad input)."""
    import rclpy

    def say(text: str) -> None:
        print(f"[replay] {text}", file=sys.stderr, flush=True)

    if not args.rate > 0:
        raise ValueError(f"--rate must be > 0, got {args.rate}")
    if args.wait is not None and args.wait < 0:
        raise ValueError(f"--wait must be >= 0, got {args.wait}")
    remap = parse_remaps(args.remap)
    bag = open_bag(args.bag)  # a path that is not a bag fails here, before rclpy starts
    use_profile(getattr(args, "dds_profile", None))  # images > 0.5 MB: see dds_profile
    rclpy.init(args=["nova3r_replay", *ros_args])
    node = rclpy.create_node("nova3r_bag_player")
    player = None
    try:
        player = BagPlayer(node, bag.path, args.rate, args.topics, args.loop, remap, args.clock)
        if args.wait != 0 and player.data_topics:
            say(f"waiting for subscribers on {len(player.data_topics)} topic(s)")
            ok = player.wait_for_subscribers(args.wait, say)
            say("subscribers found; playing" if ok else "wait over; playing anyway")
        player.start()
        while rclpy.ok() and not player.wait(0.1):
            rclpy.spin_once(node, timeout_sec=0.0)
        time.sleep(0.5)  # let latched and reliable traffic drain
    except KeyboardInterrupt:
        pass
    finally:
        if player is not None:
            player.destroy()
        node.destroy_node()
        rclpy.try_shutdown()
    passes = f" in {player.passes} pass(es)" if player and args.loop else ""
    say(f"published {player.published if player else 0} messages{passes}")
    if player is not None and player.published == 0 and player.error is None:
        say(f"{args.bag}: the bag holds no messages")
    if player is not None and player.error is not None:
        print(f"nova3r replay: error: {player.error}", file=sys.stderr)
        return 1
    return 0


def split_ros_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` into the player's arguments and ``--ros-args ... [--]``.

    Only what follows ``--ros-args`` (up to a lone ``--``) goes to rclpy, so the player's
    own ``--remap /a:=/b`` is never taken for an old-style ROS remapping.
    """
    argv = list(argv)
    if "--ros-args" not in argv:
        return argv, []
    i = argv.index("--ros-args")
    j = argv.index("--", i) if "--" in argv[i:] else len(argv)
    return argv[:i] + argv[j + 1 :], argv[i : j + 1]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nova3r_replay`` (``nova3r replay`` under its own name)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="nova3r_replay",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_replay_arguments(parser)
    ours, ros_args = split_ros_args(argv)
    args = parser.parse_args(ours)
    try:
        return run(args, ros_args)
    except (BagError, ValueError) as exc:
        print(f"nova3r replay: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
