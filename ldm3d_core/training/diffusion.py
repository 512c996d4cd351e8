"""Stage 2: fine-tune the UNet on the frozen autoencoder's latents (paper §3.1.3, eq. 2).

    L = E_{z = E(x), ε ~ N(0, I), t ~ U{0, T-1}} || ε - ε_θ(z_t, t, τ(caption)) ||²

The VAE and the CLIP text encoder are frozen (and stored in the mixed-precision dtype);
``z_t`` follows the DDPM forward process of the model folder's own noise schedule (its
``scheduler/`` config: SD 1.x's scaled-linear betas for the Intel checkpoints). A fraction
of captions is replaced by the empty prompt so the model also learns the unconditional
prediction that classifier-free guidance subtracts. The final ``model/`` folder is a
complete LDM3D model (``ldm3d_core.loading.load_pipeline`` loads it), with the EMA
weights in ``unet/`` when EMA is on.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from ..panorama import horizontal_wrap
from .config import DiffusionConfig
from .engine import Trainer, TrainingError, TrainResult, copy_model_parts, depth_tile, save_grid

_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class DiffusionTrainer(Trainer):
    """Stage 2 on :class:`~ldm3d_core.training.engine.Trainer`."""

    stage = "diffusion"
    config: DiffusionConfig

    def load_models(self, model_dir: Path) -> None:
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        from ..loading import model_part

        acc, cfg = self.accelerator, self.config
        kw = {"local_files_only": True}
        self.weight_dtype = _DTYPES[cfg.train.mixed_precision]

        # 1. Frozen parts: VAE, text encoder (unless trained), tokenizer, noise schedule
        dt = self.weight_dtype
        with model_part(model_dir, "vae"):
            self.vae = AutoencoderKL.from_pretrained(
                model_dir, subfolder="vae", torch_dtype=dt, **kw
            )
        self.vae.requires_grad_(False).eval().to(acc.device)
        self.train_text = cfg.diffusion.train_text_encoder
        with model_part(model_dir, "text_encoder"):
            text_encoder = CLIPTextModel.from_pretrained(
                model_dir,
                subfolder="text_encoder",
                dtype=torch.float32 if self.train_text else dt,
                **kw,
            )
        text_encoder.requires_grad_(self.train_text).train(self.train_text).to(acc.device)
        with model_part(model_dir, "tokenizer"):
            self.tokenizer = CLIPTokenizer.from_pretrained(model_dir, subfolder="tokenizer", **kw)
        with model_part(model_dir, "scheduler"):
            self.scheduler_config = dict(
                DDPMScheduler.load_config(model_dir, subfolder="scheduler", **kw)
            )
        # (DDPMScheduler's own default when the folder's config has no prediction_type)
        self.prediction_type = cfg.diffusion.prediction_type or self.scheduler_config.get(
            "prediction_type", "epsilon"
        )
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise TrainingError(
                f"{model_dir}: scheduler prediction_type {self.prediction_type!r} is not "
                "supported; set diffusion.prediction_type to epsilon or v_prediction"
            )
        if cfg.diffusion.zero_terminal_snr:
            self.scheduler_config.update(rescale_betas_zero_snr=True, timestep_spacing="trailing")
        # (also when the folder's own schedule is zero-SNR, e.g. the embedded model's)
        if self.scheduler_config.get("rescale_betas_zero_snr") and self.prediction_type != (
            "v_prediction"
        ):
            raise TrainingError(
                f"{model_dir}: the model predicts {self.prediction_type!r}; a zero-terminal-SNR "
                "schedule needs diffusion.prediction_type: v_prediction"
            )
        # The saved model (and the sample grids) sample as the UNet was trained.
        self.scheduler_config["prediction_type"] = self.prediction_type
        self.noise_scheduler = DDPMScheduler.from_config(self.scheduler_config)

        # 2. The trained UNet (fp32 master weights), its optimiser, schedule and EMA
        with model_part(model_dir, "unet"):
            unet = UNet2DConditionModel.from_pretrained(
                model_dir, subfolder="unet", torch_dtype=torch.float32, **kw
            ).train()
        if cfg.train.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        trained = [*unet.parameters()] + ([*text_encoder.parameters()] if self.train_text else [])
        opt = self.make_optimizer(trained)
        self.lr_scheduler = self.make_lr_scheduler(opt)
        self.ema = None
        if cfg.diffusion.ema.enabled:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(
                unet.parameters(),
                decay=cfg.diffusion.ema.decay,
                model_cls=UNet2DConditionModel,
                model_config=unet.config,
            )
            self.ema.to(acc.device)
            acc.register_for_checkpointing(self.ema)
        if self.train_text:
            self.unet, self.text_encoder, self.opt = acc.prepare(unet, text_encoder, opt)
        else:
            self.unet, self.opt = acc.prepare(unet, opt)
            self.text_encoder = text_encoder
        if cfg.diffusion.cache_latents:
            self.dataset = self.cache_latents(self.dataset)

    @torch.no_grad()
    def cache_latents(self, dataset: Dataset, batch: int = 16) -> CachedLatents:
        """Every sample's posterior (mean, std) under the frozen VAE, encoded once."""
        data = self.config.data
        means, stds, captions = [], [], []
        with horizontal_wrap(self.vae, enabled=data.panorama and data.crop is None):
            for start in range(0, len(dataset), batch):
                items = [dataset[i] for i in range(start, min(len(dataset), start + batch))]
                x = torch.stack([it["pixel_values"] for it in items])
                posterior = self.vae.encode(x.to(self.accelerator.device, self.weight_dtype))
                means.append(posterior.latent_dist.mean.float().cpu())
                stds.append(posterior.latent_dist.std.float().cpu())
                captions += [it["caption"] for it in items]
        self.print(f"cached the latents of {len(captions)} samples")
        return CachedLatents(
            torch.cat(means),
            torch.cat(stds),
            captions,
            data.augment,
            data.panorama,
            self.config.train.seed,
        )

    def wrapped_models(self) -> list[torch.nn.Module]:
        return [self.accelerator.unwrap_model(self.unet), self.vae]

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        ids = self.tokenizer(
            captions,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        return self.text_encoder(ids.to(self.accelerator.device))[0]

    def _randn(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.rng).to(like.device, torch.float32)

    def train_step(self, batches: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        acc = self.accelerator
        n = len(batches)
        losses = defaultdict(list)
        for i, batch in enumerate(batches):
            # 1. Latents and text embeddings from the frozen models
            captions = self.drop_captions(batch)
            with torch.no_grad():
                if "latent_mean" in batch:
                    mean = batch["latent_mean"].to(self.accelerator.device)
                    std = batch["latent_std"].to(self.accelerator.device)
                else:
                    x = self.to_device(batch).to(self.weight_dtype)
                    posterior = self.vae.encode(x).latent_dist
                    mean, std = posterior.mean.float(), posterior.std.float()
                z = mean + std * self._randn(mean)
                latents = z * self.vae.config.scaling_factor
                if not self.train_text:
                    embeds = self.encode_text(captions)
            if self.train_text:
                embeds = self.encode_text(captions)

            # 2. Forward diffusion at uniformly drawn timesteps
            noisy, target, t = self.forward_diffusion(latents)

            # 3. Predict and regress
            with self.sync_context(self.unet, last=i == n - 1):
                pred = self.unet(noisy, t, encoder_hidden_states=embeds, return_dict=False)[0]
                loss = F.mse_loss(pred.float(), target, reduction="mean")
                acc.backward(loss / n)
            losses["loss"].append(loss.detach())
        self.optimiser_step()
        return {k: torch.stack(v).mean() for k, v in losses.items()}

    def drop_captions(self, batch: dict[str, Any]) -> list[str]:
        """The batch's captions, each replaced by "" with probability caption_dropout."""
        captions = list(batch["caption"])
        p = self.config.diffusion.caption_dropout
        drop = torch.rand(len(captions), generator=self.rng) < p
        return ["" if d else c for c, d in zip(captions, drop.tolist(), strict=True)]

    def forward_diffusion(
        self, latents: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy latents, regression target, timesteps) at uniformly drawn timesteps."""
        num_t = self.noise_scheduler.config.num_train_timesteps
        noise = self._randn(latents)
        t = torch.randint(0, num_t, (latents.shape[0],), generator=self.rng).to(latents.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        if self.prediction_type == "epsilon":
            return noisy, noise, t
        return noisy, self.noise_scheduler.get_velocity(latents, noise, t), t

    def optimiser_step(self) -> None:
        """Clip, step the optimiser and the LR schedule, zero the gradients, update the EMA."""
        acc, cfg = self.accelerator, self.config
        if cfg.train.max_grad_norm is not None:
            params = [p for group in self.opt.param_groups for p in group["params"]]
            acc.clip_grad_norm_(params, cfg.train.max_grad_norm)
        self.opt.step()
        if not acc.optimizer_step_was_skipped:
            self.lr_scheduler.step()
        self.opt.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.step(acc.unwrap_model(self.unet).parameters())

    @contextlib.contextmanager
    def sampling_models(self) -> Iterator[tuple[torch.nn.Module, torch.nn.Module]]:
        """(UNet, text encoder) in eval mode with the EMA weights in the UNet when EMA is on;
        training weights and modes restored on exit."""
        unet = self.accelerator.unwrap_model(self.unet)
        params = list(unet.parameters())
        if self.ema is not None:
            self.ema.store(params)
            self.ema.copy_to(params)
        text_encoder = self.accelerator.unwrap_model(self.text_encoder)
        unet.eval()
        text_encoder.eval()
        try:
            yield unet, text_encoder
        finally:
            unet.train()
            text_encoder.train(self.train_text)
            if self.ema is not None:
                self.ema.restore(params)

    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        """One row per prompt: generated RGB | depth, by the project's txt2rgbd pipeline."""
        from ..pipelines.base import LDM3DComponents
        from ..pipelines.txt2rgbd import LDM3DTxt2RGBDPipeline

        s, data = self.config.samples, self.config.data
        with self.sampling_models() as (unet, text_encoder):
            components = LDM3DComponents(
                unet=unet,
                vae=self.vae,
                text_encoder=text_encoder,
                tokenizer=self.tokenizer,
                scheduler_config=self.scheduler_config,
                name="training",
            )
            out = LDM3DTxt2RGBDPipeline(components, progress=False)(
                s.prompts,
                height=data.resolution,
                width=data.resolution * (2 if data.panorama else 1),
                num_inference_steps=s.steps,
                guidance_scale=s.guidance,
                seed=s.seed,
                panorama=data.panorama,
            )
        save_grid(path, [[rgb, depth_tile(d)] for rgb, d in zip(out.rgb, out.depth, strict=True)])

    def save_model(self, folder: Path) -> None:
        copy_model_parts(
            self.model_dir,
            folder,
            skip=("unet", "scheduler", *(("text_encoder",) if self.train_text else ())),
        )
        if self.train_text:
            text_encoder = self.accelerator.unwrap_model(self.text_encoder)
            text_encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)
        # The schedule the UNet was trained with (prediction type, zero terminal SNR).
        sched = folder / "scheduler" / "scheduler_config.json"
        sched.parent.mkdir(parents=True, exist_ok=True)
        sched.write_text(json.dumps(self.scheduler_config, indent=2, sort_keys=True) + "\n")
        unet = self.accelerator.unwrap_model(self.unet)
        if self.ema is not None:
            params = list(unet.parameters())
            self.ema.store(params)
            self.ema.copy_to(params)
            unet.save_pretrained(folder / "unet", safe_serialization=True)
            self.ema.restore(params)
        else:
            unet.save_pretrained(folder / "unet", safe_serialization=True)


class CachedLatents(Dataset):
    """Posterior means and stds of a dataset's samples, augmented in latent space.

    With ``augment`` each draw mirrors half of the time and, for panoramas, rolls by a
    whole number of latent columns (a turn about the vertical axis, exact for the
    wrap-around VAE up to its border handling); draws depend on (seed, epoch, index).
    """

    def __init__(
        self,
        mean: torch.Tensor,
        std: torch.Tensor,
        captions: list[str],
        augment: bool,
        panorama: bool,
        seed: int,
    ) -> None:
        self.mean, self.std, self.captions = mean, std, captions
        self.augment, self.panorama, self.seed = augment, panorama, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        mean, std = self.mean[index], self.std[index]
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            if rng.random() < 0.5:
                mean, std = mean.flip(-1), std.flip(-1)
            if self.panorama:
                shift = int(rng.integers(0, mean.shape[-1]))
                mean, std = mean.roll(shift, -1), std.roll(shift, -1)
        return {"latent_mean": mean, "latent_std": std, "caption": self.captions[index]}


def train_diffusion(
    config: DiffusionConfig,
    dataset: Dataset | None = None,
    *,
    resume: bool | str = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Run stage 2 as configured; arguments as :func:`~ldm3d_core.training.train_autoencoder`."""
    return DiffusionTrainer(config, dataset, resume=resume, stop_after=stop_after).fit()
