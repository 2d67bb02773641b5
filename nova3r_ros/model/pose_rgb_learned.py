"""A pair's matches from the learned matcher, for the RGB-only refinement (optional).

:class:`LearnedMatches` describes each view once (:func:`~nova3r_ros.model.matcher.
describe`, cached) and matches each unordered view pair once (:func:`~nova3r_ros.model.
matcher.match_descriptors`, cached); it gives, for the ordered pair (a, b), the
matches' pixels in view a (N, 2), their normalised coordinates in both views (N, 2) and
the epipolar threshold in normalised units (``threshold_px`` over view a's focal length:
the matches are quantised to sub-cells of 4 px, coarser than SIFT's keypoints).
"""

from __future__ import annotations

import numpy as np

from nova3r_ros.model.matcher import MatchNet, describe, match_descriptors
from nova3r_ros.model.pose_rgb_epipolar import normalise

THRESHOLD_PX = 2.0


class LearnedMatches:
    """Cached matches of a window's view pairs (images (H, W, 3) uint8, K (V, 3, 3))."""

    def __init__(self, net: MatchNet, images: list[np.ndarray], K: np.ndarray,
                 threshold_px: float = THRESHOLD_PX):  # fmt: skip
        self.net, self.images, self.K, self.threshold_px = net, images, K, threshold_px
        self._views: dict[int, tuple] = {}  # view -> its descriptors and scales
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.stood_in = 0  # pairs whose matches the refinement took instead of SIFT's

    def _describe(self, i: int) -> tuple:
        """Return view ``i``'s descriptors and scales, computed once."""
        if i not in self._views:
            self._views[i] = describe(self.net, self.images[i])
        return self._views[i]

    def describe_all(self) -> None:
        """Describe every view now (the refinement calls it before its OpenCV stages)."""
        for i in range(len(self.images)):
            self._describe(i)

    def __call__(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(pixels in a, normalised x_a, normalised x_b, threshold) for the pair (a, b)."""
        key = (min(a, b), max(a, b))
        if key not in self._cache:
            px_0, px_1, _ = match_descriptors(*self._describe(key[0]), *self._describe(key[1]))
            self._cache[key] = px_0, px_1
        px_a, px_b = self._cache[key] if a < b else self._cache[key][::-1]
        focal = float(np.mean([self.K[a][0, 0], self.K[a][1, 1]]))
        return (px_a, normalise(px_a, self.K[a]), normalise(px_b, self.K[b]),
                self.threshold_px / focal)  # fmt: skip
