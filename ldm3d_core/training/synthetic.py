"""Procedural RGBD samples with captions: a dataset that needs no files.

Used by the tiny example configs, the tests, the benchmark and smoke runs of the
multi-process launch, where downloading or shipping images would be in the way. Each
item is a smooth colour field with one bright disc and a matching depth ramp; the
caption names the colour, so caption conditioning has something to learn. Items match
``ldm3d_core.data.RGBDDataset``: ``{"pixel_values": (C, H, W) float32 in [-1, 1],
"caption": str}`` in the pipelines' VAE input encoding (:func:`ldm3d_core.codec.to_model_rgbd`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..codec import to_model_rgbd

_COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 200, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
    "purple": (150, 50, 190),
    "orange": (240, 130, 30),
}


class SyntheticRGBDDataset(Dataset):
    """``size`` deterministic RGBD items at ``resolution`` (x2 wide for panoramas)."""

    def __init__(
        self,
        size: int,
        resolution: int,
        channels: int = 4,
        panorama: bool = False,
        seed: int = 0,
    ) -> None:
        if channels not in (4, 6):
            raise ValueError(f"channels must be 4 or 6, got {channels}")
        self.size = int(size)
        self.height = int(resolution)
        self.width = int(resolution) * (2 if panorama else 1)
        self.channels = channels
        self.seed = seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        name = list(_COLOURS)[index % len(_COLOURS)]
        h, w = self.height, self.width
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        y, x = (y + 0.5) / h, (x + 0.5) / w
        base = np.asarray(_COLOURS[name], np.float32) / 255.0
        shade = 0.55 + 0.45 * np.cos(2 * np.pi * (x * rng.uniform(0.5, 1.5) + rng.uniform()))
        rgb = base * shade[..., None]
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        disc = ((y - cy) ** 2 + ((x - cx) * w / h) ** 2) < r**2
        rgb[disc] = 1.0 - 0.5 * base
        depth = np.clip(0.2 + 0.5 * y, 0.0, 1.0)  # floor comes nearer toward the bottom
        depth[disc] = 0.9
        rgb8 = np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
        pixels = to_model_rgbd(rgb8, depth.astype(np.float32), channels=self.channels)
        return {
            "pixel_values": torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))),
            "caption": f"a {name} room with a bright disc",
        }
