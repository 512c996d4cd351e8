"""Stage 1 loss terms (paper eq. 1): reconstruction, KL, and the patch discriminator.

These follow the KL-f8 autoencoder's training (Rombach et al. 2022, ``LPIPSWithDiscriminator``
of taming-transformers) with two changes that keep them sensible for RGBD:

- reconstruction and perceptual terms are split into RGB and depth channels with their own
  weights, because the depth channels (one, or three packed 8-bit planes) have other
  statistics than colour and would otherwise be balanced by accident;
- losses are means over pixel values rather than sums, so their size does not change
  with the resolution; the KL term is divided by the same number of values, which keeps
  the KL-f8 weight of 1e-6 meaning what it meant there.

The discriminator is a PatchGAN (Isola et al. 2017) with GroupNorm instead of BatchNorm:
the same result for any batch size and process count, and no running statistics to keep
in sync between processes.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F


class PatchDiscriminator(nn.Module):
    """PatchGAN: one real/fake logit per overlapping patch (70x70 px with 3 layers)."""

    def __init__(self, in_channels: int, channels: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        width = channels
        for i in range(1, layers + 1):
            out = channels * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [
                nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=False),
                nn.GroupNorm(min(32, out // 4), out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*blocks)
        for m in self.modules():  # pix2pix initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.GroupNorm):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: push real logits above +1 and fake ones below -1."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """The autoencoder's adversarial term: make the discriminator call reconstructions real."""
    return -logits_fake.mean()


def kl_per_value(mean: torch.Tensor, logvar: torch.Tensor, values_per_sample: int) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) summed over the latent, per sample, per pixel value of x."""
    logvar = logvar.clamp(-30.0, 20.0)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)
    return kl.mean() / values_per_sample


def split_modalities(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 4|6, H, W) model-space RGBD -> RGB (B, 3, H, W), depth (B, 1|3, H, W)."""
    return x[:, :3], x[:, 3:]


def adaptive_weight(
    rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor
) -> torch.Tensor:
    """|d rec / d W| / |d g / d W| at the decoder's last layer (taming's balancing).

    Keeps the adversarial gradient the size of the reconstruction gradient whatever
    their raw scales, so one weight works across datasets and resolutions.
    """
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    weight = rec_grad.norm() / (g_grad.norm() + 1e-4)
    return weight.clamp(0.0, 1e4).detach()


class PerceptualLoss(nn.Module):
    """LPIPS (VGG) on RGB and on depth shown as a 3-channel image; optional.

    Needs the ``lpips`` package and its VGG weights (fetched by torchvision on first use).
    When either is missing, :func:`make_perceptual` warns and returns None, and training
    goes on with the pixel losses: a missing extra must not stop a run.
    """

    def __init__(self, lpips_model: nn.Module) -> None:
        super().__init__()
        self.lpips = lpips_model.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.lpips(x.float(), y.float()).mean()

    def rgb_and_depth(
        self, x: torch.Tensor, rec: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        (xr, xd), (rr, rd) = split_modalities(x), split_modalities(rec)
        if xd.shape[1] == 1:
            xd, rd = xd.expand(-1, 3, -1, -1), rd.expand(-1, 3, -1, -1)
        return self(xr, rr), self(xd, rd)


def make_perceptual() -> PerceptualLoss | None:
    """LPIPS when available, else None with a warning that says why."""
    try:
        import lpips
    except ImportError:
        warnings.warn(
            "loss.perceptual_weight > 0 but the lpips package is not installed "
            "(pip install lpips); training without the perceptual loss",
            stacklevel=2,
        )
        return None
    try:
        model = lpips.LPIPS(net="vgg", verbose=False)
    except Exception as exc:  # weights download refused (offline) or corrupt: same outcome
        warnings.warn(
            f"LPIPS weights are unavailable ({type(exc).__name__}: {exc}); "
            "training without the perceptual loss",
            stacklevel=2,
        )
        return None
    return PerceptualLoss(model)
