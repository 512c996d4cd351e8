"""Scale-and-shift alignment in disparity space, and the depth metrics built on it.

Relative depth models (DPT, LDM3D) give disparity up to an unknown scale and shift. The
LDM3D paper (§4.3) evaluates them against a reference by a least-squares fit of one scale and
one shift per image, in disparity space, on randomly sampled pixels where both maps are
valid (non-negative), then inverts both to depth and reports AbsRel and RMSE. The same fit
aligns the overlapping views of a panorama (``panorama.py``) and the project's evaluation.
"""

from __future__ import annotations

import numpy as np

#: Pixels drawn for a fit: plenty for two unknowns, cheap for any image size.
DEFAULT_SAMPLES = 100_000


def valid_mask(*maps: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Pixels where every map is finite and non-negative (the paper's validity), and ``mask``."""
    valid = np.ones(np.shape(maps[0]), dtype=bool) if mask is None else np.asarray(mask, bool)
    for m in maps:
        m = np.asarray(m)
        valid = valid & np.isfinite(m) & (m >= 0)
    return valid


def fit_scale_shift(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    samples: int | None = DEFAULT_SAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Least-squares (scale, shift) with ``scale * pred + shift ~= target``.

    pred, target : (H, W) float disparity (any matching shape)
    mask : (H, W) bool, optional; intersected with the pixels valid in both maps
    samples : fit on this many randomly drawn valid pixels (``None``: all of them)
    seed : seed of the draw, so a fit is reproducible

    Raises ValueError when fewer than two valid pixels remain. A constant ``pred`` gives
    scale 0 and the mean of ``target`` as shift.
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ in shape")
    idx = np.flatnonzero(valid_mask(pred, target, mask=mask))
    if idx.size < 2:
        raise ValueError("fewer than two pixels are valid in both depth maps")
    if samples is not None and idx.size > samples:
        idx = np.random.default_rng(seed).choice(idx, size=samples, replace=False)
    p = pred.reshape(-1)[idx].astype(np.float64)
    t = target.reshape(-1)[idx].astype(np.float64)
    p_mean, t_mean = p.mean(), t.mean()
    var = np.mean((p - p_mean) ** 2)
    if var <= 1e-20 * max(1.0, p_mean * p_mean):
        return 0.0, float(t_mean)
    scale = np.mean((p - p_mean) * (t - t_mean)) / var
    return float(scale), float(t_mean - scale * p_mean)


def align_disparity(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    samples: int | None = DEFAULT_SAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """``pred`` mapped by the least-squares scale and shift onto ``target`` (float32)."""
    scale, shift = fit_scale_shift(pred, target, mask, samples=samples, seed=seed)
    return (scale * np.asarray(pred, dtype=np.float64) + shift).astype(np.float32)


def disparity_metrics(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    samples: int | None = DEFAULT_SAMPLES,
    seed: int = 0,
) -> dict[str, float]:
    """AbsRel and RMSE of ``pred`` against ``target`` after alignment in disparity space.

    ``target`` is a (metric or relative) disparity, 1 / depth. The aligned prediction is
    clamped below at the smallest valid target disparity (so it never inverts to a depth
    beyond the farthest true depth, nor to an infinite one), both are inverted to depth, and

    - ``abs_rel`` = mean(|z_pred - z_true| / z_true)
    - ``rmse`` = sqrt(mean((z_pred - z_true)^2)), in the units of 1 / target
    - ``abs_rel_disparity`` = mean(|d_pred - d_true| / d_true), before inversion

    over every valid pixel (the fit itself uses ``samples`` of them). Also returns the
    ``scale`` and ``shift`` of the fit.
    """
    target = np.asarray(target, dtype=np.float64)
    valid = valid_mask(pred, target, mask=mask) & (target > 0)
    scale, shift = fit_scale_shift(pred, target, valid, samples=samples, seed=seed)
    d_true = target[valid]
    d_pred = np.maximum(scale * np.asarray(pred, dtype=np.float64)[valid] + shift, d_true.min())
    z_true, z_pred = 1.0 / d_true, 1.0 / d_pred
    return {
        "abs_rel": float(np.mean(np.abs(z_pred - z_true) / z_true)),
        "rmse": float(np.sqrt(np.mean((z_pred - z_true) ** 2))),
        "abs_rel_disparity": float(np.mean(np.abs(d_pred - d_true) / d_true)),
        "scale": scale,
        "shift": shift,
    }
