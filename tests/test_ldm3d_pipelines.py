"""ldm3d_core pipelines on tiny random LDM3D models (64 px, 2 steps, HF_HUB_OFFLINE=1).

The models are written in the real checkpoints' folder format (6-channel ``Intel/ldm3d``,
4-channel ``Intel/ldm3d-4c``/``-pano``) and loaded through ``load_pipeline``, the path
users take.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from ldm3d_core import ModelNotFoundError, load_pipeline
from ldm3d_core.loading import resolve_device, resolve_dtype
from ldm3d_core.panorama import horizontal_wrap, seam_stats
from ldm3d_core.tiny import make_tiny_model

STEPS = 2


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny4_dir(tmp_path_factory, offline):
    return make_tiny_model(tmp_path_factory.mktemp("ldm3d") / "tiny-4c", channels=4)


@pytest.fixture(scope="module")
def tiny6_dir(tmp_path_factory, offline):
    return make_tiny_model(tmp_path_factory.mktemp("ldm3d") / "tiny-6c", channels=6)


@pytest.fixture(scope="module")
def pipe4(tiny4_dir):
    return load_pipeline(tiny4_dir, device="cpu", dtype="fp32", progress=False)


@pytest.fixture(scope="module")
def pipe6(tiny6_dir):
    return load_pipeline(tiny6_dir, device="cpu", dtype="fp32", progress=False)


def _reference(pipe):
    """diffusers' deprecated StableDiffusionLDM3DPipeline on the same modules."""
    from diffusers import DDIMScheduler
    from diffusers.pipelines.deprecated.stable_diffusion_ldm3d import (
        StableDiffusionLDM3DPipeline,
    )

    c = pipe.components
    ref = StableDiffusionLDM3DPipeline(
        vae=c.vae,
        text_encoder=c.text_encoder,
        tokenizer=c.tokenizer,
        unet=c.unet,
        scheduler=DDIMScheduler.from_config(c.scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    ref.set_progress_bar_config(disable=True)
    return ref


def _run_reference(pipe, prompt, seed):
    """Run diffusers' pipeline with diffusers' defaults (NCHW, unfused SDPA), then restore."""
    from ldm3d_core.loading import prepare_modules

    prepare_modules(pipe.components, "cpu", channels_last=False, fuse_qkv=False)
    try:
        return _run_reference_as_is(pipe, prompt, seed)
    finally:
        prepare_modules(pipe.components, "cpu")


def _run_reference_as_is(pipe, prompt, seed):
    captured = {}

    def keep_latents(p, i, t, kwargs):
        captured["latents"] = kwargs["latents"].clone()
        return {}

    out = _reference(pipe)(
        prompt,
        num_inference_steps=STEPS,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
        callback_on_step_end=keep_latents,
    )
    return out, captured["latents"]


# -- the model folder ---------------------------------------------------------------------


@pytest.mark.parametrize("channels", [4, 6])
def test_tiny_model_has_the_real_layout_and_config_keys(tmp_path, offline, channels):
    folder = make_tiny_model(tmp_path / "m", channels=channels)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionLDM3DPipeline"
    for name, cls in [
        ("unet", "UNet2DConditionModel"),
        ("vae", "AutoencoderKL"),
        ("text_encoder", "CLIPTextModel"),
        ("tokenizer", "CLIPTokenizer"),
    ]:
        assert index[name][1] == cls
    vae = json.loads((folder / "vae/config.json").read_text())
    assert vae["_class_name"] == "AutoencoderKL"
    assert vae["in_channels"] == vae["out_channels"] == channels and vae["latent_channels"] == 4
    unet = json.loads((folder / "unet/config.json").read_text())
    assert unet["cross_attention_dim"] == 32 and unet["block_out_channels"] == [32, 64]
    for f in [
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "text_encoder/config.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    ]:
        assert (folder / f).is_file(), f


def test_tiny_tokenizer_from_vocab_and_merges(pipe4):
    tok = pipe4.components.tokenizer
    assert tok.model_max_length == 77
    ids = tok(["the view of a cabin, 360°", ""], padding="max_length", truncation=True).input_ids
    assert all(len(x) == 77 for x in ids)
    assert ids[0][0] == tok.bos_token_id and tok.eos_token_id in ids[0]
    long = tok(["word " * 200], padding="max_length", truncation=True).input_ids
    assert len(long[0]) == 77


def test_loads_both_vae_formats_from_folders(pipe4, pipe6):
    assert pipe4.channels == 4 and pipe6.channels == 6
    assert pipe4.device.type == "cpu" and pipe4.dtype == torch.float32
    assert "channels=4" in repr(pipe4)


# -- txt2rgbd -----------------------------------------------------------------------------


def test_txt2rgbd_output(pipe4):
    out = pipe4.txt2rgbd("a red room", num_inference_steps=STEPS, seed=0)
    assert out.rgb.shape == (1, 64, 64, 3) and out.rgb.dtype == np.uint8
    assert out.depth.shape == (1, 64, 64) and out.depth.dtype == np.float32
    assert out.depth16.dtype == np.uint16
    assert out.depth.min() >= 0.0 and out.depth.max() <= 1.0
    np.testing.assert_array_equal(out.depth, out.depth16.astype(np.float32) / np.float32(65535))
    assert out.latents.shape == (1, 4, 32, 32) and out.seeds == [0]
    assert out.prompts == ["a red room"] and len(out) == 1


def test_parity_with_deprecated_diffusers_pipeline_4_channel(pipe4):
    ours = pipe4.txt2rgbd(
        "a red room",
        num_inference_steps=STEPS,
        guidance_scale=5.0,
        scheduler="ddim",
        generator=torch.Generator().manual_seed(0),
    )
    ref, ref_latents = _run_reference(pipe4, "a red room", 0)
    assert torch.allclose(ours.latents, ref_latents, atol=1e-4)
    # diffusers gives floats in [0, 1]; ours are quantised to 8 (RGB) and 16 (depth) bits.
    np.testing.assert_allclose(ours.depth, ref.depth[..., 0], atol=1e-4)
    # (memory formats differ: a rounding tie may land one level apart)
    assert np.abs(ours.rgb.astype(int) - np.rint(ref.rgb * 255).astype(int)).max() <= 1
    np.testing.assert_allclose(ours.rgb / 255.0, ref.rgb, atol=0.5 / 255 + 1e-6)


def test_six_channel_depth_spans_16_bits_where_diffusers_does_not(pipe6):
    ours = pipe6.txt2rgbd(
        "a red room", num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0)
    )
    # Our depth is hi * 256 + lo of the decoded packed triple, computed independently here.
    with torch.inference_mode():
        x = pipe6.components.vae.decode(ours.latents / 0.18215).sample
    packed = np.rint((x[0, 3:].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255)
    expected = packed[..., 1].astype(np.int64) * 256 + packed[..., 2].astype(np.int64)
    np.testing.assert_array_equal(ours.depth16[0].astype(np.int64), expected)
    assert ours.depth16.max() > 255 * 256 // 2  # the high byte is used
    assert np.ptp(ours.depth16) > 16384
    ref, ref_latents = _run_reference(pipe6, "a red room", 0)
    assert torch.allclose(ours.latents, ref_latents, atol=1e-4)  # same sampling ...
    # ... but diffusers' NumPy-2 depth decode casts the 16-bit value back to float/uint8.
    assert ref.depth.max() <= 257
    assert not np.allclose(ref.depth[0], ours.depth[0], atol=1e-3)


def test_batch_of_prompts_and_per_image_seeds(pipe4):
    batch = pipe4.txt2rgbd(["a", "b"], num_inference_steps=STEPS, seed=3)
    assert batch.rgb.shape[0] == 2 and batch.seeds == [3, 4] and batch.prompts == ["a", "b"]
    alone = pipe4.txt2rgbd("b", num_inference_steps=STEPS, seed=4)
    # same noise; batching changes float rounding only
    assert torch.allclose(batch.latents[1], alone.latents[0], atol=1e-4)
    np.testing.assert_allclose(batch.depth[1], alone.depth[0], atol=1e-3)
    two = pipe4.txt2rgbd("a", num_inference_steps=STEPS, seed=[7, 8], num_images_per_prompt=2)
    assert two.seeds == [7, 8] and not np.array_equal(two.rgb[0], two.rgb[1])


def test_schedulers_and_negative_prompt(pipe4):
    outs = {
        s: pipe4.txt2rgbd("a", num_inference_steps=STEPS, seed=0, scheduler=s)
        for s in ("ddim", "dpm", "euler")
    }
    for out in outs.values():
        assert torch.isfinite(out.latents).all()
    assert not torch.allclose(outs["ddim"].latents, outs["euler"].latents)
    neg = pipe4.txt2rgbd("a", num_inference_steps=STEPS, seed=0, negative_prompt="blurry")
    assert not torch.allclose(outs["ddim"].latents, neg.latents)
    unguided = pipe4.txt2rgbd("a", num_inference_steps=STEPS, seed=0, guidance_scale=1.0)
    assert not torch.allclose(outs["ddim"].latents, unguided.latents)


def test_bf16_on_cpu(tiny4_dir):
    pipe = load_pipeline(tiny4_dir, device="cpu", dtype="bf16", progress=False)
    assert pipe.dtype == torch.bfloat16
    out = pipe.txt2rgbd("a", num_inference_steps=STEPS, seed=0)
    assert out.rgb.shape == (1, 64, 64, 3) and torch.isfinite(out.latents).all()


# -- img2img ------------------------------------------------------------------------------


def _rgbd(seed=0, h=64, w=64):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.random((h, w), dtype=np.float32)
    return rgb, depth


@pytest.mark.parametrize("which", ["pipe4", "pipe6"])
def test_img2img_strength_0_returns_the_vae_round_trip(request, which):
    pipe = request.getfixturevalue(which)
    rgb, depth = _rgbd()
    out = pipe.img2img(rgb, depth, "x", strength=0.0, num_inference_steps=STEPS, seed=0)
    i2i = pipe.img2img
    with torch.inference_mode():
        latents = i2i.encode_rgbd(i2i.prepare_image(rgb, depth, 64, 64))
        trip = i2i.to_output(i2i.decode_latents(latents), latents, ["x"], None)
    np.testing.assert_array_equal(out.rgb, trip.rgb)
    np.testing.assert_array_equal(out.depth16, trip.depth16)


def test_img2img_strength_1_ignores_the_input(pipe4):
    a = pipe4.img2img(*_rgbd(1), "x", strength=1.0, num_inference_steps=STEPS, seed=5)
    b = pipe4.img2img(*_rgbd(2), "x", strength=1.0, num_inference_steps=STEPS, seed=5)
    t = pipe4.txt2rgbd("x", num_inference_steps=STEPS, seed=5)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth16, t.depth16)


@pytest.mark.parametrize("which", ["pipe4", "pipe6"])
def test_img2img_depth_input_changes_the_output(request, which):
    pipe = request.getfixturevalue(which)
    rgb, depth = _rgbd()
    kw = {"strength": 0.5, "num_inference_steps": STEPS, "seed": 0}
    near = pipe.img2img(rgb, depth, "x", **kw)
    far = pipe.img2img(rgb, 1.0 - depth, "x", **kw)
    assert np.abs(near.depth - far.depth).mean() > 1e-3
    assert not np.array_equal(near.rgb, far.rgb)


def test_img2img_accepts_depth_encodings_and_resizes(pipe4):
    from ldm3d_core.codec import float_to_depth16, pack_depth16

    rgb, depth = _rgbd()
    d16 = float_to_depth16(depth)
    kw = {"strength": 0.5, "num_inference_steps": STEPS, "seed": 0}
    ref = pipe4.img2img(rgb, d16.astype(np.float32) / 65535, "x", **kw)
    for form in (d16, pack_depth16(d16)):
        np.testing.assert_array_equal(pipe4.img2img(rgb, form, "x", **kw).depth16, ref.depth16)
    big_rgb = np.repeat(np.repeat(rgb, 2, 0), 2, 1)
    big_depth = np.repeat(np.repeat(depth, 2, 0), 2, 1)
    small = pipe4.img2img(big_rgb, big_depth, "x", height=64, width=64, **kw)
    assert small.rgb.shape == (1, 64, 64, 3)


# -- panoramas ----------------------------------------------------------------------------


def _smooth_periodic_latents(h=32, w=64, seed=0):
    """Latents smooth along both axes, periodic in x, flat across the seam (x = 0)."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(4, 1, 1, generator=g), torch.randn(4, 1, 1, generator=g)
    x = (torch.arange(w) + 0.5) / w
    y = (torch.arange(h) + 0.5) / h
    return (a * torch.cos(2 * np.pi * x)[None, None] + b * torch.cos(np.pi * y)[None, :, None])[
        None
    ]


def test_panorama_default_size_is_2_to_1(pipe4):
    out = pipe4.txt2rgbd("360 view", num_inference_steps=STEPS, seed=0, panorama=True)
    assert out.rgb.shape == (1, 64, 128, 3)


def test_panorama_wrap_makes_generation_shift_equivariant(pipe4):
    """With wrap on, columns W-1 and 0 are computed exactly as any interior pair.

    Rolling the initial noise by 16 latent columns (a multiple of the UNet's total
    downsampling) rolls the panorama by 32 pixels: the seam is not special.
    """
    noise = pipe4.txt2rgbd.prepare_noise(1, 64, 128, torch.Generator().manual_seed(0))
    kw = {"num_inference_steps": STEPS, "panorama": True}
    a = pipe4.txt2rgbd("360 view", latents=noise, **kw)
    b = pipe4.txt2rgbd("360 view", latents=torch.roll(noise, 16, dims=-1), **kw)
    assert torch.allclose(torch.roll(a.latents, 16, dims=-1), b.latents, atol=1e-4)
    np.testing.assert_allclose(np.roll(a.depth, 32, axis=2), b.depth, atol=1e-3)
    assert np.abs(np.roll(a.rgb.astype(int), 32, axis=2) - b.rgb).max() <= 1
    kw["wrap"] = False
    c = pipe4.txt2rgbd("360 view", latents=noise, **kw)
    d = pipe4.txt2rgbd("360 view", latents=torch.roll(noise, 16, dims=-1), **kw)
    error_off = (torch.roll(c.latents, 16, dims=-1) - d.latents).abs().max().item()
    print(f"shift-equivariance error without wrap: {error_off:.3g} (latents)")
    assert error_off > 1e-2


def test_panorama_seam_step_with_and_without_wrap(pipe4):
    """Seam step vs. the median neighbouring-column step.

    A random tiny model turns random noise into white-noise-like images whose column
    steps are all alike, so there the seam is a coin toss either way (printed below).
    From smooth periodic latents, flat across x = 0, the output is smooth too: with wrap
    on the seam is no larger than the median step; zero padding (wrap off) puts a seam there.
    """
    kw = {"num_inference_steps": STEPS, "panorama": True}
    lat = _smooth_periodic_latents()
    on = pipe4.txt2rgbd("360 view", latents=lat, **kw)
    off = pipe4.txt2rgbd("360 view", latents=lat, wrap=False, **kw)
    noise_on = pipe4.txt2rgbd("360 view", seed=0, **kw)
    noise_off = pipe4.txt2rgbd("360 view", seed=0, wrap=False, **kw)
    ratios = {}
    for name, out in [("on", on), ("off", off), ("noise-on", noise_on), ("noise-off", noise_off)]:
        ratios[name] = (seam_stats(out.rgb[0]).ratio, seam_stats(out.depth[0]).ratio)
        print(
            f"seam / median step, wrap {name}: rgb {ratios[name][0]:.2f} depth {ratios[name][1]:.2f}"
        )
    assert max(ratios["on"]) <= 1.0
    assert min(ratios["off"]) > 2.0


def test_panorama_img2img_wraps_the_vae_round_trip(pipe4):
    x = (np.arange(128) + 0.5) / 128
    y = (np.arange(64) + 0.5) / 64
    rgb = np.stack(
        [0.5 + 0.4 * np.cos(2 * np.pi * x + p) * np.ones((64, 1)) for p in (0, 2, 4)], -1
    )
    depth = (0.5 + 0.3 * np.cos(2 * np.pi * x[None]) * np.cos(np.pi * y[:, None])).astype(
        np.float32
    )
    kw = {"strength": 0.0, "num_inference_steps": STEPS, "panorama": True}
    on = pipe4.img2img(rgb.astype(np.float32), depth, "x", **kw)
    off = pipe4.img2img(rgb.astype(np.float32), depth, "x", wrap=False, **kw)
    assert seam_stats(on.depth[0]).ratio < seam_stats(off.depth[0]).ratio


@pytest.mark.parametrize("which", ["pipe4", "pipe6"])
def test_panorama_vae_round_trip_is_shift_equivariant(request, which):
    """Encoder (with its right-padded stride-2 downsamplers) and decoder both wrap."""
    pipe = request.getfixturevalue(which)
    rgb, depth = _rgbd(3, 64, 128)
    kw = {"strength": 0.0, "num_inference_steps": STEPS, "panorama": True}
    a = pipe.img2img(rgb, depth, "x", **kw)
    b = pipe.img2img(np.roll(rgb, 8, axis=1), np.roll(depth, 8, axis=1), "x", **kw)
    assert torch.allclose(torch.roll(a.latents, 4, dims=-1), b.latents, atol=1e-4)
    # 6 channels: float noise may flip the rounding of the high byte (1/256) somewhere.
    diff = np.abs(np.roll(a.depth, 8, axis=2) - b.depth)
    assert diff.max() <= 257 / 65535 and np.mean(diff < 2e-3) > 0.99


def test_horizontal_wrap_restores_the_convolutions(pipe4):
    convs = [m for m in pipe4.components.vae.modules() if isinstance(m, torch.nn.Conv2d)]
    with horizontal_wrap(pipe4.components.unet, pipe4.components.vae):
        assert any("_conv_forward" in m.__dict__ for m in convs)
    assert not any("_conv_forward" in m.__dict__ for m in convs)


def test_seam_stats():
    ramp = np.tile(np.arange(16, dtype=np.float64), (4, 1))
    s = seam_stats(ramp)
    assert s.median_step == 1.0 and s.seam == 15.0 and s.ratio == 15.0
    periodic = np.tile(np.cos(2 * np.pi * (np.arange(16) + 0.5) / 16), (4, 1))
    assert seam_stats(periodic).ratio <= 1.0


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompt": []}, "empty"),
        ({"prompt": 3}, "string"),
        ({"num_inference_steps": 0}, "positive"),
        ({"num_inference_steps": -2}, "positive"),
        ({"height": 60}, "multiple of 8"),
        ({"width": 100}, "multiple of 8"),
        ({"scheduler": "pndm"}, "unknown scheduler"),
        ({"guidance_scale": -1.0}, "guidance"),
        ({"negative_prompt": ["a", "b", "c"]}, "negative prompts"),
        ({"seed": 1, "generator": torch.Generator()}, "seed or generator"),
        ({"seed": [1, 2]}, "seeds"),
    ],
)
def test_txt2rgbd_rejects_bad_input(pipe4, kwargs, match):
    kw = {"prompt": "a", "num_inference_steps": STEPS, **kwargs}
    with pytest.raises(ValueError, match=match):
        pipe4.txt2rgbd(kw.pop("prompt"), **kw)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"strength": -0.1}, r"strength must be in \[0, 1\]"),
        ({"strength": 1.5}, r"strength must be in \[0, 1\]"),
        ({"depth": np.zeros((32, 64), np.float32)}, "rgb is 64x64 but depth is 64x32"),
        ({"depth": np.full((64, 64), 2.0, np.float32)}, r"in \[0, 1\]"),
        ({"rgb": np.zeros((64, 64), np.uint8)}, "rgb must be"),
        ({"depth": None}, "depth"),
        ({"height": 36}, "multiple of 8"),
        ({"prompt": []}, "empty"),
        ({"num_inference_steps": 0}, "positive"),
    ],
)
def test_img2img_rejects_bad_input(pipe4, change, match):
    rgb, depth = _rgbd()
    kw = {"rgb": rgb, "depth": depth, "prompt": "x", "strength": 0.5, "num_inference_steps": 2}
    kw.update(change)
    with pytest.raises(ValueError, match=match):
        pipe4.img2img(kw.pop("rgb"), kw.pop("depth"), kw.pop("prompt"), **kw)


def test_missing_hub_model_offline_names_the_fix(offline, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as err:
        load_pipeline("Intel/ldm3d-pano", device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and "Intel/ldm3d-pano" in msg
    assert "huggingface-cli download Intel/ldm3d-pano" in msg and "local" in msg


def test_hub_unreachable_gives_the_same_clear_error(tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    real = huggingface_hub.snapshot_download

    def no_network(repo_id, **kwargs):
        if kwargs.get("local_files_only"):
            return real(repo_id, **kwargs)
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(ModelNotFoundError) as err:
        load_pipeline("Intel/ldm3d-4c", device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and "downloading it failed (Failed to resolve" in msg
    assert "huggingface-cli download Intel/ldm3d-4c" in msg


def test_missing_or_incomplete_local_folder(tmp_path, tiny4_dir):
    with pytest.raises(ModelNotFoundError, match="not found"):
        load_pipeline(tmp_path / "nowhere", device="cpu")
    broken = shutil.copytree(tiny4_dir, tmp_path / "broken")
    (broken / "vae/diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="vae/diffusion_pytorch_model"):
        load_pipeline(broken, device="cpu")


def test_loads_a_hub_id_from_the_local_cache(offline, tmp_path, monkeypatch, tiny4_dir):
    import huggingface_hub.constants

    repo = tmp_path / "models--Intel--ldm3d-tiny"
    commit = "0" * 40
    shutil.copytree(tiny4_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    pipe = load_pipeline("Intel/ldm3d-tiny", device="cpu", progress=False)
    assert pipe.channels == 4 and pipe.name == "Intel/ldm3d-tiny"


def test_not_an_ldm3d_vae(pipe4):
    from diffusers import AutoencoderKL

    from ldm3d_core.pipelines import LDM3DComponents

    c = pipe4.components
    rgb_vae = AutoencoderKL(block_out_channels=(32, 64), norm_num_groups=32)
    with pytest.raises(ValueError, match="in_channels=3"):
        LDM3DComponents(c.unet, rgb_vae, c.text_encoder, c.tokenizer, c.scheduler_config)


def test_device_and_dtype_resolution():
    assert resolve_dtype("fp32", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int8", torch.device("cpu"))
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
