"""The upscaler's UNet (``Intel/ldm3d-sr``'s format) on the frozen VAE's latents.

Each training window ``x`` (high-res RGBD in [-1, 1]) makes its own low-res input as the
pipeline will see it (:mod:`ldm3d_core.pipelines.upscale`): the area average of
``scale x scale`` pixels (optionally through another model's VAE, below), resized back up
to the window's size (bicubic), then encoded by the VAE with its posterior *sampled* and
scaled. The UNet sees ``[z_t, low-res latents]`` on channels with the noise level as its
class label, and learns the diffusion target of ``z = E(x)``:

    L = E || target(z, ε, t) - UNet([z_t, E(up(down(x)))], t, τ(caption), noise_level) ||²

``upscale.degrade_model`` names the text-to-RGBD model whose outputs this upscaler is for:
a fraction of the low-res inputs go through *its* VAE (encode, decode) first, so the
upscaler learns to sharpen the softness that model's decoder leaves, not only clean
averages. The saved ``model/`` is a complete upscaler folder
(:func:`ldm3d_core.loading.load_upscaler` loads it).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .config import UpscaleConfig
from .diffusion import DiffusionTrainer
from .engine import TrainingError, TrainResult, depth_tile, save_grid


class UpscaleTrainer(DiffusionTrainer):
    """The upscale stage on :class:`~ldm3d_core.training.diffusion.DiffusionTrainer`."""

    stage = "upscale"
    config: UpscaleConfig  # type: ignore[assignment]

    def load_models(self, model_dir: Path) -> None:
        from diffusers import AutoencoderKL

        super().load_models(model_dir)
        unet = self.accelerator.unwrap_model(self.unet)
        latent = int(self.vae.config.latent_channels)
        if unet.config.in_channels != 2 * latent or not unet.config.num_class_embeds:
            raise TrainingError(
                f"{model_dir}: not an upscaler (its UNet needs in_channels={2 * latent} and "
                "num_class_embeds; make one with ldm3d make-tiny-model --arch sr-pano)"
            )
        up = self.config.upscale
        if up.noise_level >= unet.config.num_class_embeds:
            raise TrainingError(
                f"upscale.noise_level: {up.noise_level} is past the UNet's "
                f"{unet.config.num_class_embeds} noise-level classes"
            )
        self.degrade_vae = None
        if up.degrade_model is not None:
            from ..loading import model_part, resolve_model_dir

            folder = resolve_model_dir(up.degrade_model)
            with model_part(folder, "vae"):
                self.degrade_vae = AutoencoderKL.from_pretrained(
                    folder, subfolder="vae", torch_dtype=self.weight_dtype, local_files_only=True
                )
            self.degrade_vae.requires_grad_(False).eval().to(self.accelerator.device)

    def wrapped_models(self) -> list[torch.nn.Module]:
        extra = [self.degrade_vae] if self.degrade_vae is not None else []
        return [*super().wrapped_models(), *extra]

    @torch.no_grad()
    def low_res(self, x: torch.Tensor) -> torch.Tensor:
        """The low-res input of each window, at the window's size (see the module doc)."""
        up = self.config.upscale
        h, w = x.shape[-2:]
        if h % up.scale or w % up.scale:
            raise TrainingError(
                f"training windows of {w}x{h} do not divide by upscale.scale {up.scale}"
            )
        small = F.interpolate(x.float(), scale_factor=1 / up.scale, mode="area")
        if self.degrade_vae is not None and up.degrade_fraction > 0:
            pick = torch.rand(small.shape[0], generator=self.rng) < up.degrade_fraction
            if pick.any():
                sel = small[pick].to(self.weight_dtype)
                z = self.degrade_vae.encode(sel).latent_dist.mean
                small[pick] = self.degrade_vae.decode(z).sample.float().clamp(-1, 1)
        return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)

    def _latents(self, x: torch.Tensor) -> torch.Tensor:
        posterior = self.vae.encode(x.to(self.weight_dtype)).latent_dist
        z = posterior.mean.float() + posterior.std.float() * self._randn(posterior.mean)
        return z * self.vae.config.scaling_factor

    def train_step(self, batches: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        acc, cfg = self.accelerator, self.config
        n = len(batches)
        losses = defaultdict(list)
        for i, batch in enumerate(batches):
            captions = self.drop_captions(batch)
            with torch.no_grad():
                x = self.to_device(batch)
                latents = self._latents(x)
                low = self._latents(self.low_res(x))
                if not self.train_text:
                    embeds = self.encode_text(captions)
            if self.train_text:
                embeds = self.encode_text(captions)
            noisy, target, t = self.forward_diffusion(latents)
            levels = torch.full_like(t, cfg.upscale.noise_level)
            with self.sync_context(self.unet, last=i == n - 1):
                pred = self.unet(
                    torch.cat([noisy, low], dim=1),
                    t,
                    encoder_hidden_states=embeds,
                    class_labels=levels,
                    return_dict=False,
                )[0]
                loss = F.mse_loss(pred.float(), target, reduction="mean")
                acc.backward(loss / n)
            losses["loss"].append(loss.detach())
        self.optimiser_step()
        return {k: torch.stack(v).mean() for k, v in losses.items()}

    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        """One row per window: bicubic input | upscaled | truth (RGB), upscaled depth."""
        from ..pipelines.upscale import LDM3DUpscalePipeline, UpscaleComponents

        s, up = self.config.samples, self.config.upscale
        rows = []
        with self.sampling_models() as (unet, text_encoder):
            components = UpscaleComponents(
                unet=unet,
                vae=self.vae,
                text_encoder=text_encoder,
                tokenizer=self.tokenizer,
                scheduler_config=self.scheduler_config,
                name="training",
            )
            pipe = LDM3DUpscalePipeline(components, progress=False)
            for index in range(min(s.count, len(self.dataset))):
                item = self.dataset[index]
                x = item["pixel_values"][None].float()
                small = F.interpolate(x, scale_factor=1 / up.scale, mode="area")
                rgb, depth = _to_images(small[0])
                out = pipe(
                    rgb,
                    depth,
                    item.get("caption", ""),
                    scale=up.scale,
                    num_inference_steps=s.steps,
                    guidance_scale=s.guidance,
                    noise_level=up.noise_level,
                    seed=s.seed,
                )
                bicubic = F.interpolate(small, size=x.shape[-2:], mode="bicubic")
                rows.append(
                    [
                        _to_images(bicubic[0].clamp(-1, 1))[0],
                        out.rgb[0],
                        _to_images(x[0])[0],
                        depth_tile(out.depth[0]),
                    ]
                )
        save_grid(path, rows)


def _to_images(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(4, H, W) RGBD in [-1, 1] -> RGB (H, W, 3) uint8, depth (H, W) float in [0, 1]."""
    v = ((x.float().cpu().numpy() + 1.0) / 2.0).clip(0.0, 1.0)
    rgb = np.rint(v[:3].transpose(1, 2, 0) * 255.0).astype(np.uint8)
    return rgb, v[3].astype(np.float32)


def train_upscale(
    config: UpscaleConfig,
    dataset: Any = None,
    *,
    resume: bool | str = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Run the upscale stage as configured; arguments as :func:`~ldm3d_core.training.train_autoencoder`."""
    return UpscaleTrainer(config, dataset, resume=resume, stop_after=stop_after).fit()
