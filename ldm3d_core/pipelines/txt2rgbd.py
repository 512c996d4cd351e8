"""Text -> RGBD: LDM3D's text-to-image-and-depth pipeline (paper §3.1), with panoramas.

``panorama=True`` makes a 2:1 equirectangular image (1024x512 for ``Intel/ldm3d-pano``)
whose left and right edges meet seamlessly at ±180° (:mod:`ldm3d_core.panorama`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..panorama import horizontal_wrap
from .base import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    LDM3DPipelineBase,
    RGBDOutput,
    StepCallback,
)


class LDM3DTxt2RGBDPipeline(LDM3DPipelineBase):
    """Prompt(s) -> RGB + depth. Works with 6- and 4-channel LDM3D checkpoints."""

    def check_inputs(
        self,
        prompt: str | Sequence[str],
        negative_prompt: str | Sequence[str] | None,
        height: int,
        width: int,
        num_inference_steps: int,
        guidance_scale: float,
        num_images_per_prompt: int,
        scheduler: str,
        seed: int | Sequence[int] | None,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> list[str]:
        prompts = self.check_common_inputs(
            prompt,
            negative_prompt,
            num_inference_steps,
            guidance_scale,
            num_images_per_prompt,
            scheduler,
            seed,
            generator,
        )
        self.check_size(height, width)
        return prompts

    @torch.inference_mode()
    def __call__(
        self,
        prompt: str | Sequence[str],
        *,
        negative_prompt: str | Sequence[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        scheduler: str = "ddim",
        seed: int | Sequence[int] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_images_per_prompt: int = 1,
        panorama: bool = False,
        wrap: bool | None = None,
        eta: float = 0.0,
        latents: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> RGBDOutput:
        """Generate RGBD images.

        Parameters
        ----------
        prompt : str or list of str
            One prompt, or a batch.
        negative_prompt : str or list of str, optional
            What to steer away from (one for all prompts, or one per prompt).
        height, width : int, optional
            Output size in pixels, multiples of 8. Default: the model's native size
            (512), square, or 2:1 (width = 2 x height) with ``panorama``.
        num_inference_steps : int
            Denoising steps.
        guidance_scale : float
            Classifier-free guidance scale; <= 1 disables guidance. The paper finds ~5 best.
        scheduler : {"ddim", "dpm", "euler"}
            DDIM (the paper's), DPM-Solver++ or Euler.
        seed : int or list of int, optional
            One seed (image i of the batch gets ``seed + i``) or one per image. Random
            when neither seed nor generator is given; the seeds used are in the output.
        generator : torch.Generator or list, optional
            Instead of ``seed``: generator(s) passed to the noise sampler, as in diffusers.
        num_images_per_prompt : int
            Images per prompt.
        panorama : bool
            2:1 default size and horizontal wrap-around (seamless at ±180°).
        wrap : bool, optional
            Horizontal wrap-around on/off; defaults to ``panorama``.
        eta : float
            DDIM's eta (0 = deterministic DDIM).
        latents : torch.Tensor, optional
            Initial noise (B, 4, H/f, W/f) instead of sampling it.
        callback : callable, optional
            ``callback(step_index, timestep, latents)`` after each step.
        """
        # 0. Default size: the model's native height; panoramas are twice as wide.
        height = height or self.components.default_height
        width = width or (2 * height if panorama else height)
        wrap = panorama if wrap is None else wrap

        # 1. Check inputs
        prompts = self.check_inputs(
            prompt,
            negative_prompt,
            height,
            width,
            num_inference_steps,
            guidance_scale,
            num_images_per_prompt,
            scheduler,
            seed,
            generator,
        )
        batch = len(prompts) * num_images_per_prompt
        prompts_out = [p for p in prompts for _ in range(num_images_per_prompt)]

        # 2. Random generators
        generator, seeds = self.make_generators(batch, seed, generator)

        # 3. Encode the prompts
        guide = guidance_scale > 1.0
        prompt_embeds = self.encode_prompt(prompts, negative_prompt, num_images_per_prompt, guide)

        # 4. Prepare timesteps
        sched = self.make_scheduler(scheduler)
        sched.set_timesteps(num_inference_steps, device=self.unet.device)
        timesteps = sched.timesteps

        # 5. Prepare the initial noise
        if latents is None:
            latents = self.prepare_noise(batch, height, width, generator)
        else:
            f = self.vae_scale_factor
            expected = (batch, self.unet.config.in_channels, height // f, width // f)
            if tuple(latents.shape) != expected:
                raise ValueError(f"latents must have shape {expected}, got {tuple(latents.shape)}")
            latents = latents.to(device=self.unet.device, dtype=self.unet.dtype)
        latents = latents * sched.init_noise_sigma

        with horizontal_wrap(self.unet, self.vae, enabled=wrap):
            # 6. Denoising loop
            step_kwargs = self.scheduler_step_kwargs(sched, generator, eta)
            latents = self.denoise(
                latents, timesteps, sched, prompt_embeds, guidance_scale, step_kwargs, callback
            )

            # 7. Decode RGB and depth
            decoded = self.decode_latents(latents)

        # 8. Output
        return self.to_output(decoded, latents, prompts_out, seeds)
