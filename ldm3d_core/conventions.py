"""The project's conventions, defined once: panorama pixels, world axes, camera angles, depth.

Both packages import these instead of re-deriving them (see DESIGN.md, "Conventions"): the
model side (``ldm3d_core``: panorama depth estimation, seams) directly, the renderer through
``depthfusion.conventions``, which re-exports this module (``ldm3d_core`` never imports
``depthfusion``, so the one definition lives here).

- Panorama: equirectangular, width = 2 x height. Pixel (x, y) has its centre at
  u = (x + 0.5) / W, v = (y + 0.5) / H; longitude lambda = (u - 0.5) * 2 pi,
  latitude phi = (0.5 - v) * pi.
- World: right-handed OpenGL axes, +Y up, forward -Z, +X right. The direction of
  (lambda, phi) is (cos phi sin lambda, sin phi, -cos phi cos lambda).
- Camera angles (degrees in scene files): yaw about +Y, positive turns right (toward larger u);
  pitch positive looks up; roll positive tilts the camera's right side down (clockwise as
  seen by the viewer). A camera with yaw = lambda, pitch = phi looks along direction(lambda, phi).
- Depth inside an RGBD panorama: float32 normalised disparity in [0, 1], 1.0 nearest.
"""

from __future__ import annotations

import numpy as np

#: Default interpupillary distance in metres.
DEFAULT_IPD = 0.064
#: Depth value that leaves a vertex at the neutral radius.
NEUTRAL_DEPTH = 0.5


# --- panorama pixels <-> angles <-> directions -------------------------------------------------


def pixel_to_uv(x: np.ndarray | float, y: np.ndarray | float, width: int, height: int):
    """Pixel indices -> texture coordinates of the pixel centres (u right, v down)."""
    return (np.asarray(x) + 0.5) / width, (np.asarray(y) + 0.5) / height


def uv_to_lonlat(u: np.ndarray | float, v: np.ndarray | float):
    """Texture coordinates -> (longitude, latitude) in radians."""
    return (np.asarray(u) - 0.5) * (2.0 * np.pi), (0.5 - np.asarray(v)) * np.pi


def lonlat_to_uv(lon: np.ndarray | float, lat: np.ndarray | float):
    """(longitude, latitude) in radians -> texture coordinates (u in [0, 1) for lon in [-pi, pi))."""
    return np.asarray(lon) / (2.0 * np.pi) + 0.5, 0.5 - np.asarray(lat) / np.pi


def lonlat_to_direction(lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray:
    """(longitude, latitude) -> unit direction(s), shape (..., 3)."""
    lon, lat = np.broadcast_arrays(np.asarray(lon), np.asarray(lat))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.sin(lon), np.sin(lat), -cos_lat * np.cos(lon)], axis=-1)


def direction_to_lonlat(d: np.ndarray):
    """Direction(s) (..., 3), any length > 0 -> (longitude, latitude) in radians."""
    d = np.asarray(d, dtype=np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    lon = np.arctan2(x, -z)
    lat = np.arctan2(y, np.hypot(x, z))
    return lon, lat


def panorama_lonlat(width: int, height: int, dtype=np.float64):
    """Longitude per column (W,) and latitude per row (H,) at pixel centres."""
    u, v = pixel_to_uv(np.arange(width), np.arange(height), width, height)
    lon, lat = uv_to_lonlat(u, v)
    return lon.astype(dtype), lat.astype(dtype)


def panorama_directions(width: int, height: int, dtype=np.float32) -> np.ndarray:
    """Unit direction of every pixel centre of a W x H panorama, shape (H, W, 3)."""
    lon, lat = panorama_lonlat(width, height)
    cos_lat, sin_lat = np.cos(lat)[:, None], np.sin(lat)[:, None]
    out = np.empty((height, width, 3), dtype=dtype)
    out[..., 0] = cos_lat * np.sin(lon)[None, :]
    out[..., 1] = sin_lat
    out[..., 2] = -cos_lat * np.cos(lon)[None, :]
    return out


# --- camera orientation ------------------------------------------------------------------------


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def camera_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world rotation (3, 3) from yaw/pitch/roll in degrees.

    Columns are the camera's right, up and backward (+Z) axes in world coordinates; the
    camera looks along -Z, so its forward vector is ``-R[:, 2]``.
    """
    y, p, r = np.radians([yaw, pitch, roll])
    # Yaw right = rotation about +Y by -yaw; roll right-side-down = rotation about the
    # (backward) +Z axis by -roll. Applied in the camera frame: roll, then pitch, then yaw.
    return _rot_y(-y) @ _rot_x(p) @ _rot_z(-r)


def camera_axes(yaw: float, pitch: float, roll: float = 0.0):
    """(right, up, forward) unit vectors in world coordinates."""
    rot = camera_rotation(yaw, pitch, roll)
    return rot[:, 0], rot[:, 1], -rot[:, 2]


def rotation_to_yaw_pitch_roll(rot: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`camera_rotation` (degrees); yaw in (-180, 180]."""
    fwd = -rot[:, 2]
    yaw = np.degrees(np.arctan2(fwd[0], -fwd[2]))
    pitch = np.degrees(np.arcsin(np.clip(fwd[1], -1.0, 1.0)))
    base = _rot_y(-np.radians(yaw)) @ _rot_x(np.radians(pitch))
    rz = base.T @ rot  # = _rot_z(-roll)
    roll = -np.degrees(np.arctan2(rz[1, 0], rz[0, 0]))
    return float(yaw), float(pitch), float(roll)


def focal_length_px(width: int, fov_deg: float) -> float:
    """Pinhole focal length in pixels for a horizontal field of view in degrees."""
    return 0.5 * width / np.tan(np.radians(fov_deg) / 2.0)


def vertical_fov(fov_deg: float, width: int, height: int) -> float:
    """Vertical field of view (degrees) matching a horizontal one for a W x H image."""
    return float(np.degrees(2.0 * np.arctan(np.tan(np.radians(fov_deg) / 2.0) * height / width)))


def perspective_ray_directions(width: int, height: int, fov_deg: float) -> np.ndarray:
    """Camera-space unit ray directions through pixel centres, shape (H, W, 3); -Z forward."""
    f = focal_length_px(width, fov_deg)
    xs = (np.arange(width) + 0.5) - width / 2.0
    ys = height / 2.0 - (np.arange(height) + 0.5)
    d = np.empty((height, width, 3))
    d[..., 0] = xs[None, :]
    d[..., 1] = ys[:, None]
    d[..., 2] = -f
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


# --- depth ------------------------------------------------------------------------------------


def metres_to_disparity(distance: np.ndarray, near: float, far: float) -> np.ndarray:
    """Metric distance -> normalised disparity in [0, 1] (1 at ``near``, 0 at ``far``).

    d = (1/z - 1/far) / (1/near - 1/far): linear in inverse depth, as DPT/LDM3D depth is.
    """
    z = np.asarray(distance, dtype=np.float64)
    d = (1.0 / z - 1.0 / far) / (1.0 / near - 1.0 / far)
    return np.clip(d, 0.0, 1.0).astype(np.float32)


def disparity_to_metres(disparity: np.ndarray, near: float, far: float) -> np.ndarray:
    """Inverse of :func:`metres_to_disparity`: normalised disparity -> distance in metres."""
    d = np.asarray(disparity, dtype=np.float64)
    return (1.0 / (d / near + (1.0 - d) / far)).astype(np.float32)


def linear_radius_scale(disparity: np.ndarray, strength: float) -> np.ndarray:
    """The paper's linear displacement g(d) = 1 + strength * (1 - 2d): g(0.5) = 1, decreasing.

    d = 1 pulls a vertex in to (1 - strength) R, d = 0 pushes it out to (1 + strength) R.
    """
    return 1.0 + strength * (1.0 - 2.0 * np.asarray(disparity, dtype=np.float32))


# --- colour ---------------------------------------------------------------------------------------
# Panorama textures are sRGB-encoded; blending, filtering and MSAA resolve happen in linear light
# (the renderer's GL_SRGB8 textures and framebuffers), so colour arithmetic does too.


def srgb_to_linear(s: np.ndarray) -> np.ndarray:
    """The inverse sRGB transfer function (IEC 61966-2-1): code values in [0, 1] -> linear."""
    return np.where(s <= 0.04045, s / 12.92, np.power((s + 0.055) / 1.055, 2.4))


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """The sRGB transfer function for linear values (clipped to [0, 1]; NaN -> 0)."""
    c = np.clip(np.nan_to_num(c, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)
