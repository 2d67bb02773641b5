"""End-to-end node benchmark: 4 RGB-D cameras at 30 Hz into ``nova3r node`` in another process.

This process publishes 4 cameras (320x240 rgb8 + 32FC1 depth, or 16UC1 with
``--depth-encoding 16UC1``, + CameraInfo, stamped
with the wall clock just before the messages are built) at 30 Hz and the cameras'
poses on ``/tf_static``; the node (subprocess, window of 1 keyframe x 4 cameras; the
texture shifts every frame so that the image-change keyframe policy fires, at most
every ``keyframe.min_interval``) publishes ``~/cloud`` stamped with its window's stamp.
Both processes use the shipped Fast DDS profile (``config/fastdds_large_messages.xml``,
as the launch file does; without it Fast DDS's default 0.5 MB shared-memory segment
loses ~20 % of these images).

Backends (``--backend``):
    ``depth`` (default): fusion of the input depth (voxel 1 cm, stride 2), ~15-25 ms a
        window here; keyframe interval 0.2 s (at most 5 windows/s); default 10 s run.
    ``model``: the network from the packaged checkpoint on the CPU, ``n_points`` =
        ``--points`` (default 1024), ``ode_steps`` = ``--steps`` (default 8); the node has
        no sampler parameter, so it decodes with the pipeline's default (Euler) and so
        does the baseline. ~1.1 s a window on the 2-core CPU at the defaults (4096 points:
        ~3.7 s). The keyframe interval defaults to 2.5 x the bare pipeline's time
        (rounded up to 0.1 s): in the node, sharing the 2 cores with its own input
        callbacks and with the publisher, a window takes 1.3-1.7 x as long, and at
        1.5 x windows queued behind the previous one (``queue_wait`` ~0.8 s). So a
        window normally finds the worker idle and its latency holds no wait for the
        previous window (when it does, ``queue_wait`` shows it). Default 30 s run
        (about 10 clouds), raised to at least 5 intervals. The node runs the model in
        its backend process (``backend_process`` true, the default); ``--in-process``
        runs it in the node's own process.

The bare pipeline is timed first, in this process, on the same window with the node's
settings, on an otherwise idle machine (``pipeline_ms``). Then the loaded baseline
(``pipeline_loaded_ms``): this process publishes the same 4 x 30 Hz load to a
subscriber process that only receives and converts the images (the node's input QoS
and conversions, no sync, keyframes or worker: a stand-in for the node's input side),
while another process (own interpreter) times the same bare ``reconstruct`` with the
same settings; both exit (or are killed on exit) before the node starts. Why: on this
2-core machine the load itself (the publisher and the receiving callbacks) competes with
the backend for the cores, and the model backend ran 30-65 % slower in the node than
alone, so overhead against the idle baseline mixes the load generator's contention into
the node's overhead. The loaded figures measure the node against a pipeline that shares
the machine with the same load; the idle figures (``pipeline_ms``,
``node_overhead_pct``, the issue's measure) are kept as they were. Then the node
starts; once it is active this process publishes until the first cloud arrives (model
loading and first-call warm-up, not measured), then for ``--seconds``. Only clouds
whose window stamp falls in that period count, each against its own window stamp.
Helpers and the two baseline processes are in ``bench/_load.py``. Measured:

    ``e2e_latency_ms_median`` / ``_p90``: cloud received here minus its stamp (the last
        image of the window): the camera's own send time + transport + sync + keyframe
        + queueing + reconstruction + publish + transport back.
    ``windows_per_s``: counted clouds per second (capped by the keyframe interval).
    ``input_drops``: input messages the node reports dropped (``/diagnostics``, whole run).
    ``input_received``: image + depth messages the node converted (of those sent, whole run).
    ``camera_send_ms_median``: stamp to the last publish of a frame set, in this process
        (part of the latency that a real camera driver would add too).
    ``cloud_points_median``: points per received cloud.
    ``pipeline_ms``: the bare ``pipeline.reconstruct(window, backend, config)`` on the same
        window in this process, median of 20 runs (model: 5 on the CPU, 25 on CUDA) after
        warm-up runs, with no other load (no occupancy: the node updates the map after
        publishing the cloud, off the cloud's latency path).
    ``node_overhead_pct``: (median latency - pipeline time) / pipeline time, the issue's
        measure (target: under 20 %).
    ``node_added_ms``: median latency - pipeline time, the same overhead in ms. It holds
        fixed costs (transport, sync, publish) and, on this 2-core machine, the slow-down
        of the node's reconstruction by the publisher and by the node's own input
        callbacks competing for the cores (see ``backend_slowdown_pct``).
    ``backend_slowdown_pct``: the node's mean ``backend`` stage (view assembly + the same
        ``reconstruct`` call, under the load) over ``pipeline_ms``, minus 1: how much of
        ``node_added_ms`` is the reconstruction itself slowed by CPU contention.
    ``pipeline_paced_ms``: the same bare ``reconstruct`` in this process, idle machine,
        but started once every keyframe interval (``--paced-runs`` calls, default 8, 25 on
        CUDA, after one warm-up), as the node gets its windows: back-to-back calls keep the GPU
        clocked up and its caches warm, paced ones find it idle like the node's.
        ``node_overhead_paced_pct`` / ``node_added_paced_ms`` /
        ``backend_slowdown_paced_pct`` are the figures above against it;
        ``pipeline_paced_<stage>_ms`` its mean stage times (compare ``node_mean_<stage>_ms``).
    ``pipeline_fresh_ms``: the same bare ``reconstruct`` back to back, each call on a new
        window built as the node builds its own (a new array per camera, the texture
        rolled as sent; ``_load.node_like_window``) instead of one window whose views share
        one image and one depth array; ``node_overhead_fresh_pct`` / ``node_added_fresh_ms``
        / ``backend_slowdown_fresh_pct`` against it, ``pipeline_fresh_<stage>_ms`` its mean
        stage times.
    ``pipeline_loaded_ms``: the same bare ``reconstruct`` (same window, settings, warm-up
        and run count as ``pipeline_ms``) timed in a separate process while this process
        publishes the 4 x 30 Hz load to the receive-and-convert-only subscriber process.
    ``node_overhead_loaded_pct``: (median latency - ``pipeline_loaded_ms``) /
        ``pipeline_loaded_ms``: the node's overhead over a pipeline under the same input
        load (the CPU the load costs is not counted as the node's).
    ``node_added_loaded_ms``: median latency - ``pipeline_loaded_ms``.
    ``backend_slowdown_loaded_pct``: the node's mean ``backend`` stage over
        ``pipeline_loaded_ms``, minus 1 (what the node's grouping and worker add to it).
    ``load_messages_received`` / ``load_messages_sent``: image + depth messages the
        stand-in subscriber converted / this process sent once it was receiving (from
        its 24th message on, give or take one frame set of 8);
        ``load_subscriber_cpu_pct``: its CPU while the loaded baseline was timed (compare
        ``node_cpu_pct``, which also holds the node's grouping and worker).
    ``worker_capacity_windows_per_s``: 1 / the worker's mean busy time per window
        (cloud, publish, occupancy update, map publish): the rate it could sustain.
    ``publisher_cpu_pct`` / ``node_cpu_pct``: CPU time of this process / of the node per
        second of the measured period (100 = one core busy); ``cpu_cores``;
        ``loadavg_1min`` at the end of the period.
    ``node_cuda_graph_captures``: CUDA graphs the node's model captured over the whole run
        (``/diagnostics``; a few at start; growing with the windows = a capture per window).
    ``node_mean_<stage>_ms``: the node's own mean stage times from ``/diagnostics``
        (``grouped_age``: window stamp to its group formed in the node, i.e. its last
        message in; ``input_age``: window stamp to the worker's start;
        ``published_age``: window stamp to the cloud handed to the middleware;
        ``queue_wait``: job waiting
        for the worker; ``occupancy`` and ``publish_map`` run after the cloud is out;
        ``ipc``: the window to the backend process and its result back; the stages the
        backend process times itself, e.g. ``encode``, come from there). The node's means
        cover its last 100 windows without the first (model load, CUDA graph capture);
        until session 9 they were means since start with the first window in, which
        made the node's encode look 4-7 ms slower than the bare pipeline's.

Usage: python bench/node_e2e.py [--backend depth|model] [--seconds S] [--points N]
    [--steps N] [--interval S] [--in-process] [--nice N] [--paced-runs N]
    [--depth-encoding 32FC1|16UC1] [--threads N] [--switch-interval S] [--profile DIR]
    [--cpus NODE:BACKEND]
Environment: ``NOVA3R_BENCH_SIZE`` (default 320x240) and ``NOVA3R_BENCH_DEVICE`` (the
model's device, default cpu; cuda on a GPU machine), e.g. on the GPU:
    NOVA3R_BENCH_SIZE=640x480 NOVA3R_BENCH_DEVICE=cuda \
        python bench/node_e2e.py --backend model --points 16384 --steps 25 --seconds 30
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from _load import (
    CAMS,
    DEVICE,
    H,
    K,
    W,
    backend_config,
    camera_poses,
    scene,
    time_pipeline,
    time_pipeline_fresh,
    time_pipeline_paced,
)
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tf2_msgs.msg import TFMessage

from nova3r_ros.pipeline import unload_models
from nova3r_ros.ros.backend import set_threads
from nova3r_ros.ros.conversions import header, numpy_to_image, poses_to_tf_message, stamp_to_ns

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("depth", "model"), default="depth")
    ap.add_argument("--seconds", type=float, default=None,
                    help="measured period (default: depth 10, model 30)")  # fmt: skip
    ap.add_argument("--points", type=int, default=1024, help="model: n_points")
    ap.add_argument("--steps", type=int, default=8, help="model: ode_steps")
    ap.add_argument("--depth-encoding", choices=("32FC1", "16UC1"), default="32FC1",
                    help="depth messages: float metres or uint16 millimetres (as RealSense "
                    "and Kinect drivers send)")  # fmt: skip
    ap.add_argument("--in-process", action="store_true",
                    help="model: backend_process false (the backend in the node's own "
                    "process, as before the backend process existed)")  # fmt: skip
    ap.add_argument("--paced-runs", type=int, default=8 if DEVICE != "cuda" else 25,
                    help="calls of the paced baseline (one per keyframe interval)")  # fmt: skip
    ap.add_argument("--nice", type=int, default=None,
                    help="the node's backend_nice (default: the node's default)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=0,
                    help="the node's threads parameter (torch/numpy threads in the node and "
                    "its backend process), also applied to this process's bare pipeline; "
                    "0: the libraries' defaults")  # fmt: skip
    ap.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="the node's switch_interval parameter (s; 0: Python's default)",
    )
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="profile windows 5-14 of the paced bare pipeline and of the node's "
                    "backend process (torch.profiler tables into DIR; the timed figures "
                    "then include the profiler's cost)")  # fmt: skip
    ap.add_argument("--cpus", default=None, metavar="NODE:BACKEND",
                    help="CPU lists, e.g. 0-7:8-15: the node (and this process, once the "
                    "baselines are timed) on NODE, its backend process on BACKEND")  # fmt: skip
    ap.add_argument("--interval", type=float, default=None,
                    help="keyframe.min_interval (s); default: depth 0.2, model 2.5 x "
                    "the pipeline's time")  # fmt: skip
    a = ap.parse_args()
    if a.threads:
        set_threads(a.threads)
    poses = camera_poses()
    rgb, depth, window = scene()
    enc = a.depth_encoding
    depth_px = depth if enc == "32FC1" else np.round(depth * 1000).astype(np.uint16)
    # the model on a GPU: 25 timed calls (a few seconds); its launch-bound time varies by
    # 10-30 % between calls, and 5 left the baselines 30 % apart from one run to the next
    warmup, runs = (2, 20) if a.backend == "depth" else ((3, 25) if DEVICE == "cuda" else (2, 5))
    cfg = backend_config(a.backend, a.points, a.steps)
    pipeline_ms = time_pipeline(window, a.backend, cfg, warmup, runs)
    model_params = ""
    if a.backend == "model":  # the node's settings: packaged checkpoint, cpu, Euler
        model_params = f"    n_points: {a.points}\n    ode_steps: {a.steps}\n"
        model_params += f"    backend_process: {'false' if a.in_process else 'true'}\n"
    if a.nice is not None:
        model_params += f"    backend_nice: {a.nice}\n"
    if a.threads:
        model_params += f"    threads: {a.threads}\n"
    if a.switch_interval:
        model_params += f"    switch_interval: {a.switch_interval}\n"
    interval = a.interval
    if interval is None:
        interval = 0.2 if a.backend == "depth" else max(0.2, math.ceil(pipeline_ms * 0.025) / 10)
    profiler = None
    if a.profile:
        from nova3r_ros.model.profiling import WindowProfiler

        profiler = WindowProfiler(a.profile, "bare_paced")
        a.paced_runs = max(a.paced_runs, 15)  # windows 5-14 after the warm-up call
        os.environ["NOVA3R_PROFILE_DIR"] = a.profile  # the node's backend process
    paced_ms, bare_stages = time_pipeline_paced(window, a.backend, cfg, interval, a.paced_runs,
                                                profiler)  # fmt: skip
    fresh_ms, fresh_stages = time_pipeline_fresh(rgb, depth, a.backend, cfg, warmup, runs * 2)
    if a.backend == "model":
        unload_models()
    seconds = a.seconds or (10.0 if a.backend == "depth" else 30.0)
    if a.backend == "model" and seconds < 5 * interval:
        seconds = 5 * interval  # several clouds, not one or two
    print(
        f"# backend {a.backend}, keyframe interval {interval:.1f} s, {seconds:.0f} s measured"
        + (f", {a.points} points, {a.steps} Euler steps, {DEVICE}" if model_params else "")
        + (f", backend {'in the node' if a.in_process else 'process'}" if model_params else "")
        + (f", backend_nice {a.nice}" if a.nice is not None else "")
        + (f", threads {a.threads}" if a.threads else "")
        + (f", switch interval {a.switch_interval:g} s" if a.switch_interval else "")
        + (f", profiled into {a.profile}" if a.profile else "")
        + (f", CPUs node:backend {a.cpus}" if a.cpus else "")
        + f", depth {enc}"
    )
    tmp = Path(tempfile.mkdtemp())
    params = tmp / "bench.yaml"
    params.write_text(
        f"/**:\n  ros__parameters:\n    backend: {a.backend}\n    device: {DEVICE}\n{model_params}"
        f"    cameras: {CAMS}\n    window_size: 1\n    keyframe.min_interval: {interval:.3f}\n"
        "    use_tf_poses: true\n    world_frame: map\n    voxel_size: 0.01\n"
        "    publish_voxels: false\n"
    )
    profile = ROOT / "config" / "fastdds_large_messages.xml"
    os.environ.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", str(profile))
    procs: list[subprocess.Popen] = []  # killed on exit, whatever happens

    def start(args: list[str], out=subprocess.DEVNULL) -> subprocess.Popen:
        procs.append(
            subprocess.Popen(
                [sys.executable, *args],
                env=dict(os.environ),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
        return procs[-1]

    atexit.register(lambda: [p.kill() for p in procs if p.poll() is None])
    rclpy.init()  # the DDS profile is read at init: set above, before any process starts
    node = rclpy.create_node("bench_cameras")
    sensor = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)  # fmt: skip
    pubs = {
        c: (
            node.create_publisher(Image, f"/{c}/image_raw", sensor),
            node.create_publisher(Image, f"/{c}/depth/image_raw", sensor),
            node.create_publisher(CameraInfo, f"/{c}/camera_info", sensor),
        )
        for c in CAMS
    }
    node.create_publisher(TFMessage, "/tf_static", latched).publish(
        poses_to_tf_message(poses, "map", [f"{c}_optical_frame" for c in CAMS], 0)
    )
    info = CameraInfo(width=W, height=H, k=K.reshape(-1).tolist(), distortion_model="plumb_bob",
                      d=[0.0] * 5)  # fmt: skip
    period, n_sent, next_t = 1 / 30, 0, 0.0
    send_ms: list[float] = []

    def publish_until(done) -> None:
        nonlocal n_sent, next_t
        while not done():
            stamp = time.time_ns()
            frame = np.roll(rgb, 16 * (n_sent // 8), axis=1)  # the scene changes: new keyframes
            for c in CAMS:
                h = header(f"{c}_optical_frame", stamp)
                img, dep = numpy_to_image(frame, "rgb8", h), numpy_to_image(depth_px, enc, h)
                info.header = h
                pubs[c][2].publish(info)
                pubs[c][0].publish(img)
                pubs[c][1].publish(dep)
            send_ms.append((time.time_ns() - stamp) / 1e6)
            n_sent += len(CAMS) * 2
            next_t += period
            while time.monotonic() < next_t:
                rclpy.spin_once(node, timeout_sec=max(0.0, next_t - time.monotonic()))

    # Loaded baseline: the same load into a receive-and-convert-only subscriber process
    # while another process times the bare pipeline (no node yet).
    ready, stop = tmp / "ready", tmp / "stop"
    sub = start([str(Path(__file__).with_name("_load.py")), "subscribe", str(ready), str(stop)],
                subprocess.PIPE)  # fmt: skip
    next_t = time.monotonic()
    deadline = next_t + 60  # the subscriber starts and discovers the publishers
    publish_until(lambda: ready.exists() or sub.poll() is not None or time.monotonic() > deadline)
    if not ready.exists():
        print(f"load subscriber received nothing (exit code {sub.poll()})")
        sys.exit(1)
    timer = start([str(Path(__file__).with_name("_load.py")), "time", a.backend, str(a.points),
                   str(a.steps), str(warmup), str(runs)], subprocess.PIPE)  # fmt: skip
    load_t0, sub_cpu0, load_sent0 = time.monotonic(), cpu_seconds(sub.pid), n_sent
    deadline = load_t0 + 120 + 5 * (warmup + runs) * pipeline_ms / 1e3
    publish_until(lambda: timer.poll() is not None or time.monotonic() > deadline)
    sub_cpu_pct = 100 * (cpu_seconds(sub.pid) - sub_cpu0) / (time.monotonic() - load_t0)
    load_sent = n_sent - load_sent0  # since READY, as its count (give or take a frame set)
    stop.touch()
    try:
        sub_out = sub.communicate(timeout=15)[0]
        timer_out = timer.communicate(timeout=1)[0]
    except subprocess.TimeoutExpired:
        sub_out = timer_out = ""
    lines = dict(ln.split("=", 1) for ln in (sub_out + timer_out).split() if "=" in ln)
    if "pipeline_ms" not in lines:
        print(f"loaded baseline failed (timer exit code {timer.poll()}): {timer_out!r}")
        sys.exit(1)
    pipeline_loaded_ms = float(lines["pipeline_ms"])
    load_received = int(lines.get("received", -1))
    n_sent = 0
    send_ms.clear()

    if a.cpus:  # after the baselines: they ran unpinned, as before
        from nova3r_ros.ros.cpu_affinity import cpu_list, pin_threads

        node_cpus, _, backend_cpus = a.cpus.partition(":")
        pin_threads(cpu_list(node_cpus))  # this process's threads; the node inherits it
        os.environ["NOVA3R_BACKEND_CPUS"] = backend_cpus  # read by its backend process
    yamls = [str(ROOT / "config" / "reconstruct.yaml"), str(params)]
    node_proc = start(["-m", "nova3r_ros.cli", "node", "--params-file", yamls[0],
                       "--params-file", yamls[1]])  # fmt: skip
    clouds, drops, received, node_stages, state, captures = [], [0], {}, {}, [""], [-1]
    cloud_points: list[int] = []

    def on_cloud(msg):  # (window stamp, latency ms) of every cloud
        stamp = stamp_to_ns(msg.header.stamp)
        clouds.append((stamp, (time.time_ns() - stamp) / 1e6))
        cloud_points.append(msg.width * msg.height)

    def on_diag(msg):
        for status in msg.status:
            for kv in status.values:
                if kv.key == "state":
                    state[0] = kv.value
                elif kv.key.endswith("_dropped"):
                    drops[0] = max(drops[0], int(float(kv.value)))
                elif kv.key.endswith("_received") and "/" in kv.key:
                    received[kv.key] = int(float(kv.value))
                elif kv.key == "cuda_graph_captures":
                    captures[0] = int(kv.value)
                elif kv.key.startswith("mean_latency_ms/"):
                    node_stages[kv.key.split("/", 1)[1]] = float(kv.value)

    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(PointCloud2, "/nova3r_reconstruction/cloud", on_cloud, reliable)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)

    def fail(why: str) -> None:
        print(f"{why}: is the node starting? (try: nova3r node --params-file ...)")
        sys.exit(1)  # atexit kills the node

    deadline = time.monotonic() + 120  # the node starts, loads its backend and activates
    while state[0] != "active" and time.monotonic() < deadline and node_proc.poll() is None:
        rclpy.spin_once(node, timeout_sec=0.1)
    if state[0] != "active":
        fail(f"node not active (state {state[0]!r}, exit code {node_proc.poll()})")
    next_t = time.monotonic()
    warm_end = time.monotonic() + 60 + 3 * interval  # warm-up: until the first cloud
    publish_until(lambda: clouds or time.monotonic() > warm_end)
    if not clouds:
        fail("no cloud received")
    send_ms.clear()
    t0_ns, cpu0, node_cpu0 = time.time_ns(), time.process_time(), cpu_seconds(node_proc.pid)
    t_end = time.monotonic() + seconds
    publish_until(lambda: time.monotonic() >= t_end)
    t1_ns, cpu1, node_cpu1 = time.time_ns(), time.process_time(), cpu_seconds(node_proc.pid)
    load1 = os.getloadavg()[0]
    drain = time.monotonic() + max(1.0, 3 * pipeline_ms / 1e3)  # the last window's cloud
    while time.monotonic() < drain:
        rclpy.spin_once(node, timeout_sec=0.05)
    node_proc.terminate()
    node_proc.wait(timeout=10)
    latencies = [ms for stamp, ms in clouds if t0_ns <= stamp < t1_ns]
    if not latencies:
        fail("no cloud received in the measured period")
    med, wall = statistics.median(latencies), (t1_ns - t0_ns) / 1e9
    print(f"# {len(latencies)} clouds, {n_sent} image messages sent at 30 Hz x {len(CAMS)}")
    print(f"e2e_latency_ms_median={med:.1f}")
    print(f"e2e_latency_ms_p90={np.percentile(latencies, 90):.1f}")
    print(f"windows_per_s={len(latencies) / wall:.2f}")
    print(f"input_drops={drops[0]}")
    print(f"input_received={sum(received.values())}")
    print(f"camera_send_ms_median={statistics.median(send_ms):.1f}")
    print(f"cloud_points_median={statistics.median(cloud_points):.0f}")
    print(f"pipeline_ms={pipeline_ms:.1f}")
    print(f"node_overhead_pct={100 * (med - pipeline_ms) / pipeline_ms:.0f}")
    print(f"node_added_ms={med - pipeline_ms:.1f}")
    if "backend" in node_stages:
        print(f"backend_slowdown_pct={100 * (node_stages['backend'] / pipeline_ms - 1):.0f}")
    print(f"pipeline_paced_ms={paced_ms:.1f}")
    print(f"node_overhead_paced_pct={100 * (med - paced_ms) / paced_ms:.0f}")
    print(f"node_added_paced_ms={med - paced_ms:.1f}")
    if "backend" in node_stages:
        print(f"backend_slowdown_paced_pct={100 * (node_stages['backend'] / paced_ms - 1):.0f}")
    print(f"pipeline_fresh_ms={fresh_ms:.1f}")
    print(f"node_overhead_fresh_pct={100 * (med - fresh_ms) / fresh_ms:.0f}")
    print(f"node_added_fresh_ms={med - fresh_ms:.1f}")
    if "backend" in node_stages:
        print(f"backend_slowdown_fresh_pct={100 * (node_stages['backend'] / fresh_ms - 1):.0f}")
    print(f"pipeline_loaded_ms={pipeline_loaded_ms:.1f}")
    print(f"node_overhead_loaded_pct={100 * (med - pipeline_loaded_ms) / pipeline_loaded_ms:.0f}")
    print(f"node_added_loaded_ms={med - pipeline_loaded_ms:.1f}")
    if "backend" in node_stages:
        slow = 100 * (node_stages["backend"] / pipeline_loaded_ms - 1)
        print(f"backend_slowdown_loaded_pct={slow:.0f}")
    print(f"load_messages_received={load_received}")
    print(f"load_messages_sent={load_sent}")
    print(f"load_subscriber_cpu_pct={sub_cpu_pct:.0f}")
    busy = [node_stages.get(k, 0.0) for k in ("total", "publish_cloud", "publish_map")]
    if busy[0] > 0:
        print(f"worker_capacity_windows_per_s={1e3 / sum(busy):.1f}")
    print(f"publisher_cpu_pct={100 * (cpu1 - cpu0) / wall:.0f}")
    print(f"node_cpu_pct={100 * (node_cpu1 - node_cpu0) / wall:.0f}")
    print(f"cpu_cores={os.cpu_count()}")
    if captures[0] >= 0:
        print(f"node_cuda_graph_captures={captures[0]}")
    print(f"loadavg_1min={load1:.2f}")
    for stage, ms in sorted(node_stages.items()):
        print(f"node_mean_{stage}_ms={ms:.1f}")
    for stage, ms in sorted(bare_stages.items()):
        print(f"pipeline_paced_{stage}_ms={ms:.1f}")
    for stage, ms in sorted(fresh_stages.items()):
        print(f"pipeline_fresh_{stage}_ms={ms:.1f}")
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
