"""LDM3D-VR super-resolution: the pipeline against a step-by-step reference, tiles, seams,
16-bit depth, the ``ldm3d upscale`` command and the scene's ``source.upscale``.

Models are tiny random upscalers in Intel/ldm3d-sr's folder format (``make-tiny-model
--arch sr``: UNet in_channels 8 with noise-level class embeddings, 4-channel VAE with 8x
downsampling, DDPM low-res scheduler, ``max_noise_level`` 350 in model_index.json).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import visible
from PIL import Image

from ldm3d_core import load_pipeline, load_upscaler
from ldm3d_core.errors import ModelLoadError
from ldm3d_core.panorama import seam_stats
from ldm3d_core.pipelines.upscale import depth_to_uint16, preprocess
from ldm3d_core.schedulers import make_scheduler
from ldm3d_core.tiling import feather, gather, plan_axis, plan_tiles, scatter_add
from ldm3d_core.tiny import make_tiny_model


@pytest.fixture(scope="module")
def sr_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-sr", arch="sr", seed=0)


@pytest.fixture(scope="module")
def sr(sr_model):
    return load_upscaler(sr_model, device="cpu", dtype="fp32", progress=False)


def _smooth_panorama(w: int = 64, h: int = 32, seed: int = 0):
    """A low-res RGBD panorama that is smooth and continuous round ±180°."""
    x = np.arange(w) / w * 2 * np.pi
    y = np.arange(h)[:, None] / h * np.pi
    rng = np.random.default_rng(seed)
    rgb = np.stack(
        [127 + 100 * np.sin(x + p) * np.sin(y) for p in rng.uniform(0, 2 * np.pi, 3)], axis=-1
    )
    depth = 0.5 + 0.4 * np.cos(2 * x) * np.sin(y)
    return np.clip(rgb, 0, 255).astype(np.uint8), np.rint(depth * 65535).astype(np.uint16)


def _reference(components, rgb, depth16, prompt, size, seed, steps, guidance, noise_level=20):
    """diffusers' community StableDiffusionUpscaleLDM3DPipeline, step by step, on the same
    modules: its image processor (VaeImageProcessorLDM3D, as it is configured), posterior
    sample then initial noise from one generator, class_labels = noise level, CFG, DDIM."""
    from diffusers.image_processor import VaeImageProcessorLDM3D
    from diffusers.utils.torch_utils import randn_tensor

    width, height = size
    gen = torch.Generator("cpu").manual_seed(seed)
    tok, te = components.tokenizer, components.text_encoder

    def embed(text):
        ids = tok(
            [text], padding="max_length", max_length=tok.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids  # fmt: skip
        return te(ids)[0]

    vae, unet = components.vae, components.unet
    with torch.no_grad():
        guide = guidance > 1.0
        embeds = torch.cat([embed(""), embed(prompt)]) if guide else embed(prompt)
        proc = VaeImageProcessorLDM3D(vae_scale_factor=8, resample="bilinear")
        r, d = proc.preprocess(
            Image.fromarray(rgb), Image.fromarray(depth16), target_res=[height, width]
        )
        sched = make_scheduler("ddim", components.scheduler_config)
        sched.set_timesteps(steps)
        low = vae.encode(torch.cat([r, d], axis=1)).latent_dist.sample(gen)
        low = low * vae.config.scaling_factor
        batch = 2 if guide else 1
        low = torch.cat([low] * batch)
        levels = torch.tensor([noise_level] * batch)
        latents = randn_tensor((1, 4, height // 8, width // 8), generator=gen)
        latents = latents * sched.init_noise_sigma
        for t in sched.timesteps:
            x = torch.cat([latents] * batch)
            x = torch.cat([sched.scale_model_input(x, t), low], dim=1)
            pred = unet(x, t, encoder_hidden_states=embeds, class_labels=levels).sample
            if guide:
                uncond, text = pred.chunk(2)
                pred = uncond + guidance * (text - uncond)
            latents = sched.step(pred, t, latents, eta=0.0, generator=gen).prev_sample
        image = vae.decode(latents / vae.config.scaling_factor).sample
        return proc.postprocess(image, output_type="np")


# --- the algorithm ----------------------------------------------------------------------------


@pytest.mark.parametrize("guidance", [9.0, 1.0])
def test_matches_the_reference_on_the_same_weights_inputs_and_seed(sr, guidance):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    depth16 = rng.integers(0, 65536, (24, 40), dtype=np.uint16)
    out = sr(rgb, depth16, "a room", size=(160, 96), seed=7, num_inference_steps=4,
             guidance_scale=guidance)  # fmt: skip
    ref_rgb, ref_depth = _reference(
        sr.components, rgb, depth16, "a room", (160, 96), 7, 4, guidance
    )
    assert out.images.shape == (1, 96, 160, 4)
    assert np.abs(out.images[..., :3] - ref_rgb).max() <= 1e-3
    assert np.abs(out.images[..., 3] - ref_depth[..., 0]).max() <= 1e-3
    # and the 8/16-bit outputs are those floats rounded
    assert np.abs(out.rgb[0] / 255.0 - out.images[0, ..., :3]).max() <= 0.5 / 255 + 1e-6
    assert np.abs(out.depth16[0] / 65535.0 - out.images[0, ..., 3]).max() <= 0.5 / 65535 + 1e-6


def test_the_resize_is_what_the_reference_processor_computes():
    # The reference asks for bilinear, but its processor registers its defaults again in
    # super().__init__(): it resizes with Lanczos. Ours matches it exactly.
    from diffusers.image_processor import VaeImageProcessorLDM3D

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    depth16 = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    proc = VaeImageProcessorLDM3D(vae_scale_factor=8, resample="bilinear")
    assert proc.config.resample == "lanczos"
    r, d = proc.preprocess(Image.fromarray(rgb), Image.fromarray(depth16), target_res=[80, 120])
    mine = preprocess(rgb, depth16, 120, 80)
    assert torch.equal(mine, torch.cat([r, d], dim=1))
    bilinear = preprocess(rgb, depth16, 120, 80, resample="bilinear")
    assert (bilinear - mine).abs().max() > 0.01  # the two filters really differ


def test_sizes_seeds_and_the_16_bit_depth_range(sr):
    rgb, depth16 = _smooth_panorama(48, 24)
    a = sr(rgb, depth16, "x", seed=3, num_inference_steps=2)
    assert a.rgb.shape == (1, 96, 192, 3) and a.depth16.shape == (1, 96, 192)  # scale 4
    assert a.depth16.dtype == np.uint16 and a.seeds == [3]
    assert len(np.unique(a.depth16)) > 1000  # 16-bit values, not 256 levels
    b = sr(rgb, depth16, "x", seed=3, num_inference_steps=2)
    assert np.array_equal(a.depth16, b.depth16) and np.array_equal(a.rgb, b.rgb)
    c = sr(rgb, depth16, "x", seed=4, num_inference_steps=2)
    assert not np.array_equal(a.rgb, c.rgb)
    d = sr(rgb, depth16, "x", size=(96, 48), seed=3, num_inference_steps=2)
    assert d.rgb.shape == (1, 48, 96, 3)


def test_depth_inputs_of_every_width_map_to_16_bit():
    assert depth_to_uint16(np.array([[0, 128, 255]], np.uint8)).tolist() == [[0, 32896, 65535]]
    assert depth_to_uint16(np.array([[0.0, 0.5, 1.0]], np.float32)).tolist() == [[0, 32768, 65535]]
    d16 = np.array([[1, 65535]], np.uint16)
    assert depth_to_uint16(d16) is d16
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        depth_to_uint16(np.array([[1.5]]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": (100, 48)}, "multiple of 8"),
        ({"size": (32, 16)}, "smaller than the input"),
        ({"scale": 0.5}, "scale must be >= 1"),
        ({"noise_level": 351}, "noise level must be in \\[0, 350\\]"),
        ({"tile": 60}, "tile must be a multiple of 8"),
        ({"num_inference_steps": 0}, "steps must be positive"),
    ],
)
def test_bad_requests_are_one_line_value_errors(sr, kwargs, message):
    rgb, depth16 = _smooth_panorama(48, 24)
    with pytest.raises(ValueError, match=message) as info:
        sr(rgb, depth16, "x", **kwargs)
    assert "\n" not in str(info.value)


def test_mismatched_depth_is_refused(sr):
    rgb, depth16 = _smooth_panorama(48, 24)
    with pytest.raises(ValueError, match="depth is 24x12 but rgb is 48x24"):
        sr(rgb, depth16[::2, ::2], "x")


# --- panoramas and tiles -----------------------------------------------------------------------


def _column_steps(image: np.ndarray) -> np.ndarray:
    a = image.astype(np.float64)
    a = a[..., None] if a.ndim == 2 else a
    return np.abs(np.diff(a, axis=1)).mean(axis=(0, 2))


def test_panorama_seam_is_no_larger_than_twice_the_median_column_step(sr):
    rgb, depth16 = _smooth_panorama(64, 32)
    out = sr(rgb, depth16, "x", seed=0, num_inference_steps=3, panorama=True)
    for image in (out.rgb[0], out.depth16[0]):
        stats = seam_stats(image)
        assert stats.seam <= 2 * stats.median_step, stats
    # tiled round the circle too: the seam is then a tile interior or a blended border
    tiled = sr(rgb, depth16, "x", seed=0, num_inference_steps=3, panorama=True, tile=96)
    for image in (tiled.rgb[0], tiled.depth16[0]):
        stats = seam_stats(image)
        assert stats.seam <= 2 * stats.median_step, stats


def test_tile_borders_show_no_step(sr):
    # Tile borders are where one tile's feather ends; a visible border would be a column (or
    # row) whose step stands out. Measured: the mean |difference| across each tile's first and
    # last pixel column and row against the median step of all columns (rows).
    rgb, depth16 = _smooth_panorama(64, 32)
    out = sr(rgb, depth16, "x", seed=0, num_inference_steps=3, panorama=True, tile=96)
    tiles = plan_tiles(128 // 8, 256 // 8, 96 // 8, round(96 // 8 * 0.25), wrap_x=True)
    assert tiles.count > 4 and tiles.x.tiled and tiles.y.tiled
    borders_x = sorted(
        {(s * 8) % 256 for s in tiles.x.starts} | {(s * 8 + 96) % 256 for s in tiles.x.starts}
    )
    borders_y = sorted(
        {s * 8 for s in tiles.y.starts[1:]} | {s * 8 + 96 for s in tiles.y.starts[:-1]}
    )
    for image in (out.rgb[0], out.depth16[0]):
        cols = _column_steps(image)  # cols[x] = step between x and x + 1
        rows = _column_steps(np.swapaxes(image, 0, 1))
        for x in borders_x:
            assert cols[(x - 1) % 255] <= 2 * np.median(cols), (x, cols[(x - 1) % 255])
        for y in borders_y:
            assert rows[y - 1] <= 2 * np.median(rows), (y, rows[y - 1])


def test_one_tile_is_the_untiled_computation(sr):
    rgb, depth16 = _smooth_panorama(32, 16)
    a = sr(rgb, depth16, "x", seed=5, num_inference_steps=2, tile=128)  # 128x64 fits one tile
    b = sr(rgb, depth16, "x", seed=5, num_inference_steps=2, tile=1024)
    assert np.array_equal(a.images, b.images)


def test_tiles_cover_every_cell_and_wrap_round_the_seam():
    ax = plan_axis(100, 32, 8)
    assert ax.starts[0] == 0 and ax.starts[-1] + 32 == 100
    assert all(b - a <= 32 - 8 for a, b in zip(ax.starts, ax.starts[1:], strict=False))
    wrapped = plan_axis(100, 32, 8, wrap=True)
    assert isinstance(wrapped.indices(wrapped.starts[-1]), torch.Tensor)  # straddles ±180°
    tiles = plan_tiles(40, 100, 32, 8, wrap_x=True)
    total = torch.zeros(40, 100)
    for ys, xs in tiles:
        scatter_add(total, ys, xs, tiles.window())
    assert float(total.min()) > 0  # every cell covered
    x = torch.arange(40 * 100, dtype=torch.float32).reshape(40, 100)
    blended = torch.zeros_like(x)
    for ys, xs in tiles:
        scatter_add(blended, ys, xs, gather(x, ys, xs) * tiles.window())
    assert torch.allclose(blended / total, x)  # blending identical tiles gives them back
    assert feather(8, 0).tolist() == [1.0] * 8


# --- loading ------------------------------------------------------------------------------------


def test_the_tiny_model_has_the_real_folder_format(sr_model):
    index = json.loads((sr_model / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionUpscaleLDM3DPipeline"
    assert index["max_noise_level"] == 350 and index["low_res_scheduler"][1] == "DDPMScheduler"
    unet = json.loads((sr_model / "unet" / "config.json").read_text())
    vae = json.loads((sr_model / "vae" / "config.json").read_text())
    assert unet["in_channels"] == 8 and unet["num_class_embeds"] == 1000
    assert vae["in_channels"] == vae["out_channels"] == 4 and len(vae["block_out_channels"]) == 4


def test_an_upscaler_and_a_generator_are_not_confused(sr_model, tiny_ldm3d):
    with pytest.raises(ModelLoadError, match="needs an LDM3D upscaler"):
        load_upscaler(tiny_ldm3d, device="cpu", progress=False)
    with pytest.raises(ModelLoadError, match="StableDiffusionUpscaleLDM3DPipeline"):
        load_pipeline(sr_model, device="cpu", progress=False)


# --- the command and the scene key -------------------------------------------------------------


def _ldm3d(*args):
    return subprocess.run(
        [sys.executable, "-m", "ldm3d_core.cli", *map(str, args)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def lowres(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lowres")
    rgb, depth16 = _smooth_panorama(64, 32)
    Image.fromarray(rgb).save(folder / "pano.png")
    Image.fromarray(depth16).save(folder / "pano_depth.png")
    Image.fromarray((depth16 // 257).astype(np.uint8)).save(folder / "pano_depth8.png")
    return folder


def test_cli_writes_rgb_and_16_bit_depth(sr_model, lowres, tmp_path):
    r = _ldm3d(
        "upscale", "--image", lowres / "pano.png", "--depth", lowres / "pano_depth.png",
        "--prompt", "a room", "--panorama", "--steps", "2", "--seed", "1", "--model", sr_model,
        "-q", "-o", tmp_path / "out",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rgb_path, depth_path = (tmp_path / "out" / f"pano_256x128_{k}.png" for k in ("rgb", "depth"))
    assert r.stdout.split() == [str(rgb_path), str(depth_path)]
    assert sorted(p.name for p in visible(tmp_path / "out")) == sorted(
        [rgb_path.name, depth_path.name]
    )
    with Image.open(depth_path) as im:
        depth = np.asarray(im)
    assert depth.shape == (128, 256) and depth.dtype == np.uint16 and depth.max() > 255
    with Image.open(rgb_path) as im:
        assert im.mode == "RGB" and im.size == (256, 128)
    # an 8-bit depth is read as value/255: the model sees nearly the same depth
    r8 = _ldm3d(
        "upscale", "--image", lowres / "pano.png", "--depth", lowres / "pano_depth8.png",
        "--panorama", "--steps", "2", "--seed", "1", "--model", sr_model, "-q", "--name", "d8",
        "-o", tmp_path / "out",
    )  # fmt: skip
    assert r8.returncode == 0, r8.stderr
    with Image.open(tmp_path / "out" / "d8_depth.png") as im:
        d8 = np.asarray(im).astype(np.float64)
    assert np.abs(d8 - depth).mean() < 0.05 * 65535


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "100x50"], "--size 100x50: the target must be a positive multiple of 8"),
        (["--scale", "0.5"], "--scale must be >= 1, got 0.5"),
        (["--size", "512x512", "--panorama"], "--panorama needs a 2:1 target"),
        (["--noise-level", "400"], "--noise-level must be in [0, 350]"),
        (["--tile", "50"], "--tile must be a multiple of 8"),
        (["--size", "abc"], "expected WIDTHxHEIGHT"),
        (["--model", "/no/such/model"], "/no/such/model"),
    ],
)
def test_cli_bad_input_is_one_line(sr_model, lowres, tmp_path, capsys, extra, message):
    from ldm3d_core.cli import main

    args = ["upscale", "--image", lowres / "pano.png", "--depth", lowres / "pano_depth.png"]
    if "--model" not in extra:
        args += ["--model", sr_model]
    try:
        code = main([*map(str, args), *extra, "-o", str(tmp_path / "out")])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ldm3d: error: ") and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_scene_source_upscale(sr_model, tmp_path):
    from depthfusion.pipeline import render_scene
    from depthfusion.scene import load_scene

    scene_file = tmp_path / "up.yaml"
    scene_file.write_text(
        "source:\n"
        "  procedural: {preset: room, width: 64, supersample: 1}\n"
        f"  upscale: {{model: {sr_model}, scale: 4, steps: 2, tile: 128}}\n"
        "outputs:\n"
        "  - {kind: rgbd, path: up.png}\n"
    )
    written = render_scene(load_scene(scene_file), quiet=True)
    assert [p.name for p in written] == ["up.png", "up_depth.png", "up_depth_preview.png"]
    with Image.open(tmp_path / "up.png") as im:
        assert im.size == (256, 128)
    with Image.open(tmp_path / "up_depth.png") as im:
        depth = np.asarray(im)
    assert depth.dtype == np.uint16 and len(np.unique(depth)) > 1000
    stats = seam_stats(depth)
    assert stats.seam <= 2 * stats.median_step


def test_tiles_of_a_flat_image_blend_without_steps(sr):
    # Not a panorama: tiles do not wrap, the image borders are nobody's neighbours.
    rgb, depth16 = _smooth_panorama(48, 32)
    out = sr(rgb, depth16, "x", seed=2, num_inference_steps=2, tile=96)
    assert out.rgb.shape == (1, 128, 192, 3) and np.isfinite(out.images).all()
    tiles = plan_tiles(128 // 8, 192 // 8, 96 // 8, round(96 // 8 * 0.25))
    assert tiles.x.tiled and tiles.y.tiled and not tiles.x.wrap
    cols = _column_steps(out.rgb[0])
    for s in tiles.x.starts[1:]:
        assert cols[s * 8 - 1] <= 2 * np.median(cols), s
