"""Panorama and pinhole-camera geometry for depth estimation on 360° images.

The conventions themselves (pixel centres, directions, camera angles, pinhole rays) are
:mod:`ldm3d_core.conventions`, the one definition both packages import; this module adds the
geometry only depth estimation needs (view directions, padding, sampling).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..conventions import direction_to_lonlat


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly uniform unit directions (n, 3) on the sphere (golden-angle spiral)."""
    i = np.arange(n) + 0.5
    y = 1.0 - 2.0 * i / n
    r = np.sqrt(np.maximum(0.0, 1.0 - y * y))
    theta = np.pi * (3.0 - np.sqrt(5.0)) * i
    return np.stack([r * np.sin(theta), y, -r * np.cos(theta)], axis=-1)


def pad_equirect(image: np.ndarray, pad: int) -> np.ndarray:
    """Pad an equirectangular image by ``pad`` pixels with what lies beyond each edge.

    Columns wrap round the +/-180° seam; rows beyond a pole continue on the far side of it
    (flipped and turned by 180° of longitude), so bilinear sampling is continuous everywhere.
    """
    h, w = image.shape[:2]
    top = np.roll(image[pad - 1 :: -1], w // 2, axis=1)
    bottom = np.roll(image[: h - pad - 1 : -1], w // 2, axis=1)
    rows = np.concatenate([top, image, bottom], axis=0)
    return np.concatenate([rows[:, w - pad :], rows, rows[:, :pad]], axis=1)


def sample_equirect(image: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Bilinear samples of an equirectangular image along directions (..., 3).

    Returns an array of shape ``directions.shape[:-1]`` (+ channels), the image's dtype.
    """
    h, w = image.shape[:2]
    lon, lat = direction_to_lonlat(directions)
    pad = 2
    # Pixel coordinates of pixel centres: x = u W - 0.5 with u = lon / 2 pi + 0.5.
    x = (lon / (2.0 * np.pi) + 0.5) * w - 0.5 + pad
    y = (0.5 - lat / np.pi) * h - 0.5 + pad
    return remap_points(pad_equirect(image, pad), x, y)


def remap_points(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at pixel coordinates (x, y) of any (matching) shape.

    Edges are replicated. OpenCV maps are limited to 32767 pixels a side, so the points are
    laid out as rows of 1024.
    """
    shape = np.shape(x)
    n = int(np.prod(shape))
    cols = 1024
    rows = -(-n // cols)
    map_x = np.zeros(rows * cols, np.float32)
    map_y = np.zeros(rows * cols, np.float32)
    map_x[:n] = np.ravel(x)
    map_y[:n] = np.ravel(y)
    out = cv2.remap(
        image,
        map_x.reshape(rows, cols),
        map_y.reshape(rows, cols),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(rows * cols, *image.shape[2:])[:n].reshape(*shape, *image.shape[2:])
