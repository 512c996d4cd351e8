"""LDM3D-VR super-resolution (``Intel/ldm3d-sr``): RGB and depth upscaled together, x4.

The checkpoint (``model_index.json``: ``StableDiffusionUpscaleLDM3DPipeline``) has a 4-channel
RGBD VAE, a CLIP text encoder, a UNet with ``in_channels = 8`` (4 noisy latents + the 4
latents of the upsampled low-res RGBD) whose noise level enters as ``class_labels``, and
``max_noise_level`` (350) in its config. What it computes, step for step as diffusers'
community reference does it, so that the same weights, inputs and seed give the same result:

1. the low-res RGB (8-bit) and depth (16-bit) are resized to the target size as Pillow
   resizes the integer images, scaled by 1/255 and 1/65535, then to [-1, 1]. The filter is
   Lanczos: the reference asks its ``VaeImageProcessorLDM3D`` for ``resample="bilinear"``,
   but that class's ``__init__`` calls ``super().__init__()``, which registers the defaults
   again, so the reference has always resized with Lanczos (``resample="bilinear"`` here
   gives what it meant);
2. the VAE encodes the RGBD and its posterior is *sampled* with the generator (drawn before
   the initial noise), times ``scaling_factor``;
3. initial latents at target/8 from the same generator; each step: ``scale_model_input``,
   ``[latents, low-res latents]`` on channels, the UNet with ``class_labels = noise_level``
   (no noise is added to the low-res latents), classifier-free guidance, scheduler step;
4. the VAE decodes; RGB and depth split.

Beyond the reference: ``panorama`` wraps every convolution round ±180° (the resize too), and
targets larger than ``tile`` pixels run the UNet and the VAE in overlapping tiles blended
with feathered weights (:mod:`ldm3d_core.tiling`, MultiDiffusion-style), wrap-aware, so
1024x512 -> 4096x2048 needs memory for one tile, not for the whole panorama. A target that
fits one tile is computed exactly as the reference computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from tqdm.auto import tqdm

from ..codec import DEPTH16_MAX, float_to_depth16
from ..panorama import horizontal_wrap
from ..tiling import Tiling, gather, plan_tiles, scatter_add
from .base import LDM3DComponents, LDM3DPipelineBase, RGBDOutput, StepCallback

#: The reference's defaults (diffusers community pipeline ``__call__``).
DEFAULT_UPSCALE_GUIDANCE = 9.0
DEFAULT_NOISE_LEVEL = 20
DEFAULT_UPSCALE_STEPS = 50
DEFAULT_SCALE = 4
#: Largest side (pixels) computed in one piece; larger targets are tiled. 1024 px is the
#: checkpoint's native output (the reference's ``target_res`` default).
DEFAULT_TILE = 1024
#: Tile overlap as a fraction of the tile.
TILE_OVERLAP = 0.25


@dataclass
class UpscaleComponents(LDM3DComponents):
    """An LDM3D upscaler: the LDM3D components plus the noise-level limit."""

    max_noise_level: int = 350
    low_res_scheduler_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        vae, unet = self.vae.config, self.unet.config
        if vae.in_channels != 4 or vae.out_channels != 4:
            raise ValueError(
                f"{self.name}: VAE has in_channels={vae.in_channels}, out_channels="
                f"{vae.out_channels}; the LDM3D upscaler's has 4 (RGB + depth)"
            )
        if unet.in_channels != 2 * vae.latent_channels:
            raise ValueError(
                f"{self.name}: UNet in_channels={unet.in_channels}; an upscaler's is twice the "
                f"VAE's latent channels ({2 * vae.latent_channels}: noisy + low-res latents)"
            )
        if not unet.num_class_embeds:
            raise ValueError(f"{self.name}: UNet has no num_class_embeds (the noise level)")
        if self.text_encoder.config.hidden_size != unet.cross_attention_dim:
            raise ValueError(
                f"{self.name}: text encoder hidden_size={self.text_encoder.config.hidden_size} "
                f"but UNet cross_attention_dim={unet.cross_attention_dim}"
            )

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """A depth map as 16-bit (65535 nearest): uint16 as is, 8-bit as value/255 (x257),
    float in [0, 1] rounded. (The reference divides any depth image by 65535: an 8-bit depth
    would reach the model as about -1, which is never what its user meant.)"""
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise ValueError(f"depth must be one channel (H, W), got shape {d.shape}")
    if d.dtype == np.uint16:
        return d
    if d.dtype == np.uint8:
        return d.astype(np.uint16) * np.uint16(257)
    if np.issubdtype(d.dtype, np.floating):
        if not np.isfinite(d).all() or d.min() < 0.0 or d.max() > 1.0:
            raise ValueError("float depth must be finite and in [0, 1] (1 = nearest)")
        return float_to_depth16(d)
    raise ValueError(f"depth must be uint8, uint16 or float in [0, 1], got {d.dtype}")


#: Pillow filters by name (``lanczos``: what the reference really uses, see the module doc).
RESAMPLE = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR}


def _pil_resize(
    image: np.ndarray, width: int, height: int, wrap: bool, resample: str = "lanczos"
) -> np.ndarray:
    """Pillow's resize of an integer image; with ``wrap``, columns continue round ±180°
    (the image is padded with its own far side, resized, and cropped)."""
    w = image.shape[1]
    flt = RESAMPLE[resample]
    if not wrap:
        return np.asarray(Image.fromarray(image).resize((width, height), flt))
    pad = 4  # Lanczos reaches 3 source pixels
    padded = np.concatenate([image[:, -pad:], image, image[:, :pad]], axis=1)
    scale = width / w
    big_w = round((w + 2 * pad) * scale)
    out = np.asarray(Image.fromarray(padded).resize((big_w, height), flt))
    left = round(pad * scale)
    return out[:, left : left + width]


def preprocess(
    rgb: np.ndarray,
    depth16: np.ndarray,
    width: int,
    height: int,
    wrap: bool = False,
    resample: str = "lanczos",
) -> torch.Tensor:
    """(1, 4, H, W) float32 RGBD in [-1, 1] at the target size (step 1 of the module doc)."""
    if resample not in RESAMPLE:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLE)}, got {resample!r}")
    r = _pil_resize(np.ascontiguousarray(rgb, dtype=np.uint8), width, height, wrap, resample)
    d = _pil_resize(np.ascontiguousarray(depth16), width, height, wrap, resample)
    r = r.astype(np.float32) / 255.0
    d = d.astype(np.float32) / float(DEPTH16_MAX)
    x = np.concatenate([r, d[..., None]], axis=-1)
    return torch.from_numpy(x * 2.0 - 1.0).permute(2, 0, 1)[None].contiguous()


class LDM3DUpscalePipeline(LDM3DPipelineBase):
    """RGBD super-resolution; ``pipe(rgb, depth, prompt, scale=4)`` -> :class:`RGBDOutput`."""

    components: UpscaleComponents

    def check_inputs(
        self,
        rgb: Any,
        depth16: np.ndarray,
        width: int,
        height: int,
        noise_level: Any,
        tile: Any,
    ) -> None:
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ValueError(f"rgb must be (H, W, 3), got {getattr(rgb, 'shape', type(rgb))}")
        if rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
        if depth16.shape != rgb.shape[:2]:
            raise ValueError(
                f"depth is {depth16.shape[1]}x{depth16.shape[0]} but rgb is "
                f"{rgb.shape[1]}x{rgb.shape[0]}; they must match"
            )
        self.check_size(height, width)
        if width < rgb.shape[1] or height < rgb.shape[0]:
            raise ValueError(
                f"target {width}x{height} is smaller than the input {rgb.shape[1]}x{rgb.shape[0]}"
            )
        limit = self.components.max_noise_level
        if isinstance(noise_level, bool) or not isinstance(noise_level, int):
            raise ValueError(f"noise level must be an integer, got {noise_level!r}")
        if not 0 <= noise_level <= limit:
            raise ValueError(f"noise level must be in [0, {limit}], got {noise_level}")
        if isinstance(tile, bool) or not isinstance(tile, int) or tile < 64 or tile % 8:
            raise ValueError(f"tile must be a multiple of 8 and >= 64 pixels, got {tile!r}")

    @staticmethod
    def target_size(
        shape: tuple[int, ...], scale: float | None, size: Sequence[int] | None
    ) -> tuple[int, int]:
        """(width, height) from ``size`` (W, H) or ``scale`` times the input."""
        if size is not None:
            if len(size) != 2:
                raise ValueError(f"size must be (width, height), got {size!r}")
            return int(size[0]), int(size[1])
        if scale is None or not np.isfinite(scale) or scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale!r}")
        return round(shape[1] * scale), round(shape[0] * scale)

    @torch.inference_mode()
    def __call__(
        self,
        rgb: np.ndarray,
        depth: np.ndarray,
        prompt: str | Sequence[str] = "",
        *,
        negative_prompt: str | Sequence[str] | None = None,
        scale: float | None = DEFAULT_SCALE,
        size: Sequence[int] | None = None,
        num_inference_steps: int = DEFAULT_UPSCALE_STEPS,
        guidance_scale: float = DEFAULT_UPSCALE_GUIDANCE,
        noise_level: int = DEFAULT_NOISE_LEVEL,
        scheduler: str = "ddim",
        seed: int | None = None,
        generator: torch.Generator | None = None,
        panorama: bool = False,
        wrap: bool | None = None,
        tile: int = DEFAULT_TILE,
        resample: str = "lanczos",
        eta: float = 0.0,
        latents: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> RGBDOutput:
        """Upscale one RGBD image.

        Parameters
        ----------
        rgb : (h, w, 3) uint8
        depth : (h, w) uint16 (65535 nearest), uint8 (read as value/255) or float in [0, 1]
        prompt : str
            What the image shows (guides the detail the model adds); may be empty.
        scale, size
            Target: ``scale`` times the input (default 4), or ``size = (width, height)``;
            multiples of 8.
        num_inference_steps, guidance_scale, scheduler, eta
            As in the other pipelines (guidance default 9, the reference's).
        noise_level : int
            The low-res conditioning's noise level given to the UNet (0 ..
            ``max_noise_level``; default 20). No noise is added to the conditioning.
        seed, generator
            Reproducibility (one CPU generator; the seed used is in the output).
        panorama : bool
            Equirectangular input: wrap-around at ±180° in the resize, every convolution
            and the tiles. ``wrap`` overrides the wrap alone.
        tile : int
            Largest side in pixels computed in one piece; larger targets run in overlapping
            tiles (a quarter tile of overlap) for the UNet and the VAE.
        resample : {"lanczos", "bilinear"}
            The filter of step 1 (``lanczos``: what the reference computes).
        latents : torch.Tensor, optional
            Initial noise (1, 4, H/8, W/8) instead of drawing it.
        """
        wrap = panorama if wrap is None else wrap
        prompts = self.check_common_inputs(
            prompt, negative_prompt, num_inference_steps, guidance_scale, 1, scheduler, seed,
            generator,
        )  # fmt: skip
        if len(prompts) != 1:
            raise ValueError("the upscaler takes one prompt (one image at a time)")
        depth16 = depth_to_uint16(depth)
        width, height = self.target_size(np.shape(rgb), scale, size)
        self.check_inputs(rgb, depth16, width, height, noise_level, tile)
        generator, seeds = self.make_generators(1, seed, generator)
        unet, vae = self.unet, self.vae
        dev, dt = unet.device, unet.dtype
        f = self.vae_scale_factor

        # Prompt embeddings (uncond, cond) as the other pipelines make them.
        guide = guidance_scale > 1.0
        embeds = self.encode_prompt(prompts, negative_prompt, 1, guide)

        # 1. Resize and normalise; 2. encode and sample the posterior (first random draw).
        image = preprocess(rgb, depth16, width, height, wrap, resample).to(device=dev, dtype=dt)
        sched = self.make_scheduler(scheduler)
        sched.set_timesteps(num_inference_steps, device=dev)
        tiles = plan_tiles(
            height // f, width // f, tile // f, round(tile // f * TILE_OVERLAP), wrap_x=wrap
        )
        low = self._encode(image, tiles, wrap, generator) * vae.config.scaling_factor
        batch = 2 if guide else 1
        low = torch.cat([low] * batch)
        levels = torch.full((batch,), noise_level, dtype=torch.long, device=dev)

        # 3. Initial latents (second random draw) and the denoising loop.
        shape = (1, self.components.latent_channels, height // f, width // f)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=dev, dtype=dt)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        latents = latents.to(device=dev, dtype=dt) * sched.init_noise_sigma
        step_kwargs = self.scheduler_step_kwargs(sched, generator, eta)
        blend = _blend_weights(tiles, dev)
        total = len(sched.timesteps) * tiles.count
        with tqdm(total=total, desc="upscaling", unit="tile", disable=not self.progress) as bar:
            for i, t in enumerate(sched.timesteps):
                noise = self._predict(
                    latents, t, low, embeds, levels, guidance_scale, sched, tiles, wrap, bar, blend
                )
                latents = sched.step(noise, t, latents, **step_kwargs, return_dict=False)[0]
                if callback is not None:
                    callback(i, int(t), latents)

        # 4. Decode, split.
        decoded = self._decode(latents, tiles, wrap)
        out = self.to_output(decoded, latents, prompts, seeds)
        out.images = np.clip(decoded / 2.0 + 0.5, 0.0, 1.0)
        return out

    # -- tiled model calls ---------------------------------------------------------------

    def _predict(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        low: torch.Tensor,
        embeds: torch.Tensor,
        levels: torch.Tensor,
        guidance_scale: float,
        sched: Any,
        tiles: Tiling,
        wrap: bool,
        bar: tqdm,
        blend: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        """The guided noise prediction over the whole latent grid, tile by tile (``blend``:
        the tiles' window and summed weights, :func:`_blend_weights`)."""
        guide = guidance_scale > 1.0

        def unet(z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
            x = torch.cat([z] * 2) if guide else z
            x = sched.scale_model_input(x, t)
            x = torch.cat([x, cond], dim=1)
            pred = self.unet(
                x, t, encoder_hidden_states=embeds, class_labels=levels, return_dict=False
            )[0]
            if guide:
                uncond, text = pred.chunk(2)
                pred = uncond + guidance_scale * (text - uncond)
            return pred

        # Circular convolutions only where a tile spans the whole (wrapped) width.
        with horizontal_wrap(self.unet, enabled=wrap and not tiles.x.tiled):
            if tiles.count == 1:
                bar.update()
                return unet(latents, low)
            window, weight = blend
            acc = torch.zeros_like(latents, dtype=torch.float32)
            for ys, xs in tiles:
                pred = unet(gather(latents, ys, xs), gather(low, ys, xs))
                scatter_add(acc, ys, xs, pred.float() * window)
                bar.update()
        return (acc / weight).to(latents.dtype)

    def _encode(
        self, image: torch.Tensor, tiles: Tiling, wrap: bool, generator: Any
    ) -> torch.Tensor:
        """Sample the VAE posterior of ``image``: mean + std * noise (one draw over the whole
        latent grid, as ``DiagonalGaussianDistribution.sample``), mean and std tiled."""
        vae = self.vae
        with horizontal_wrap(vae, enabled=wrap and not tiles.x.tiled):
            if tiles.count == 1:
                dist = vae.encode(image).latent_dist
                mean, std = dist.mean, dist.std
            else:
                px = tiles.scaled(self.vae_scale_factor)
                shape = (1, vae.config.latent_channels, *tiles_shape(tiles))
                mean = torch.zeros(shape, device=image.device)
                var = torch.zeros(shape, device=image.device)
                weight = torch.zeros(shape[-2:], device=image.device)
                window = tiles.window().to(image.device)
                for (ys, xs), (pys, pxs) in zip(tiles, px, strict=True):
                    dist = vae.encode(gather(image, pys, pxs)).latent_dist
                    scatter_add(mean, ys, xs, dist.mean.float() * window)
                    scatter_add(var, ys, xs, dist.var.float() * window)
                    scatter_add(weight, ys, xs, window)
                mean = (mean / weight).to(image.dtype)
                std = (var / weight).sqrt().to(image.dtype)
        noise = randn_tensor(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + std * noise

    def _decode(self, latents: torch.Tensor, tiles: Tiling, wrap: bool) -> np.ndarray:
        """(1, H, W, 4) float32 in [-1, 1]: the VAE decoder, tiled like the UNet."""
        vae = self.vae
        z = latents.to(vae.dtype) / vae.config.scaling_factor
        with horizontal_wrap(vae, enabled=wrap and not tiles.x.tiled):
            if tiles.count == 1:
                x = vae.decode(z, return_dict=False)[0].float()
            else:
                s = self.vae_scale_factor
                px = tiles.scaled(s)
                h, w = tiles_shape(tiles)
                x = torch.zeros((1, vae.config.out_channels, h * s, w * s), device=z.device)
                weight = torch.zeros((h * s, w * s), device=z.device)
                window = tiles.window(s).to(z.device)
                for (ys, xs), (pys, pxs) in zip(tiles, px, strict=True):
                    part = vae.decode(gather(z, ys, xs), return_dict=False)[0].float()
                    scatter_add(x, pys, pxs, part * window)
                    scatter_add(weight, pys, pxs, window)
                x = x / weight
        return x.permute(0, 2, 3, 1).cpu().numpy()


def _blend_weights(tiles: Tiling, device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """One tile's feathered window and the windows summed over the grid (None: one tile)."""
    if tiles.count == 1:
        return None
    window = tiles.window().to(device)
    weight = torch.zeros((tiles.y.length, tiles.x.length), device=device)
    for ys, xs in tiles:
        scatter_add(weight, ys, xs, window)
    return window, weight


def tiles_shape(tiles: Tiling) -> tuple[int, int]:
    return tiles.y.length, tiles.x.length
