"""Two-stage LDM3D fine-tuning (ldm3d_core.training) on a micro random LDM3D, on the CPU.

The model has the real folder format (``load_pipeline`` loads it) but a few thousand
parameters, and the data are procedural 16 px RGBD items, so each run takes seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from ldm3d_core import ModelNotFoundError
from ldm3d_core.training import (
    ConfigError,
    ShardedEpochSampler,
    SyntheticRGBDDataset,
    TrainingError,
    list_checkpoints,
    load_config,
    read_log,
    train_autoencoder,
    train_diffusion,
)
from ldm3d_core.training.cli import register

RES = 16


pytestmark = pytest.mark.usefixtures("one_thread", "offline")


def make_micro_model(folder: Path, channels: int = 4) -> Path:
    """A random LDM3D in diffusers format, far smaller than ldm3d_core.tiny's."""
    from ldm3d_core.tiny import TinyArch, build_tiny_components, save_components

    micro = TinyArch(
        unet_channels=(16, 32),
        unet_layers=1,
        unet_groups=8,
        attention_head_dim=4,
        vae_channels=(8, 16),
        vae_groups=4,
        text_layers=1,
        sample_size=RES // 2,
    )
    return save_components(build_tiny_components(channels=channels, arch=micro), folder)


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    return make_micro_model(tmp_path_factory.mktemp("models") / "micro-ldm3d")


def ae_config(model: Path, out: Path, **sections) -> dict:
    cfg = {
        "model": str(model),
        "output_dir": str(out),
        "data": {"synthetic": 4, "resolution": RES},
        "train": {"max_steps": 60, "batch_size": 4, "learning_rate": 3e-3},
        "loss": {"adversarial": {"start_step": 30, "layers": 2, "channels": 8}},
        "checkpoint": {"every": 10},
        "log": {"every": 1, "tensorboard": False, "progress": False},
        "samples": {"every": 0},
    }
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    return cfg


def diff_config(model: Path, out: Path, **sections) -> dict:
    cfg = {
        "model": str(model),
        "output_dir": str(out),
        "data": {"synthetic": 4, "resolution": RES},
        "train": {"max_steps": 30, "batch_size": 4, "learning_rate": 3e-3},
        "diffusion": {"caption_dropout": 0.25},
        "checkpoint": {"every": 10},
        "log": {"every": 1, "tensorboard": False, "progress": False},
        "samples": {"every": 0, "steps": 2, "prompts": ["a red room"]},
    }
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    return cfg


def losses(history: list[dict], key: str = "loss") -> np.ndarray:
    return np.array([r[key] for r in history])


# -- configs ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["autoencoder", "diffusion"])
def test_shipped_configs_validate(name):
    full = load_config(name, name)
    tiny = load_config(f"{name}-tiny", name)
    assert full.train.learning_rate == 1e-5  # the paper's, both stages
    assert full.train.batch_size == (8 if name == "autoencoder" else 32)
    assert tiny.data.synthetic and tiny.train.max_steps <= 100


def test_unknown_key_is_one_line_naming_it(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(diff_config(tmp_path, tmp_path / "o", train={"max_stpes": 3})))
    with pytest.raises(ConfigError) as err:
        load_config(path, "diffusion")
    assert str(err.value) == f"{path}: train.max_stpes: unknown key"
    with pytest.raises(ConfigError, match=r"^config: loss: unknown key$"):
        load_config(None, "diffusion", data={**diff_config(tmp_path, tmp_path), "loss": {}})
    with pytest.raises(ConfigError, match="diffusion.caption_dropout: Input should be less"):
        load_config(
            None, "diffusion", ["diffusion.caption_dropout=2"], data=diff_config(tmp_path, tmp_path)
        )


def test_overrides_parse_yaml_and_reach_nested_keys(tmp_path):
    cfg = load_config(
        None,
        "autoencoder",
        ["train.max_steps=7", "loss.adversarial.adaptive=false", "samples.prompts=[a, b]"],
        data=ae_config(tmp_path, tmp_path),
    )
    assert cfg.train.max_steps == 7
    assert cfg.loss.adversarial.adaptive is False
    assert cfg.samples.prompts == ["a", "b"]


# -- data order ---------------------------------------------------------------------------


def test_sampler_shards_are_disjoint_and_resume_mid_epoch():
    size, batch, procs = 23, 2, 2
    shards = [ShardedEpochSampler(size, batch, procs, r, seed=5) for r in range(procs)]
    assert shards[0].batches_per_epoch == 5  # 23 // (2 * 2); the remainder is dropped
    for epoch in range(3):
        for s in shards:
            s.set_epoch(epoch)
        a, b = (list(s) for s in shards)
        assert len(a) == len(b) == 10
        assert not set(a) & set(b)
        assert len(set(a + b)) == 20
    # the same epoch gives the same order; another epoch another one
    shards[0].set_epoch(1)
    first = list(shards[0])
    assert list(shards[0]) == first
    shards[0].set_epoch(2)
    assert list(shards[0]) != first
    # skipping k batches = the tail of the full epoch
    shards[0].set_epoch(1, skip_batches=3)
    assert list(shards[0]) == first[3 * batch :]


# -- stage 1 ------------------------------------------------------------------------------


def test_autoencoder_learns_and_saves_vae(micro, tmp_path):
    from diffusers import AutoencoderKL

    from ldm3d_core import load_pipeline

    cfg = load_config(
        None,
        "autoencoder",
        ["samples.every=30", "samples.count=2", "checkpoint.every=20"],
        data=ae_config(micro, tmp_path / "run"),
    )
    result = train_autoencoder(cfg)
    loss = losses(result.history, "rec")
    assert result.step == 60 and len(loss) == 60
    assert loss[-5:].mean() < 0.5 * loss[:5].mean(), loss  # overfits 4 samples
    # the discriminator joins after its warm-up step and is trained from then on
    assert "d_loss" not in result.history[29] and "d_loss" in result.history[30]
    assert np.isfinite(losses(result.history[30:], "d_loss")).all()
    # logs, checkpoints, sample grids
    rows = read_log(result.output_dir / "log.csv")
    assert [r["step"] for r in rows] == list(range(1, 61))
    np.testing.assert_allclose([r["loss"] for r in rows], losses(result.history), rtol=1e-6)
    assert [p.name for p in list_checkpoints(result.output_dir)] == [
        "step-0000020",
        "step-0000040",
        "step-0000060",
    ]
    assert sorted(p.name for p in (result.output_dir / "samples").iterdir()) == [
        "step-0000030.png",
        "step-0000060.png",
    ]
    # the final folder: the input model with the trained vae/
    trained = AutoencoderKL.from_pretrained(result.model_dir, subfolder="vae")
    before = AutoencoderKL.from_pretrained(micro, subfolder="vae")
    ckpt = load_file(list_checkpoints(result.output_dir)[-1] / "model.safetensors")
    w = trained.state_dict()["decoder.conv_out.weight"]
    assert not torch.equal(w, before.state_dict()["decoder.conv_out.weight"])
    assert torch.equal(w, ckpt["vae.decoder.conv_out.weight"])  # the checkpoint holds the same
    pipe = load_pipeline(result.model_dir, device="cpu", dtype="fp32", progress=False)
    out = pipe.txt2rgbd("a red room", height=RES, width=RES, num_inference_steps=1, seed=0)
    assert out.rgb.shape == (1, RES, RES, 3)


def test_perceptual_loss_is_skipped_with_a_warning_when_unavailable(micro, tmp_path):
    try:
        import lpips  # noqa: F401

        pytest.skip("lpips is installed here")
    except ImportError:
        pass
    cfg = load_config(
        None,
        "autoencoder",
        ["loss.perceptual_weight=1.0", "train.max_steps=1", "loss.adversarial.weight=0"],
        data=ae_config(micro, tmp_path / "run"),
    )
    with pytest.warns(UserWarning, match="lpips package is not installed"):
        result = train_autoencoder(cfg)
    assert result.step == 1 and "lpips_rgb" not in result.history[0]


def test_lowpass_colour_term(micro, tmp_path):
    """loss.lowpass_weight adds the L1 of the block-averaged RGB error (alone here)."""
    cfg = load_config(
        None,
        "autoencoder",
        [
            "loss.l1_weight=0",
            "loss.lowpass_weight=2.0",
            "loss.lowpass_size=4",
            "train.max_steps=2",
            "loss.adversarial.weight=0",
        ],
        data=ae_config(micro, tmp_path / "run"),
    )
    result = train_autoencoder(cfg)
    for logs in result.history:
        lowpass = float(logs["lowpass_rgb"])
        assert float(logs["rec"]) == pytest.approx(2.0 * lowpass, rel=1e-5)
        # |mean of an error| <= mean |error| per block: below the pixel L1, not zero
        assert 0.0 < lowpass < float(logs["l1_rgb"])


def test_decoder_only_keeps_the_latent_space(micro, tmp_path):
    """decoder_only: the encoder (and the latent scale) stay bit-identical, the decoder trains."""
    from diffusers import AutoencoderKL

    cfg = load_config(
        None,
        "autoencoder",
        ["decoder_only=true", "train.max_steps=3", "loss.adversarial.weight=0"],
        data=ae_config(micro, tmp_path / "run"),
    )
    result = train_autoencoder(cfg)
    before = AutoencoderKL.from_pretrained(micro, subfolder="vae").state_dict()
    after = AutoencoderKL.from_pretrained(result.model_dir, subfolder="vae")
    changed = {k for k, v in after.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(("decoder.", "post_quant_conv.")) for k in changed)
    scale = AutoencoderKL.load_config(micro, subfolder="vae")["scaling_factor"]
    assert after.config.scaling_factor == scale
    with pytest.raises(ConfigError, match="reset_decoder needs decoder_only"):
        load_config(
            None, "autoencoder", ["reset_decoder=bilinear"], data=ae_config(micro, tmp_path / "r")
        )
    with pytest.raises(ConfigError, match="decoder_only keeps the model's latent scale"):
        load_config(
            None,
            "autoencoder",
            ["decoder_only=true", "scaling_factor=auto"],
            data=ae_config(micro, tmp_path / "run2"),
        )


# -- stage 2 ------------------------------------------------------------------------------


def test_diffusion_learns_and_saves_a_loadable_model(micro, tmp_path):
    from ldm3d_core import load_pipeline

    cfg = load_config(
        None,
        "diffusion",
        ["samples.every=30", "diffusion.ema.enabled=true", "diffusion.ema.decay=0.9"],
        data=diff_config(micro, tmp_path / "run", train={"max_steps": 40}),
    )
    result = train_diffusion(cfg)
    loss = losses(result.history)
    assert loss[-8:].mean() < 0.6 * loss[:8].mean(), loss
    assert (result.output_dir / "samples" / "step-0000030.png").is_file()
    # a complete LDM3D folder; unet/ holds the EMA weights, vae/ and text_encoder/ are unchanged
    pipe = load_pipeline(result.model_dir, device="cpu", dtype="fp32", progress=False)
    out = pipe.txt2rgbd("a red room", height=RES, width=RES, num_inference_steps=2, seed=0)
    assert out.depth.shape == (1, RES, RES) and np.isfinite(out.depth).all()
    saved = load_file(result.model_dir / "unet" / "diffusion_pytorch_model.safetensors")
    ema = torch.load(  # checkpoint files are plain data: weights_only reads them
        list_checkpoints(result.output_dir)[-1] / "custom_checkpoint_1.pkl", weights_only=True
    )
    live = load_file(list_checkpoints(result.output_dir)[-1] / "model.safetensors")
    name = "conv_out.weight"
    assert not torch.equal(saved[name], live[name])  # EMA, not the live weights
    assert ema["decay"] == 0.9
    for part in ("vae", "text_encoder"):
        a = micro / part
        b = result.model_dir / part
        assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())


def test_trained_text_encoder_and_cached_latents(micro, tmp_path):
    """Models trained from scratch: the text encoder learns with the UNet and is saved;
    latents are encoded once. The frozen default leaves the text encoder untouched."""
    cfg = load_config(
        None,
        "diffusion",
        ["diffusion.train_text_encoder=true", "diffusion.cache_latents=true"],
        data=diff_config(micro, tmp_path / "run", train={"max_steps": 20}),
    )
    result = train_diffusion(cfg)
    loss = losses(result.history)
    assert loss[-5:].mean() < loss[:5].mean(), loss
    before = load_file(micro / "text_encoder" / "model.safetensors")
    after = load_file(result.model_dir / "text_encoder" / "model.safetensors")
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(moved) > len(before) // 2
    frozen = train_diffusion(
        load_config(
            None, "diffusion", [], data=diff_config(micro, tmp_path / "f", train={"max_steps": 2})
        )
    )
    kept = load_file(frozen.model_dir / "text_encoder" / "model.safetensors")
    assert all(torch.equal(before[k], kept[k]) for k in before)


def test_zero_terminal_snr_trains_v_prediction_and_saves_its_schedule(micro, tmp_path):
    """zero_terminal_snr: the last training step is pure noise (SD's schedule leaves
    sqrt(0.0047) of the image, its mean colour readable), and the saved model samples with
    the schedule it was trained on: v-prediction, rescaled betas, trailing steps."""
    from diffusers import DDPMScheduler

    from ldm3d_core import load_pipeline

    overrides = ["diffusion.prediction_type=v_prediction", "diffusion.zero_terminal_snr=true"]
    cfg = diff_config(micro, tmp_path / "run", train={"max_steps": 3})
    result = train_diffusion(load_config(None, "diffusion", overrides, data=cfg))
    saved = json.loads((result.model_dir / "scheduler" / "scheduler_config.json").read_text())
    assert saved["_class_name"] == "DDIMScheduler"
    assert saved["prediction_type"] == "v_prediction"
    assert saved["rescale_betas_zero_snr"] is True and saved["timestep_spacing"] == "trailing"
    before = DDPMScheduler.from_pretrained(micro, subfolder="scheduler").alphas_cumprod
    after = DDPMScheduler.from_config(saved).alphas_cumprod
    assert before[-1] > 4e-3 and after[-1] < 1e-8
    assert before[0] == pytest.approx(after[0], rel=1e-3)  # the clean end barely moves
    pipe = load_pipeline(result.model_dir, device="cpu", dtype="fp32", progress=False)
    for sampler in ("ddim", "dpm", "euler"):
        steps: list[int] = []
        out = pipe.txt2rgbd(
            "a red room",
            height=RES,
            width=RES,
            num_inference_steps=3,
            seed=0,
            scheduler=sampler,
            callback=lambda i, t, _, seen=steps: seen.append(t),
        )
        assert np.isfinite(out.rgb.astype(np.float32)).all() and np.isfinite(out.depth).all()
        assert steps[0] == 999, sampler  # trailing: sampling starts at pure noise
    # v-prediction only: at pure noise there is no noise to predict
    with pytest.raises(ConfigError, match="zero_terminal_snr needs prediction_type: v_pred"):
        load_config(
            None,
            "diffusion",
            ["diffusion.prediction_type=epsilon", "diffusion.zero_terminal_snr=true"],
            data=cfg,
        )
    eps = diff_config(micro, tmp_path / "eps", train={"max_steps": 1})
    with pytest.raises(TrainingError, match="predicts 'epsilon'; a zero-terminal-SNR"):
        train_diffusion(
            load_config(None, "diffusion", ["diffusion.zero_terminal_snr=true"], data=eps)
        )
    # a zero-SNR model trained on keeps its schedule, and refuses epsilon the same way
    more = diff_config(result.model_dir, tmp_path / "more", train={"max_steps": 1})
    again = train_diffusion(load_config(None, "diffusion", [], data=more))
    kept = json.loads((again.model_dir / "scheduler" / "scheduler_config.json").read_text())
    assert kept["rescale_betas_zero_snr"] is True and kept["prediction_type"] == "v_prediction"
    with pytest.raises(TrainingError, match="predicts 'epsilon'; a zero-terminal-SNR"):
        train_diffusion(
            load_config(
                None,
                "diffusion",
                ["diffusion.prediction_type=epsilon"],
                data={**more, "output_dir": str(tmp_path / "eps2")},
            )
        )


def test_prediction_type_override_is_saved(micro, tmp_path):
    """A UNet trained to predict v is saved with a scheduler that reads its output as v."""
    cfg = load_config(
        None,
        "diffusion",
        ["diffusion.prediction_type=v_prediction"],
        data=diff_config(micro, tmp_path / "run", train={"max_steps": 1}),
    )
    saved = json.loads(
        (train_diffusion(cfg).model_dir / "scheduler" / "scheduler_config.json").read_text()
    )
    assert saved["prediction_type"] == "v_prediction"
    assert saved["rescale_betas_zero_snr"] is False and saved["timestep_spacing"] == "leading"


# -- resume -------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["autoencoder", "diffusion"])
def test_killed_and_resumed_run_equals_uninterrupted_run(micro, tmp_path, stage):
    """Stop after step 5 (checkpoint at 4, like a kill), resume, reach step 9 exactly."""
    make, train = (
        (ae_config, train_autoencoder) if stage == "autoencoder" else (diff_config, train_diffusion)
    )
    sections = {
        "train": {
            "max_steps": 9,
            "batch_size": 2,
            "gradient_accumulation_steps": 2,
            "lr_scheduler": "cosine",
            "lr_warmup_steps": 2,
        },
        "data": {"synthetic": 6, "resolution": RES},  # 3 micro-batches an epoch: resume mid-epoch
        "checkpoint": {"every": 4, "keep": None},
    }
    if stage == "autoencoder":
        sections["loss"] = {"adversarial": {"start_step": 3, "layers": 2, "channels": 8}}
    else:
        sections["diffusion"] = {"ema": {"enabled": True, "decay": 0.9}}

    full = train(load_config(None, stage, data=make(micro, tmp_path / "full", **sections)))
    cfg = load_config(None, stage, data=make(micro, tmp_path / "cut", **sections))
    first = train(cfg, stop_after=5)
    assert first.step == 5 and first.model_dir is None
    assert [p.name for p in list_checkpoints(tmp_path / "cut")] == ["step-0000004"]
    with pytest.raises(TrainingError, match="already holds a run.*--resume"):
        train(cfg)
    second = train(cfg, resume=True)
    assert second.resumed_from == 4 and second.step == 9

    np.testing.assert_allclose(losses(first.history), losses(full.history[:5]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(losses(second.history), losses(full.history[4:]), rtol=0, atol=1e-6)
    a = load_file(list_checkpoints(tmp_path / "full")[-1] / "model.safetensors")
    b = load_file(list_checkpoints(tmp_path / "cut")[-1] / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the final folders too (for diffusion: the EMA weights, restored from the checkpoint)
    part = "vae" if stage == "autoencoder" else "unet"
    a, b = (
        load_file(tmp_path / run / "model" / part / "diffusion_pytorch_model.safetensors")
        for run in ("full", "cut")
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the log reads as one run: steps 1..9 once each, the replayed step 5 from the resumed session
    rows = read_log(tmp_path / "cut" / "log.csv")
    assert [r["step"] for r in rows] == list(range(1, 10))
    assert rows[4]["loss"] == pytest.approx(second.history[0]["loss"], abs=1e-6)


def write_rgbd_folder(folder: Path, n: int = 4) -> Path:
    """A sidecar-layout dataset: name.png, name_depth.png (16-bit), name.txt."""
    from PIL import Image

    folder.mkdir(parents=True)
    data = SyntheticRGBDDataset(n, 24)
    for i in range(n):
        x = data[i]["pixel_values"].numpy().transpose(1, 2, 0)
        rgb = np.rint((x[..., :3] + 1) * 127.5).astype(np.uint8)
        depth = np.rint((x[..., 3] + 1) / 2 * 65535).astype(np.uint16)
        Image.fromarray(rgb).save(folder / f"item{i}.png")
        Image.fromarray(depth).save(folder / f"item{i}_depth.png")
        (folder / f"item{i}.txt").write_text(data[i]["caption"])
    return folder


def test_config_dataset_folder_trains_and_resumes_exactly(micro, tmp_path):
    """data.source through ldm3d_core.data.RGBDDataset, random crops and flips included."""
    pytest.importorskip("ldm3d_core.data.dataset")
    source = write_rgbd_folder(tmp_path / "data")
    sections = {
        "data": {"source": str(source), "synthetic": None, "resolution": RES, "augment": True},
        "train": {"max_steps": 5, "batch_size": 2},  # 2 batches an epoch: crosses epochs
        "checkpoint": {"every": 2},
    }
    full = train_diffusion(
        load_config(None, "diffusion", data=diff_config(micro, tmp_path / "a", **sections))
    )
    cfg = load_config(None, "diffusion", data=diff_config(micro, tmp_path / "b", **sections))
    train_diffusion(cfg, stop_after=3)
    second = train_diffusion(cfg, resume=True)
    assert second.resumed_from == 2
    np.testing.assert_allclose(losses(second.history), losses(full.history[2:]), rtol=0, atol=1e-6)


# -- bad input ----------------------------------------------------------------------------


class _Empty(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 0

    def __getitem__(self, i):
        raise IndexError(i)


def test_empty_dataset_and_small_dataset_are_clear_errors(micro, tmp_path):
    cfg = load_config(None, "diffusion", data=diff_config(micro, tmp_path / "run"))
    with pytest.raises(TrainingError, match="^the dataset is empty: no training samples found$"):
        train_diffusion(cfg, dataset=_Empty())
    with pytest.raises(TrainingError, match="has 3 samples but one step needs 4"):
        train_diffusion(cfg, dataset=SyntheticRGBDDataset(3, RES))
    with pytest.raises(TrainingError, match="have 6 channels but the model's VAE takes 4"):
        train_diffusion(cfg, dataset=SyntheticRGBDDataset(4, RES, channels=6))


def test_empty_dataset_folder_is_a_clear_error(micro, tmp_path):
    pytest.importorskip("ldm3d_core.data.dataset")
    (tmp_path / "empty").mkdir()
    data = {"source": str(tmp_path / "empty"), "synthetic": None, "resolution": RES}
    cfg = load_config(None, "diffusion", data=diff_config(micro, tmp_path / "run", data=data))
    with pytest.raises(TrainingError, match="empty") as err:
        train_diffusion(cfg)
    assert "\n" not in str(err.value)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    cfg = load_config(None, "autoencoder", data=ae_config(tmp_path / "nope", tmp_path / "run"))
    with pytest.raises(ModelNotFoundError, match=r"model folder .*nope not found"):
        train_autoencoder(cfg)


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ldm3d")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_errors_are_one_line_with_status_2(micro, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(ae_config(micro, tmp_path / "o", loss={"l2_weight": 1})))
    code, _, err = _cli(["train", "autoencoder", "--config", str(bad)], capsys)
    assert code == 2 and err == f"ldm3d: error: {bad}: loss.l2_weight: unknown key\n"

    code, _, err = _cli(["train", "diffusion", "--config", str(bad)], capsys)
    assert code == 2 and err == f"ldm3d: error: {bad}: loss: unknown key\n"

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(diff_config(tmp_path / "missing", tmp_path / "o")))
    code, _, err = _cli(["train", "diffusion", "--config", str(good)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("ldm3d: error: model folder ") and "missing not found" in err

    code, out, _ = _cli(
        [
            "train",
            "diffusion",
            "--config",
            str(good),
            "--set",
            "train.max_steps=3",
            "--print-config",
        ],
        capsys,
    )
    assert code == 0 and yaml.safe_load(out)["train"]["max_steps"] == 3


def test_cli_trains_and_resumes(micro, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(diff_config(micro, tmp_path / "run", train={"max_steps": 2})))
    code, out, _ = _cli(["train", "diffusion", "--config", str(cfg)], capsys)
    assert code == 0 and "diffusion: 2 steps, model in" in out
    code, _, err = _cli(["train", "diffusion", "--config", str(cfg)], capsys)
    assert code == 2 and "pass --resume" in err
    code, out, _ = _cli(
        ["train", "diffusion", "--config", str(cfg), "--resume", "--set", "train.max_steps=3"],
        capsys,
    )
    assert code == 0 and "3 steps" in out
    state = json.loads((list_checkpoints(tmp_path / "run")[-1] / "train_state.json").read_text())
    assert state["step"] == 3


# -- checkpoints hold data only -----------------------------------------------------------


class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="module")
def checkpointed(micro, tmp_path_factory) -> Path:
    """A diffusion run (EMA on: LR schedule and EMA are registered objects) stopped after
    step 1 with its checkpoint; tests copy it before tampering with it."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    cfg = diff_config(
        micro,
        out,
        train={"max_steps": 2, "batch_size": 2},
        diffusion={"ema": {"enabled": True, "decay": 0.9}},
        checkpoint={"every": 1},
    )
    train_diffusion(load_config(None, "diffusion", data=cfg), stop_after=1)
    return out


def _copy_run(run: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(config file, run folder, its checkpoint) of a copy of ``run``."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(run, out)
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    cfg["output_dir"] = str(out)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, out, list_checkpoints(out)[-1]


def _to_accelerate_layout(ckpt: Path) -> None:
    """Rewrite a checkpoint's RNG files as accelerate's save_state and earlier versions of
    this project wrote them (random_states_0.pkl, rng_0.pt), and drop the format mark."""
    import random

    tensors = load_file(ckpt / "rng_0.safetensors")
    data = json.loads((ckpt / "rng_0.json").read_text())
    py, npy = data["python"], data["numpy"]
    states = {
        "step": 0,
        "random_state": (py["version"], tuple(py["state"]), py["gauss_next"]),
        "numpy_random_seed": (
            npy["kind"],
            np.asarray(npy["keys"], dtype=np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        ),
        "torch_manual_seed": tensors["torch_cpu"],
    }
    random.setstate(states["random_state"])  # (a valid state: setstate accepts it)
    torch.save(states, ckpt / "random_states_0.pkl")
    torch.save(tensors["generator"], ckpt / "rng_0.pt")
    (ckpt / "rng_0.json").unlink()
    (ckpt / "rng_0.safetensors").unlink()
    state = json.loads((ckpt / "train_state.json").read_text())
    del state["format"]
    (ckpt / "train_state.json").write_text(json.dumps(state))


def test_checkpoint_files_are_plain_data(checkpointed):
    ckpt = list_checkpoints(checkpointed)[-1]
    names = sorted(p.name for p in ckpt.iterdir())
    assert names == [
        "custom_checkpoint_0.pkl",  # LR schedule
        "custom_checkpoint_1.pkl",  # EMA
        "model.safetensors",
        "optimizer.bin",
        "rng_0.json",
        "rng_0.safetensors",
        "train_state.json",
    ]
    for name in ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "optimizer.bin"):
        torch.load(ckpt / name, weights_only=True)  # no object but tensors and plain data
    assert set(load_file(ckpt / "rng_0.safetensors")) == {"torch_cpu", "generator"}
    assert json.loads((ckpt / "train_state.json").read_text())["format"] == 2


@pytest.mark.parametrize(
    "name",
    [
        "optimizer.bin",
        "custom_checkpoint_0.pkl",  # accelerate's load_state unpickles these fully
        "custom_checkpoint_1.pkl",
        "rng_0.json",
        "rng_0.safetensors",
        "model.safetensors",
        "random_states_0.pkl",  # an older checkpoint's RNG pickle
    ],
)
def test_resume_refuses_a_malicious_pickle(checkpointed, tmp_path, capsys, name):
    cfg, run, ckpt = _copy_run(checkpointed, tmp_path)
    if name == "random_states_0.pkl":
        _to_accelerate_layout(ckpt)
    marker = tmp_path / "MARKER"
    # the payload is live: unpickling it creates the marker
    import pickle

    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()

    torch.save({"state": _Payload(marker), "param_groups": []}, ckpt / name)
    code, _, err = _cli(["train", "diffusion", "--config", str(cfg), "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"ldm3d: error: {ckpt / name}: "), err
    assert not marker.exists()
    assert [p.name for p in list_checkpoints(run)] == [ckpt.name]  # nothing trained


@pytest.mark.parametrize(
    "name",
    ["model.safetensors", "optimizer.bin", "custom_checkpoint_1.pkl", "rng_0.safetensors"]
    + ["rng_0.json", "train_state.json"],
)
def test_truncated_checkpoint_file_is_one_line_naming_it(checkpointed, tmp_path, capsys, name):
    cfg, _, ckpt = _copy_run(checkpointed, tmp_path)
    data = (ckpt / name).read_bytes()
    (ckpt / name).write_bytes(data[: len(data) // 2])
    code, _, err = _cli(["train", "diffusion", "--config", str(cfg), "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"ldm3d: error: {ckpt / name}: "), err
    assert "truncated or corrupt" in err


def test_missing_or_foreign_checkpoint_files_are_one_line(checkpointed, tmp_path, capsys):
    cfg, run, ckpt = _copy_run(checkpointed, tmp_path)
    (ckpt / "optimizer.bin").unlink()
    code, _, err = _cli(["train", "diffusion", "--config", str(cfg), "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"ldm3d: error: {ckpt / 'optimizer.bin'}: missing from the checkpoint")
    # a FIFO in place of a checkpoint file is refused, not read (which would block)
    os.mkfifo(ckpt / "optimizer.bin")
    code, _, err = _cli(["train", "diffusion", "--config", str(cfg), "--resume"], capsys)
    assert code == 2 and "is a FIFO" in err and err.count("\n") == 1
    # another model's weights: one line naming the file
    (ckpt / "optimizer.bin").unlink()
    torch.save({"state": {}, "param_groups": []}, ckpt / "optimizer.bin")
    code, _, err = _cli(["train", "diffusion", "--config", str(cfg), "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{ckpt / 'optimizer.bin'}: does not fit this run's optimiser" in err


def test_resume_of_an_accelerate_layout_checkpoint_is_exact(checkpointed, tmp_path, capsys):
    """Checkpoints of earlier versions (accelerate's save_state) resume, read as data."""
    results = []
    for name in ("new", "old"):
        cfg, run, ckpt = _copy_run(checkpointed, tmp_path / name)
        if name == "old":
            _to_accelerate_layout(ckpt)
        config = load_config(cfg, "diffusion")
        results.append(train_diffusion(config, resume=True))
    new, old = results
    assert new.resumed_from == old.resumed_from == 1 and new.step == old.step == 2
    np.testing.assert_array_equal(losses(new.history), losses(old.history))


def test_module_entry_point_exits_2_on_a_bad_checkpoint(checkpointed, tmp_path):
    """``python -m ldm3d_core.training`` (what accelerate launch runs): one line, status 2."""
    cfg, _, ckpt = _copy_run(checkpointed, tmp_path)
    data = (ckpt / "optimizer.bin").read_bytes()
    (ckpt / "optimizer.bin").write_bytes(data[:100])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "ldm3d_core.training", "diffusion", "--config", str(cfg)]
    proc = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(
        f"ldm3d: error: {ckpt / 'optimizer.bin'}: "
    ), proc.stderr


# -- several processes --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["diffusion", "autoencoder"])
def test_accelerate_launch_two_cpu_processes(micro, tmp_path, stage):
    """Both stages under ``accelerate launch`` with 2 CPU processes (gloo DDP)."""
    make = diff_config if stage == "diffusion" else ae_config
    extra = {"loss": {"adversarial": {"start_step": 1, "layers": 2, "channels": 8}}}
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            make(
                micro,
                tmp_path / "run",
                data={"synthetic": 8, "resolution": RES},
                train={"max_steps": 3, "batch_size": 2, "cpu": True},
                checkpoint={"every": 2},
                **(extra if stage == "autoencoder" else {}),
            )
        )
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    # `--multi_gpu` picks the torchrun launcher; with ACCELERATE_USE_CPU it runs gloo CPU DDP
    # (accelerate 1.x's `--cpu` alone starts one process unless mpirun is configured).
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "ldm3d_core.training", stage, "--config", str(cfg),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(f"{stage}: 3 steps, model in") == 1  # the main process reports
    ckpts = list_checkpoints(tmp_path / "run")
    state = json.loads((ckpts[-1] / "train_state.json").read_text())
    assert state["processes"] == 2 and state["step"] == 3
    # 8 samples / (2 per process x 2 processes) = 2 steps an epoch; each process kept its own noise
    assert state["micro_batches"] == 3
    r0, r1 = (load_file(ckpts[-1] / f"rng_{i}.safetensors")["generator"] for i in (0, 1))
    assert not torch.equal(r0, r1)
    assert (ckpts[-1] / "rng_0.json").is_file() and (ckpts[-1] / "rng_1.json").is_file()
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [r["step"] for r in rows] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in rows)
    part = "unet" if stage == "diffusion" else "vae"
    assert (tmp_path / "run" / "model" / part / "diffusion_pytorch_model.safetensors").is_file()
    if stage == "autoencoder":  # the discriminator trained from step 2 on, in both processes
        assert all("d_loss" in r for r in rows[1:])
