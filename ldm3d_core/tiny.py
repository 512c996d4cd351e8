"""Tiny random LDM3D models in the real checkpoints' format, for tests and offline trials.

The folder has the layout and config keys of ``Intel/ldm3d`` (6-channel VAE) or
``Intel/ldm3d-4c`` / ``Intel/ldm3d-pano`` (4-channel VAE): ``model_index.json`` plus
``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/`` (``vocab.json`` + ``merges.txt``)
and ``scheduler/``. Components follow diffusers' own testing pattern
(``block_out_channels=(32, 64)``, ``cross_attention_dim=32``); the VAE downsamples by 2,
so the native size is 64 px. The tokenizer is a byte-level CLIP BPE with every byte as
a token and a few merges, so any prompt tokenizes. Weights are random: outputs are noise.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .tokenizer_files import (  # noqa: F401 - re-exported: the tiny model's tokenizer
    BOS,
    EOS,
    bytes_to_unicode,
    tiny_vocab,
    write_tiny_tokenizer,
    write_tokenizer_files,
)

#: SD 1.x noise schedule (the Intel checkpoints are fine-tuned from SD 1.4).
SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "DDIMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}


@dataclass(frozen=True)
class TinyArch:
    """Sizes of a small LDM3D: UNet, VAE (2**(levels-1) downsampling) and text encoder."""

    unet_channels: tuple[int, ...] = (32, 64)
    unet_layers: int = 2
    unet_groups: int = 32
    attention_head_dim: int = 8
    cross_attention_dim: int = 32
    vae_channels: tuple[int, ...] = (32, 64)
    vae_groups: int = 32
    vae_block_average: bool = False
    """start the VAE as a block-average codec (:mod:`ldm3d_core.vae_init`)"""
    vae_mid_attention: bool = True
    """self-attention in the VAE's middle block (quadratic in its pixels: off for a VAE that
    runs on whole 1024x512 panoramas)"""
    unet_attention_levels: int | None = None
    """how many of the UNet's lowest levels have cross-attention (None: all but the first)"""
    text_layers: int = 5
    text_heads: int = 4
    text_ffn: int = 37
    sample_size: int = 32
    """the UNet's native latent height"""
    vocab_size: int | None = 1000
    """text encoder's token table (None: the tokenizer's size)"""
    upscaler: bool = False
    """an LDM3D upscaler (Intel/ldm3d-sr's format): UNet in_channels 8 (noisy + low-res
    latents), the noise level as class labels, 4 VAE channels"""


#: ``test``: diffusers' testing sizes, native 64 px; ``pano``: the embedded panorama model
#: (256x128 RGBD through an 8x VAE to 32x16x4 latents; about 7 M parameters).
ARCHS: dict[str, TinyArch] = {
    "test": TinyArch(),
    "pano": TinyArch(
        unet_channels=(64, 128, 128),
        unet_layers=1,
        cross_attention_dim=64,
        vae_channels=(16, 32, 64, 64),
        vae_groups=4,
        vae_block_average=True,
        text_layers=2,
        text_heads=4,
        text_ffn=256,
        sample_size=16,
        vocab_size=None,
    ),
    "sr": TinyArch(
        unet_channels=(32, 64),
        unet_layers=1,
        vae_channels=(16, 32, 32, 32),
        vae_groups=8,
        text_layers=2,
        sample_size=16,
        upscaler=True,
    ),
    # The embedded upscaler (assets/models/ldm3d-sr-tiny): 256x128 -> 1024x512 RGBD through a
    # 4x VAE (256x128x4 latents) with no attention in the VAE and attention only at the
    # UNet's lowest level (1/8 of the latents), so whole panoramas stay cheap on a CPU.
    "sr-pano": TinyArch(
        unet_channels=(32, 64, 96, 128),
        unet_layers=1,
        unet_groups=8,
        unet_attention_levels=1,
        cross_attention_dim=64,
        vae_channels=(16, 32, 64),
        vae_groups=4,
        vae_block_average=True,
        vae_mid_attention=False,
        text_layers=2,
        text_heads=4,
        text_ffn=256,
        sample_size=64,
        vocab_size=None,
        upscaler=True,
    ),
}

#: The upscaler's noise-level table and limit (as Intel/ldm3d-sr and SD's x4 upscaler).
SR_CLASS_EMBEDS = 1000
SR_MAX_NOISE_LEVEL = 350


def build_tiny_components(
    channels: int = 4,
    seed: int = 0,
    sample_size: int | None = None,
    arch: str | TinyArch = "test",
    tokenizer_dir: str | os.PathLike[str] | None = None,
) -> dict:
    """Random ``unet``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler`` of ``arch``.

    ``tokenizer_dir`` is a CLIP tokenizer folder (e.g. from
    :func:`ldm3d_core.caption_tokenizer.train_caption_tokenizer`); the default is the
    byte-level tiny vocabulary.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    if channels not in (4, 6):
        raise ValueError(f"channels must be 4 or 6, got {channels}")
    a = ARCHS[arch] if isinstance(arch, str) else arch
    size = sample_size or a.sample_size
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tokenizer_dir or write_tiny_tokenizer(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(folder)
        # The files themselves, saved as the Intel checkpoints ship them (vocab + merges).
        tokenizer_files = {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}
    vocab = tokenizer.get_vocab()
    levels = len(a.unet_channels)
    attn = levels - 1 if a.unet_attention_levels is None else a.unet_attention_levels
    torch.manual_seed(seed)
    if a.upscaler and channels != 4:
        raise ValueError("an upscaler has 4 VAE channels (RGB + depth)")
    unet = UNet2DConditionModel(
        block_out_channels=a.unet_channels,
        layers_per_block=a.unet_layers,
        sample_size=size,
        in_channels=8 if a.upscaler else 4,
        out_channels=4,
        num_class_embeds=SR_CLASS_EMBEDS if a.upscaler else None,
        down_block_types=("DownBlock2D",) * (levels - attn) + ("CrossAttnDownBlock2D",) * attn,
        up_block_types=("CrossAttnUpBlock2D",) * attn + ("UpBlock2D",) * (levels - attn),
        cross_attention_dim=a.cross_attention_dim,
        attention_head_dim=a.attention_head_dim,
        norm_num_groups=a.unet_groups,
    )
    torch.manual_seed(seed + 1)
    n_vae = len(a.vae_channels)
    vae = AutoencoderKL(
        block_out_channels=a.vae_channels,
        in_channels=channels,
        out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * n_vae,
        up_block_types=("UpDecoderBlock2D",) * n_vae,
        latent_channels=4,
        sample_size=size * 2 ** (n_vae - 1),
        norm_num_groups=a.vae_groups,
        scaling_factor=0.18215,
        mid_block_add_attention=a.vae_mid_attention,
    )
    if a.vae_block_average:
        from .vae_init import init_block_average

        init_block_average(vae)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab[BOS],
            eos_token_id=vocab[EOS],
            pad_token_id=vocab[EOS],
            hidden_size=a.cross_attention_dim,
            intermediate_size=a.text_ffn,
            layer_norm_eps=1e-05,
            num_attention_heads=a.text_heads,
            num_hidden_layers=a.text_layers,
            vocab_size=a.vocab_size or len(vocab),
            max_position_embeddings=77,
        )
    ).eval()
    scheduler = DDIMScheduler.from_config(SCHEDULER_CONFIG)
    extra = {}
    if a.upscaler:
        from diffusers import DDPMScheduler

        extra["low_res_scheduler"] = DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02
        )
    return {
        **extra,
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "tokenizer_files": tokenizer_files,
        "scheduler": scheduler,
    }


def model_index(scheduler_class: str = "DDIMScheduler", upscaler: bool = False) -> dict[str, Any]:
    """``model_index.json`` as the Intel checkpoints have it (pipeline class and components)."""
    import diffusers

    parts = {
        "scheduler": ["diffusers", scheduler_class],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    head = {"_diffusers_version": diffusers.__version__, "feature_extractor": [None, None]}
    if upscaler:
        return {
            "_class_name": "StableDiffusionUpscaleLDM3DPipeline",
            **head,
            "low_res_scheduler": ["diffusers", "DDPMScheduler"],
            "max_noise_level": SR_MAX_NOISE_LEVEL,
            "safety_checker": [None, None],
            **parts,
            "watermarker": [None, None],
        }
    return {
        "_class_name": "StableDiffusionLDM3DPipeline",
        **head,
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        **parts,
    }


def save_components(components: dict, out_dir: str | os.PathLike[str]) -> Path:
    """Save components as a diffusers folder (safetensors weights, real file names)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    components["unet"].save_pretrained(out / "unet", safe_serialization=True)
    components["vae"].save_pretrained(out / "vae", safe_serialization=True)
    components["text_encoder"].save_pretrained(out / "text_encoder", safe_serialization=True)
    (out / "tokenizer").mkdir(exist_ok=True)
    for name, data in components["tokenizer_files"].items():
        (out / "tokenizer" / name).write_bytes(data)
    components["scheduler"].save_pretrained(out / "scheduler")
    upscaler = "low_res_scheduler" in components
    if upscaler:
        components["low_res_scheduler"].save_pretrained(out / "low_res_scheduler")
    index = model_index(type(components["scheduler"]).__name__, upscaler=upscaler)
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", "utf-8")
    return out


def make_tiny_model(
    out_dir: str | os.PathLike[str],
    channels: int = 4,
    seed: int = 0,
    arch: str = "test",
    captions: list[str] | None = None,
) -> Path:
    """Build a small random LDM3D (4 or 6 VAE channels) of ``arch`` and save it to
    ``out_dir``; with ``captions``, its tokenizer is a BPE trained on them."""
    with tempfile.TemporaryDirectory() as tmp:
        tok = None
        if captions is not None:
            from .caption_tokenizer import train_caption_tokenizer

            tok = train_caption_tokenizer(captions, tmp)
        parts = build_tiny_components(channels=channels, seed=seed, arch=arch, tokenizer_dir=tok)
    return save_components(parts, out_dir)
