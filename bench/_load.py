"""Helpers of ``bench/node_e2e.py``: the benchmark's window, and its loaded-baseline processes.

Run as a script, in a subprocess of ``node_e2e.py`` (own interpreter):

    ``python bench/_load.py subscribe READY STOP``: the stand-in for the node's input side.
        Subscribes to the 4 cameras' image, depth and CameraInfo topics with the node's
        input QoS (best effort, depth 10) and only converts every message as the node's
        callbacks do (``image_to_rgb`` / ``image_to_depth`` / ``camera_info_to_camera``),
        on one single-threaded executor like the node's; no sync, keyframes or worker.
        Creates READY after its first 24 image + depth messages; when STOP exists (or the
        parent is gone, or after an hour) prints ``received=N``, the image + depth messages
        converted after READY, and exits.
    ``python bench/_load.py time BACKEND POINTS STEPS WARMUP RUNS``: prints
        ``pipeline_ms=X``, the median of RUNS bare ``reconstruct`` calls on the window
        after WARMUP ones, with :func:`backend_config`'s settings.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _timing import median_ms

from nova3r_ros.core.types import View, Window
from nova3r_ros.pipeline import DepthBackendConfig, ModelBackendConfig, reconstruct

# Image size and the model's device, shared with the subprocesses through the environment:
# NOVA3R_BENCH_SIZE=640x480 NOVA3R_BENCH_DEVICE=cuda python bench/node_e2e.py --backend model
W, H = (int(v) for v in os.environ.get("NOVA3R_BENCH_SIZE", "320x240").split("x"))
DEVICE = os.environ.get("NOVA3R_BENCH_DEVICE", "cpu")
CAMS = ["cam0", "cam1", "cam2", "cam3"]
_F = 250.0 * W / 320  # the same field of view at every size
K = np.array([[_F, 0, (W - 1) / 2], [0, _F, (H - 1) / 2], [0, 0, 1]])


def camera_poses() -> list[np.ndarray]:
    """Four cameras 1 m from the origin, 20 degrees apart, looking at it (camera-to-map)."""
    poses = []
    for i in range(len(CAMS)):
        a = np.radians(-30 + 20 * i)
        eye = np.array([np.sin(a), -np.cos(a), 0.6])
        z = -eye / np.linalg.norm(eye)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        T = np.eye(4)
        T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
        T[:3, 3] = eye
        poses.append(T)
    return poses


def scene() -> tuple[np.ndarray, np.ndarray, Window]:
    """Return the texture (HxWx3 uint8), the depth (1.1 m everywhere) and their window."""
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), 1.1, np.float32)
    window = Window([View(rgb, depth, K, T, 0, f"{c}_optical_frame", c)
                     for c, T in zip(CAMS, camera_poses(), strict=True)])  # fmt: skip
    return rgb, depth, window


def node_like_window(rgb: np.ndarray, depth: np.ndarray, n: int) -> Window:
    """Return frame set ``n`` as the node assembles it: new arrays per camera, texture shifted.

    :func:`scene`'s window reuses one image and one depth array for every view (hot in the
    CPU caches); the node's windows hold a new copy per camera, the texture rolled by 16 px
    per frame set, as ``node_e2e.py`` sends them.
    """
    frame = np.roll(rgb, 16 * n, axis=1)
    return Window([View(frame.copy(), depth.copy(), K.copy(), T.copy(), n, f"{c}_optical_frame",
                        c) for c, T in zip(CAMS, camera_poses(), strict=True)])  # fmt: skip


def time_pipeline_fresh(
    rgb: np.ndarray, depth: np.ndarray, backend: str, cfg, warmup: int, runs: int
) -> tuple[float, dict[str, float]]:
    """Time bare ``reconstruct`` calls, each on a new :func:`node_like_window` (built untimed).

    Returns the median ms of ``runs`` calls after ``warmup`` ones and their mean stage
    times in ms.
    """
    return _time_calls(lambda i: node_like_window(rgb, depth, i + 1), backend, cfg, warmup,
                       runs)  # fmt: skip


def _time_calls(window_of, backend: str, cfg, warmup: int, runs: int, interval: float = 0.0,
                profiler=None):  # fmt: skip
    """Median ms and mean stage ms of ``runs`` ``reconstruct(window_of(i))`` after ``warmup``.

    Windows are built untimed; calls start ``interval`` s apart (0: back to back).
    ``profiler``: a ``model.profiling.WindowProfiler`` around every call, or None.
    """
    times, stages = [], {}
    for i in range(warmup + runs):
        window = window_of(i)
        t0 = time.perf_counter()
        with profiler.window() if profiler else contextlib.nullcontext():
            rec = reconstruct(window, backend, cfg)
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt * 1e3)
            for k, v in (getattr(rec, "timings", None) or {}).items():
                stages[k] = stages.get(k, 0.0) + v * 1e3 / runs
        time.sleep(max(0.0, interval - dt))
    return statistics.median(times), stages


def backend_config(backend: str, points: int, steps: int):
    """Return the node's backend settings (model: packaged checkpoint, DEVICE, Euler)."""
    if backend == "depth":
        return DepthBackendConfig(voxel_size=0.01, stride=2, world_frame="map")
    from nova3r_ros.ros.backend import resolve_checkpoint

    return ModelBackendConfig(checkpoint=resolve_checkpoint(""), device=DEVICE,
                              n_points=points, steps=steps, world_frame="map")  # fmt: skip


def time_pipeline(window: Window, backend: str, cfg, warmup: int, runs: int) -> float:
    """Return the median ms of ``runs`` bare ``reconstruct`` calls after ``warmup`` ones."""
    return median_ms(lambda: reconstruct(window, backend, cfg), warmup, runs)


def time_pipeline_paced(
    window: Window, backend: str, cfg, interval: float, runs: int, profiler=None
) -> tuple[float, dict[str, float]]:
    """Time bare ``reconstruct`` calls started every ``interval`` s, as the node gets windows.

    Back-to-back calls (:func:`time_pipeline`) keep the GPU clocked up and its caches
    warm; the node's windows come ``interval`` apart with the device idle in between.
    Returns the median ms of ``runs`` calls after one warm-up and the calls' mean stage
    times in ms (the reconstruction's own ``timings``: prepare, encode, decode, ...).
    """
    return _time_calls(lambda _i: window, backend, cfg, 1, runs, interval, profiler)


def subscribe(ready: Path, stop: Path) -> None:
    """Receive and convert the cameras' messages until ``stop`` exists; print the count."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image

    from nova3r_ros.ros.conversions import camera_info_to_camera, image_to_depth, image_to_rgb
    from nova3r_ros.ros.inputs import input_qos

    rclpy.init()
    node = rclpy.create_node("bench_load_subscriber")
    qos, count, parent = input_qos("best_effort", 10), [0], os.getppid()

    def convert(fn):
        def callback(msg) -> None:
            fn(msg)
            count[0] += 1
            if count[0] == 24:
                ready.touch()

        return callback

    for c in CAMS:
        node.create_subscription(CameraInfo, f"/{c}/camera_info", camera_info_to_camera, qos)
        node.create_subscription(Image, f"/{c}/image_raw", convert(image_to_rgb), qos)
        node.create_subscription(Image, f"/{c}/depth/image_raw", convert(image_to_depth), qos)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    deadline = time.monotonic() + 3600
    while not stop.exists() and os.getppid() == parent and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.1)
    print(f"received={max(0, count[0] - 24)}", flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    if sys.argv[1] == "subscribe":
        subscribe(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        backend, points, steps, warmup, runs = sys.argv[2], *map(int, sys.argv[3:7])
        cfg = backend_config(backend, points, steps)
        print(f"pipeline_ms={time_pipeline(scene()[2], backend, cfg, warmup, runs):.3f}")
