"""The reconstruction lifecycle node: cameras in; cloud, poses, TF and occupancy out.

Lifecycle (ros2/demos ``lifecycle_py`` pattern):
    ``__init__``      declare every parameter (``ros/params.py``) and a one-shot steady
                      timer: still unconfigured after 5 s, the node says why, once.
    ``configure``     validate the parameters, build the backend and load its weights
                      (the model falls back to the depth backend, with one warning, when
                      it cannot run here: ``ros/backend.py``); a window of more views
                      (``window_size`` x cameras) than the model takes, or any other
                      problem: log why and stay unconfigured. Apply ``threads``. Create
                      the publishers (lifecycle: silent until active), services, TF
                      lookup and diagnostics (steady timer, stamped by the node clock).
    ``activate``      create the subscriptions, the grouping thread and the worker.
    ``deactivate``    destroy subscriptions, stop both threads, free GPU memory.
    ``cleanup``       destroy everything configure made; ``shutdown`` does both.
Threads: a single-threaded executor runs callbacks (convert + push, O(1)), services
and diagnostics; a grouping thread, woken by every push, groups the cameras, applies
the keyframe policy and hands windows to the worker; one worker thread runs the
backend, publishes the cloud, then updates and publishes the occupancy map. The model
backend itself runs in a child process by default (``backend_process``,
``ros/backend_process.py``): its own GIL and CUDA context; if it dies or hangs
(``backend_timeout``) that window gets the observed-only cloud and the next one starts
it again (``backend_process_restarts``).
TF: camera poses are looked up at each image's stamp (waiting up to
``tf.lookup_timeout``); a camera TF does not resolve is estimated only after
``tf.startup_wait``, and a frame TF resolves is never published as an estimate.
A backend exception costs one window: its observed-only cloud (depth fallback) is
published and counted (``windows_backend_failed``); the node goes on. Without TF, windows
are chained into one world and checked against the map (``ros/chaining.py``); a window
that cannot be placed publishes nothing (``chain/windows_not_placed``, WARN).
Services: ``~/reset`` (std_srvs/Trigger) clears the map, the keyframes and the
world anchoring; ``~/save`` writes ``cloud.ply``, ``map.pgm``, ``map.yaml`` to
``save_directory``.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from functools import partial

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import TransitionCallbackReturn
from std_srvs.srv import Trigger

from nova3r_ros.pipeline import PipelineError
from nova3r_ros.ros.backend import Backend, max_views, set_threads
from nova3r_ros.ros.backend_process import open_process_backend
from nova3r_ros.ros.chaining import ChainError
from nova3r_ros.ros.diagnostics import RateMeter, WindowStats
from nova3r_ros.ros.grouping import GroupingThread
from nova3r_ros.ros.image_msgs import depth_metres
from nova3r_ros.ros.inputs import CameraInputs, input_qos, stream_timeout
from nova3r_ros.ros.keyframes import Keyframe, KeyframePolicy, KeyframeWindow, thumbnail
from nova3r_ros.ros.node_status import InputWatch, TfWait, publish_diagnostics
from nova3r_ros.ros.outputs import Outputs
from nova3r_ros.ros.params import declare_parameters, load_config, validate
from nova3r_ros.ros.processing import Processor, ProcessorConfig, Result
from nova3r_ros.ros.services import reset_service, save_service
from nova3r_ros.ros.sync import FrameSync
from nova3r_ros.ros.tf_listener import make_tf_lookup
from nova3r_ros.ros.worker import Worker

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
UNCONFIGURED_NOTICE_S = 5.0  # one log line if the node is still unconfigured by then


def steady_clock() -> Clock:
    """Return a steady clock: timers on it run under sim time too (no /clock needed)."""
    return Clock(clock_type=ClockType.STEADY_TIME)


class ReconstructionNode(LifecycleNode):
    """Lifecycle node running amodal reconstruction on synchronised camera windows."""

    def __init__(self, node_name: str = "nova3r_reconstruction", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.bad_input: Counter = Counter()
        self.last_error = ""
        self._lock = threading.Lock()
        self.stop_timeout = 30.0  # s to wait for a running window when the worker stops
        self._clear_members()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        declare_parameters(self)
        self._notice = self.create_timer(UNCONFIGURED_NOTICE_S, self._notice_unconfigured,
                                         clock=steady_clock())  # fmt: skip

    def _notice_unconfigured(self) -> None:
        """Say once, with the reason, that nothing configured the node (steady timer)."""
        self._notice.cancel()
        if self.state != "unconfigured":
            return
        why = self.last_error or (
            "no configure transition came: autostart is false and no launch file or "
            f"lifecycle manager configured it (`ros2 lifecycle set "
            f"{self.get_fully_qualified_name()} configure`, or -p autostart:=true)"
        )
        self.get_logger().warning(f"still unconfigured after {UNCONFIGURED_NOTICE_S:g} s: {why}")

    def _clear_members(self) -> None:
        self.config = self.backend = self.processor = self.outputs = self.tf = None
        self.sync = self.keyframes = self.worker = self.latest = None
        self.inputs: list[CameraInputs] = []
        self._srv, self._diag_timers, self._diag_pub = [], [], None
        self._grouping = None
        self._rates = RateMeter()
        self._window_stats = WindowStats()
        self._last_window = ""
        self._stamp_age_ms: float | None = None
        self._told_normalized = False
        self.watch: InputWatch | None = None
        self.tf_wait: TfWait | None = None
        self.backend_failures = 0

    @property
    def state(self) -> str:
        """Return the lifecycle state's label ("unconfigured", "inactive", "active", ...)."""
        return self._state_machine.current_state[1]

    def _on_set_parameters(self, params):
        current = {n: p.value for n, p in self.get_parameters_by_prefix("").items()}
        result = validate(params, current)
        if result.successful and self.config is not None:
            names = ", ".join(p.name for p in params)
            self.get_logger().info(f"parameters {names} changed: applied at the next configure")
        return result

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        """Validate parameters and load the backend; stay unconfigured on failure."""
        try:
            config = load_config(self)
            backend = open_process_backend(config.values, config["world_frame"])
        except (PipelineError, ValueError) as exc:
            self.last_error = f"configure failed: {exc}"
            self.get_logger().error(f"{self.last_error}; the node stays unconfigured")
            return FAILURE
        limit, n_views = max_views(backend), config["window_size"] * len(config.cameras)
        if limit is not None and n_views > limit:
            self.last_error = (
                f"configure failed: window_size {config['window_size']} x "
                f"{len(config.cameras)} cameras = {n_views} views, more than the model takes "
                f"({limit}); lower window_size or use fewer cameras"
            )
            self.get_logger().error(f"{self.last_error}; the node stays unconfigured")
            backend.release()
            return FAILURE
        self.last_error = ""
        if backend.fallback:
            self.get_logger().warning(
                f"backend 'model' unavailable ({backend.fallback}): "
                "running the depth backend, which needs depth images"
            )
        if config["switch_interval"] > 0:
            sys.setswitchinterval(config["switch_interval"])
        limited = set_threads(config["threads"])
        if limited:
            self.get_logger().info(f"threads: {config['threads']} ({', '.join(limited)})")
        self.config, self.backend = config, backend
        lo, hi = config.crop_box
        world = config["world_frame"]  # a failed model window: the observed-only cloud
        fallback = Backend("depth", config.values, world) if backend.name != "depth" else None
        self.processor = Processor(backend, ProcessorConfig(
            world_frame=config["world_frame"], frame_prefix=config["frame_prefix"], crop_lo=lo,
            crop_hi=hi, resolution=config["occupancy.resolution"],
            z_min=config["occupancy.z_min"], z_max=config["occupancy.z_max"],
            max_range=config["occupancy.max_range"], voxels=config["publish_voxels"],
            min_confidence=config["min_confidence"],
        ), fallback)  # fmt: skip
        self.outputs = Outputs(self)
        self.tf = make_tf_lookup(self, config["frame_prefix"]) if config["use_tf_poses"] else None
        self._srv = [
            self.create_service(Trigger, "~/reset", partial(reset_service, self)),
            self.create_service(Trigger, "~/save", partial(save_service, self)),
        ]
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timers = [self.create_timer(
            config["diagnostics_period"], self._publish_diagnostics, clock=steady_clock()
        )]  # fmt: skip
        cams = ", ".join(f"{c.name} ({c.image_topic}{', depth' if c.use_depth else ''})"
                         for c in config.cameras)  # fmt: skip
        self.get_logger().info(
            f"configured: backend {backend.label} on {backend.device}, cameras {cams}, "
            f"window {config['window_size']} keyframes, world frame {config['world_frame']}"
        )
        return SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        """Subscribe, start the grouping thread and the worker, enable the publishers."""
        cfg = self.config
        try:
            self.backend.load()  # weights were freed by a deactivate
        except PipelineError as exc:
            self.last_error = f"activate failed: {exc}"
            self.get_logger().error(self.last_error)
            return FAILURE
        self.sync = FrameSync([c.name for c in cfg.cameras], [c.use_depth for c in cfg.cameras],
                              int(cfg["sync.slop"] * 1e9), cfg["queue_length"],
                              int(cfg["sync.camera_timeout"] * 1e9))  # fmt: skip
        self.keyframes = KeyframeWindow(cfg["window_size"], KeyframePolicy(
            cfg["keyframe.min_interval"], cfg["keyframe.min_translation"],
            cfg["keyframe.min_rotation"], cfg["keyframe.min_image_change"],
        ))  # fmt: skip
        qos = input_qos(cfg["qos.reliability"], cfg["qos.depth"])
        future = cfg["sync.max_future"]
        quiet = stream_timeout(cfg["sync.camera_timeout"])
        self.inputs = [CameraInputs(self, c, self.sync, qos, self.bad_input, future, quiet)
                       for c in cfg.cameras]  # fmt: skip
        self.watch = InputWatch(self.get_logger(), self.sync, self.inputs,
                                cfg["sync.camera_timeout"])  # fmt: skip
        wait = cfg["tf.startup_wait"] if self.tf is not None else 0.0
        self.tf_wait = TfWait(self.get_logger(), wait, cfg["world_frame"], cfg["frame_prefix"])
        self.worker = Worker(self._process, self._on_result, self._on_error,
                             nice=cfg["backend_nice"])  # fmt: skip
        self.worker.start()
        self._grouping = GroupingThread(self.sync, self._group_step, cfg["sync.period"],
                                        self._on_group_error)  # fmt: skip
        self._grouping.start()
        self.get_logger().info("active")
        return super().on_activate(state)

    def _stop(self) -> None:
        if self._grouping is not None and not self._grouping.stop(timeout=10.0):
            self.get_logger().warning("grouping thread did not stop within 10 s")
        self._grouping = None
        for inp in self.inputs:
            inp.destroy()
        self.inputs = []
        wait = self.stop_timeout
        if self.worker is not None and not self.worker.stop(timeout=wait):
            self.get_logger().warning(f"worker did not stop within {wait:g} s (window running)")
        self.worker = None
        if self.backend is not None:
            self.backend.release()

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        """Unsubscribe, stop the worker and free the backend's GPU memory."""
        self._stop()
        self.get_logger().info("inactive: inputs closed, worker stopped, GPU memory freed")
        return super().on_deactivate(state)

    def _teardown(self) -> None:
        self._stop()
        for t in self._diag_timers:
            self.destroy_timer(t)
        for s in self._srv:
            self.destroy_service(s)
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
        if self.outputs is not None:
            self.outputs.destroy()
        if self.tf is not None:
            self.tf.destroy()
        self._clear_members()

    def destroy_node(self) -> None:
        """Stop the worker and destroy everything, whatever the lifecycle state, then the node."""
        self._teardown()
        super().destroy_node()

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Destroy everything configure created."""
        self._teardown()
        self.get_logger().info("cleaned up")
        return SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        """Stop and destroy everything, from any state."""
        self._teardown()
        return SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        """Tear down after a failed transition; the node returns to unconfigured."""
        self.get_logger().error(f"transition error; cleaning up ({self.last_error})")
        self._teardown()
        return SUCCESS

    # ---------------------------------------------------------------- data path
    def _lookup(self, target: str, source: str, stamp: int = 0):
        """Return ``T_target_source`` at ``stamp`` (ns, 0 = latest) from TF, or None."""
        if self.tf is None or not target:
            return None
        return self.tf.lookup(target, source, stamp, self.config["tf.lookup_timeout"])

    def _group_step(self) -> None:
        """Group frames, attach TF poses, apply the keyframe policy, submit (grouping thread)."""
        self.watch.step()
        group = self.sync.pop_newest_group()
        if group is None or not self.keyframes.admits(group.stamp):
            return  # too soon for a keyframe: no TF lookups, no thumbnails
        grouped_ns = self.get_clock().now().nanoseconds
        world, rig = self.config["world_frame"], self.config["rig_frame"]
        frames = group.frames
        for f in frames:  # 16-bit depth arrives as millimetres: metres for keyframes only
            if f.depth is not None:
                f.depth = depth_metres(f.depth)
        T_world = [self._lookup(world, f.frame_id, f.stamp) for f in frames]
        T_rig = [self._lookup(rig, f.frame_id, f.stamp) for f in frames]
        unresolved = [f.frame_id for f, Tw, Tr in zip(frames, T_world, T_rig, strict=True)
                      if Tw is None and Tr is None]  # fmt: skip
        if self.tf_wait.holds(unresolved):
            return  # the robot's TF may come yet: no estimate before it
        kf = Keyframe(
            group=group,
            T_world_cams=T_world,
            T_rig_cams=T_rig,
            thumbs=[thumbnail(f.image) for f in frames],
            grouped_ns=grouped_ns,
        )
        worker = self.worker
        if self.keyframes.offer(kf) and worker is not None:
            worker.submit(self.keyframes.snapshot())

    def _on_group_error(self, exc: BaseException) -> None:
        self.get_logger().error(f"grouping step failed: {exc!r}", throttle_duration_sec=5.0)

    def _process(self, keyframes: list[Keyframe]) -> Result:
        """Worker thread: the window's cloud, with its ages (s) in ``timings``.

        ``input_age``: clock - window stamp at the worker's start; ``grouped_age``: when
        the newest keyframe's group was formed (its last message in) - window stamp.
        """
        newest = max(keyframes, key=lambda kf: kf.stamp)
        age = self.get_clock().now().nanoseconds - newest.stamp
        result = self.processor.process_cloud(keyframes)
        result.timings["input_age"] = age / 1e9
        if newest.grouped_ns:
            result.timings["grouped_age"] = (newest.grouped_ns - newest.stamp) / 1e9
        return result

    def _on_result(self, result: Result) -> None:
        """Worker thread: publish the cloud, then update and publish the map; keep for ~/save.

        The occupancy update runs after the cloud is out, off the cloud's latency path.
        """
        if result.scale_mode == "normalized" and not self._told_normalized:
            self._told_normalized = True
            self.get_logger().warning(
                "normalised scale (no depth and no known camera extrinsics): the cloud is "
                "published up to scale; ~/occupancy and ~/voxels are withheld"
            )
        prefix, world = self.config["frame_prefix"], self.config["world_frame"]
        result.tf = [(T, child) for T, child in result.tf  # TF knows it now: no estimate
                     if self._lookup(world, child.removeprefix(prefix)) is None]  # fmt: skip
        result.timings["publish_cloud"] = self.outputs.publish_cloud(result)
        now = self.get_clock().now().nanoseconds
        age = (now - result.stamp) / 1e6 if now > 0 else None  # sim time before /clock: none
        if age is not None:  # window stamp to the cloud handed to the middleware
            result.timings["published_age"] = age / 1e3
        self.processor.update_map(result)
        result.timings["publish_map"] = self.outputs.publish_map(result)
        with self._lock:
            self.latest = result
            self._window_stats.add(result.stats)
            self._stamp_age_ms = age
            if result.backend_error:
                self.backend_failures += 1
                self._last_window = "observed_only"
                self.last_error = f"backend failed: {result.backend_error}"
            else:
                self._last_window, self.last_error = "ok", ""  # an old error is not news
        if result.backend_error:
            self.get_logger().warning(
                f"backend failed on the window at {result.stamp / 1e9:.3f} s "
                f"({result.backend_error}): published its observed-only cloud; going on",
                throttle_duration_sec=5.0,
            )

    def _on_error(self, exc: BaseException) -> None:
        """Worker thread: count and report a window that could not be processed."""
        if not self.context.ok():
            return  # shutting down (Ctrl-C): a window finishing now has nowhere to go
        lost = isinstance(exc, ChainError)  # tracking lost: counted, the next window retries
        with self._lock:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._last_window = "not_placed" if lost else "failed"
        level = "warning" if isinstance(exc, PipelineError) else "error"
        getattr(self.get_logger(), level)(
            f"window not reconstructed: {self.last_error}", throttle_duration_sec=5.0
        )

    # -------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        """Publish /diagnostics (steady timer; stamped with the node's clock)."""
        publish_diagnostics(self)


def main(args=None) -> None:
    """Run the node (``autostart`` true: configure and activate it at once)."""
    rclpy.init(args=args)
    node = ReconstructionNode()
    if node.get_parameter("autostart").value and node.trigger_configure() == SUCCESS:
        node.trigger_activate()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop_timeout = 2.0  # Ctrl-C: do not wait for a long window (daemon thread)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
