"""Frustum culling for meshes around the origin: draw only the tiles a view can see.

On a software rasteriser (Mesa llvmpipe) every submitted triangle costs vertex shading,
clipping and binning even when it lies behind the camera; a 90° view of the sphere sees a
quarter of it at most. So the faces are sorted once into tiles by the longitude/latitude of
their first vertex (any mesh around the origin, layered ones too), each tile keeps an
axis-aligned box over all its vertices, and per view only the runs of tiles whose boxes meet
the frustum are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TiledFaces:
    """Faces sorted by tile, and per tile its face range and bounding box.

    faces : (m, 3) uint32, tile by tile
    starts, counts : (t,) int64 face offset and count of each tile (empty tiles count 0)
    box_min, box_max : (t, 3) float32 world-space bounds of each tile's vertices
    """

    faces: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    box_min: np.ndarray
    box_max: np.ndarray


def tile_faces(
    vertices: np.ndarray, faces: np.ndarray, tiles_lon: int = 64, tiles_lat: int = 32
) -> TiledFaces:
    """Sort ``faces`` into a tiles_lon x tiles_lat grid of directions from the origin."""
    # Tile of every vertex (float32 math; 2 atan2 per vertex), then of each face's first vertex.
    v = np.asarray(vertices, dtype=np.float32)
    lon = np.arctan2(v[:, 0], -v[:, 2])
    lat = np.arctan2(v[:, 1], np.hypot(v[:, 0], v[:, 2]))
    tx = np.clip(((lon + np.pi) * (tiles_lon / (2 * np.pi))).astype(np.int32), 0, tiles_lon - 1)
    ty = np.clip(((np.pi / 2 - lat) * (tiles_lat / np.pi)).astype(np.int32), 0, tiles_lat - 1)
    vertex_tile = (ty * tiles_lon + tx).astype(
        np.uint16 if tiles_lon * tiles_lat <= 65536 else np.int64
    )
    tile = vertex_tile[faces[:, 0]]
    order = np.argsort(tile, kind="stable")  # radix sort for 16-bit keys: O(n)
    faces_sorted = faces[order]
    n_tiles = tiles_lon * tiles_lat
    counts = np.bincount(tile, minlength=n_tiles).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    # Tile bounds over all three vertices of its faces (a stretched triangle can reach far):
    # one gather and one segmented reduction per corner.
    box_min = np.full((n_tiles, 3), np.inf, np.float32)
    box_max = np.full((n_tiles, 3), -np.inf, np.float32)
    nonempty = counts > 0
    if nonempty.any():
        seg = starts[nonempty]
        for k in range(3):
            corner = v[faces_sorted[:, k]]
            box_min[nonempty] = np.minimum(
                box_min[nonempty], np.minimum.reduceat(corner, seg, axis=0)
            )
            box_max[nonempty] = np.maximum(
                box_max[nonempty], np.maximum.reduceat(corner, seg, axis=0)
            )
    return TiledFaces(faces_sorted, starts, counts, box_min, box_max)


def frustum_planes(mvp: np.ndarray) -> np.ndarray:
    """The 6 clip planes (a, b, c, d) of a model-view-projection matrix (Gribb-Hartmann):
    a point p is inside when a*x + b*y + c*z + d >= 0 for all six."""
    m = np.asarray(mvp, dtype=np.float64)
    rows = [m[3] + m[0], m[3] - m[0], m[3] + m[1], m[3] - m[1], m[3] + m[2], m[3] - m[2]]
    return np.stack(rows)


def visible_tiles(tiled: TiledFaces, mvp: np.ndarray) -> np.ndarray:
    """Boolean (t,) mask of non-empty tiles whose boxes are not fully outside a frustum plane."""
    planes = frustum_planes(mvp)
    normal = planes[:, :3]  # (6, 3)
    # For each tile and plane, the box corner farthest along the plane normal.
    pos = np.where(normal[None, :, :] >= 0, tiled.box_max[:, None, :], tiled.box_min[:, None, :])
    dist = np.einsum("tpk,pk->tp", pos, normal) + planes[None, :, 3]
    return (tiled.counts > 0) & np.all(dist >= 0, axis=1)


def draw_runs(tiled: TiledFaces, visible: np.ndarray) -> list[tuple[int, int]]:
    """Merge visible tiles into contiguous (first_face, face_count) runs."""
    if not visible.any():
        return []
    idx = np.flatnonzero(visible)
    starts = tiled.starts[idx]
    ends = starts + tiled.counts[idx]
    # A run continues while the next visible tile starts where the previous one ended.
    breaks = np.flatnonzero(starts[1:] != ends[:-1]) + 1
    run_starts = np.concatenate([[0], breaks])
    run_ends = np.concatenate([breaks, [len(idx)]])
    return [
        (int(starts[a]), int(ends[b - 1] - starts[a]))
        for a, b in zip(run_starts, run_ends, strict=True)
    ]
