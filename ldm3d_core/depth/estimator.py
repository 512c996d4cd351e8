"""Monocular depth estimation: an image -> normalised disparity in [0, 1] (1.0 nearest).

The model is a transformers depth estimator loaded with ``AutoModelForDepthEstimation`` and
its ``AutoImageProcessor``: ``Intel/dpt-large`` by default (the model the LDM3D paper used
to make its training depth), ``Intel/dpt-hybrid-midas``, or Depth Anything
(``LiheYoung/depth-anything-large-hf``, ``depth-anything/Depth-Anything-V2-Small-hf``, ...).
These relative models predict affine-invariant inverse depth ("disparity", larger is nearer);
metric models (Depth Anything metric, ``depth_estimation_type: metric``) predict depth in
metres and are inverted, so every model gives disparity here.

Models load from the Hugging Face cache or a local folder; nothing is downloaded when
``HF_HUB_OFFLINE=1``, and a missing model raises :class:`DepthModelNotFoundError` with a
one-line message that says how to get it. torch and transformers are imported only when a
model is loaded.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

#: The paper's depth model (DPT-Large, run at its native 384 x 384).
DEFAULT_MODEL = "Intel/dpt-large"
#: Views per forward pass: bounds activation memory (DPT-Large, 384 px: ~0.3 GB per image).
DEFAULT_BATCH_SIZE = 4


class DepthModelNotFoundError(FileNotFoundError):
    """The depth model is neither in the Hugging Face cache nor a readable local folder.

    A FileNotFoundError (so an OSError): callers that report OSErrors as one-line user
    errors report this one too. ``str(exc)`` is the whole one-line message.
    """


def hub_offline() -> bool:
    """True when the environment forbids hub access (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    from ..devices import hub_offline as hf_hub_offline

    env = os.environ.get("TRANSFORMERS_OFFLINE", "").strip().upper()
    return hf_hub_offline() or env in {"1", "ON", "YES", "TRUE"}


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any common image array -> (H, W, 3) uint8 RGB.

    Accepts (H, W) or (H, W, 1) grayscale (repeated to three channels), (H, W, 3) RGB and
    (H, W, 4) RGBA (alpha dropped: the colour under it is what the camera saw), as uint8,
    uint16 (top 8 bits), bool, or float in [0, 1].
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    a = a[..., :3]
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        return np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {a.dtype}")


def normalize_disparity(disparity: np.ndarray) -> np.ndarray:
    """Min-max normalisation to [0, 1], 1.0 nearest (float32); a flat map gives 0.5 everywhere."""
    d = np.asarray(disparity, dtype=np.float64)
    lo, hi = float(np.nanmin(d)), float(np.nanmax(d))
    if not hi - lo > 1e-12 * max(1.0, abs(hi)):
        return np.full(d.shape, 0.5, dtype=np.float32)
    return np.clip((d - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _not_found(name: str, detail: str = "") -> DepthModelNotFoundError:
    where = " (offline: HF_HUB_OFFLINE=1)" if hub_offline() else ""
    extra = f" [{detail}]" if detail else ""
    return DepthModelNotFoundError(
        f"depth model {name!r} is not in the Hugging Face cache{where}; download it with "
        f"`huggingface-cli download {name}` (or `hf download {name}`), or pass a local model "
        f"folder (--model PATH){extra}"
    )


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else with a separator is a folder.
    return (
        name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep in name.replace("/", "")
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_depth_model(
    model: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
) -> tuple[Any, Any, str]:
    """Load (model, image processor, name) from a local folder or the Hugging Face cache.

    model : hub id (``Intel/dpt-large``, the default) or a folder holding ``config.json``,
        the weights and ``preprocessor_config.json`` (as ``save_pretrained`` writes them)
    device, dtype : see :func:`resolve_device`, :func:`resolve_dtype`

    A hub id is looked up in the local cache first; only when that misses and the hub is
    not switched off (``HF_HUB_OFFLINE``) is a download tried. Raises
    DepthModelNotFoundError when neither works, ValueError when the folder holds something
    other than a depth model.
    """
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    name = str(model) if model is not None else DEFAULT_MODEL
    from ..devices import resolve_device, resolve_dtype

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    path = Path(name).expanduser()
    if path.is_dir():
        sources = [(str(path), True)]
    elif path.exists():
        raise DepthModelNotFoundError(
            f"depth model {name} is a file; give the folder that holds config.json, the "
            "weights and preprocessor_config.json"
        )
    elif _looks_like_path(name):
        raise DepthModelNotFoundError(
            f"depth model folder {name} not found (expected a folder with config.json, the "
            f"weights and preprocessor_config.json), or give a hub id such as {DEFAULT_MODEL}"
        )
    else:
        sources = [(name, True)] if hub_offline() else [(name, True), (name, False)]

    last: BaseException | None = None
    for src, local_only in sources:
        try:
            net = AutoModelForDepthEstimation.from_pretrained(
                src, local_files_only=local_only, dtype=torch_dtype
            )
            processor = AutoImageProcessor.from_pretrained(src, local_files_only=local_only)
            break
        except (OSError, ValueError, KeyError) as exc:
            last = exc
            if isinstance(exc, ValueError) and "Unrecognized" in str(exc):
                raise ValueError(
                    f"{name}: not a depth-estimation model ({_first_line(exc)})"
                ) from None
    else:
        if path.is_dir():
            raise DepthModelNotFoundError(
                f"depth model folder {name} is incomplete ({_first_line(last)})"
            ) from None
        raise _not_found(name) from None
    return net.to(dev).eval(), processor, name


class DepthEstimator:
    """A loaded depth model: images in, relative disparity out.

    Calling it with a list of images returns one float32 disparity map per image at the
    image's own size (an affine-invariant inverse depth: larger is nearer, unknown scale and
    shift) -- the ``ViewEstimator`` protocol the panorama code expects. :meth:`estimate`
    gives the LDM3D convention: one image -> normalised disparity in [0, 1], 1.0 nearest.

    ``evaluations`` counts the images the model has run on.
    """

    def __init__(self, model: Any, processor: Any, name: str, batch_size: int = DEFAULT_BATCH_SIZE):
        self.model = model
        self.processor = processor
        self.name = name
        self.batch_size = max(1, int(batch_size))
        self.evaluations = 0
        cfg = model.config
        # Metric models predict depth (larger = farther); relative ones predict disparity.
        self.predicts_metric_depth = (
            getattr(cfg, "depth_estimation_type", None) == "metric" or cfg.model_type == "zoedepth"
        )

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> DepthEstimator:
        """Load a model (see :func:`load_depth_model`)."""
        return cls(*load_depth_model(model, device, dtype), batch_size=batch_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Relative disparity (H_i, W_i) float32 for each image (H_i, W_i, 3|4) or (H_i, W_i)."""
        import torch

        rgb = [as_rgb_uint8(im) for im in images]
        out: list[np.ndarray] = []
        for start in range(0, len(rgb), self.batch_size):
            chunk = rgb[start : start + self.batch_size]
            # One processor call per batch needs equal sizes; mixed sizes run one by one.
            groups = [chunk] if len({im.shape for im in chunk}) == 1 else [[im] for im in chunk]
            for group in groups:
                inputs = self.processor(images=group, return_tensors="pt")
                pixels = inputs["pixel_values"].to(self.device, self.dtype)
                with torch.inference_mode():
                    pred = self.model(pixel_values=pixels).predicted_depth
                self.evaluations += len(group)
                pred = pred.float()
                if pred.ndim == 4:  # some heads keep a channel axis
                    pred = pred[:, 0]
                if self.predicts_metric_depth:
                    pred = 1.0 / pred.clamp_min(1e-3)
                h, w = group[0].shape[:2]
                pred = torch.nn.functional.interpolate(
                    pred[:, None], size=(h, w), mode="bicubic", align_corners=False
                )[:, 0]
                out.extend(p.cpu().numpy().astype(np.float32) for p in pred)
        return out

    def estimate(self, image: np.ndarray) -> np.ndarray:
        """One image -> normalised disparity (H, W) float32 in [0, 1], 1.0 nearest."""
        return normalize_disparity(self([image])[0])


@functools.lru_cache(maxsize=1)
def _cached_estimator(model: str | None, device: str, dtype: str | None) -> DepthEstimator:
    return DepthEstimator.from_pretrained(model, device, dtype)


def get_estimator(
    model: str | os.PathLike | DepthEstimator | None = None,
    device: str = "auto",
    dtype: str | None = None,
) -> DepthEstimator:
    """An estimator for ``model``; the last one loaded is kept, so repeated calls load once
    (:func:`clear_estimator_cache` lets it go)."""
    if isinstance(model, DepthEstimator):
        return model
    key = None if model is None else str(model)
    return _cached_estimator(key, str(device), None if dtype is None else str(dtype))


def clear_estimator_cache() -> None:
    """Drop the model kept by :func:`get_estimator` (frees its memory once unreferenced)."""
    _cached_estimator.cache_clear()


def estimate_depth(
    image: np.ndarray,
    model: str | os.PathLike | DepthEstimator | None = None,
    device: str = "auto",
    dtype: str | None = None,
) -> np.ndarray:
    """Monocular depth of one (perspective) image: (H, W) float32 in [0, 1], 1.0 nearest.

    image : (H, W, 3) uint8 RGB (grayscale, RGBA, uint16 and float images are converted)
    model : hub id or local folder (default ``Intel/dpt-large``), or a loaded estimator
    """
    return get_estimator(model, device, dtype).estimate(image)
