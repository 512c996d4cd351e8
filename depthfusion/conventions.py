"""The project's conventions (panorama pixels, world axes, camera angles, depth), as
depthfusion imports them.

They are defined once, in :mod:`ldm3d_core.conventions`, because both packages need them and
``ldm3d_core`` never imports ``depthfusion``; this module re-exports that one definition so
that every stage here imports ``..conventions`` (DESIGN.md, "Conventions").
"""

from ldm3d_core.conventions import (
    DEFAULT_IPD,
    NEUTRAL_DEPTH,
    camera_axes,
    camera_rotation,
    direction_to_lonlat,
    disparity_to_metres,
    focal_length_px,
    linear_radius_scale,
    linear_to_srgb,
    lonlat_to_direction,
    lonlat_to_uv,
    metres_to_disparity,
    panorama_directions,
    panorama_lonlat,
    perspective_ray_directions,
    pixel_to_uv,
    rotation_to_yaw_pitch_roll,
    srgb_to_linear,
    uv_to_lonlat,
    vertical_fov,
)

__all__ = [
    "DEFAULT_IPD",
    "NEUTRAL_DEPTH",
    "camera_axes",
    "camera_rotation",
    "direction_to_lonlat",
    "disparity_to_metres",
    "focal_length_px",
    "linear_radius_scale",
    "linear_to_srgb",
    "lonlat_to_direction",
    "lonlat_to_uv",
    "metres_to_disparity",
    "panorama_directions",
    "panorama_lonlat",
    "perspective_ray_directions",
    "pixel_to_uv",
    "rotation_to_yaw_pitch_roll",
    "srgb_to_linear",
    "uv_to_lonlat",
    "vertical_fov",
]
