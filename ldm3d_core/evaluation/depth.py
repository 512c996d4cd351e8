"""Depth metrics as the LDM3D paper computes them (§4.3, Tab. 2 and 3).

Per image: a least-squares scale and shift aligns the predicted disparity to the reference
disparity (on randomly sampled pixels valid in both), both are inverted to depth, and
AbsRel and RMSE are taken; the dataset's figure is the mean over images. The per-image
fit and metrics are :func:`ldm3d_core.depth.align.disparity_metrics`; this module adds
the reference in metric depth (ZoeDepth gives metres) and the aggregation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..depth.align import DEFAULT_SAMPLES, disparity_metrics


def depth_to_disparity(depth: np.ndarray) -> np.ndarray:
    """Metric depth -> disparity 1 / z (float64); pixels with z <= 0 or non-finite -> -1
    (invalid: the alignment uses non-negative pixels only)."""
    z = np.asarray(depth, dtype=np.float64)
    ok = np.isfinite(z) & (z > 0)
    out = np.full(z.shape, -1.0)
    out[ok] = 1.0 / z[ok]
    return out


def image_depth_metrics(
    pred: np.ndarray,
    reference: np.ndarray,
    *,
    reference_is_depth: bool = False,
    mask: np.ndarray | None = None,
    samples: int | None = DEFAULT_SAMPLES,
    seed: int = 0,
) -> dict[str, float]:
    """AbsRel and RMSE of one predicted disparity map against a reference (paper §4.3).

    pred : (H, W) predicted disparity (LDM3D's normalised depth, 1.0 nearest)
    reference : (H, W) reference disparity, or metric depth when ``reference_is_depth``
        (RMSE is then in the reference's units, metres for ZoeDepth)
    Returns ``abs_rel``, ``rmse``, ``abs_rel_disparity``, ``scale``, ``shift``.
    """
    ref = depth_to_disparity(reference) if reference_is_depth else reference
    return disparity_metrics(pred, ref, mask, samples=samples, seed=seed)


@dataclass
class DepthMetrics:
    """Accumulates per-image depth metrics; :meth:`compute` gives their means (paper's Tab. 2)."""

    samples: int | None = DEFAULT_SAMPLES
    seed: int = 0
    per_image: list[dict[str, float]] = field(default_factory=list)

    def update(
        self, pred: np.ndarray, reference: np.ndarray, *, reference_is_depth: bool = False
    ) -> dict[str, float]:
        """Add one image; returns its metrics."""
        m = image_depth_metrics(
            pred,
            reference,
            reference_is_depth=reference_is_depth,
            samples=self.samples,
            seed=self.seed + len(self.per_image),
        )
        self.per_image.append(m)
        return m

    def compute(self) -> dict[str, float]:
        """``abs_rel`` and ``rmse``: means over the images so far (ValueError when none)."""
        if not self.per_image:
            raise ValueError("no depth maps were evaluated")
        return {
            "abs_rel": float(np.mean([m["abs_rel"] for m in self.per_image])),
            "rmse": float(np.mean([m["rmse"] for m in self.per_image])),
        }
