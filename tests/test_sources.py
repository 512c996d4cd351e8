"""Model-backed scene sources (prompt, panorama + img2img, depth: estimate) on tiny random
models saved in the real folder formats; nothing reaches the network."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import visible

from depthfusion.cli import main
from depthfusion.rgbd.io import load_rgbd


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write_scene(folder: Path, source: str) -> Path:
    scene = folder / "scene.yaml"
    scene.write_text(
        f"source: {source}\n"
        "sphere: {resolution: 64}\n"
        "outputs: [{kind: rgbd, path: out/rgbd.png}, {kind: mesh, path: out/mesh.glb}]\n"
    )
    return scene


def small_panorama(folder: Path) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "pano.png"), rgb[..., ::-1])
    depth = np.tile(np.linspace(0.2, 0.8, 64), (32, 1))
    cv2.imwrite(str(folder / "depth.png"), np.rint(depth * 65535).astype(np.uint16))


def test_prompt_source_matches_the_pipeline(tiny_ldm3d, tmp_path):
    from ldm3d_core import load_pipeline

    gen = "{seed: 7, steps: 2, width: 128}"
    scene = write_scene(tmp_path, f"{{prompt: a red room, model: {tiny_ldm3d}, generation: {gen}}}")
    assert main(["render", str(scene), "-q"]) == 0
    rgbd = load_rgbd(tmp_path / "out" / "rgbd.png", tmp_path / "out" / "rgbd_depth.png")
    assert (rgbd.width, rgbd.height) == (128, 64)
    assert (tmp_path / "out" / "mesh.glb").stat().st_size > 10_000
    # The scene's render is the pipeline's panorama for the same settings, bit for bit.
    pipe = load_pipeline(tiny_ldm3d, device="cpu", progress=False)
    ref = pipe.txt2rgbd(
        "a red room",
        width=128,
        height=64,
        num_inference_steps=2,
        seed=7,
        panorama=True,
        guidance_scale=5.0,
    )
    np.testing.assert_array_equal(rgbd.rgb, ref.rgb[0])
    np.testing.assert_allclose(rgbd.depth, ref.depth[0], atol=1 / 65535)
    assert rgbd.rgb.std() > 1  # an image, not a constant


def test_img2img_source_transforms_the_panorama(tiny_ldm3d, tmp_path):
    small_panorama(tmp_path)
    src = (
        f"{{panorama: {{image: pano.png, depth: depth.png}}, model: {tiny_ldm3d}, "
        "img2img: {prompt: at night, strength: 0.5}, generation: {steps: 2}}"
    )
    assert main(["render", str(write_scene(tmp_path, src)), "-q"]) == 0
    out = load_rgbd(tmp_path / "out" / "rgbd.png", tmp_path / "out" / "rgbd_depth.png")
    before = load_rgbd(tmp_path / "pano.png", tmp_path / "depth.png")
    assert (out.width, out.height) == (64, 32)
    assert np.abs(out.rgb.astype(int) - before.rgb).mean() > 1  # it changed the image


def test_estimated_depth_source(tiny_dpt, tmp_path):
    small_panorama(tmp_path)
    src = (
        f"{{panorama: {{image: pano.png, depth: estimate}}, depth_model: {tiny_dpt}, device: cpu}}"
    )
    assert main(["render", str(write_scene(tmp_path, src)), "-q"]) == 0
    out = load_rgbd(tmp_path / "out" / "rgbd.png", tmp_path / "out" / "rgbd_depth.png")
    assert out.depth.shape == (32, 64)
    assert out.depth.min() >= 0 and out.depth.max() <= 1 and out.depth.std() > 0.01


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("{prompt: a room, model: no/such-model}", "source.model"),
        (
            "{panorama: {image: pano.png, depth: estimate}, depth_model: no/such-dpt}",
            "source.depth_model",
        ),
    ],
)
def test_missing_models_are_one_line_errors(tmp_path, capsys, source, field):
    small_panorama(tmp_path)
    assert main(["render", str(write_scene(tmp_path, source)), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0] and "Traceback" not in err[0], err
    # Output folders are checked (created) before the source runs; nothing is written in them.
    assert not (tmp_path / "out").exists() or not any(visible(tmp_path / "out"))
