"""The reconstruction backend as the node sees it: load, run, release (ROS-free).

Both backends sit behind ``pipeline.reconstruct(window, backend, config)``;
this class builds the config from the node's parameters, loads the model's
weights once at configure (so a missing or broken checkpoint fails there, with
the pipeline's message), and drops them again to free GPU memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nova3r_ros import pipeline
from nova3r_ros.core.types import Reconstruction, Window
from nova3r_ros.pipeline import DepthBackendConfig, PipelineError

PACKAGED_CHECKPOINT = Path(__file__).resolve().parents[1] / "model" / "checkpoints" / "base"


def resolve_checkpoint(path: str) -> str:
    """Return ``path``, or the packaged checkpoint for '' (PipelineError if there is none)."""
    if path:
        return str(Path(path).expanduser())
    if (PACKAGED_CHECKPOINT / "config.json").is_file():
        return str(PACKAGED_CHECKPOINT)
    raise PipelineError(
        "backend 'model' needs the `checkpoint` parameter (a directory with config.json and "
        "safetensors weights); this build ships no packaged checkpoint"
    )


class Backend:
    """One backend with its options.

    Args:
        name: "depth" or "model".
        values: the node's parameter values (see ``ros/params.py``).
        world_frame: the name the pipeline gives outputs expressed in the input poses' frame.

    """

    def __init__(self, name: str, values: dict[str, Any], world_frame: str) -> None:
        if name not in pipeline.BACKENDS:
            raise PipelineError(f"unknown backend {name!r}; expected one of {pipeline.BACKENDS}")
        self.name = name
        self.world_frame = world_frame
        self.device = "cpu"
        self._model = None
        if name == "depth":
            self.config = DepthBackendConfig(
                voxel_size=float(values["voxel_size"]),
                stride=int(values["depth_stride"]),
                max_depth=float(values["max_depth"]),
                world_frame=world_frame,
            )
        else:
            model_config = getattr(pipeline, "ModelBackendConfig", None)
            if model_config is None:
                raise PipelineError("the model backend is not available in this build")
            self.config = model_config(
                checkpoint=resolve_checkpoint(str(values["checkpoint"])),
                device=str(values["device"]),
                n_points=int(values["n_points"]),
                steps=int(values["ode_steps"]),
                world_frame=world_frame,
                depth_consistency=bool(values["depth_consistency"]),
            )

    @property
    def needs_depth(self) -> bool:
        """Return True when every view must carry depth (the depth backend)."""
        return self.name == "depth"

    def load(self) -> None:
        """Load the weights (model backend); raises PipelineError with the reason."""
        if self.name != "model" or self._model is not None:
            return
        load_model = getattr(pipeline, "load_model", None)
        if load_model is None:
            raise PipelineError("the model backend is not available in this build")
        try:
            self._model = load_model(self.config)
        except PipelineError:
            raise
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            raise PipelineError(f"cannot load the model backend: {exc}") from exc
        device = getattr(self.config, "device", "cpu")
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device

    def run(self, window: Window) -> Reconstruction:
        """Reconstruct ``window`` (see ``pipeline.reconstruct``)."""
        return pipeline.reconstruct(window, self.name, self.config)

    def release(self) -> None:
        """Drop the weights and return cached GPU memory to the driver."""
        if self._model is None:
            return
        self._model = None
        pipeline.unload_models()
