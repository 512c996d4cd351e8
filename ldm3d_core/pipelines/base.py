"""What the LDM3D pipelines share: the model components, the output, and the steps both use.

An LDM3D checkpoint is Stable Diffusion 1.x with a VAE whose first and last convolutions
take RGBD (paper §3.1): 6 channels for ``Intel/ldm3d`` (RGB + the packed 16-bit depth
triple), 4 for ``Intel/ldm3d-4c`` and ``Intel/ldm3d-pano`` (RGB + one depth channel).
The format is read from the VAE config (``in_channels``/``out_channels``); depth is
decoded by :mod:`ldm3d_core.codec`, losslessly for every 16-bit value.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm
from transformers import CLIPTextModel, CLIPTokenizer

from ..codec import from_model_rgbd
from ..schedulers import SCHEDULER_NAMES, make_scheduler

StepCallback = Callable[[int, int, torch.Tensor], None]
"""``callback(step_index, timestep, latents)``, called after every denoising step."""

#: Classifier-free guidance scale the paper finds best for LDM3D (§4, s ≈ 5).
DEFAULT_GUIDANCE = 5.0
DEFAULT_STEPS = 50


@dataclass
class RGBDOutput:
    """Generated RGBD images, batch first.

    Depth is normalised disparity (the DPT/LDM3D convention): 1.0 nearest, 0.0 farthest.
    """

    rgb: np.ndarray
    """(B, H, W, 3) uint8"""
    depth: np.ndarray
    """(B, H, W) float32 in [0, 1] (= depth16 / 65535)"""
    depth16: np.ndarray
    """(B, H, W) uint16, 65535 nearest: the value written to 16-bit PNGs"""
    latents: torch.Tensor
    """(B, 4, H / f, W / f) float32 on the CPU: the final latents, before the VAE decoder"""
    prompts: list[str] = field(default_factory=list)
    """the prompt of each image"""
    seeds: list[int] | None = None
    """the seed of each image, when the pipeline made the generators"""
    images: np.ndarray | None = None
    """(B, H, W, C) float32 in [0, 1], the decoder's output before 8/16-bit rounding
    (the upscaler fills it: what diffusers returns with ``output_type="np"``)"""

    def __len__(self) -> int:
        return self.rgb.shape[0]


@dataclass
class LDM3DComponents:
    """The loaded model: diffusers/transformers modules plus the scheduler config."""

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler_config: dict[str, Any]
    name: str = "ldm3d"

    def __post_init__(self) -> None:
        cin, cout = self.vae.config.in_channels, self.vae.config.out_channels
        if cin not in (4, 6) or cout != cin:
            raise ValueError(
                f"{self.name}: VAE has in_channels={cin}, out_channels={cout}; an LDM3D VAE "
                "has 6 (Intel/ldm3d) or 4 (Intel/ldm3d-4c, Intel/ldm3d-pano) on both sides"
            )
        if self.vae.config.latent_channels != self.unet.config.in_channels:
            raise ValueError(
                f"{self.name}: VAE latent_channels={self.vae.config.latent_channels} but UNet "
                f"in_channels={self.unet.config.in_channels}"
            )
        if self.text_encoder.config.hidden_size != self.unet.config.cross_attention_dim:
            raise ValueError(
                f"{self.name}: text encoder hidden_size={self.text_encoder.config.hidden_size} "
                f"but UNet cross_attention_dim={self.unet.config.cross_attention_dim}"
            )

    @property
    def channels(self) -> int:
        """RGBD channels of the VAE: 6 (packed 16-bit depth) or 4 (one depth channel)."""
        return int(self.vae.config.in_channels)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def default_height(self) -> int:
        """The model's native height in pixels (512 for the Intel checkpoints)."""
        return int(self.unet.config.sample_size) * self.vae_scale_factor

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype


def _as_prompt_list(prompt: str | Sequence[str], what: str = "prompt") -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, Sequence) and all(isinstance(p, str) for p in prompt):
        if len(prompt) == 0:
            raise ValueError(f"{what} list is empty")
        return list(prompt)
    raise ValueError(f"{what} must be a string or a list of strings, got {type(prompt).__name__}")


class LDM3DPipelineBase:
    """Steps shared by the pipelines; subclasses implement ``__call__``."""

    def __init__(self, components: LDM3DComponents, progress: bool = True) -> None:
        self.components = components
        self.progress = progress

    # Short names, as in diffusers pipelines.
    @property
    def unet(self) -> UNet2DConditionModel:
        return self.components.unet

    @property
    def vae(self) -> AutoencoderKL:
        return self.components.vae

    @property
    def channels(self) -> int:
        return self.components.channels

    @property
    def vae_scale_factor(self) -> int:
        return self.components.vae_scale_factor

    # -- checks ----------------------------------------------------------------------------

    def check_common_inputs(
        self,
        prompt: Any,
        negative_prompt: Any,
        num_inference_steps: Any,
        guidance_scale: float,
        num_images_per_prompt: int,
        scheduler: str,
        seed: Any,
        generator: Any,
    ) -> list[str]:
        """Validate what every pipeline takes; returns the prompts as a list."""
        prompts = _as_prompt_list(prompt)
        if negative_prompt is not None:
            negatives = _as_prompt_list(negative_prompt, "negative_prompt")
            if len(negatives) not in (1, len(prompts)):
                raise ValueError(
                    f"{len(negatives)} negative prompts for {len(prompts)} prompts; give one or one per prompt"
                )
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
            raise ValueError(f"steps must be an integer, got {num_inference_steps!r}")
        if num_inference_steps <= 0:
            raise ValueError(f"steps must be positive, got {num_inference_steps}")
        if not np.isfinite(guidance_scale) or guidance_scale < 0:
            raise ValueError(f"guidance must be >= 0, got {guidance_scale}")
        if not isinstance(num_images_per_prompt, int) or num_images_per_prompt < 1:
            raise ValueError(f"num_images_per_prompt must be >= 1, got {num_images_per_prompt}")
        if scheduler not in SCHEDULER_NAMES:
            raise ValueError(
                f"unknown scheduler {scheduler!r}; choose one of {', '.join(SCHEDULER_NAMES)}"
            )
        if seed is not None and generator is not None:
            raise ValueError("give seed or generator, not both")
        batch = len(prompts) * num_images_per_prompt
        if isinstance(seed, Sequence) and len(seed) != batch:
            raise ValueError(
                f"{len(seed)} seeds for {batch} images; give one seed or one per image"
            )
        if isinstance(generator, list) and len(generator) != batch:
            raise ValueError(f"{len(generator)} generators for {batch} images")
        return prompts

    def check_size(self, height: int, width: int) -> None:
        multiple = max(8, self.vae_scale_factor)
        for name, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if height % multiple or width % multiple:
            raise ValueError(f"size must be a multiple of {multiple}, got {width}x{height}")

    # -- steps -----------------------------------------------------------------------------

    def make_generators(
        self,
        batch: int,
        seed: int | Sequence[int] | None,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> tuple[torch.Generator | list[torch.Generator], list[int] | None]:
        """CPU generators (reproducible across devices) and the seeds they were made from.

        One seed for several images seeds image i with ``seed + i``, so any image of a
        batch can be regenerated alone.
        """
        if generator is not None:
            return generator, None
        if seed is None:
            seed = secrets.randbelow(2**31)
        seeds = (
            [int(s) for s in seed]
            if isinstance(seed, Sequence)
            else [int(seed) + i for i in range(batch)]
        )
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        return (gens[0] if batch == 1 else gens), seeds

    @torch.inference_mode()
    def encode_prompt(
        self,
        prompts: list[str],
        negative_prompt: str | list[str] | None,
        num_images_per_prompt: int,
        do_classifier_free_guidance: bool,
    ) -> torch.Tensor:
        """CLIP text embeddings, (uncond, cond) stacked along the batch when guiding."""
        tokenizer, text_encoder = self.components.tokenizer, self.components.text_encoder

        def embed(texts: list[str]) -> torch.Tensor:
            ids = tokenizer(
                texts,
                padding="max_length",
                max_length=tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            out = text_encoder(ids.to(text_encoder.device))[0]
            out = out.to(dtype=self.unet.dtype, device=self.unet.device)
            return out.repeat_interleave(num_images_per_prompt, dim=0)

        cond = embed(prompts)
        if not do_classifier_free_guidance:
            return cond
        if negative_prompt is None:
            negatives = [""] * len(prompts)
        else:
            negatives = _as_prompt_list(negative_prompt)
            if len(negatives) == 1:
                negatives = negatives * len(prompts)
        return torch.cat([embed(negatives), cond])

    def prepare_noise(
        self,
        batch: int,
        height: int,
        width: int,
        generator: torch.Generator | list[torch.Generator],
    ) -> torch.Tensor:
        f = self.vae_scale_factor
        shape = (batch, self.unet.config.in_channels, height // f, width // f)
        return randn_tensor(
            shape, generator=generator, device=self.unet.device, dtype=self.unet.dtype
        )

    @staticmethod
    def scheduler_step_kwargs(
        scheduler: SchedulerMixin, generator: Any, eta: float
    ) -> dict[str, Any]:
        params = set(inspect.signature(scheduler.step).parameters)
        kwargs: dict[str, Any] = {}
        if "eta" in params:
            kwargs["eta"] = eta
        if "generator" in params:
            kwargs["generator"] = generator
        return kwargs

    def make_scheduler(self, name: str) -> SchedulerMixin:
        return make_scheduler(name, self.components.scheduler_config)

    def denoise(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor,
        scheduler: SchedulerMixin,
        prompt_embeds: torch.Tensor,
        guidance_scale: float,
        step_kwargs: dict[str, Any],
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """The denoising loop (classifier-free guidance when ``guidance_scale > 1``)."""
        guide = guidance_scale > 1.0
        bar = tqdm(total=len(timesteps), desc="denoising", unit="step", disable=not self.progress)
        with bar:
            for i, t in enumerate(timesteps):
                model_input = torch.cat([latents] * 2) if guide else latents
                model_input = scheduler.scale_model_input(model_input, t)
                noise_pred = self.unet(
                    model_input, t, encoder_hidden_states=prompt_embeds, return_dict=False
                )[0]
                if guide:
                    uncond, cond = noise_pred.chunk(2)
                    noise_pred = uncond + guidance_scale * (cond - uncond)
                step = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)
                latents = step[0]
                if callback is not None:
                    callback(i, int(t), latents)
                bar.update()
        return latents

    def encode_rgbd(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space RGBD (B, C, H, W) in [-1, 1] -> scaled latents (posterior mode)."""
        x = x.to(device=self.vae.device, dtype=self.vae.dtype)
        latents = self.vae.encode(x).latent_dist.mode()
        return latents * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """Scaled latents -> float32 (B, H, W, C) in model space [-1, 1], one image at a time."""
        scale = self.vae.config.scaling_factor
        out = []
        for z in latents.split(1):
            x = self.vae.decode(z.to(self.vae.dtype) / scale, return_dict=False)[0]
            out.append(x.float().permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(out)

    @staticmethod
    def to_output(
        decoded: np.ndarray, latents: torch.Tensor, prompts: list[str], seeds: list[int] | None
    ) -> RGBDOutput:
        parts = [from_model_rgbd(x) for x in decoded]
        return RGBDOutput(
            rgb=np.stack([p[0] for p in parts]),
            depth=np.stack([p[1] for p in parts]),
            depth16=np.stack([p[2] for p in parts]),
            latents=latents.float().cpu(),
            prompts=prompts,
            seeds=seeds,
        )
