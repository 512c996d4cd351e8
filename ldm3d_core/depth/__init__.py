"""Monocular depth for images and 360° panoramas (DPT and other transformers depth models).

- :func:`estimate_depth`: one perspective image -> normalised disparity in [0, 1], 1.0 nearest.
- :func:`estimate_panorama_depth`: an equirectangular panorama -> the same, via overlapping
  perspective views aligned to each other and blended back (``panorama.py``).
- :func:`fit_scale_shift` / :func:`disparity_metrics`: least-squares alignment in disparity
  space and AbsRel / RMSE, as the LDM3D paper evaluates depth.

Importing this package does not import torch or transformers; loading a model does.
"""

from .align import align_disparity, disparity_metrics, fit_scale_shift
from .estimator import (
    DEFAULT_MODEL,
    DepthEstimator,
    DepthModelNotFoundError,
    as_rgb_uint8,
    clear_estimator_cache,
    estimate_depth,
    get_estimator,
    load_depth_model,
    normalize_disparity,
)
from .panorama import (
    PanoramaDepth,
    PerspectiveView,
    ViewEstimator,
    estimate_panorama,
    estimate_panorama_depth,
    merge_views,
    panorama_views,
    render_views,
)

__all__ = [
    "DEFAULT_MODEL",
    "DepthEstimator",
    "DepthModelNotFoundError",
    "PanoramaDepth",
    "PerspectiveView",
    "ViewEstimator",
    "align_disparity",
    "as_rgb_uint8",
    "clear_estimator_cache",
    "disparity_metrics",
    "estimate_depth",
    "estimate_panorama",
    "estimate_panorama_depth",
    "fit_scale_shift",
    "get_estimator",
    "load_depth_model",
    "merge_views",
    "normalize_disparity",
    "panorama_views",
    "render_views",
]
