"""Training configuration: YAML files validated into typed, documented settings.

Both stages (paper §3.1.3) share the run settings (model, output folder, data, optimiser,
checkpoints, logs, samples) and add one stage section: ``loss`` for the autoencoder,
``diffusion`` for the UNet. Every field is typed with a one-line docstring (the example
configs in ``configs/`` repeat them as comments); an unknown or misspelt key is an error
that names it, because a silently ignored setting in a multi-day run is the costliest
kind of typo. Relative paths are taken relative to the current working directory, like
the other training tools users know (diffusers scripts, accelerate).

Files are read with YAML's safe loader (``ldm3d_core.files.load_yaml``), which also refuses
a key given twice in one mapping (the second ``train:`` would silently replace the first);
a config path must be a regular file (a FIFO or ``/dev/zero`` is refused, not read).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..files import FileSafetyError, load_yaml, regular_file
from ..validation import format_validation_error

#: Shipped example configs, by name (``ldm3d train autoencoder --config autoencoder-tiny``).
CONFIG_DIR = Path(__file__).with_name("configs")


class ConfigError(ValueError):
    """A config file or override is invalid; the message is one line naming file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, validate_assignment=True
    )


class DataConfig(_Section):
    """Where training samples come from (``ldm3d_core.data.RGBDDataset``)."""

    source: str | None = None
    """dataset folder or index file handed to RGBDDataset (see ldm3d_core.data)"""
    resolution: int = Field(512, gt=0, multiple_of=8)
    """training size in pixels (height; panoramas are twice as wide)"""
    panorama: bool = False
    """2:1 equirectangular samples (Intel/ldm3d-pano style)"""
    augment: bool = True
    """random flips / crops in the dataset"""
    crop: int | None = Field(None, gt=0, multiple_of=8)
    """train on crop x crop windows at the data's scale (random with augment; panoramas wrap); null: whole images"""
    synthetic: int | None = Field(None, gt=0)
    """use this many procedural RGBD samples instead of `source` (tests, benchmarks, smoke runs)"""
    num_workers: int = Field(0, ge=0)
    """DataLoader worker processes per training process"""


class TrainConfig(_Section):
    """Optimiser, schedule and precision. Steps count optimiser updates."""

    max_steps: int = Field(1000, gt=0)
    """optimiser steps of the whole run (a resumed run continues up to this)"""
    batch_size: int = Field(8, gt=0)
    """samples per process per micro-batch; the effective batch is this x processes x accumulation"""
    gradient_accumulation_steps: int = Field(1, gt=0)
    """micro-batches summed into one optimiser step"""
    learning_rate: float = Field(1e-5, gt=0)
    """Adam learning rate (the paper uses 1e-5 for both stages)"""
    adam_beta1: float = 0.9
    """Adam beta1"""
    adam_beta2: float = 0.999
    """Adam beta2"""
    adam_epsilon: float = 1e-8
    """Adam epsilon"""
    weight_decay: float = Field(0.0, ge=0)
    """decoupled weight decay (AdamW); 0 is plain Adam as in the paper"""
    lr_scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = "constant"
    """learning-rate schedule (diffusers.optimization names)"""
    lr_warmup_steps: int = Field(0, ge=0)
    """linear warm-up steps of the schedule"""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """clip the gradient norm to this (null: no clipping)"""
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    """autocast precision of the trained model (frozen models are stored in it too)"""
    gradient_checkpointing: bool = False
    """recompute activations in the backward pass: less memory, ~30% slower"""
    allow_tf32: bool = True
    """TF32 matrix products on Ampere+ GPUs (no effect on CPUs)"""
    cpu: bool = False
    """train on the CPU even when a GPU is present"""
    seed: int = 0
    """seeds model init, data order and noise; a run is reproducible from it"""


class CheckpointConfig(_Section):
    """Resumable snapshots of the whole training state."""

    every: int = Field(500, gt=0)
    """save a checkpoint every this many steps (and at the last step)"""
    keep: int | None = Field(3, gt=0)
    """keep the newest this many checkpoints (null: all)"""


class LogConfig(_Section):
    """Loss logs: CSV always, TensorBoard when installed."""

    every: int = Field(10, gt=0)
    """write a log row every this many steps"""
    tensorboard: bool = True
    """also write TensorBoard events (needs the tensorboard package)"""
    progress: bool = True
    """show a progress bar on the main process"""


class SampleConfig(_Section):
    """Sample grids that show progress by eye (paper: sampled after each epoch)."""

    every: int = Field(500, ge=0)
    """write a sample grid every this many steps (0: never; always at the end when > 0)"""
    count: int = Field(4, gt=0)
    """autoencoder: reconstructions per grid"""
    prompts: list[str] = Field(
        default_factory=lambda: ["a cozy living room", "a mountain lake at dawn"]
    )
    """diffusion: one generated RGBD image per prompt"""
    steps: int = Field(20, gt=0)
    """diffusion: denoising steps of the sampler"""
    guidance: float = Field(5.0, ge=0)
    """diffusion: classifier-free guidance scale"""
    seed: int = 0
    """diffusion: sampling seed (the same every time, so grids compare across steps)"""


class AdversarialConfig(_Section):
    """Patch-based adversarial loss (PatchGAN, hinge) of the KL-autoencoder (paper eq. 1)."""

    weight: float = Field(0.5, ge=0)
    """weight of the generator's adversarial term (0: no discriminator)"""
    start_step: int = Field(50001, ge=0)
    """train the discriminator and use its loss from this step on (warm-up without it)"""
    adaptive: bool = True
    """scale the adversarial term by |grad rec| / |grad adv| at the decoder's last layer"""
    learning_rate: float | None = Field(None, gt=0)
    """discriminator learning rate (null: train.learning_rate)"""
    layers: int = Field(3, gt=0)
    """strided conv layers of the discriminator (3: 70x70 receptive field)"""
    channels: int = Field(64, gt=0)
    """channels of its first layer (doubled per layer, up to 8x)"""


class AutoencoderLossConfig(_Section):
    """Stage 1 loss: reconstruction + KL + adversarial, RGB and depth weighted separately."""

    rgb_weight: float = Field(1.0, ge=0)
    """weight of the RGB channels in the reconstruction losses"""
    depth_weight: float = Field(1.0, ge=0)
    """weight of the depth channels in the reconstruction losses"""
    l1_weight: float = Field(1.0, ge=0)
    """pixel L1 reconstruction"""
    lowpass_weight: float = Field(0.0, ge=0)
    """L1 of the RGB averaged over ``lowpass_size`` blocks: the colour each latent cell
    carries. Pixel L1 alone lets a small VAE learn depth and texture long before it keeps
    flat colours (its reconstructions drift to the data's average hue)"""
    lowpass_size: int = Field(8, ge=1)
    """block side in pixels (the VAE's downsampling factor is the natural choice)"""
    perceptual_weight: float = Field(0.0, ge=0)
    """LPIPS perceptual loss (needs the lpips package and its VGG weights; skipped with a warning when missing)"""
    kl_weight: float = Field(1e-6, ge=0)
    """KL regularisation, per pixel value as in the KL-f8 autoencoder"""
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)
    """discriminator settings"""


class EMAConfig(_Section):
    """Exponential moving average of the UNet weights."""

    enabled: bool = False
    """keep an EMA copy; the final model and the sample grids use it"""
    decay: float = Field(0.9999, gt=0, lt=1)
    """maximum EMA decay (warmed up as (1 + n) / (10 + n))"""


class DiffusionStageConfig(_Section):
    """Stage 2: UNet fine-tuning on the frozen autoencoder's latents (paper eq. 2)."""

    caption_dropout: float = Field(0.1, ge=0, le=1)
    """probability of training on the empty prompt (makes classifier-free guidance work)"""
    ema: EMAConfig = Field(default_factory=EMAConfig)
    """EMA of the UNet"""
    prediction_type: Literal["epsilon", "v_prediction"] | None = None
    """what the UNet predicts (null: the model folder's scheduler config, epsilon for LDM3D)"""
    zero_terminal_snr: bool = False
    """rescale the noise schedule so its last step is pure noise (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed") and sample with trailing timesteps: with SD's schedule the noisy latent still shows the image's mean colour at t = T, so a model learns to copy it instead of reading the caption, and at sampling the noise's random mean picks the colour; needs v_prediction. Written into the saved model's scheduler config"""
    train_text_encoder: bool = False
    """also train the text encoder, with the UNet's learning rate (for models trained from scratch; the paper keeps CLIP frozen); EMA covers the UNet only"""
    cache_latents: bool = False
    """encode every sample once before training (the VAE is frozen) and augment in latent space (mirror, whole-latent-column rolls of panoramas): for small datasets on slow machines"""

    @model_validator(mode="after")
    def _zero_snr_needs_v(self) -> DiffusionStageConfig:
        if self.zero_terminal_snr and self.prediction_type == "epsilon":
            raise ValueError(
                "zero_terminal_snr needs prediction_type: v_prediction (at pure noise there is "
                "no noise left to predict)"
            )
        return self


class _RunConfig(_Section):
    model: str
    """LDM3D model to start from: a diffusers folder or a hub id in the local cache"""
    output_dir: str
    """run folder: checkpoints/, samples/, log.csv, model/ (the final diffusers folder)"""
    data: DataConfig = Field(default_factory=DataConfig)
    """training data"""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """optimiser and schedule"""
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    """checkpoints"""
    log: LogConfig = Field(default_factory=LogConfig)
    """logs"""
    samples: SampleConfig = Field(default_factory=SampleConfig)
    """sample grids"""

    @model_validator(mode="after")
    def _data_given(self) -> _RunConfig:
        if self.data.source is None and self.data.synthetic is None:
            raise ValueError("data needs a source (dataset folder) or synthetic: N")
        return self


class AutoencoderConfig(_RunConfig):
    """Stage 1: fine-tune the RGBD KL-autoencoder (paper: Adam 1e-5, batch 8)."""

    stage: Literal["autoencoder"] = "autoencoder"
    """which stage this file configures"""
    scaling_factor: float | Literal["auto"] | None = None
    """latent scale written with the VAE: auto = 1 / std of the latents over up to 256 training samples (how SD found 0.18215; needed for a VAE trained from scratch); null keeps the model's"""
    loss: AutoencoderLossConfig = Field(default_factory=AutoencoderLossConfig)
    """stage 1 loss"""
    decoder_only: bool = False
    """train the decoder alone (encoder frozen): the latent space stays the same, so a diffusion model trained on it stays valid (how Stability's ft-MSE VAE was made); keeps the model's scaling_factor"""

    reset_decoder: Literal["nearest", "bilinear"] | None = None
    """with decoder_only: start from a fresh block-average decoder (ldm3d_core.vae_init) with this upsampling instead of the model's own decoder"""

    @model_validator(mode="after")
    def _decoder_only_rules(self) -> AutoencoderConfig:
        if self.decoder_only and self.scaling_factor is not None:
            raise ValueError(
                "decoder_only keeps the model's latent scale: leave scaling_factor unset (null)"
            )
        if self.reset_decoder is not None and not self.decoder_only:
            raise ValueError("reset_decoder needs decoder_only: true (the encoder must stay)")
        return self


class DiffusionConfig(_RunConfig):
    """Stage 2: fine-tune the UNet on frozen AE + CLIP (paper: Adam 1e-5, batch 32)."""

    stage: Literal["diffusion"] = "diffusion"
    """which stage this file configures"""
    diffusion: DiffusionStageConfig = Field(default_factory=DiffusionStageConfig)
    """stage 2 settings"""


class UpscaleStageConfig(_Section):
    """The upscaler's low-res inputs, made from each high-res training window."""

    scale: int = Field(4, ge=2)
    """how much smaller the low-res input is (the area average of scale x scale pixels)"""
    noise_level: int = Field(20, ge=0)
    """the noise-level class label the UNet is trained with (the pipeline's default; no noise
    is added to the low-res latents, as in the LDM3D-SR reference pipeline)"""
    degrade_model: str | None = None
    """an LDM3D model folder whose VAE the low-res input goes through (encode, decode) for
    ``degrade_fraction`` of the samples: the softness of the images that model's pipeline
    generates, which the upscaler then learns to sharpen (null: clean area averages only)"""
    degrade_fraction: float = Field(0.5, ge=0, le=1)
    """fraction of the samples degraded through ``degrade_model``"""


class UpscaleConfig(_RunConfig):
    """The LDM3D upscaler's UNet (Intel/ldm3d-sr's format) on the frozen VAE's latents."""

    stage: Literal["upscale"] = "upscale"
    """which stage this file configures"""
    diffusion: DiffusionStageConfig = Field(default_factory=DiffusionStageConfig)
    """diffusion settings (cache_latents does not apply: inputs are made per window)"""
    upscale: UpscaleStageConfig = Field(default_factory=UpscaleStageConfig)
    """low-res inputs"""

    @model_validator(mode="after")
    def _no_cache(self) -> UpscaleConfig:
        if self.diffusion.cache_latents:
            raise ValueError("diffusion.cache_latents does not apply to the upscale stage")
        return self


STAGES: dict[str, type[_RunConfig]] = {
    "autoencoder": AutoencoderConfig,
    "diffusion": DiffusionConfig,
    "upscale": UpscaleConfig,
}


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], YAML-parsed value)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.max_steps=100")
    try:
        value = load_yaml(text)
    except yaml.constructor.ConstructorError as exc:  # e.g. a duplicate key in a mapping
        raise ConfigError(f"--set {item}: {exc.problem}") from None
    except yaml.YAMLError:
        value = text
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``--set key.sub=value`` items into the raw config mapping (before validation)."""
    for item in overrides:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item}: {k} is not a section")
            node = child
        node[keys[-1]] = value
    return data


def resolve_config_path(path: str | os.PathLike[str]) -> Path:
    """A config path (a regular file), or the name of a shipped example (``diffusion-tiny``)."""
    p = Path(path)
    if os.path.exists(p):
        try:
            return regular_file(p, "config file")
        except FileSafetyError as exc:  # a folder, FIFO or device
            raise ConfigError(str(exc)) from None
    shipped = CONFIG_DIR / f"{p.name}.yaml" if p.suffix == "" else CONFIG_DIR / p.name
    if len(p.parts) == 1 and shipped.is_file():
        return shipped
    raise ConfigError(f"{path}: config file not found")


def load_config(
    path: str | os.PathLike[str] | None,
    stage: str,
    overrides: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> AutoencoderConfig | DiffusionConfig | UpscaleConfig:
    """Read, override and validate a stage's config; errors are one-line ConfigErrors.

    ``path`` may be a file or a shipped example's name; ``data`` (a mapping) replaces the
    file, for callers that build configs in code.
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; use {', '.join(STAGES)}")
    origin = "config"
    if data is None:
        if path is None:
            raise ConfigError("no config given")
        file = resolve_config_path(path)
        origin = str(path)
        try:
            data = load_yaml(file.read_text(encoding="utf-8")) or {}
        except yaml.constructor.ConstructorError as exc:  # a duplicate key, an unsafe tag
            mark = exc.problem_mark
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise ConfigError(f"{origin}: {where}{exc.problem}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise ConfigError(f"{origin}: not valid YAML{where}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{origin}: not a text file (UTF-8 expected)") from None
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read ({exc.strerror or exc})") from None
    else:
        data = load_yaml(yaml.safe_dump(data))  # a deep copy in YAML's own types
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings at the top level")
    apply_overrides(data, list(overrides or []))
    declared = data.get("stage", stage)
    if declared != stage:
        raise ConfigError(f"{origin}: stage: this file configures {declared!r}, not {stage!r}")
    try:
        return STAGES[stage].model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None


def dump_config(config: BaseModel) -> str:
    """The validated config as YAML (written into each run folder for reproducibility)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
