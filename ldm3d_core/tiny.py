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
from pathlib import Path
from typing import Any

import torch

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

_MERGES = [("t", "h"), ("th", "e</w>"), ("i", "n"), ("a", "n"), ("o", "f</w>"), ("v", "i")]
_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def tiny_vocab() -> tuple[dict[str, int], list[str]]:
    """A complete byte-level CLIP vocabulary (every byte, alone and word-final) and merges."""
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars] + [a + b for a, b in _MERGES]:
        vocab.setdefault(token, len(vocab))
    vocab[_BOS] = len(vocab)
    vocab[_EOS] = len(vocab)
    return vocab, [f"{a} {b}" for a, b in _MERGES]


def write_tiny_tokenizer(folder: str | os.PathLike[str]) -> Path:
    """Write vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    special = {"bos_token": _BOS, "eos_token": _EOS, "unk_token": _EOS, "pad_token": _EOS}
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), "utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), "utf-8")
    return folder


def build_tiny_components(channels: int = 4, seed: int = 0, sample_size: int = 32) -> dict:
    """Random tiny ``unet``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler``."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    if channels not in (4, 6):
        raise ValueError(f"channels must be 4 or 6, got {channels}")
    vocab, _ = tiny_vocab()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=channels,
        out_channels=channels,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=sample_size * 2,
        norm_num_groups=32,
        scaling_factor=0.18215,
    )
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab[_BOS],
            eos_token_id=vocab[_EOS],
            pad_token_id=vocab[_EOS],
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            vocab_size=1000,
            max_position_embeddings=77,
        )
    ).eval()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(write_tiny_tokenizer(tmp))
    scheduler = DDIMScheduler.from_config(SCHEDULER_CONFIG)
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def model_index(scheduler_class: str = "DDIMScheduler") -> dict[str, Any]:
    """``model_index.json`` as the Intel checkpoints have it (pipeline class and components)."""
    import diffusers

    return {
        "_class_name": "StableDiffusionLDM3DPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", scheduler_class],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }


def save_components(components: dict, out_dir: str | os.PathLike[str]) -> Path:
    """Save components as a diffusers folder (safetensors weights, real file names)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    components["unet"].save_pretrained(out / "unet", safe_serialization=True)
    components["vae"].save_pretrained(out / "vae", safe_serialization=True)
    components["text_encoder"].save_pretrained(out / "text_encoder", safe_serialization=True)
    write_tiny_tokenizer(out / "tokenizer")
    components["scheduler"].save_pretrained(out / "scheduler")
    index = model_index(type(components["scheduler"]).__name__)
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", "utf-8")
    return out


def make_tiny_model(out_dir: str | os.PathLike[str], channels: int = 4, seed: int = 0) -> Path:
    """Build a tiny random LDM3D (4 or 6 VAE channels) and save it to ``out_dir``."""
    return save_components(build_tiny_components(channels=channels, seed=seed), out_dir)
