"""RGBD codec: LDM3D's depth encodings, lossless for every 16-bit depth value.

- 16-bit depth: uint16, 65535 nearest (normalised disparity, the DPT/LDM3D convention).
- Packed "RGB-like" depth of the 6-channel ``Intel/ldm3d``: three uint8 channels
  (0, hi, lo) with value = hi * 256 + lo.
- Model tensors: 6-channel (RGB + packed depth triple) or 4-channel (RGB + one depth
  channel) arrays in [-1, 1], channels last.
"""

from __future__ import annotations

import numpy as np

DEPTH16_MAX = 65535


def float_to_depth16(depth: np.ndarray) -> np.ndarray:
    """Depth in [0, 1] (float) -> uint16, rounded to nearest; values outside are clipped."""
    d = np.clip(np.asarray(depth, dtype=np.float64), 0.0, 1.0)
    return np.rint(d * DEPTH16_MAX).astype(np.uint16)


def depth16_to_float(depth16: np.ndarray) -> np.ndarray:
    """uint16 depth -> float32 in [0, 1]."""
    return (np.asarray(depth16).astype(np.float32)) / np.float32(DEPTH16_MAX)


def pack_depth16(depth16: np.ndarray) -> np.ndarray:
    """uint16 (H, W) -> packed uint8 (H, W, 3) = (0, hi, lo)."""
    d = np.asarray(depth16)
    if d.dtype != np.uint16:
        raise TypeError(f"pack_depth16 expects uint16 depth, got {d.dtype}")
    out = np.zeros((*d.shape, 3), dtype=np.uint8)
    out[..., 1] = d >> 8
    out[..., 2] = d & 0xFF
    return out


def unpack_depth16(packed: np.ndarray) -> np.ndarray:
    """Packed uint8 (H, W, 3) (0, hi, lo) -> uint16 (H, W).

    Computed in 32-bit before narrowing, so no value is lost (the deprecated diffusers
    pipeline casts the 16-bit value back to uint8 under NumPy 2).
    """
    p = np.asarray(packed)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise ValueError(f"packed depth must be (H, W, 3), got {p.shape}")
    if p.dtype != np.uint8:
        raise TypeError(f"packed depth must be uint8, got {p.dtype}")
    value = p[..., 1].astype(np.uint32) * 256 + p[..., 2].astype(np.uint32)
    return value.astype(np.uint16)


def is_packed_depth(image: np.ndarray) -> bool:
    """True when a uint8 3-channel image looks like LDM3D packed depth (first channel all 0)."""
    a = np.asarray(image)
    return a.ndim == 3 and a.shape[-1] == 3 and a.dtype == np.uint8 and not a[..., 0].any()


def to_model_rgbd(rgb: np.ndarray, depth: np.ndarray, channels: int = 4) -> np.ndarray:
    """uint8 RGB (H, W, 3) + float depth in [0, 1] -> float32 (H, W, channels) in [-1, 1]."""
    rgb_f = np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0
    if channels == 4:
        d = np.asarray(depth, dtype=np.float32)[..., None] * 2.0 - 1.0
    elif channels == 6:
        d = pack_depth16(float_to_depth16(depth)).astype(np.float32) / 127.5 - 1.0
    else:
        raise ValueError(f"channels must be 4 or 6, got {channels}")
    return np.concatenate([rgb_f, d], axis=-1)


def from_model_rgbd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float (H, W, 4|6) in [-1, 1] -> (uint8 RGB, float32 depth in [0, 1], uint16 depth)."""
    x = np.asarray(x, dtype=np.float32)
    rgb = np.clip(np.rint((x[..., :3] + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if x.shape[-1] == 4:
        depth16 = float_to_depth16((x[..., 3] + 1.0) / 2.0)
    elif x.shape[-1] == 6:
        packed = np.clip(np.rint((x[..., 3:] + 1.0) * 127.5), 0, 255).astype(np.uint8)
        depth16 = unpack_depth16(packed)
    else:
        raise ValueError(f"expected 4 or 6 channels, got {x.shape[-1]}")
    return rgb, depth16_to_float(depth16), depth16
