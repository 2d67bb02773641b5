"""Model configuration dataclasses: ``tiny`` for CPU tests, ``base`` for the shipped model.

Coordinates the network works in ("canonical"): points in view 0's optical
frame (OpenCV), divided by the window's scale ``s`` and shifted by ``(0, 0, 1)``
so that the scene sits around the origin: ``p_canon = p_ref / s - (0, 0, 1)``.
With depth input ``s`` is the median valid depth of view 0 (metres), so outputs
are metric after ``p_ref = s * (p_canon + (0, 0, 1))``; without depth ``s`` is 1
and the ground truth is normalised by its median distance to the reference camera
(NOVA3R's protocol), so outputs are normalised.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the network.

    Attributes:
        dim: token width.
        heads: attention heads (``dim`` must be a multiple).
        patch: patch size in pixels (images are resized to a multiple of it).
        image_height, image_width: network input size.
        encoder_depth: alternating frame/global attention blocks in the image encoder.
        scene_tokens: number of learnable scene tokens (the latent).
        scene_layers: cross-attention layers from scene tokens to image/point tokens.
        decoder_depth: blocks of the flow decoder.
        fourier_bands: frequency bands of the point Fourier features.
        max_views: largest number of views a window may have.
        mlp_ratio: hidden width of MLPs relative to ``dim``.
        noise_std: standard deviation of the flow's Gaussian source (canonical units);
            near the scene's own spread, so that 1 cm is a larger share of the path.
        local_context: 1 = the encoder also takes each view's canonical point map (depth
            back-projected with known intrinsics, and known poses for views other than
            view 0) and the decoder attends to every view's patch tokens beside the scene
            tokens (pixel-level detail for precision); 0 = scene tokens only.
        ray_features: 1 = the decoder also sees, for each query point, its signed distance
            along the ray to the observed depth of the views whose pose is known
            (:mod:`nova3r_ros.model.ray_features`); 0 = not.
        gravity_frame: 1 = the canonical frame is levelled when a window comes with depth
            and a gravity direction (:func:`nova3r_ros.model.batch.levelling`: gravity along
            +y, view 0's heading along +z); 0 = view 0's optical frame always.

    """

    dim: int = 256
    heads: int = 4
    patch: int = 8
    image_height: int = 96
    image_width: int = 128
    encoder_depth: int = 6
    scene_tokens: int = 128
    scene_layers: int = 2
    decoder_depth: int = 6
    fourier_bands: int = 10
    max_views: int = 16
    mlp_ratio: float = 4.0
    noise_std: float = 1.0  # checkpoints from before this field was added used 1.0
    local_context: int = 0  # checkpoints from before this field was added used 0
    ray_features: int = 0  # checkpoints from before this field was added used 0
    gravity_frame: int = 0  # checkpoints from before this field was added used 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("local_context", "ray_features", "gravity_frame"):
                if value not in (0, 1) or isinstance(value, bool):
                    raise ValueError(f"ModelConfig.{f.name} must be 0 or 1, got {value!r}")
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ModelConfig.{f.name} must be a positive number, got {value!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be a multiple of heads {self.heads}")
        if self.image_height % self.patch or self.image_width % self.patch:
            raise ValueError(
                f"image size {self.image_width}x{self.image_height} must be a multiple of "
                f"patch {self.patch}"
            )

    def to_dict(self) -> dict:
        """Return the config as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """Build from a dict, rejecting unknown keys (a mismatched checkpoint)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**values)


CONFIGS = {
    "tiny": ModelConfig(
        dim=32,
        heads=2,
        patch=8,
        image_height=32,
        image_width=48,
        encoder_depth=2,
        scene_tokens=8,
        scene_layers=1,
        decoder_depth=2,
        fourier_bands=4,
        max_views=8,
        mlp_ratio=2.0,
        local_context=1,
        ray_features=1,
    ),
    # ~14M parameters for inference: 28 MB as bf16, inside the 32 MB shipping budget
    "base": ModelConfig(noise_std=0.25, local_context=1, ray_features=1),
}
