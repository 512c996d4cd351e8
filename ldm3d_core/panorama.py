"""Seamless equirectangular panoramas: horizontal wrap-around for convolutions, seam metric.

An equirectangular panorama's first and last columns are neighbours (longitude ±180°).
Under ``horizontal_wrap`` every padded convolution of the given models pads its input
circularly along the width and with zeros along the height, so the UNet and the VAE
see a cylinder: the seam is an ordinary interior column boundary. Attention and group
norm are global and need nothing. The VAE encoder's stride-2 downsamplers pad only on
the right (diffusers' ``Downsample2D`` with ``padding=0``); their right pad column is
replaced by the first column.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.downsampling import Downsample2D
from torch import nn


def _circular_conv_forward(
    self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    ph, pw = self.padding
    # Circular along the width (torch.cat keeps channels_last, F.pad's circular mode not).
    x = torch.cat([x[..., -pw:], x, x[..., :pw]], dim=-1)
    # Zero padding along the height stays inside the convolution (no second copy).
    return F.conv2d(x, weight, bias, self.stride, (ph, 0), self.dilation, self.groups)


def _right_wrap_conv_forward(
    self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    # x arrives zero-padded by one column on the right (and one row at the bottom);
    # the column after the last one is the first one.
    x = torch.cat([x[..., :-1], x[..., :1]], dim=-1)
    return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


@contextmanager
def horizontal_wrap(*models: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, the models' convolutions wrap around horizontally (see module doc)."""
    patched: list[nn.Conv2d] = []
    if enabled:
        right_padded = {
            id(m.conv)
            for model in models
            for m in model.modules()
            if isinstance(m, Downsample2D) and m.use_conv and m.padding == 0
        }
        for model in models:
            for m in model.modules():
                if not isinstance(m, nn.Conv2d) or m.padding_mode != "zeros":
                    continue
                if "_conv_forward" in m.__dict__:  # wrapped by an enclosing block already
                    continue
                if id(m) in right_padded:
                    forward = _right_wrap_conv_forward
                elif isinstance(m.padding, tuple) and m.padding[1] > 0:
                    forward = _circular_conv_forward
                else:
                    continue
                m._conv_forward = types.MethodType(forward, m)
                patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m._conv_forward


@dataclass(frozen=True)
class SeamStats:
    """Mean absolute step across the ±180° seam vs. between neighbouring columns."""

    seam: float
    """mean |column[0] − column[W−1]|"""
    median_step: float
    """median over x of mean |column[x+1] − column[x]|"""
    max_step: float
    """largest interior column step"""

    @property
    def ratio(self) -> float:
        """seam / median_step: about 1 for a seamless panorama, larger for a visible seam."""
        return self.seam / self.median_step if self.median_step > 0 else float("inf")


def seam_stats(image: np.ndarray) -> SeamStats:
    """Seam statistics of an equirectangular image.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
        Any dtype; compared in float64.
    """
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[1] < 3:
        raise ValueError(f"expected an (H, W[, C]) image with W >= 3, got {np.shape(image)}")
    steps = np.abs(np.diff(a, axis=1)).mean(axis=(0, 2))
    seam = float(np.abs(a[:, 0] - a[:, -1]).mean())
    return SeamStats(seam=seam, median_step=float(np.median(steps)), max_step=float(steps.max()))
