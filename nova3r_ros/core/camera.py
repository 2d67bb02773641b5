"""Pinhole camera model with plumb_bob / equidistant undistortion (numpy only).

Frames and conventions:
    Points are in the camera optical frame (OpenCV: x right, y down, z forward).
    Pixel (u, v) has u along image columns, v along rows; pixel centres are at
    integer coordinates, so the image covers [-0.5, W - 0.5] x [-0.5, H - 0.5].
    ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` as in sensor_msgs/CameraInfo.

Distortion models follow ROS ``camera_info`` names:
    ``plumb_bob``: D = (k1, k2, p1, p2[, k3]) Brown-Conrady radial-tangential.
    ``rational_polynomial``: D = (k1, k2, p1, p2, k3, k4, k5, k6), radial factor
    (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6) (Azure Kinect).
    ``equidistant``: D = (k1, k2, k3, k4) Kannala-Brandt fisheye.
Any other model is rejected. Distorted images are turned into pinhole images
with the same K by :class:`Undistorter`; everything downstream is pinhole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SUPPORTED_DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")


class CameraModelError(ValueError):
    """Raised for camera parameters that cannot describe a real camera."""


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of one camera, optionally with lens distortion.

    Attributes:
        K: 3x3 float64 intrinsic matrix.
        width: image width in pixels.
        height: image height in pixels.
        distortion_model: "plumb_bob", "rational_polynomial" or "equidistant".
        D: distortion coefficients (float64 vector; empty or zeros = none).

    """

    K: np.ndarray
    width: int
    height: int
    distortion_model: str = "plumb_bob"
    D: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64).reshape(-1)
        if K.size != 9:
            raise CameraModelError(f"K must have 9 entries (3x3), got {K.size}")
        K = K.reshape(3, 3)
        if not np.all(np.isfinite(K)):
            raise CameraModelError(f"K has non-finite entries: {K.tolist()}")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CameraModelError(
                f"focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}"
            )
        if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0:
            raise CameraModelError(f"K must be upper triangular with K[2] = [0, 0, 1], got {K}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise CameraModelError(f"image size must be positive, got {self.width}x{self.height}")
        model = self.distortion_model or "plumb_bob"
        if model not in SUPPORTED_DISTORTION_MODELS:
            raise CameraModelError(
                f"unsupported distortion model {model!r}; expected one of "
                f"{SUPPORTED_DISTORTION_MODELS} (rectify upstream, e.g. image_proc, "
                "for other models)"
            )
        D = np.asarray(self.D, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(D)):
            raise CameraModelError(f"distortion coefficients are not finite: {D.tolist()}")
        limits = {"plumb_bob": (4, 5, 8), "rational_polynomial": (4, 5, 8), "equidistant": (4,)}
        if D.size and np.any(D != 0) and D.size not in limits[model]:
            raise CameraModelError(
                f"{model} expects {' or '.join(map(str, limits[model]))} coefficients, "
                f"got {D.size}"
            )
        if model == "plumb_bob" and D.size == 8 and np.any(D[5:] != 0):
            raise CameraModelError(
                "plumb_bob with non-zero k4..k6 is the rational_polynomial model: "
                "say distortion_model rational_polynomial"
            )
        K.setflags(write=False)
        D.setflags(write=False)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "D", D)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "distortion_model", model)

    @classmethod
    def from_camera_info(
        cls,
        k: np.ndarray,
        width: int,
        height: int,
        distortion_model: str = "",
        d: np.ndarray = (),
    ) -> PinholeCamera:
        """Build from CameraInfo-style fields (``k`` row-major 9 values, ``d`` coefficients)."""
        return cls(np.asarray(k, dtype=np.float64), width, height, distortion_model, d)

    @property
    def fx(self) -> float:
        """Focal length along x in pixels."""
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        """Focal length along y in pixels."""
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        """Principal point x in pixels."""
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        """Principal point y in pixels."""
        return float(self.K[1, 2])

    @property
    def is_distorted(self) -> bool:
        """Return True when undistortion changes the image."""
        return bool(self.D.size and np.any(self.D != 0))

    def pinhole(self) -> PinholeCamera:
        """Return the undistorted pinhole camera with the same K and size."""
        return PinholeCamera(self.K, self.width, self.height, "plumb_bob", np.zeros(0))

    def project(self, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project Nx3 optical-frame points to Nx2 pixels (pinhole, no distortion).

        Returns:
            (uv Nx2 float64, z N float64). Points with z <= 0 get NaN pixels.

        """
        p = _as_points(points_cam)
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(z > 0, 1.0 / z, np.nan)
        uv = np.stack(
            [self.fx * p[:, 0] * inv + self.cx, self.fy * p[:, 1] * inv + self.cy], axis=1
        )
        return uv, z

    def unproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Lift Nx2 pixels with N z-depths (metres) to Nx3 optical-frame points."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        z = np.asarray(depth, dtype=np.float64).reshape(-1)
        if z.shape[0] != uv.shape[0]:
            raise ValueError(f"need one depth per pixel, got {uv.shape[0]} pixels, {z.size}")
        x = (uv[:, 0] - self.cx) / self.fx * z
        y = (uv[:, 1] - self.cy) / self.fy * z
        return np.stack([x, y, z], axis=1)

    def pixel_rays(self) -> np.ndarray:
        """Return HxWx3 float32 rays (x/z, y/z, 1) through every pixel centre."""
        u = (np.arange(self.width, dtype=np.float32) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float32) - self.cy) / self.fy
        rays = np.empty((self.height, self.width, 3), dtype=np.float32)
        rays[..., 0] = u[None, :]
        rays[..., 1] = v[:, None]
        rays[..., 2] = 1.0
        return rays

    def resized(self, width: int, height: int) -> PinholeCamera:
        """Intrinsics of the image resized to ``width`` x ``height`` (whole image scaled).

        Uses the pixel-centre convention: ``c' = (c + 0.5) * s - 0.5``.
        """
        if int(width) <= 0 or int(height) <= 0:
            raise CameraModelError(f"resize target must be positive, got {width}x{height}")
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return PinholeCamera(K, width, height, self.distortion_model, self.D)

    def cropped(self, x0: int, y0: int, width: int, height: int) -> PinholeCamera:
        """Intrinsics of the crop ``image[y0:y0+height, x0:x0+width]``."""
        if x0 < 0 or y0 < 0 or width <= 0 or height <= 0:
            raise CameraModelError(f"invalid crop x0={x0} y0={y0} {width}x{height}")
        if x0 + width > self.width or y0 + height > self.height:
            raise CameraModelError(
                f"crop {x0},{y0} {width}x{height} exceeds the {self.width}x{self.height} image"
            )
        K = self.K.copy()
        K[0, 2] -= x0
        K[1, 2] -= y0
        return PinholeCamera(K, width, height, self.distortion_model, self.D)

    def distort_normalized(self, xy: np.ndarray) -> np.ndarray:
        """Apply the lens model to Nx2 normalised pinhole coordinates (x/z, y/z)."""
        xy = np.asarray(xy, dtype=np.float64)
        if not self.is_distorted:
            return xy.copy()
        x, y = xy[..., 0], xy[..., 1]
        if self.distortion_model == "equidistant":
            k1, k2, k3, k4 = self.D[:4]
            r = np.hypot(x, y)
            theta = np.arctan(r)
            t2 = theta * theta
            theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            with np.errstate(divide="ignore", invalid="ignore"):
                s = np.where(r > 1e-12, theta_d / r, 1.0)
            return np.stack([x * s, y * s], axis=-1)
        d = np.zeros(8)
        d[: min(8, self.D.size)] = self.D[:8]
        k1, k2, p1, p2, k3, k4, k5, k6 = d
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        if self.distortion_model == "rational_polynomial":
            radial = radial / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=-1)

    def undistort_normalized(self, xy_d: np.ndarray, iterations: int = 20) -> np.ndarray:
        """Invert :meth:`distort_normalized` by fixed-point iteration (Nx2 -> Nx2)."""
        xy_d = np.asarray(xy_d, dtype=np.float64)
        xy = xy_d.copy()
        if not self.is_distorted:
            return xy
        for _ in range(iterations):
            xy = xy + (xy_d - self.distort_normalized(xy))
        return xy

    def undistorter(self) -> Undistorter:
        """Return a cached-map undistorter producing pinhole images with the same K."""
        return Undistorter(self)


class Undistorter:
    """Remaps distorted images to the pinhole model with the same K and size.

    The lookup map is computed once (analytically, by distorting every output
    pixel's ray), so per-frame cost is one gather (nearest) or four (bilinear).
    """

    def __init__(self, camera: PinholeCamera):
        self.camera = camera
        self.output_camera = camera.pinhole()
        rays = camera.pixel_rays()[..., :2].reshape(-1, 2)
        src = camera.distort_normalized(rays)
        self._map_u = (src[:, 0] * camera.fx + camera.cx).reshape(camera.height, camera.width)
        self._map_v = (src[:, 1] * camera.fy + camera.cy).reshape(camera.height, camera.width)
        self._nearest = _nearest_index(self._map_u, self._map_v, camera.width, camera.height)

    def _check(self, image: np.ndarray) -> None:
        if image.shape[:2] != (self.camera.height, self.camera.width):
            raise ValueError(
                f"image is {image.shape[1]}x{image.shape[0]}, camera expects "
                f"{self.camera.width}x{self.camera.height}"
            )

    def depth(self, depth: np.ndarray) -> np.ndarray:
        """Undistort an HxW depth map with nearest-neighbour lookup (no mixed depths)."""
        self._check(depth)
        if not self.camera.is_distorted:
            return depth
        flat = depth.reshape(-1)
        out = np.zeros(flat.shape, dtype=depth.dtype)
        valid = self._nearest >= 0
        out[valid] = flat[self._nearest[valid]]
        return out.reshape(depth.shape)

    def image(self, image: np.ndarray) -> np.ndarray:
        """Undistort an HxW or HxWxC image with bilinear interpolation (0 outside)."""
        self._check(image)
        if not self.camera.is_distorted:
            return image
        h, w = image.shape[:2]
        img = image.reshape(h, w, -1).astype(np.float32)
        u0 = np.floor(self._map_u).astype(np.int64)
        v0 = np.floor(self._map_v).astype(np.int64)
        fu = (self._map_u - u0).astype(np.float32)[..., None]
        fv = (self._map_v - v0).astype(np.float32)[..., None]
        inside = (u0 >= 0) & (v0 >= 0) & (u0 < w - 1) & (v0 < h - 1)
        u0c, v0c = np.clip(u0, 0, w - 2), np.clip(v0, 0, h - 2)
        out = (
            img[v0c, u0c] * (1 - fu) * (1 - fv)
            + img[v0c, u0c + 1] * fu * (1 - fv)
            + img[v0c + 1, u0c] * (1 - fu) * fv
            + img[v0c + 1, u0c + 1] * fu * fv
        )
        out[~inside] = 0
        if np.issubdtype(image.dtype, np.integer):
            out = np.clip(np.rint(out), np.iinfo(image.dtype).min, np.iinfo(image.dtype).max)
        return out.astype(image.dtype).reshape(image.shape)


def _nearest_index(map_u: np.ndarray, map_v: np.ndarray, width: int, height: int) -> np.ndarray:
    u = np.rint(map_u).astype(np.int64)
    v = np.rint(map_v).astype(np.int64)
    ok = (u >= 0) & (v >= 0) & (u < width) & (v < height)
    return np.where(ok, v * width + u, -1).reshape(-1)


def _as_points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must be Nx3, got shape {p.shape}")
    return p
