"""Stage 1: fine-tune the RGBD KL-autoencoder (paper §3.1.3, eq. 1).

    L = L_rec(x, D(E(x))) + w_kl L_KL + w_adv λ L_adv(D(E(x)))      (autoencoder)
    L_D = hinge(D_ψ(x), D_ψ(D(E(x))))                              (discriminator)

L_rec is L1 (plus LPIPS when available) with separate RGB and depth weights, plus an
optional L1 of block-averaged RGB (``lowpass_weight``: flat colours); λ is the
adaptive weight; the discriminator and L_adv start after ``adversarial.start_step``
steps, as in the KL-f8 autoencoder's training. The final ``model/`` folder is the input
model with ``vae/`` replaced, so stage 2 can start from it directly.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from ..codec import from_model_rgbd
from .config import AutoencoderConfig
from .engine import Trainer, TrainResult, copy_model_parts, depth_tile, save_grid
from .losses import (
    PatchDiscriminator,
    adaptive_weight,
    generator_loss,
    hinge_d_loss,
    kl_per_value,
    make_perceptual,
    split_modalities,
)


class RGBDAutoencoder(nn.Module):
    """The VAE as one call ``x, noise -> (reconstruction, mean, logvar)``.

    One forward per micro-batch is what DistributedDataParallel synchronises; calling
    ``encode`` and ``decode`` separately on the wrapped VAE would bypass it. The posterior
    sample takes its noise as an argument so that it comes from the run's generator.
    """

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(x).latent_dist
        z = posterior.mean if noise is None else posterior.mean + posterior.std * noise
        rec = self.vae.decode(z, return_dict=False)[0]
        return rec, posterior.mean, posterior.logvar


class AutoencoderTrainer(Trainer):
    """Stage 1 on :class:`~ldm3d_core.training.engine.Trainer`."""

    stage = "autoencoder"
    config: AutoencoderConfig

    def load_models(self, model_dir: Path) -> None:
        from diffusers import AutoencoderKL

        from ..loading import model_part

        acc, cfg = self.accelerator, self.config
        # fp32 master weights whatever the folder stores; autocast does the mixed precision
        with model_part(model_dir, "vae"):
            vae = AutoencoderKL.from_pretrained(
                model_dir, subfolder="vae", torch_dtype=torch.float32, local_files_only=True
            ).train()
        if cfg.train.gradient_checkpointing:
            vae.enable_gradient_checkpointing()
        self.latent_channels = int(vae.config.latent_channels)
        self.downsample = 2 ** (len(vae.config.block_out_channels) - 1)
        channels = int(vae.config.in_channels)

        if cfg.reset_decoder is not None:
            from ..vae_init import reset_decoder

            reset_decoder(vae, cfg.reset_decoder, seed=cfg.train.seed)
        if cfg.decoder_only:
            # The latents (and any diffusion model trained on them) must not move.
            for part in (vae.encoder, getattr(vae, "quant_conv", None)):
                if part is not None:
                    part.requires_grad_(False)
        ae = RGBDAutoencoder(vae)
        opt = self.make_optimizer([p for p in ae.parameters() if p.requires_grad])
        self.lr_scheduler = self.make_lr_scheduler(opt)
        adv = cfg.loss.adversarial
        self.use_disc = adv.weight > 0
        if self.use_disc:
            disc = PatchDiscriminator(channels, adv.channels, adv.layers)
            dopt = self.make_optimizer(disc.parameters(), adv.learning_rate)
            self.ae, self.disc, self.opt, self.dopt = acc.prepare(ae, disc, opt, dopt)
        else:
            self.ae, self.opt = acc.prepare(ae, opt)
        self.perceptual = None
        if cfg.loss.perceptual_weight > 0:
            self.perceptual = make_perceptual()
            if self.perceptual is not None:
                self.perceptual.to(acc.device)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        f = self.downsample
        shape = (b, self.latent_channels, h // f, w // f)
        return torch.randn(shape, generator=self.rng).to(x.device)

    def reconstruction_loss(
        self, x: torch.Tensor, rec: torch.Tensor, logs: dict[str, list[torch.Tensor]]
    ) -> torch.Tensor:
        """Weighted L1 (+ LPIPS) of RGB and depth."""
        loss_cfg = self.config.loss
        (xr, xd), (rr, rd) = split_modalities(x), split_modalities(rec)
        l1_rgb, l1_depth = (xr - rr).abs().mean(), (xd - rd).abs().mean()
        logs["l1_rgb"].append(l1_rgb.detach())
        logs["l1_depth"].append(l1_depth.detach())
        rec_loss = loss_cfg.l1_weight * (
            loss_cfg.rgb_weight * l1_rgb + loss_cfg.depth_weight * l1_depth
        )
        if loss_cfg.lowpass_weight > 0:
            lowpass = F.avg_pool2d(rr - xr, loss_cfg.lowpass_size, ceil_mode=True).abs().mean()
            logs["lowpass_rgb"].append(lowpass.detach())
            rec_loss = rec_loss + loss_cfg.lowpass_weight * lowpass
        if self.perceptual is not None:
            p_rgb, p_depth = self.perceptual.rgb_and_depth(x, rec)
            logs["lpips_rgb"].append(p_rgb.detach())
            logs["lpips_depth"].append(p_depth.detach())
            rec_loss = rec_loss + loss_cfg.perceptual_weight * (
                loss_cfg.rgb_weight * p_rgb + loss_cfg.depth_weight * p_depth
            )
        return rec_loss

    def train_step(self, batches: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        acc, cfg = self.accelerator, self.config
        adv = cfg.loss.adversarial
        gan_on = self.use_disc and self.step >= adv.start_step
        n = len(batches)
        logs: dict[str, list[torch.Tensor]] = defaultdict(list)
        ae = acc.unwrap_model(self.ae)
        disc = acc.unwrap_model(self.disc) if self.use_disc else None
        if disc is not None:
            disc.requires_grad_(False)  # the autoencoder's step must not train it
        pairs = []

        # 1. Autoencoder: reconstruction + KL (+ adversarial after the warm-up)
        for i, batch in enumerate(batches):
            x = self.to_device(batch)
            noise = self._noise(x)
            with self.sync_context(self.ae, last=i == n - 1):
                rec, mean, logvar = self.ae(x, noise)
                rec = rec.float()
                rec_loss = self.reconstruction_loss(x, rec, logs)
                kl = kl_per_value(mean.float(), logvar.float(), x[0].numel())
                loss = rec_loss + cfg.loss.kl_weight * kl
                if gan_on:
                    g_loss = generator_loss(disc(rec).float())
                    weight = (
                        adaptive_weight(rec_loss, g_loss, ae.vae.decoder.conv_out.weight)
                        if adv.adaptive
                        else torch.ones((), device=x.device)
                    )
                    loss = loss + adv.weight * weight * g_loss
                    logs["g_loss"].append(g_loss.detach())
                    logs["adv_weight"].append(weight)
                acc.backward(loss / n)
            logs["loss"].append(loss.detach())
            logs["rec"].append(rec_loss.detach())
            logs["kl"].append(kl.detach())
            if gan_on:
                pairs.append((x, rec.detach()))
        if cfg.train.max_grad_norm is not None:
            acc.clip_grad_norm_(self.ae.parameters(), cfg.train.max_grad_norm)
        self.opt.step()
        if not acc.optimizer_step_was_skipped:
            self.lr_scheduler.step()
        self.opt.zero_grad(set_to_none=True)

        # 2. Discriminator: real vs reconstructed patches, one forward for both halves
        if gan_on:
            disc.requires_grad_(True)
            for i, (x, rec) in enumerate(pairs):
                with self.sync_context(self.disc, last=i == n - 1):
                    real, fake = self.disc(torch.cat([x, rec.to(x.dtype)])).float().chunk(2)
                    d_loss = hinge_d_loss(real, fake)
                    acc.backward(d_loss / n)
                logs["d_loss"].append(d_loss.detach())
                logs["logits_real"].append(real.mean().detach())
                logs["logits_fake"].append(fake.mean().detach())
            self.dopt.step()
            self.dopt.zero_grad(set_to_none=True)
        return {k: torch.stack(v).mean() for k, v in logs.items()}

    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        """Rows of input RGB | reconstruction | input depth | reconstructed depth."""
        ae = self.accelerator.unwrap_model(self.ae)
        count = min(self.config.samples.count, len(self.dataset))
        x = torch.stack([self.dataset[i]["pixel_values"] for i in range(count)])
        x = x.to(self.accelerator.device)
        with self.accelerator.autocast():
            rec = ae(x)[0].float()
        rows = []
        for a, b in zip(x.cpu().numpy(), rec.cpu().numpy(), strict=True):
            rgb_a, depth_a, _ = from_model_rgbd(np.transpose(a, (1, 2, 0)))
            rgb_b, depth_b, _ = from_model_rgbd(np.transpose(b, (1, 2, 0)))
            rows.append([rgb_a, rgb_b, depth_tile(depth_a), depth_tile(depth_b)])
        save_grid(path, rows)

    def wrapped_models(self) -> list[nn.Module]:
        return [self.accelerator.unwrap_model(self.ae).vae]

    def save_model(self, folder: Path) -> None:
        copy_model_parts(self.model_dir, folder, skip=("vae",))
        vae = self.accelerator.unwrap_model(self.ae).vae
        if self.config.scaling_factor is not None:
            scale = self.config.scaling_factor
            if scale == "auto":
                scale = self.latent_scale(vae)
                self.print(f"latent scaling factor: {scale:.5g}")
            vae.register_to_config(scaling_factor=float(scale))
        vae.save_pretrained(folder / "vae", safe_serialization=True)

    @torch.no_grad()
    def latent_scale(self, vae: nn.Module, limit: int = 256, batch: int = 16) -> float:
        """1 / std of posterior samples over up to ``limit`` training samples, so the
        diffusion model sees latents of unit variance (Rombach et al. 2022, §G)."""
        count = min(limit, len(self.dataset))
        zs = []
        for start in range(0, count, batch):
            items = [
                self.dataset[i]["pixel_values"] for i in range(start, min(count, start + batch))
            ]
            x = torch.stack(items).to(self.accelerator.device)
            posterior = vae.encode(x).latent_dist
            zs.append((posterior.mean + posterior.std * self._noise(x)).float().cpu())
        return float(1.0 / torch.cat(zs).std().clamp_min(1e-8))


def train_autoencoder(
    config: AutoencoderConfig,
    dataset: Dataset | None = None,
    *,
    resume: bool | str = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Run stage 1 as configured; ``dataset`` replaces the config's data (tests, custom data).

    ``resume=True`` continues the run in ``output_dir`` from its newest checkpoint (a path
    picks one); ``stop_after`` ends the session after that step without the final model,
    as a killed job would (checkpoints written so far stay).
    """
    return AutoencoderTrainer(config, dataset, resume=resume, stop_after=stop_after).fit()
