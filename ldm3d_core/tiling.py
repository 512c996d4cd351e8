"""Overlapping tiles over a (possibly wrapped) 2-D grid, blended back with feathered weights.

Large super-resolution targets run the UNet and the VAE tile by tile (MultiDiffusion,
Bar-Tal et al. 2023): each tile's result is weighted by a window that is 1 inside and ramps
down linearly across the overlap, the weighted results are summed where tiles overlap and
divided by the summed weights. On a panorama the x axis wraps round ±180°: tiles are spaced
evenly round the circle and a tile may straddle the seam (its columns are taken modulo the
width), so the seam is blended like any other tile border.

Along an axis that fits one tile there is exactly one tile covering it, weight 1: the result
is the untiled computation, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Axis:
    """Tile starts along one axis of ``length`` cells."""

    length: int
    tile: int
    """cells per tile (the whole length when it fits one tile)"""
    starts: tuple[int, ...]
    wrap: bool

    @property
    def tiled(self) -> bool:
        return len(self.starts) > 1

    def indices(self, start: int) -> slice | torch.Tensor:
        """The cells of the tile at ``start``: a slice, or wrapped indices."""
        if self.wrap and start + self.tile > self.length:
            return torch.arange(start, start + self.tile) % self.length
        return slice(start, start + self.tile)


def feather(cells: int, overlap: int) -> torch.Tensor:
    """Weights of one tile along an axis: 1 inside, a linear ramp over ``overlap`` cells at each
    end (all ones when ``overlap`` is 0: an axis that is one tile)."""
    if overlap <= 0:
        return torch.ones(cells)
    i = torch.arange(cells, dtype=torch.float32) + 0.5
    return torch.clamp(torch.minimum(i, cells - i) / overlap, max=1.0)


def plan_axis(length: int, tile: int, overlap: int, wrap: bool = False) -> Axis:
    """Tiles of ``tile`` cells overlapping by at least ``overlap`` cells, spread evenly."""
    if length <= tile:
        return Axis(length, length, (0,), wrap)
    step = tile - overlap
    if step <= 0:
        raise ValueError(f"tile overlap {overlap} must be smaller than the tile ({tile})")
    if wrap:  # round the circle: n tiles of `tile` cells, starts evenly spaced
        n = math.ceil(length / step)
        starts = tuple(round(k * length / n) for k in range(n))
    else:
        n = math.ceil((length - overlap) / step)
        starts = tuple(round(k * (length - tile) / (n - 1)) for k in range(n))
    return Axis(length, tile, starts, wrap)


@dataclass(frozen=True)
class Tiling:
    """Tiles over an (H, W) grid; ``x`` may wrap."""

    y: Axis
    x: Axis
    overlap: int

    @property
    def count(self) -> int:
        return len(self.y.starts) * len(self.x.starts)

    def __iter__(self) -> Iterator[tuple[slice, slice | torch.Tensor]]:
        for y0 in self.y.starts:
            for x0 in self.x.starts:
                yield self.y.indices(y0), self.x.indices(x0)

    def window(self, scale: int = 1) -> torch.Tensor:
        """(tile_h * scale, tile_w * scale) blending weights of one tile (``scale``: the same
        tiles in pixels when the grid is latents)."""
        wy = feather(self.y.tile * scale, self.overlap * scale if self.y.tiled else 0)
        wx = feather(self.x.tile * scale, self.overlap * scale if self.x.tiled else 0)
        return wy[:, None] * wx[None, :]

    def scaled(self, scale: int) -> Tiling:
        """The same tiles on a grid ``scale`` times finer (latents -> pixels)."""

        def axis(a: Axis) -> Axis:
            return Axis(
                a.length * scale, a.tile * scale, tuple(s * scale for s in a.starts), a.wrap
            )

        return Tiling(axis(self.y), axis(self.x), self.overlap * scale)


def plan_tiles(height: int, width: int, tile: int, overlap: int, wrap_x: bool = False) -> Tiling:
    """Tiles of at most ``tile`` x ``tile`` cells over an ``height`` x ``width`` grid."""
    return Tiling(
        plan_axis(height, tile, overlap), plan_axis(width, tile, overlap, wrap_x), overlap
    )


def gather(x: torch.Tensor, ys: slice, xs: slice | torch.Tensor) -> torch.Tensor:
    """``x[..., ys, xs]``; ``xs`` may be wrapped column indices."""
    if isinstance(xs, torch.Tensor):
        return x[..., ys, :].index_select(-1, xs.to(x.device))
    return x[..., ys, xs]


def scatter_add(
    out: torch.Tensor, ys: slice, xs: slice | torch.Tensor, value: torch.Tensor
) -> None:
    """``out[..., ys, xs] += value`` in place (a tile's columns are distinct, so wrapped
    indices are safe)."""
    if isinstance(xs, torch.Tensor):
        out[..., ys, :].index_add_(-1, xs.to(out.device), value)
    else:
        out[..., ys, xs] += value
