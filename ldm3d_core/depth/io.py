"""Image in, depth out: reading any common image as RGB, writing 16-bit depth and a preview.

Depth files are 16-bit grayscale PNGs, 65535 nearest (the LDM3D convention, see
``ldm3d_core/codec.py``). Writes are atomic: a temporary file beside the target, renamed
over it once complete, so an interrupted run never leaves a truncated file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..codec import float_to_depth16
from ..files import atomic_path
from .estimator import as_rgb_uint8


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Any image PIL reads -> (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    Grayscale is repeated to three channels, alpha is dropped, palette and CMYK images are
    converted, 16-bit images keep their top 8 bits. Raises FileNotFoundError, OSError when
    the file is not a readable image, or ``ldm3d_core.inputs.InputError`` (a ValueError)
    for a FIFO or device, or a header above the pixel limit (checked before decoding).
    """
    from ..inputs import open_image

    with open_image(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            a = np.asarray(im).astype(np.int64)
            return as_rgb_uint8(np.clip(a, 0, 65535).astype(np.uint16))
        if im.mode == "F":
            a = np.asarray(im, dtype=np.float32)
            return as_rgb_uint8(a if np.nanmax(a) <= 1.0 else a / 255.0)
        return np.asarray(im.convert("RGB"))


def preview_path(depth_path: str | os.PathLike) -> Path:
    """``out/depth.png`` -> ``out/depth_preview.png``."""
    p = Path(depth_path)
    return p.with_name(f"{p.stem}_preview.png")


def depth_preview(depth: np.ndarray) -> np.ndarray:
    """Normalised disparity (H, W) -> (H, W, 3) uint8 RGB colour map (inferno: near is bright)."""
    d8 = np.rint(np.clip(np.asarray(depth, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(d8, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)``, then ``tmp`` becomes ``path`` (``ldm3d_core.files.atomic_path``)."""
    with atomic_path(path) as tmp:
        write(tmp)


def write_depth_png(path: str | os.PathLike, depth: np.ndarray, preview: bool = True) -> list[Path]:
    """Write depth in [0, 1] as a 16-bit PNG (and ``<stem>_preview.png``), atomically.

    The parent folder is created when missing. Returns the paths written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    depth16 = float_to_depth16(depth)
    _atomic_write(path, lambda tmp: Image.fromarray(depth16).save(tmp, format="PNG"))
    written = [path]
    if preview:
        colour = depth_preview(depth)
        prev = preview_path(path)
        _atomic_write(prev, lambda tmp: Image.fromarray(colour).save(tmp, format="PNG"))
        written.append(prev)
    return written
