"""Evaluation as in the LDM3D paper (§3.1.4, §4): image, depth and autoencoder metrics.

- ``depth.py``: AbsRel / RMSE after per-image scale-and-shift alignment in disparity space.
- ``image.py``: FID, Inception Score and CLIP similarity (torchmetrics), from local weights.
- ``autoencoder.py``: rFID and depth AbsRel of a VAE's reconstructions.
- ``report.py``: the results table (CSV + Markdown); ``cli.py``: ``ldm3d evaluate``.

Importing this package imports numpy only; the metrics load torch and torchmetrics.
"""

from .depth import DepthMetrics, depth_to_disparity, image_depth_metrics
from .report import markdown_table, read_results, write_results

__all__ = [
    "DepthMetrics",
    "ImageMetrics",
    "MetricUnavailableError",
    "autoencoder_metrics",
    "depth_to_disparity",
    "image_depth_metrics",
    "markdown_table",
    "read_results",
    "reconstruct",
    "write_results",
]

_LAZY = {
    "ImageMetrics": ".image",
    "MetricUnavailableError": ".image",
    "autoencoder_metrics": ".autoencoder",
    "reconstruct": ".autoencoder",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
