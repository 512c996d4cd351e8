"""The displaced sphere mesh (paper §3.2, Fig. 2b): an RGBD panorama projected onto a lat-long grid.

Each grid vertex sits at a pixel centre's direction (conventions.py) at radius r = R * g(d):
- ``linear`` (paper-faithful): g(d) = 1 + strength * (1 - 2d), so d = 0.5 stays at R, values near
  1.0 move toward the origin and 0.0 farther out;
- ``metric``: r is the true distance, from metric depth or from disparity with near/far.

Layout of the arrays (what GL and textured exports need): ``rows x (cols + 1)`` grid vertices,
the last column a copy of the first with u + 1 so texture coordinates never jump across the
±180° seam, then ``cols`` copies of the north pole and ``cols`` of the south pole (one per fan
triangle, each with its own u). The copies share positions exactly, so the surface is closed:
:meth:`SphereMesh.closed` welds them into the watertight topology (single-point poles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ..conventions import disparity_to_metres, linear_radius_scale, panorama_directions
from ..errors import SceneError
from ..rgbd.panorama import RGBDPanorama

DisplacementMode = Literal["linear", "metric"]


@dataclass
class SphereMesh:
    """A textured, displaced sphere.

    vertices : (n, 3) float32, world metres
    uvs : (n, 2) float32, u right, v down from the texture's top row (v = (y + 0.5) / H)
    faces : (m, 3) uint32, counter-clockwise seen from the origin (normals point inward)
    texture : (H, W, 3) uint8, the panorama's RGB
    rows, cols : grid size (rows = cols / 2)
    """

    vertices: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    texture: np.ndarray
    rows: int
    cols: int

    @property
    def vertex_count(self) -> int:
        return len(self.vertices)

    @property
    def triangle_count(self) -> int:
        return len(self.faces)

    @property
    def grid_vertex_count(self) -> int:
        """Vertices of the welded sphere: one per grid cell plus the two poles."""
        return self.rows * self.cols + 2

    def closed(self) -> tuple[np.ndarray, np.ndarray]:
        """Welded (vertices (rows*cols + 2, 3), faces) with no seam column or pole copies."""
        rows, cols = self.rows, self.cols
        n_grid = rows * (cols + 1)
        remap = np.empty(len(self.vertices), dtype=np.int64)
        grid = np.arange(n_grid).reshape(rows, cols + 1)
        welded = np.arange(rows)[:, None] * cols + np.arange(cols + 1)[None, :] % cols
        remap[grid.ravel()] = welded.ravel()
        remap[n_grid : n_grid + cols] = rows * cols  # north pole copies
        remap[n_grid + cols :] = rows * cols + 1  # south pole copies
        keep = np.concatenate([grid[:, :cols].ravel(), [n_grid, n_grid + cols]])
        return self.vertices[keep], remap[self.faces].astype(np.uint32)

    def vertex_colors(self) -> np.ndarray:
        """(n, 3) uint8 colour of the texture at each vertex's uv (nearest pixel)."""
        h, w = self.texture.shape[:2]
        x = np.clip((self.uvs[:, 0] % 1.0 * w).astype(np.int64), 0, w - 1)
        y = np.clip((self.uvs[:, 1] * h).astype(np.int64), 0, h - 1)
        return self.texture[y, x]


def quad_corners(stride: int) -> np.ndarray:
    """(2, 3) uint32 offsets from a cell's top-left vertex of its two triangles, a-c-b and
    b-c-d (a top-left, b top-right, c bottom-left, d bottom-right; rows ``stride`` apart)."""
    return np.array([[0, stride, 1], [1, stride, stride + 1]], dtype=np.uint32)


def grid_faces(rows: int, cols: int) -> np.ndarray:
    """Triangles of the seam-split lat-long layout described in the module docstring."""
    stride = cols + 1
    n_quads = (rows - 1) * cols
    faces = np.empty((2 * n_quads + 2 * cols, 3), dtype=np.uint32)
    # Row i is above row i + 1 and column j + 1 lies to the right (seen from the origin):
    # a-c-b and b-c-d run counter-clockwise for a viewer at the centre. One broadcast add
    # writes both triangles of every quad in memory order (fresh pages are touched once,
    # in sequence: strided first writes fault pages far more slowly).
    quads = faces[: 2 * n_quads].reshape(rows - 1, cols, 6)
    a = (np.arange(rows - 1, dtype=np.uint32) * stride)[:, None] + np.arange(cols, dtype=np.uint32)
    np.add(a[:, :, None], quad_corners(stride).ravel(), out=quads)
    n_grid = rows * stride
    ring = np.arange(cols, dtype=np.uint32)
    north = faces[2 * n_quads : 2 * n_quads + cols]
    north[:, 0] = n_grid + ring
    north[:, 1] = ring
    north[:, 2] = ring + 1
    last = (rows - 1) * stride
    south = faces[2 * n_quads + cols :]
    south[:, 0] = n_grid + cols + ring
    south[:, 1] = last + ring + 1
    south[:, 2] = last + ring
    return faces


def grid_uvs(rows: int, cols: int) -> np.ndarray:
    """Texture coordinates for the seam-split layout: pixel centres, pole copies mid-column."""
    n_grid = rows * (cols + 1)
    uvs = np.empty((n_grid + 2 * cols, 2), dtype=np.float32)
    grid = uvs[:n_grid].reshape(rows, cols + 1, 2)
    grid[..., 0] = ((np.arange(cols + 1) + 0.5) / cols)[None, :]
    grid[..., 1] = ((np.arange(rows) + 0.5) / rows)[:, None]
    pole_u = (np.arange(cols) + 1.0) / cols  # between the two ring vertices of each fan triangle
    uvs[n_grid : n_grid + cols, 0] = pole_u
    uvs[n_grid : n_grid + cols, 1] = 0.0
    uvs[n_grid + cols :, 0] = pole_u
    uvs[n_grid + cols :, 1] = 1.0
    return uvs


def _grid_depth(depth: np.ndarray, cols: int) -> np.ndarray:
    """Depth sampled at the mesh grid's pixel centres (area average when the grid is coarser)."""
    if depth.shape[1] == cols:
        return depth
    # INTER_AREA on an integer factor averages whole source pixels, whose centres average
    # exactly to the coarse pixel's centre, so vertex directions stay on the convention.
    return cv2.resize(depth, (cols, cols // 2), interpolation=cv2.INTER_AREA)


def vertex_radii(
    depth: np.ndarray,
    mode: DisplacementMode,
    radius: float,
    strength: float,
    metric_range: tuple[float, float] | None,
) -> np.ndarray:
    """Radius for each depth value (any shape), float32 metres."""
    if mode == "linear":
        return (radius * linear_radius_scale(depth, strength)).astype(np.float32)
    if mode == "metric":
        if metric_range is None:
            raise SceneError("sphere.displacement: metric mode needs metric depth or near/far")
        return disparity_to_metres(depth, *metric_range)
    raise SceneError(f"sphere.displacement.mode: unknown mode {mode!r} (expected linear or metric)")


def build_sphere_mesh(
    rgbd: RGBDPanorama,
    resolution: int | None = None,
    *,
    radius: float = 5.0,
    mode: DisplacementMode = "linear",
    strength: float = 0.5,
    near: float | None = None,
    far: float | None = None,
) -> SphereMesh:
    """Mesh an RGBD panorama as a displaced sphere.

    resolution : mesh columns (rows = half); None or larger than the panorama -> the panorama's
        width. Must be even and at least 8.
    radius : neutral radius R in metres (linear mode).
    strength : linear mode, 0 <= strength < 1 (d = 1 lands at (1 - strength) R).
    near, far : metric mode on a disparity panorama: distances of d = 1 and d = 0. A metric
        panorama (``rgbd.metric_range``) uses its own range unless these are given.
    """
    cols = rgbd.width if resolution is None else min(int(resolution), rgbd.width)
    if cols < 8 or cols % 2:
        raise SceneError(f"sphere.resolution: must be an even number >= 8, got {cols}")
    if mode == "linear" and not 0.0 <= strength < 1.0:
        raise SceneError(f"sphere.displacement.strength: must be in [0, 1), got {strength}")
    if radius <= 0:
        raise SceneError(f"sphere.radius: must be > 0, got {radius}")
    rows = cols // 2

    metric_range = rgbd.metric_range
    if near is not None or far is not None:
        if near is None or far is None or not 0 < near < far:
            raise SceneError(
                f"sphere.displacement: need 0 < near < far, got near={near}, far={far}"
            )
        metric_range = (near, far)

    depth = _grid_depth(rgbd.depth, cols)
    r = vertex_radii(depth, mode, radius, strength, metric_range)
    # Poles: the mean disparity of the nearest ring, so the cap closes without a spike.
    r_poles = vertex_radii(
        np.array([depth[0].mean(), depth[-1].mean()], dtype=np.float32),
        mode,
        radius,
        strength,
        metric_range,
    )

    stride = cols + 1
    n_grid = rows * stride
    vertices = np.empty((n_grid + 2 * cols, 3), dtype=np.float32)
    grid = vertices[:n_grid].reshape(rows, stride, 3)
    np.multiply(panorama_directions(cols, rows), r[..., None], out=grid[:, :cols])
    grid[:, cols] = grid[:, 0]  # the seam column: same positions, so no crack
    vertices[n_grid : n_grid + cols] = (0.0, r_poles[0], 0.0)
    vertices[n_grid + cols :] = (0.0, -r_poles[1], 0.0)

    return SphereMesh(
        vertices=vertices,
        uvs=grid_uvs(rows, cols),
        faces=grid_faces(rows, cols),
        texture=rgbd.rgb,
        rows=rows,
        cols=cols,
    )
