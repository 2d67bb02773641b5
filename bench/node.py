"""Node data path costs: callback work vs the worker's work (prints name=value lines).

Measures, at 640x480 with 2 RGB-D cameras and the depth backend (CPU):
    ``callback_image_us`` / ``callback_depth_us``: what a subscription callback does
        (convert the message + push into the sync buffer), per message.
    ``sync_group_us``: grouping 2 cameras with 4-deep buffers (timer, not a callback).
    ``keyframe_us``: thumbnails + policy for one group.
    ``window_<stage>_ms``: the worker's stages for a 2-keyframe x 2-camera window
        (``total`` = backend + anchor + occupancy; best of 5).
    ``window_to_cloud_ms``: what precedes publishing the cloud (total - occupancy): the
        node publishes the cloud first and updates the occupancy map after it.
    ``cloud_msg_ms``: building the PointCloud2 of the window.
    ``callback_vs_inference``: how many times cheaper a callback is than running the
        window in it (the anti-pattern the worker avoids).
"""

import time

import numpy as np

from nova3r_ros.core.camera import PinholeCamera
from nova3r_ros.ros.backend import Backend
from nova3r_ros.ros.conversions import header, image_to_depth, image_to_rgb, numpy_to_image
from nova3r_ros.ros.keyframes import Keyframe, KeyframePolicy, KeyframeWindow, thumbnail
from nova3r_ros.ros.outputs import cloud_message
from nova3r_ros.ros.processing import Processor, ProcessorConfig
from nova3r_ros.ros.sync import CameraFrame, FrameGroup, FrameSync

W, H = 640, 480
K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
RNG = np.random.default_rng(0)


def best_of(fn, repeat=5, number=20) -> float:
    """Return the best mean seconds per call of ``fn`` over ``repeat`` runs of ``number``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)


def pose(x: float) -> np.ndarray:
    """Return a camera-to-world pose shifted by ``x`` metres along world x."""
    T = np.eye(4)
    T[0, 3] = x
    return T


def main() -> None:
    rgb = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = (1.0 + 0.5 * np.linspace(0, 1, H)[:, None] + np.zeros((1, W))).astype(np.float32)
    depth[::17, ::13] = np.nan
    img_msg = numpy_to_image(rgb, "rgb8", header("cam0_optical_frame", 1))
    depth_msg = numpy_to_image(depth, "32FC1", header("cam0_optical_frame", 1))
    cam = PinholeCamera(K, W, H)
    sync = FrameSync(["cam0", "cam1"], [True, True], 1_000_000, 4)
    stamp = [0]

    def image_cb():
        stamp[0] += 1
        sync.push_image(CameraFrame("cam0", stamp[0], "f", image_to_rgb(img_msg), None, cam))

    def depth_cb():
        sync.push_depth("cam0", stamp[0], image_to_depth(depth_msg).depth)

    t_img, t_depth = best_of(image_cb, number=200), best_of(depth_cb, number=50)

    def fill_and_group():
        for s in range(4):
            for c in ("cam0", "cam1"):
                sync.push_image(CameraFrame(c, s, f"{c}_optical_frame", rgb, None, cam))
                sync.push_depth(c, s, depth)
        return sync.pop_newest_group()

    t_fill = best_of(lambda: [sync.push_image(CameraFrame("cam0", 0, "f", rgb)) for _ in range(8)])
    t_sync = best_of(fill_and_group, number=50) - t_fill * 2
    group = fill_and_group()
    window = KeyframeWindow(2, KeyframePolicy(0.0, 0.0, 0.0, 0.0))

    def keyframe():
        kf = Keyframe(group, [pose(0.0), pose(0.2)], [None, None],
                      [thumbnail(f.image) for f in group.frames])  # fmt: skip
        window.offer(kf)

    t_kf = best_of(keyframe, number=50)
    backend = Backend("depth", dict(voxel_size=0.01, depth_stride=2, max_depth=0.0), "map")
    proc = Processor(backend, ProcessorConfig(resolution=0.05, z_min=0.0, z_max=2.0))
    kfs = []
    for s in range(2):
        frames = [CameraFrame(c, s, f"{c}_optical_frame", rgb, depth, cam) for c in ("a", "b")]
        kfs.append(Keyframe(FrameGroup(frames), [pose(0.0), pose(0.2)], [None, None],
                            [thumbnail(rgb)] * 2))  # fmt: skip
    stages: dict[str, list[float]] = {}
    for _ in range(5):
        result = proc.process(kfs)
        for k, v in result.timings.items():
            stages.setdefault(k, []).append(v)
    t_msg = best_of(lambda: cloud_message(result), number=5)
    print(f"callback_image_us={1e6 * t_img:.1f}")
    print(f"callback_depth_us={1e6 * t_depth:.1f}")
    print(f"sync_group_us={1e6 * t_sync:.1f}")
    print(f"keyframe_us={1e6 * t_kf:.1f}")
    for k, v in stages.items():
        print(f"window_{k}_ms={1e3 * min(v):.2f}")
    cloud = [t - o for t, o in zip(stages["total"], stages["occupancy"], strict=True)]
    print(f"window_to_cloud_ms={1e3 * min(cloud):.2f}")
    print(f"window_points={len(result.points)}")
    print(f"cloud_msg_ms={1e3 * t_msg:.2f}")
    print(f"callback_vs_inference={min(stages['total']) / max(t_img, t_depth):.0f}x")


if __name__ == "__main__":
    main()
