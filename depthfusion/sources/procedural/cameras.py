"""Seeing a procedural scene: the equirectangular panorama from the origin (supersampled,
threaded over blocks of rows) and pinhole views from any pose, both with exact distances.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...conventions import (
    lonlat_to_direction,
    panorama_lonlat,
    perspective_ray_directions,
)
from ...render.pose import Pose
from ...rgbd.panorama import RGBDPanorama
from .presets import build_scene
from .shapes import _CHUNK_RAYS, _MAX_THREADS, Array, ProceduralScene


def _as_scene(scene_or_preset: str | ProceduralScene, seed: int) -> ProceduralScene:
    if isinstance(scene_or_preset, ProceduralScene):
        return scene_or_preset
    return build_scene(scene_or_preset, seed)


def _to_uint8(rgb: Array) -> Array:
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def _block_mean(img: Array, s: int) -> Array:
    """(h*s, w*s, 3) -> (h, w, 3): mean over each s x s block of sub-pixel samples."""
    if s == 1:
        return img
    h, w = img.shape[0] // s, img.shape[1] // s
    return img.reshape(h, s, w, s, -1).mean(axis=(1, 3))


def _rows_per_chunk(width: int, s: int) -> int:
    return max(1, _CHUNK_RAYS // (width * s * s))


def _for_row_blocks(height: int, step: int, work: Callable[[int, int], None]) -> None:
    """Run ``work(r0, r1)`` over blocks of output rows, on a few threads.

    Each block writes its own rows of preallocated outputs. numpy releases the GIL inside its
    array loops, so threads give a near-linear speed-up on small machines.
    """
    blocks = [(r0, min(height, r0 + step)) for r0 in range(0, height, step)]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(_MAX_THREADS, cpus or 1, len(blocks))
    if workers <= 1:
        for r0, r1 in blocks:
            work(r0, r1)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda blk: work(*blk), blocks))  # list() re-raises worker errors


def render_panorama(
    scene_or_preset: str | ProceduralScene, width: int = 2048, supersample: int = 1, seed: int = 0
) -> tuple[Array, Array]:
    """Equirectangular RGB and exact distance seen from the origin, as plain arrays.

    width : panorama width; height = width // 2
    supersample : s > 1 averages colour over an s x s grid of sub-pixel rays (anti-aliasing);
        the distance always comes from the ray through the pixel centre.

    Returns rgb (H, W, 3) uint8 and distance (H, W) float32, metres along each ray.
    """
    scene = _as_scene(scene_or_preset, seed)
    s = int(supersample)
    if width < 2 or width % 2 or s < 1:
        raise ValueError(f"need an even width >= 2 and supersample >= 1, got {width}, {s}")
    height = width // 2
    origin = np.zeros((1, 3))
    # The s x s sub-pixel grid is the set of pixel centres of an (s*W) x (s*H) panorama, so
    # conventions' pixel-centre helpers give it directly (s = 1: the panorama's own centres).
    lon, lat = panorama_lonlat(width * s, height * s)
    lon_c, lat_c = panorama_lonlat(width, height)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    dist = np.empty((height, width), dtype=np.float32)

    def work(r0: int, r1: int) -> None:
        grid = np.broadcast_arrays(lon[None, :], lat[r0 * s : r1 * s, None])
        col, t = scene._trace(origin, lonlat_to_direction(*grid).reshape(-1, 3))
        rgb[r0:r1] = _to_uint8(_block_mean(col.reshape((r1 - r0) * s, width * s, 3), s))
        if s % 2:  # odd grid: the middle sub-sample is the pixel centre (s = 1 included)
            dist[r0:r1] = t.reshape(r1 - r0, s, width, s)[:, s // 2, :, s // 2]
        else:
            grid = np.broadcast_arrays(lon_c[None, :], lat_c[r0:r1, None])
            centre = lonlat_to_direction(*grid).reshape(-1, 3)
            dist[r0:r1] = scene._trace(origin, centre)[1].reshape(r1 - r0, width)

    _for_row_blocks(height, _rows_per_chunk(width, s), work)
    return rgb, dist


def generate_panorama(
    preset: str | ProceduralScene, seed: int = 0, width: int = 2048, supersample: int = 1
) -> RGBDPanorama:
    """RGBD panorama of a preset (or built scene) seen from the origin, with metric depth.

    See :func:`render_panorama` for ``width`` and ``supersample``. Returns
    ``RGBDPanorama.from_metres(rgb, distance)``: metric_range = (min, max) distance.
    """
    scene = _as_scene(preset, seed)
    rgb, dist = render_panorama(scene, width, supersample)
    return RGBDPanorama.from_metres(rgb, dist, name=f"procedural:{scene.preset}:{scene.seed}")


def render_view(
    scene_or_preset: str | ProceduralScene,
    pose: Pose,
    size: tuple[int, int],
    fov: float,
    seed: int = 0,
    supersample: int = 1,
) -> tuple[Array, Array]:
    """Pinhole view of a procedural scene: the ground truth for novel views.

    scene_or_preset : a built scene, or a preset name built with ``seed``
    size : (width, height) in pixels
    fov : horizontal field of view in degrees (``pose.fov``, when set, overrides it, as it
        does for every output)
    supersample : s > 1 averages colour over s x s sub-pixel rays; distance stays the
        pixel-centre ray's. Memory: the camera-space ray grid of W*s x H*s (24 bytes a ray).

    Returns rgb (H, W, 3) uint8 and distance (H, W) float32: metres along each pixel-centre
    ray from ``pose.position`` (radial distance, not z-depth).
    """
    scene = _as_scene(scene_or_preset, seed)
    width, height = int(size[0]), int(size[1])
    s = int(supersample)
    if width < 1 or height < 1 or s < 1:
        raise ValueError(f"need a positive size and supersample, got {size}, {supersample}")
    fov = pose.fov if pose.fov is not None else fov
    rot = pose.rotation()
    origin = np.asarray(pose.position, dtype=np.float64).reshape(1, 3)
    # Sub-pixel rays = the pixel centres of an s-times larger image with the same fov.
    cam = perspective_ray_directions(width * s, height * s, fov)
    cam_c = cam if s % 2 else perspective_ray_directions(width, height, fov)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    dist = np.empty((height, width), dtype=np.float32)

    def work(r0: int, r1: int) -> None:
        col, t = scene._trace(origin, cam[r0 * s : r1 * s].reshape(-1, 3) @ rot.T)
        rgb[r0:r1] = _to_uint8(_block_mean(col.reshape((r1 - r0) * s, width * s, 3), s))
        if s % 2:  # odd grid: the middle sub-sample is the pixel centre (s = 1 included)
            dist[r0:r1] = t.reshape(r1 - r0, s, width, s)[:, s // 2, :, s // 2]
        else:
            centre = cam_c[r0:r1].reshape(-1, 3) @ rot.T
            dist[r0:r1] = scene._trace(origin, centre)[1].reshape(r1 - r0, width)

    _for_row_blocks(height, _rows_per_chunk(width, s), work)
    return rgb, dist
