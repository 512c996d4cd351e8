"""Two-stage LDM3D fine-tuning (paper §3.1.3): the RGBD autoencoder, then the UNet.

    from ldm3d_core.training import load_config, train_autoencoder, train_diffusion

    train_autoencoder(load_config("autoencoder.yaml", "autoencoder"))
    train_diffusion(load_config("diffusion.yaml", "diffusion"), resume=True)

On the command line: ``ldm3d train autoencoder|diffusion --config FILE [--resume]
[--set key=value]``; on several GPUs or machines, ``accelerate launch -m
ldm3d_core.training diffusion --config FILE``.
"""

from __future__ import annotations

from .autoencoder import train_autoencoder
from .config import AutoencoderConfig, ConfigError, DiffusionConfig, load_config
from .diffusion import train_diffusion
from .engine import ShardedEpochSampler, TrainingError, TrainResult, list_checkpoints, read_log
from .synthetic import SyntheticRGBDDataset

__all__ = [
    "AutoencoderConfig",
    "ConfigError",
    "DiffusionConfig",
    "ShardedEpochSampler",
    "SyntheticRGBDDataset",
    "TrainResult",
    "TrainingError",
    "list_checkpoints",
    "load_config",
    "read_log",
    "train_autoencoder",
    "train_diffusion",
]
