"""Panorama and pinhole-camera geometry for depth estimation on 360° images.

The formulas are copies of the project's conventions (reference: ``depthfusion/conventions.py``
and DESIGN.md, "Conventions"); ``ldm3d_core`` never imports ``depthfusion``, so they are
repeated here and ``tests/test_depth_estimation.py`` checks that both agree.

- Equirectangular pixel (x, y) has its centre at u = (x + 0.5)/W, v = (y + 0.5)/H;
  longitude = (u - 0.5) 2 pi, latitude = (0.5 - v) pi.
- Direction of (lon, lat) = (cos lat sin lon, sin lat, -cos lat cos lon): +Y up, forward -Z.
- Camera yaw (degrees) turns right toward larger u, pitch looks up; a camera looks along -Z of
  its rotation, and ``camera_rotation`` returns camera-to-world (columns right, up, backward).
"""

from __future__ import annotations

import cv2
import numpy as np


def panorama_directions(width: int, height: int, dtype=np.float32) -> np.ndarray:
    """Unit direction of every pixel centre of a W x H panorama, shape (H, W, 3)."""
    lon = ((np.arange(width) + 0.5) / width - 0.5) * (2.0 * np.pi)
    lat = (0.5 - (np.arange(height) + 0.5) / height) * np.pi
    cos_lat, sin_lat = np.cos(lat)[:, None], np.sin(lat)[:, None]
    out = np.empty((height, width, 3), dtype=dtype)
    out[..., 0] = cos_lat * np.sin(lon)[None, :]
    out[..., 1] = sin_lat
    out[..., 2] = -cos_lat * np.cos(lon)[None, :]
    return out


def direction_to_lonlat(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direction(s) (..., 3), any length > 0 -> (longitude, latitude) in radians."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.arctan2(x, -z), np.arctan2(y, np.hypot(x, z))


def camera_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world rotation (3, 3) from yaw/pitch/roll in degrees (conventions.py)."""
    y, p, r = np.radians([yaw, pitch, roll])
    cy, sy = np.cos(-y), np.sin(-y)
    cp, sp = np.cos(p), np.sin(p)
    cr, sr = np.cos(-r), np.sin(-r)
    rot_y = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rot_x = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rot_z = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return rot_y @ rot_x @ rot_z


def perspective_ray_directions(width: int, height: int, fov_deg: float) -> np.ndarray:
    """Camera-space unit ray directions through pixel centres, shape (H, W, 3); -Z forward.

    ``fov_deg`` is the horizontal field of view; pixels are square.
    """
    f = 0.5 * width / np.tan(np.radians(fov_deg) / 2.0)
    xs = (np.arange(width) + 0.5) - width / 2.0
    ys = height / 2.0 - (np.arange(height) + 0.5)
    d = np.empty((height, width, 3))
    d[..., 0] = xs[None, :]
    d[..., 1] = ys[:, None]
    d[..., 2] = -f
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


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
