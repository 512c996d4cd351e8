"""VAE surgery: RGB AutoencoderKL -> RGBD (paper §3.1.1), parameter counts and exactness."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from ldm3d_core.codec import to_model_rgbd
from ldm3d_core.vae_surgery import (
    added_parameters,
    convert_vae_folder,
    convert_vae_to_rgbd,
    register,
)

# SD 1.x's VAE config (CompVis/stable-diffusion-v1-4, vae/config.json).
SD1_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def sd1_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(**SD1_VAE)  # random weights, the real architecture (~84M params)


@pytest.fixture(scope="module")
def tiny_rgb_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=32,
    ).eval()


def test_sd1_param_counts(sd1_vae):
    base = _count(sd1_vae)
    assert base == 83_653_863
    six = convert_vae_to_rgbd(sd1_vae, 6)
    four = convert_vae_to_rgbd(sd1_vae, 4)
    assert _count(six) - base == 6_915 == added_parameters(6)
    assert _count(four) - base == 2_305 == added_parameters(4)
    assert (six.config.in_channels, six.config.out_channels) == (6, 6)
    assert (four.config.in_channels, four.config.out_channels) == (4, 4)
    assert sd1_vae.config.in_channels == 3  # the source is left alone
    assert sd1_vae.encoder.conv_in.weight.shape == (128, 3, 3, 3)


@pytest.mark.parametrize("channels", [4, 6])
def test_converted_reconstructs_rgb_exactly(tiny_rgb_vae, channels):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    depth = rng.random((32, 32)).astype(np.float32)
    x = torch.from_numpy(to_model_rgbd(rgb, depth, channels)).permute(2, 0, 1)[None]
    rgbd = convert_vae_to_rgbd(tiny_rgb_vae, channels).eval()
    with torch.no_grad():
        z_src = tiny_rgb_vae.encode(x[:, :3]).latent_dist.mode()
        z_new = rgbd.encode(x).latent_dist.mode()
        # depth inputs have zero weights: whatever the depth holds, the latent is the RGB one
        z_zero = rgbd.encode(torch.cat([x[:, :3], torch.zeros_like(x[:, 3:])], 1))
        out_src = tiny_rgb_vae.decode(z_src).sample
        out_new = rgbd.decode(z_new).sample
    torch.testing.assert_close(z_new, z_src, rtol=0, atol=1e-6)
    torch.testing.assert_close(z_zero.latent_dist.mode(), z_src, rtol=0, atol=1e-6)
    assert out_new.shape == (1, channels, 32, 32)
    torch.testing.assert_close(out_new[:, :3], out_src, rtol=0, atol=1e-6)
    # each depth output starts as the mean of the RGB outputs (the chosen initialisation)
    for c in range(3, channels):
        torch.testing.assert_close(out_new[:, c], out_src.mean(1), rtol=1e-5, atol=1e-5)


def test_rejects_non_rgb_and_bad_channels(tiny_rgb_vae):
    with pytest.raises(ValueError, match="channels must be 4 or 6"):
        convert_vae_to_rgbd(tiny_rgb_vae, 5)
    four = convert_vae_to_rgbd(tiny_rgb_vae, 4)
    with pytest.raises(ValueError, match="in_channels=4"):
        convert_vae_to_rgbd(four, 6)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ldm3d")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_converts_model_folder(tiny_rgb_vae, tmp_path, capsys):
    model = tmp_path / "sd"
    tiny_rgb_vae.save_pretrained(model / "vae")  # a full model folder's vae/ subfolder
    out = tmp_path / "rgbd-vae"
    args = _parse(["convert-vae", str(model), "-o", str(out), "--channels", "6"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    config = json.loads((out / "config.json").read_text())
    assert (config["in_channels"], config["out_channels"]) == (6, 6)
    assert (out / "diffusion_pytorch_model.safetensors").is_file()
    loaded = AutoencoderKL.from_pretrained(out)
    assert loaded.encoder.conv_in.weight.shape == (32, 6, 3, 3)
    assert not loaded.encoder.conv_in.weight[:, 3:].any()
    torch.testing.assert_close(
        loaded.encoder.conv_in.weight[:, :3], tiny_rgb_vae.encoder.conv_in.weight
    )
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_cli_errors_are_one_line(tiny_rgb_vae, tmp_path):
    vae_dir = tmp_path / "vae"
    tiny_rgb_vae.save_pretrained(vae_dir)
    args = _parse(["convert-vae", str(tmp_path / "missing"), "-o", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as exc:
        args.func(args)
    assert str(exc.value) == f"ldm3d: error: {tmp_path / 'missing'}: folder not found"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    args = _parse(["convert-vae", str(vae_dir), "-o", str(tmp_path / "full")])
    with pytest.raises(SystemExit, match=r"^ldm3d: error: .*full: exists and is not an empty"):
        args.func(args)
    # a 4-channel VAE is not an RGB source
    convert_vae_folder(vae_dir, tmp_path / "four", channels=4)
    args = _parse(["convert-vae", str(tmp_path / "four"), "-o", str(tmp_path / "o2")])
    with pytest.raises(SystemExit, match="must be an RGB one"):
        args.func(args)


def test_missing_hub_model_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    args = _parse(["convert-vae", "CompVis/stable-diffusion-v1-4", "-o", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as exc:
        args.func(args)
    assert str(exc.value) == (
        "ldm3d: error: CompVis/stable-diffusion-v1-4 is not in the Hugging Face cache; download "
        "it with `huggingface-cli download CompVis/stable-diffusion-v1-4` or give a local folder"
    )
    assert not (tmp_path / "o").exists()
