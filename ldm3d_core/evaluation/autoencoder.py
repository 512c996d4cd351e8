"""Autoencoder evaluation (paper §4.4, Tab. 3): rFID and depth AbsRel of reconstructions.

Each RGBD input (the exact VAE encoding of :class:`ldm3d_core.data.RGBDDataset`) is
encoded to the posterior mode and decoded, as the pipelines do; input and reconstruction
are decoded to uint8 RGB and depth by :func:`ldm3d_core.codec.from_model_rgbd`. rFID is the
FID of the reconstructed RGB against the input RGB; the depth of the reconstruction is
scored against the input depth with the paper's aligned AbsRel / RMSE.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ..codec import from_model_rgbd
from .depth import DepthMetrics
from .image import ImageMetrics

AUTOENCODER_METRICS = ("rfid", "depth")


@torch.no_grad()
def reconstruct(vae: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) model-space RGBD in [-1, 1] -> the VAE's reconstruction, same shape."""
    x = pixel_values.to(device=vae.device, dtype=vae.dtype)
    z = vae.encode(x).latent_dist.mode()
    return vae.decode(z).sample.float().clamp(-1.0, 1.0).cpu()


def _batches(items: Iterable[dict], batch_size: int, limit: int | None) -> Iterable[torch.Tensor]:
    batch: list[torch.Tensor] = []
    for i, item in enumerate(items):
        if limit is not None and i >= limit:
            break
        batch.append(item["pixel_values"])
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def autoencoder_metrics(
    vae: Any,
    dataset: Iterable[dict],
    *,
    metrics: Sequence[str] = AUTOENCODER_METRICS,
    batch_size: int = 4,
    limit: int | None = None,
    fid_features: torch.nn.Module | None = None,
    inception_weights: str | os.PathLike[str] | None = None,
) -> dict[str, float]:
    """rFID (``rfid``) and reconstruction depth error (``abs_rel``, ``rmse``) of a VAE.

    dataset : items ``{"pixel_values": (C, H, W)}`` with C = the VAE's ``in_channels``
        (an :class:`~ldm3d_core.data.RGBDDataset` with ``augment=False``)
    limit : evaluate at most this many items
    Returns the metrics and ``n``, the number of images.
    """
    unknown = sorted(set(metrics) - set(AUTOENCODER_METRICS))
    if unknown:
        raise ValueError(f"unknown autoencoder metric(s) {', '.join(unknown)}; use rfid, depth")
    images = (
        ImageMetrics(("fid",), fid_features=fid_features, inception_weights=inception_weights)
        if "rfid" in metrics
        else None
    )
    depth = DepthMetrics() if "depth" in metrics else None
    n = 0
    for x in _batches(dataset, batch_size, limit):
        if x.shape[1] != vae.config.in_channels:
            raise ValueError(
                f"items have {x.shape[1]} channels but the VAE takes {vae.config.in_channels}"
            )
        y = reconstruct(vae, x)
        for a, b in zip(x.permute(0, 2, 3, 1).numpy(), y.permute(0, 2, 3, 1).numpy(), strict=True):
            rgb_in, depth_in, _ = from_model_rgbd(a)
            rgb_out, depth_out, _ = from_model_rgbd(b)
            if images is not None:
                images.update_real(rgb_in)
                images.update_generated(rgb_out)
            if depth is not None:
                depth.update(depth_out, depth_in)
            n += 1
    if n < 2 and images is not None:
        raise ValueError(f"rFID needs at least 2 images, got {n}")
    out: dict[str, float] = {"n": n}
    if images is not None:
        out["rfid"] = images.compute()["fid"]
    if depth is not None:
        out.update(depth.compute())
    return out
