"""Load an LDM3D checkpoint (hub id from the local Hugging Face cache, or a local folder).

A checkpoint is a diffusers folder: ``model_index.json`` with ``unet/``, ``vae/``,
``text_encoder/``, ``tokenizer/`` and ``scheduler/`` (the Intel repositories also carry
``safety_checker/`` and ``feature_extractor/``, which are not used). Hub ids are looked
up in the local cache first; only when that fails and the hub is allowed
(``HF_HUB_OFFLINE`` unset) are the needed files downloaded. Anything missing raises
:class:`~ldm3d_core.errors.ModelNotFoundError` with a one-line message saying how to get
the model.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from .devices import hub_offline, resolve_device, resolve_dtype
from .errors import ModelLoadError, ModelNotFoundError, is_out_of_memory, one_line
from .pipelines.base import LDM3DComponents
from .pipelines.img2img import LDM3DImg2ImgPipeline
from .pipelines.txt2rgbd import LDM3DTxt2RGBDPipeline
from .pipelines.upscale import LDM3DUpscalePipeline, UpscaleComponents

DEFAULT_MODEL = "Intel/ldm3d-4c"
DEFAULT_PANORAMA_MODEL = "Intel/ldm3d-pano"
#: The LDM3D-VR upscaler (RGBD x4) and its pipeline class in ``model_index.json``.
DEFAULT_UPSCALE_MODEL = "Intel/ldm3d-sr"
UPSCALE_CLASS = "StableDiffusionUpscaleLDM3DPipeline"

COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_CONFIG_FILES = {
    "unet": "config.json",
    "vae": "config.json",
    "text_encoder": "config.json",
    "tokenizer": "tokenizer_config.json",
    "scheduler": "scheduler_config.json",
}
_WEIGHTS = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "text_encoder": ("model.safetensors", "pytorch_model.bin"),
}


def _missing_parts(folder: Path) -> list[str]:
    missing = [] if (folder / "model_index.json").is_file() else ["model_index.json"]
    for name in COMPONENTS:
        if not (folder / name / _CONFIG_FILES[name]).is_file():
            missing.append(f"{name}/{_CONFIG_FILES[name]}")
        weights = _WEIGHTS.get(name, ())
        if weights and not any((folder / name / w).is_file() for w in weights):
            missing.append(f"{name}/{weights[0]}")
    if (
        not (folder / "tokenizer" / "vocab.json").is_file()
        and not (folder / "tokenizer" / "tokenizer.json").is_file()
    ):
        missing.append("tokenizer/vocab.json")
    return missing


def _how_to_get(model: str) -> str:
    return (
        f"get it with `huggingface-cli download {model}` on a connected machine, "
        "or pass a local diffusers folder (model_index.json, unet/, vae/, text_encoder/, "
        "tokenizer/, scheduler/) as the model"
    )


def _looks_like_path(model: str) -> bool:
    """Hub ids are ``owner/name``; anything else is taken for a folder path."""
    return model.startswith((".", "/", "~")) or model.count("/") != 1 or "\\" in model


def _download(model: str) -> Path:
    """Fetch only what the pipelines need (configs, tokenizer, safetensors else .bin)."""
    from huggingface_hub import snapshot_download

    configs = ["model_index.json"] + [f"{c}/{_CONFIG_FILES[c]}" for c in COMPONENTS]
    configs += ["tokenizer/*.json", "tokenizer/*.txt"]
    folder = Path(
        snapshot_download(
            model, allow_patterns=configs + [f"{c}/{w[0]}" for c, w in _WEIGHTS.items()]
        )
    )
    lacking = [c for c, w in _WEIGHTS.items() if not (folder / c / w[0]).is_file()]
    if lacking:  # older repositories: PyTorch pickles only
        folder = Path(
            snapshot_download(model, allow_patterns=[f"{c}/{_WEIGHTS[c][1]}" for c in lacking])
        )
    return folder


def resolve_model_dir(model: str | os.PathLike[str], offline: bool | None = None) -> Path:
    """The local diffusers folder of ``model``: a folder path, or a hub id (cache first).

    Raises ModelNotFoundError when the folder is incomplete, or when the hub id is not
    cached and cannot be downloaded (offline, or any network/hub error).
    """
    text = os.fspath(model)
    path = Path(text).expanduser()
    if path.is_dir():
        missing = _missing_parts(path)
        if missing:
            raise ModelNotFoundError(
                f"{path}: not a complete diffusers model folder (missing {', '.join(missing)})",
                text,
            )
        return path
    if _looks_like_path(text):
        raise ModelNotFoundError(
            f"model folder {text} not found; give a diffusers folder or a hub id such as "
            f"{DEFAULT_MODEL}",
            text,
        )

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = hub_offline() if offline is None else offline
    try:
        folder = Path(snapshot_download(text, local_files_only=True))
        if not _missing_parts(folder):
            return folder
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        pass
    if offline:
        raise ModelNotFoundError(
            f"model {text} is not in the local Hugging Face cache and the hub is off "
            f"(HF_HUB_OFFLINE=1); {_how_to_get(text)}",
            text,
        )
    try:
        folder = _download(text)
    except Exception as exc:  # any hub or network failure (httpx, HTTP, OS errors) alike
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelNotFoundError(
            f"model {text} is not in the local Hugging Face cache and downloading it "
            f"failed ({reason}); {_how_to_get(text)}",
            text,
        ) from exc
    missing = _missing_parts(folder)
    if missing:
        raise ModelNotFoundError(
            f"model {text}: the download lacks {', '.join(missing)}; {_how_to_get(text)}", text
        )
    return folder


def load_components(
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    channels_last: bool | None = None,
    fuse_qkv: bool = True,
    offline: bool | None = None,
    upscaler: bool = False,
) -> LDM3DComponents:
    """Load the UNet, VAE, CLIP text encoder, tokenizer and scheduler config of ``model``.

    ``upscaler``: an LDM3D super-resolution checkpoint (``Intel/ldm3d-sr``), returned as
    :class:`~ldm3d_core.pipelines.UpscaleComponents` with its ``max_noise_level`` (from
    ``model_index.json``) and ``low_res_scheduler`` config.

    Attention runs through PyTorch's scaled_dot_product_attention (diffusers'
    ``AttnProcessor2_0``, or ``FusedAttnProcessor2_0`` with ``fuse_qkv``).
    ``channels_last`` stores the UNet and VAE in NHWC (``None``: per device, see
    :func:`prepare_modules`).
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    folder = resolve_model_dir(model, offline=offline)
    kw = {"local_files_only": True}
    with model_part(folder, "model_index.json"):
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    is_upscaler = index.get("_class_name") == UPSCALE_CLASS
    if upscaler != is_upscaler:
        want = "an LDM3D upscaler" if upscaler else "a text/img2img LDM3D"
        raise ModelLoadError(
            f"{folder}: model_index.json says {index.get('_class_name')}; this needs {want}"
        )
    with model_part(folder, "unet"):
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dt, **kw)
    with model_part(folder, "vae"):
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dt, **kw)
    with model_part(folder, "text_encoder"):
        text_encoder = CLIPTextModel.from_pretrained(
            folder, subfolder="text_encoder", dtype=dt, **kw
        )
    with model_part(folder, "tokenizer"):
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", **kw)
    with model_part(folder, "scheduler"):
        scheduler_config = DDIMScheduler.load_config(folder, subfolder="scheduler", **kw)
    parts = dict(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler_config=dict(scheduler_config),
        name=os.fspath(model),
    )
    if upscaler:
        low_res = None
        if (folder / "low_res_scheduler" / "scheduler_config.json").is_file():
            with model_part(folder, "low_res_scheduler"):
                low_res = dict(DDIMScheduler.load_config(folder, subfolder="low_res_scheduler"))
        components: LDM3DComponents = UpscaleComponents(
            **parts,
            max_noise_level=int(index.get("max_noise_level", 350)),
            low_res_scheduler_config=low_res,
        )
    else:
        components = LDM3DComponents(**parts)
    prepare_modules(components, dev, channels_last=channels_last, fuse_qkv=fuse_qkv)
    return components


@contextlib.contextmanager
def model_part(folder: str | os.PathLike[str], part: str) -> Iterator[None]:
    """Errors while loading ``folder/part`` (truncated weights, broken JSON, a corrupt
    tokenizer: libraries raise many kinds) as one-line ModelLoadErrors naming the part.
    A model that is not there, an allocation failure or an interrupt pass through."""
    try:
        yield
    except (ModelNotFoundError, ModelLoadError):
        raise
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        raise ModelLoadError(
            f"{Path(folder) / part}: cannot load this part of the model ({one_line(exc, 240)})"
        ) from None


def set_attention(model: torch.nn.Module, fused: bool) -> None:
    """SDPA attention; ``fused`` runs Q, K, V (self-attention) or K, V (cross-attention)
    as one matrix product (diffusers' fused projections: same result, fewer, larger GEMMs).
    """
    from diffusers.models.attention_processor import (
        Attention,
        AttnProcessor2_0,
        FusedAttnProcessor2_0,
    )

    if fused:
        for m in model.modules():
            if isinstance(m, Attention) and not (hasattr(m, "to_qkv") or hasattr(m, "to_kv")):
                m.fuse_projections(fuse=True)
        model.set_attn_processor(FusedAttnProcessor2_0())
    else:
        model.set_attn_processor(AttnProcessor2_0())


def prepare_modules(
    components: LDM3DComponents,
    device: torch.device | str,
    channels_last: bool | None = None,
    fuse_qkv: bool = True,
) -> None:
    """Move to ``device``, eval mode, SDPA attention (fused projections), memory format.

    ``channels_last=None`` picks per device what measured faster: NHWC for the UNet on
    CUDA only (on the CPU it was no faster), NHWC for the VAE on CUDA and the CPU.
    """
    dev = torch.device(device)
    if channels_last is None:
        unet_nhwc, vae_nhwc = dev.type == "cuda", dev.type in ("cuda", "cpu")
    else:
        unet_nhwc = vae_nhwc = channels_last
    for m in (components.unet, components.vae, components.text_encoder):
        m.to(dev).eval().requires_grad_(False)
    for m, nhwc in ((components.unet, unet_nhwc), (components.vae, vae_nhwc)):
        set_attention(m, fused=fuse_qkv)
        m.to(memory_format=torch.channels_last if nhwc else torch.contiguous_format)


class LDM3D:
    """A loaded LDM3D model and its pipelines, which share the components.

    ``txt2rgbd(prompt, ...)`` and ``img2img(rgb, depth, prompt, ...)`` return
    :class:`~ldm3d_core.pipelines.RGBDOutput`.
    """

    def __init__(self, components: LDM3DComponents, progress: bool = True) -> None:
        self.components = components
        self.txt2rgbd = LDM3DTxt2RGBDPipeline(components, progress=progress)
        self.img2img = LDM3DImg2ImgPipeline(components, progress=progress)

    @property
    def channels(self) -> int:
        """6 (packed 16-bit depth, Intel/ldm3d) or 4 (one depth channel)."""
        return self.components.channels

    @property
    def device(self) -> torch.device:
        return self.components.device

    @property
    def dtype(self) -> torch.dtype:
        return self.components.dtype

    @property
    def name(self) -> str:
        return self.components.name

    @property
    def progress(self) -> bool:
        return self.txt2rgbd.progress

    @progress.setter
    def progress(self, value: bool) -> None:
        self.txt2rgbd.progress = self.img2img.progress = value

    def __repr__(self) -> str:
        return (
            f"LDM3D({self.name!r}, channels={self.channels}, device={self.device}, "
            f"dtype={self.dtype})"
        )


def load_pipeline(
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    channels_last: bool | None = None,
    fuse_qkv: bool = True,
    progress: bool = True,
    offline: bool | None = None,
) -> LDM3D:
    """Load ``model`` (hub id or local diffusers folder) and return its pipelines.

    Parameters
    ----------
    model : str or path
        ``Intel/ldm3d-4c``, ``Intel/ldm3d-pano``, ``Intel/ldm3d`` (from the local Hugging Face
        cache) or a local folder in diffusers format.
    device : {"auto", "cpu", "cuda", "mps"} or torch.device
    dtype : {"auto", "fp32", "fp16", "bf16"} or torch.dtype
        ``auto``: fp16 on CUDA, fp32 elsewhere.
    channels_last : bool, optional
        NHWC weights for the UNet and VAE; default: what is faster on the device.
    fuse_qkv : bool
        Fused attention projections (same math, fewer matrix products; ~10% per UNet
        step on the CPU).
    progress : bool
        tqdm bar over the denoising steps.
    offline : bool, optional
        Never contact the hub; default: ``HF_HUB_OFFLINE``.

    Raises
    ------
    ModelNotFoundError
        The model is neither a complete local folder nor in the cache, and it cannot be
        downloaded.
    """
    with _loading_bars(progress):
        components = load_components(
            model,
            device=device,
            dtype=dtype,
            channels_last=channels_last,
            fuse_qkv=fuse_qkv,
            offline=offline,
        )
    return LDM3D(components, progress=progress)


@contextlib.contextmanager
def _loading_bars(show: bool) -> Iterator[None]:
    """transformers' "Loading weights" bar only when progress is wanted (``--quiet``)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if not show:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was and not show:
            hf_logging.enable_progress_bar()


def load_upscaler(
    model: str | os.PathLike[str] = DEFAULT_UPSCALE_MODEL,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    channels_last: bool | None = None,
    fuse_qkv: bool = True,
    progress: bool = True,
    offline: bool | None = None,
) -> LDM3DUpscalePipeline:
    """Load an LDM3D super-resolution model (``Intel/ldm3d-sr`` from the cache, or a local
    folder in its format) as :class:`~ldm3d_core.pipelines.LDM3DUpscalePipeline`; the
    arguments are :func:`load_pipeline`'s."""
    with _loading_bars(progress):
        components = load_components(
            model,
            device=device,
            dtype=dtype,
            channels_last=channels_last,
            fuse_qkv=fuse_qkv,
            offline=offline,
            upscaler=True,
        )
    return LDM3DUpscalePipeline(components, progress=progress)
