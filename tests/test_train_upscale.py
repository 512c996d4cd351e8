"""The upscale training stage (ldm3d_core.training.upscale) on a micro random upscaler."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ldm3d_core.training import TrainingError, load_config, read_log
from ldm3d_core.training.upscale import UpscaleTrainer, train_upscale

RES = 32

pytestmark = pytest.mark.usefixtures("one_thread", "offline")


def make_micro_upscaler(folder: Path) -> Path:
    from ldm3d_core.tiny import TinyArch, build_tiny_components, save_components

    micro = TinyArch(
        unet_channels=(16, 32),
        unet_layers=1,
        unet_groups=8,
        unet_attention_levels=1,
        attention_head_dim=4,
        vae_channels=(16, 16),
        vae_groups=4,
        vae_block_average=True,
        vae_mid_attention=False,
        text_layers=1,
        sample_size=RES // 2,
        upscaler=True,
    )
    return save_components(build_tiny_components(arch=micro), folder)


@pytest.fixture(scope="module")
def micro_sr(tmp_path_factory) -> Path:
    return make_micro_upscaler(tmp_path_factory.mktemp("models") / "micro-sr")


def _config(model: Path, out: Path, **upscale):
    return load_config(
        None,
        "upscale",
        data={
            "model": str(model),
            "output_dir": str(out),
            "data": {"synthetic": 4, "resolution": RES},
            "train": {"max_steps": 3, "batch_size": 2, "learning_rate": 1e-3},
            "diffusion": {"prediction_type": "v_prediction", "zero_terminal_snr": True},
            "upscale": upscale,
            "checkpoint": {"every": 3},
            "log": {"every": 1, "tensorboard": False, "progress": False},
            "samples": {"every": 3, "count": 1, "steps": 2, "guidance": 1.0},
        },
    )


def test_upscale_stage_trains_and_saves_a_loadable_upscaler(micro_sr, tmp_path):
    from ldm3d_core import load_upscaler

    cfg = _config(micro_sr, tmp_path / "run", degrade_model=str(micro_sr), degrade_fraction=1.0)
    result = train_upscale(cfg)
    rows = read_log(result.output_dir / "log.csv")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["loss"] > 0 for r in rows)
    before = load_upscaler(micro_sr, device="cpu", dtype="fp32", progress=False)
    after = load_upscaler(result.model_dir, device="cpu", dtype="fp32", progress=False)
    moved = [
        (a - b).abs().max().item()
        for a, b in zip(after.unet.parameters(), before.unet.parameters(), strict=True)
    ]
    assert max(moved) > 1e-4  # the UNet trained
    sched = after.components.scheduler_config
    assert sched["prediction_type"] == "v_prediction" and sched["rescale_betas_zero_snr"]
    out = after(
        (torch.rand(8, 8, 3) * 255).byte().numpy(),
        torch.rand(8, 8).numpy(),
        scale=4,
        num_inference_steps=2,
        guidance_scale=1.0,
        seed=0,
    )
    assert out.rgb[0].shape == (32, 32, 3)
    assert list((result.output_dir / "samples").glob("*.png"))


def test_low_res_inputs_are_area_averages_resized_back(micro_sr, tmp_path):
    trainer = UpscaleTrainer(_config(micro_sr, tmp_path / "run"))
    trainer._setup()
    x = torch.zeros(1, 4, 32, 32)
    x[..., :, 16:] = 1.0  # an edge on a 4-pixel boundary survives the average exactly
    x[..., 0, 0] = 16.0  # one pixel: averaged over its 4x4 block
    low = trainer.low_res(x)
    assert low.shape == x.shape
    # bicubic reaches two low-res pixels (8 here) either side of the edge, no further
    assert (low[..., 12:, 4:8].abs().max() < 1e-6) and (low[..., :, 24:] - 1).abs().max() < 1e-6
    assert 0.05 < low[0, 0, 5, 15] < 0.95
    assert 0.9 < low[0, 0, 0, 0] <= 1.0  # 16 / 16, then clamped to the model's range


def test_upscale_stage_refuses_a_text_to_rgbd_model(tiny_ldm3d, tmp_path):
    with pytest.raises(TrainingError, match="not an upscaler"):
        train_upscale(_config(tiny_ldm3d, tmp_path / "run"))


def test_upscale_config_refuses_cached_latents(micro_sr, tmp_path):
    from ldm3d_core.training import ConfigError

    with pytest.raises(ConfigError, match="cache_latents"):
        load_config(
            None,
            "upscale",
            data={
                "model": str(micro_sr),
                "output_dir": str(tmp_path),
                "data": {"synthetic": 2, "resolution": RES},
                "diffusion": {"cache_latents": True},
            },
        )
