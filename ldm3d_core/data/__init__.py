"""Training data for LDM3D: (caption, RGB, depth) triples from folders or manifests.

- :class:`RGBDDataset` (``dataset.py``): a torch Dataset whose items are
  ``{"pixel_values": (C, H, W) float32 in [-1, 1], "caption": str}``, the exact VAE input
  the pipelines use (C = 4 or 6), with joint RGB/depth crops, flips and panorama rolls.
- ``sources.py``: the folder (sidecar) and manifest layouts, and reading the files.
- ``build.py``: ``ldm3d build-dataset``, depth maps for a folder of images (resumable).

Importing this package does not import torch; using :class:`RGBDDataset` does.
"""

from .sources import MANIFEST, Sample, iter_samples, read_depth, read_manifest, read_rgb

__all__ = [
    "MANIFEST",
    "BuildReport",
    "RGBDDataset",
    "Sample",
    "build_dataset",
    "iter_samples",
    "read_depth",
    "read_manifest",
    "read_rgb",
]

_LAZY = {"RGBDDataset": ".dataset", "build_dataset": ".build", "BuildReport": ".build"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
