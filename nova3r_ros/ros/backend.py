"""The reconstruction backend as the node sees it: load, run, release (ROS-free).

Both backends sit behind ``pipeline.reconstruct(window, backend, config)``;
this class builds the config from the node's parameters, loads the model's
weights once at configure, and drops them again to free GPU memory.

Fallback rule (:func:`open_backend`, at configure): the ``model`` backend becomes the
``depth`` backend, with the reason in :attr:`Backend.fallback`, when the model cannot
run on this machine: torch or the model cannot be imported, ``device`` 'cuda' has no
CUDA device, or the *packaged* checkpoint (``checkpoint`` '') is missing or cannot be
loaded. A ``checkpoint`` path given explicitly that is missing or not a checkpoint of
this model is an error (configure fails), and so is a ``voxel_head`` or ``rgb_matcher``
folder that is missing or not one: a typo is never silently replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nova3r_ros import pipeline
from nova3r_ros.core.types import Reconstruction, Window
from nova3r_ros.pipeline import DepthBackendConfig, PipelineError

PACKAGED_CHECKPOINT = Path(__file__).resolve().parents[1] / "model" / "checkpoints" / "base"


def is_packaged(path: str) -> bool:
    """Return True when ``path`` names the packaged checkpoint ('' or its directory)."""
    return not path or Path(path).expanduser().resolve() == PACKAGED_CHECKPOINT.resolve()


def _or_default(value: float) -> float | None:
    """Return a ``hidden_*`` parameter for the pipeline (< 0: None, the validated default)."""
    return None if float(value) < 0 else float(value)


def _or_default_count(value: int) -> int | None:
    """Return an integer parameter for the pipeline (< 0: None, the validated default)."""
    return None if int(value) < 0 else int(value)


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
        self.fallback = ""  # why the model backend was replaced by this one ('' = it was not)
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
                publish=True,
                output_spacing=float(values["output_spacing"]),
                min_confidence=float(values["min_confidence"]),
                force_gate=not bool(values["publish_completion"]),
                plane_completion=bool(values["plane_completion"]),
                plane_max_oblique_deg=_or_default(values["plane_max_oblique_deg"]),
                silhouette_depth_m=_or_default(values["silhouette_depth_m"]),
                open_hole_share=_or_default(values["open_hole_share"]),
                fusion_sigmas=_or_default(values["fusion_sigmas"]),
                hidden_head="" if values["hidden_completion"] else "none",
                hidden_min_probability=_or_default(values["hidden_min_probability"]),
                hidden_single_view_min_probability=_or_default(
                    values["hidden_single_view_min_probability"]
                ),
                hidden_consensus=_or_default(values["hidden_consensus"]),
                hidden_snap_subcells=int(values["hidden_snap_subcells"]) or None,
                hidden_snap_bounding_subcells=int(values["hidden_snap_bounding_subcells"]) or None,
                hidden_snap_existence=_or_default(values["hidden_snap_existence"]),
                hidden_snap_tolerance=_or_default(values["hidden_snap_tolerance"]),
                hidden_snap_bounding_reach_m=_or_default(values["hidden_snap_bounding_reach"]),
                voxel_head=str(values["voxel_head"]),
                voxel_min_probability=_or_default(values["voxel_min_probability"]),
                voxel_far_m=_or_default(values["voxel_far"]),
                voxel_points_per_cell=_or_default_count(values["voxel_points_per_cell"]),
                voxel_snap_m=_or_default(values["voxel_snap"]),
                behind_cut_from_m=_or_default(values["behind_cut_from"]),
                behind_cut_to_m=_or_default(values["behind_cut_to"]),
                rgb_redecode=bool(values["rgb_redecode"]),
                rgb_matcher=str(values["rgb_matcher"]),
            )

    @property
    def label(self) -> str:
        """Return the name for diagnostics: ``depth (fallback: <reason>)`` after a fallback."""
        return f"{self.name} (fallback: {self.fallback})" if self.fallback else self.name

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


def free_accelerator_memory() -> None:
    """Return cached GPU memory after a failed window (CUDA out of memory); no-op without."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def set_threads(n: int) -> list[str]:
    """Limit torch, OpenCV and numpy's OpenBLAS to ``n`` threads in this process (0: no-op).

    Returns the libraries that were limited. On a small CPU the backend's thread pools
    would otherwise take every core from the executor that takes the camera messages.
    """
    if n <= 0:
        return []
    done = []
    try:
        import torch

        torch.set_num_threads(n)
        done.append("torch")
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(n)
        done.append("opencv")
    except ImportError:
        pass
    from nova3r_ros.model.cpu_threads import openblas_threads_api

    api = openblas_threads_api()
    if api is not None:
        api[0](n)
        done.append("openblas")
    return done


def max_views(backend: Backend) -> int | None:
    """Return the most views one window may hold for ``backend`` (None: no limit)."""
    if hasattr(backend, "views_limit"):  # a ProcessBackend: as its child reported
        return backend.views_limit
    model = getattr(backend, "_model", None)
    cfg = getattr(model, "cfg", None)
    return int(cfg.max_views) if cfg is not None and hasattr(cfg, "max_views") else None


def _model_unavailable(values: dict[str, Any]) -> str:
    """Return why the model backend cannot run on this machine ('' = it can)."""
    try:
        import torch

        from nova3r_ros.model import checkpoint  # noqa: F401  (the model's modules import)
    except ImportError as exc:
        return f"cannot import the model backend ({exc})"
    if values["device"] == "cuda" and not torch.cuda.is_available():
        return "device 'cuda' requested but no CUDA device is available"
    return ""


def _asked_for(values: dict[str, Any], name: str, marker: str, what: str,
               words: tuple[str, ...] = ()) -> bool:  # fmt: skip
    """Return True when parameter ``name`` asks for something ('' and 'none' do not).

    A value that is not one of ``words`` names a folder, which must hold ``marker``
    (PipelineError otherwise: a typo is never silently replaced).
    """
    value = str(values[name])
    if value in ("", "none"):
        return False
    if value not in words and not (Path(value).expanduser() / marker).is_file():
        raise PipelineError(f"{name} {value!r} is not a {what} directory (no {marker})")
    return True


def open_backend(
    values: dict[str, Any], world_frame: str, backend_class: type[Backend] = Backend
) -> Backend:
    """Build and load the backend the parameters ask for, or the depth fallback.

    ``backend_class`` builds the model backend (e.g. ``ros/backend_process.py``'s
    ProcessBackend, the model in a child process); the depth backend is a Backend.

    Returns the loaded backend; after a fallback it is the depth backend with
    :attr:`Backend.fallback` saying why (the module docstring gives the rule).
    Raises PipelineError (or ValueError) when the parameters cannot work: an
    explicitly given checkpoint that is missing or not a checkpoint of this model.
    """
    name = str(values["backend"])
    if name != "model":
        backend = Backend(name, values, world_frame)
        backend.load()
        return backend
    path = str(values["checkpoint"])
    if not is_packaged(path) and not (Path(path).expanduser() / "config.json").is_file():
        raise PipelineError(f"checkpoint {path!r} is not a checkpoint directory (no config.json)")
    explicit_head = _asked_for(values, "voxel_head", "voxel_head.json", "voxel head")
    explicit_matcher = _asked_for(values, "rgb_matcher", "matcher.json", "matcher", ("own",))
    reason = _model_unavailable(values)
    if not reason:
        try:
            backend = backend_class(name, values, world_frame)
            backend.load()
            return backend
        except PipelineError as exc:
            if not is_packaged(path) or explicit_head or explicit_matcher:
                raise
            reason = str(exc)
    backend = Backend("depth", values, world_frame)
    backend.fallback = reason
    return backend
