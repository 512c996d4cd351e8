"""RGBD -> RGBD: LDM3D image-to-image guided by a prompt (paper §3.2, Fig. 2a, step 1).

The RGB image and its depth are encoded together by the RGBD VAE, noised to the level
``strength`` selects, and denoised under the prompt. ``strength`` 0 returns the input
after the VAE round trip; 1 starts from pure noise and ignores it (same result as
txt2rgbd with the same seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..codec import depth16_to_float, is_packed_depth, to_model_rgbd, unpack_depth16
from ..panorama import horizontal_wrap
from .base import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    LDM3DPipelineBase,
    RGBDOutput,
    StepCallback,
)

ImageLike = np.ndarray | Image.Image


def rgb_to_uint8(rgb: ImageLike) -> np.ndarray:
    """RGB as (H, W, 3) uint8 from a PIL image, uint8 array, or float array in [0, 1]."""
    if isinstance(rgb, Image.Image):
        rgb = np.asarray(rgb.convert("RGB"))
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"rgb must be an (H, W, 3) image, got shape {a.shape}")
    a = a[..., :3]
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ValueError(f"rgb must be uint8 or float in [0, 1], got {a.dtype}")


def depth_to_float(depth: ImageLike) -> np.ndarray:
    """Depth as (H, W) float32 in [0, 1] (1.0 nearest).

    Accepts float in [0, 1], uint16 (65535 nearest), uint8 grayscale (255 nearest),
    LDM3D's packed 3-channel uint8 form (0, hi, lo), or a PIL image of any of these.
    """
    if isinstance(depth, Image.Image):
        depth = np.asarray(depth)
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.ndim == 3 and d.dtype == np.uint8 and is_packed_depth(d):
        return depth16_to_float(unpack_depth16(d))
    if d.ndim != 2:
        raise ValueError(f"depth must be (H, W) or packed (H, W, 3), got shape {d.shape}")
    if d.dtype == np.uint16:
        return depth16_to_float(d)
    if d.dtype == np.uint8:
        return d.astype(np.float32) / 255.0
    if np.issubdtype(d.dtype, np.floating):
        if not np.isfinite(d).all() or d.min() < 0.0 or d.max() > 1.0:
            raise ValueError("float depth must be finite and in [0, 1] (1.0 nearest)")
        return d.astype(np.float32)
    raise ValueError(f"unsupported depth dtype {d.dtype}")


def _resize(a: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    t = F.interpolate(t, size=(height, width), mode=mode, antialias=True, align_corners=False)
    t = t[0].permute(1, 2, 0) if a.ndim == 3 else t[0, 0]
    return t.numpy()


class LDM3DImg2ImgPipeline(LDM3DPipelineBase):
    """RGB + depth + prompt -> RGBD. Works with 6- and 4-channel LDM3D checkpoints."""

    def check_inputs(
        self,
        prompt: str | Sequence[str],
        negative_prompt: str | Sequence[str] | None,
        rgb: ImageLike,
        depth: ImageLike,
        strength: float,
        height: int | None,
        width: int | None,
        num_inference_steps: int,
        guidance_scale: float,
        num_images_per_prompt: int,
        scheduler: str,
        seed: int | Sequence[int] | None,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> tuple[list[str], np.ndarray, np.ndarray, int, int]:
        """Validate; returns prompts, uint8 RGB, float depth and the output size."""
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
        if isinstance(strength, bool) or not isinstance(strength, (int, float)):
            raise ValueError(f"strength must be a number in [0, 1], got {strength!r}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        if depth is None:
            raise ValueError("img2img needs a depth map with the RGB image")
        rgb8 = rgb_to_uint8(rgb)
        d = depth_to_float(depth)
        if rgb8.shape[:2] != d.shape:
            raise ValueError(
                f"rgb is {rgb8.shape[1]}x{rgb8.shape[0]} but depth is {d.shape[1]}x{d.shape[0]}"
            )
        height = height or rgb8.shape[0]
        width = width or rgb8.shape[1]
        self.check_size(height, width)
        return prompts, rgb8, d, height, width

    def prepare_image(
        self, rgb8: np.ndarray, depth: np.ndarray, height: int, width: int
    ) -> torch.Tensor:
        """(1, C, H, W) model-space RGBD in [-1, 1], resized to (height, width) if needed."""
        if rgb8.shape[:2] != (height, width):
            # Resize RGB and depth as floats; packing (6-channel models) comes after.
            rgb_f = _resize(rgb8.astype(np.float32) / 255.0, height, width, "bicubic")
            rgb8 = np.rint(np.clip(rgb_f, 0.0, 1.0) * 255.0).astype(np.uint8)
            depth = np.clip(_resize(depth, height, width, "bilinear"), 0.0, 1.0)
        x = to_model_rgbd(rgb8, depth, channels=self.channels)
        return torch.from_numpy(x).permute(2, 0, 1)[None]

    def get_timesteps(self, sched, num_inference_steps: int, strength: float) -> torch.Tensor:
        """The tail of the schedule that ``strength`` selects (diffusers' img2img rule)."""
        init = min(int(num_inference_steps * strength), num_inference_steps)
        start = max(num_inference_steps - init, 0) * sched.order
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(start)
        return sched.timesteps[start:]

    @torch.inference_mode()
    def __call__(
        self,
        rgb: ImageLike,
        depth: ImageLike,
        prompt: str | Sequence[str],
        *,
        strength: float = 0.6,
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
        callback: StepCallback | None = None,
    ) -> RGBDOutput:
        """Transform an RGBD image under a prompt.

        Parameters
        ----------
        rgb : (H, W, 3) uint8 or float in [0, 1], or PIL image
        depth : (H, W) float in [0, 1] / uint16 / uint8, or packed (H, W, 3) uint8, or PIL image
            Normalised disparity, 1.0 nearest; same size as ``rgb``.
        prompt : str or list of str
            Every prompt transforms the same input image.
        strength : float in [0, 1]
            How much of the schedule to run: 0 keeps the input, 1 ignores it.
        height, width : int, optional
            Resize the input to this size first (multiples of 8); default: the input's size.
        panorama, wrap : bool
            Horizontal wrap-around for equirectangular input (``wrap`` defaults to ``panorama``).

        The other parameters are those of :class:`LDM3DTxt2RGBDPipeline`.
        """
        wrap = panorama if wrap is None else wrap

        # 1. Check inputs
        prompts, rgb8, depth_f, height, width = self.check_inputs(
            prompt,
            negative_prompt,
            rgb,
            depth,
            strength,
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

        # 4. Prepare timesteps: the last `strength` of the schedule
        sched = self.make_scheduler(scheduler)
        sched.set_timesteps(num_inference_steps, device=self.unet.device)
        timesteps = self.get_timesteps(sched, num_inference_steps, strength)

        with horizontal_wrap(self.unet, self.vae, enabled=wrap):
            # 5. Encode the RGBD input
            image = self.prepare_image(rgb8, depth_f, height, width)
            init_latents = self.encode_rgbd(image).to(self.unet.dtype).repeat(batch, 1, 1, 1)

            # 6. Noise it to the first timestep (pure noise at strength 1, as txt2rgbd)
            noise = self.prepare_noise(batch, height, width, generator)
            if len(timesteps) == 0:
                latents = init_latents
            elif strength >= 1.0:
                latents = noise * sched.init_noise_sigma
            else:
                latents = sched.add_noise(init_latents, noise, timesteps[:1].repeat(batch))

            # 7. Denoising loop
            step_kwargs = self.scheduler_step_kwargs(sched, generator, eta)
            latents = self.denoise(
                latents, timesteps, sched, prompt_embeds, guidance_scale, step_kwargs, callback
            )

            # 8. Decode RGB and depth
            decoded = self.decode_latents(latents)

        # 9. Output
        return self.to_output(decoded, latents, prompts_out, seeds)
