"""The RGBD panorama: the one in-memory form every source produces and every mesh reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import disparity_to_metres, metres_to_disparity
from ..errors import InputError


def metric_range_of(distance: np.ndarray) -> tuple[float, float]:
    """(near, far) for metric distances: their extremes; far = 2 near for a constant scene."""
    near, far = float(np.min(distance)), float(np.max(distance))
    if far <= near:  # any range that contains the single distance will do
        far = near * 2.0
    return near, far


@dataclass
class RGBDPanorama:
    """An equirectangular colour image with per-pixel depth.

    rgb : (H, W, 3) uint8
    depth : (H, W) float32, normalised disparity in [0, 1], 1.0 nearest
    metric_range : (near, far) in metres when the depth came from metric distances; then
        ``distance()`` recovers them exactly (depth is linear in 1/z between near and far).
    name : where it came from, for messages
    """

    rgb: np.ndarray
    depth: np.ndarray
    metric_range: tuple[float, float] | None = None
    name: str = "panorama"

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise InputError(
                f"{self.name}: RGB must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}"
            )
        if self.depth.shape != self.rgb.shape[:2]:
            raise InputError(
                f"{self.name}: depth size {self.depth.shape[1]}x{self.depth.shape[0]} differs "
                f"from RGB size {self.width}x{self.height}"
            )
        h, w = self.depth.shape
        if w != 2 * h:
            raise InputError(f"{self.name}: panorama must be 2:1 (equirectangular), got {w}x{h}")
        self.depth = np.asarray(self.depth, dtype=np.float32)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def is_metric(self) -> bool:
        return self.metric_range is not None

    def distance(self, near: float | None = None, far: float | None = None) -> np.ndarray:
        """Per-pixel distance in metres, (H, W) float32.

        Metric panoramas use their own range; otherwise ``near``/``far`` must be given and
        the disparity is read as linear in inverse distance between them.
        """
        if self.metric_range is not None and near is None and far is None:
            near, far = self.metric_range
        if near is None or far is None:
            raise ValueError("distance() of a non-metric panorama needs near and far")
        return disparity_to_metres(self.depth, near, far)

    @classmethod
    def from_metres(
        cls, rgb: np.ndarray, distance: np.ndarray, name: str = "panorama"
    ) -> RGBDPanorama:
        """Build from metric distances; near/far are the finite extremes of ``distance``."""
        near, far = metric_range_of(distance)
        return cls(rgb, metres_to_disparity(distance, near, far), (near, far), name)
