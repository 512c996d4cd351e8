"""The ``ldm3d`` command as a user meets it, on tiny random models (64 px, 2 steps, offline)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import visible
from PIL import Image

from ldm3d_core.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, offline):
    """A tiny 4-channel model made by the CLI itself."""
    folder = tmp_path_factory.mktemp("cli") / "tiny-4c"
    assert main(["make-tiny-model", str(folder), "--channels", "4"]) == 0
    return folder


def run(argv, capsys):
    """main() -> (exit status, stdout, stderr); argparse's SystemExit is caught."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ldm3d: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]


FAST = ["--steps", "2", "--seed", "0", "-q"]


def test_generate_writes_rgb_and_16bit_depth(tiny, tmp_path, capsys):
    code, out, err = run(["generate", "a red room", "-o", tmp_path, "--model", tiny, *FAST], capsys)
    assert code == 0, err
    rgb_path, depth_path = tmp_path / "a-red-room_s0_rgb.png", tmp_path / "a-red-room_s0_depth.png"
    assert out.split() == [str(rgb_path), str(depth_path)]
    with Image.open(rgb_path) as im:
        assert im.mode == "RGB" and im.size == (64, 64)
    with Image.open(depth_path) as im:
        depth = np.asarray(im)
    assert depth.dtype == np.uint16 and depth.shape == (64, 64) and depth.max() > 255
    assert sorted(p.name for p in visible(tmp_path)) == sorted([rgb_path.name, depth_path.name])


def test_generate_panorama_batch_and_options(tiny, tmp_path, capsys):
    argv = ["generate", "a", "b", "-o", tmp_path, "--model", tiny, "--panorama", *FAST]
    argv += ["--scheduler", "euler", "--guidance", "3", "--negative-prompt", "fog", "--name", "p"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    names = sorted(p.name for p in visible(tmp_path))
    assert names == ["p_00_depth.png", "p_00_rgb.png", "p_01_depth.png", "p_01_rgb.png"]
    with Image.open(tmp_path / "p_01_rgb.png") as im:
        assert im.size == (128, 64)


def test_img2img_with_depth_file(tiny, tmp_path, capsys):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(rng.integers(0, 65536, (64, 128), dtype=np.uint16)).save(tmp_path / "d.png")
    out_dir = tmp_path / "out"
    argv = ["img2img", "--image", tmp_path / "rgb.png", "--depth", tmp_path / "d.png", "night"]
    argv += ["--strength", "0.5", "-o", out_dir, "--model", tiny, "--panorama", *FAST]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    with Image.open(out_dir / "night_s0_depth.png") as im:
        assert np.asarray(im).dtype == np.uint16 and im.size == (128, 64)
    # .npy depth in [0, 1] works too
    np.save(tmp_path / "d.npy", rng.random((64, 128), dtype=np.float32))
    argv[4] = tmp_path / "d.npy"
    code, out, err = run([*argv, "--name", "npy"], capsys)
    assert code == 0, err
    assert (out_dir / "npy_rgb.png").is_file()


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["generate", "a", "--steps", "0"], ["--steps", "positive"]),
        (["generate", "a", "--height", "60"], ["multiple of 8"]),
        (["generate", "a", "--scheduler", "pndm"], ["--scheduler"]),
        (["img2img", "--image", "IMG", "--depth", "SMALL", "a", "--strength", "0.5"], ["64x32"]),
        (["img2img", "--image", "IMG", "--depth", "DEPTH", "a", "--strength", "1.5"], ["strength"]),
        (["img2img", "--image", "nope.png", "--depth", "DEPTH", "a"], ["nope.png", "not found"]),
    ],
)
def test_user_errors_are_one_line_exit_2(tiny, tmp_path, capsys, argv, fragments):
    rgb = np.zeros((64, 64, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "img.png")
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tmp_path / "depth.png")
    Image.fromarray(np.zeros((32, 64), np.uint16)).save(tmp_path / "small.png")
    subst = {
        "IMG": tmp_path / "img.png",
        "DEPTH": tmp_path / "depth.png",
        "SMALL": tmp_path / "small.png",
    }
    argv = [subst.get(a, a) for a in argv] + ["-o", tmp_path / "out", "--model", tiny, *FAST]
    code, _, err = run(argv, capsys)
    assert_user_error(code, err, *fragments)
    assert not (tmp_path / "out").exists() or not any(visible(tmp_path / "out"))


def test_missing_model_says_how_to_get_it(offline, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    code, _, err = run(["generate", "a", "--panorama", "-o", tmp_path, *FAST], capsys)
    assert_user_error(code, err, "Intel/ldm3d-pano", "huggingface-cli download Intel/ldm3d-pano")
    code, _, err = run(["generate", "a", "-o", tmp_path, "--model", tmp_path / "none"], capsys)
    assert_user_error(code, err, "not found")


def test_make_tiny_model_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    code, _, err = run(["make-tiny-model", tmp_path, "--channels", "6"], capsys)
    assert_user_error(code, err, "not empty")
    code, _, err = run(["make-tiny-model", tmp_path / "m", "--channels", "5"], capsys)
    assert code == 2


def test_pack_and_unpack_depth_still_work(tmp_path, capsys):
    d = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
    Image.fromarray(d).save(tmp_path / "d.png")
    assert run(["pack-depth", tmp_path / "d.png", "-o", tmp_path / "p.png"], capsys)[0] == 0
    assert run(["unpack-depth", tmp_path / "p.png", "-o", tmp_path / "u.png"], capsys)[0] == 0
    with Image.open(tmp_path / "u.png") as im:
        np.testing.assert_array_equal(np.asarray(im), d)
    code, _, err = run(["unpack-depth", tmp_path / "d.png", "-o", tmp_path / "x.png"], capsys)
    assert_user_error(code, err, "packed")


def test_console_script_exit_status_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ldm3d_core.cli", "generate", "a", "-o", str(tmp_path)]
        + ["--model", str(tmp_path / "missing"), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("ldm3d: error: ") and "Traceback" not in proc.stderr


def test_export_writes_half_precision_weights_that_generate_the_same(tiny, tmp_path, capsys):
    from safetensors.torch import load_file

    from ldm3d_core import load_pipeline

    out = tmp_path / "half"
    code, _, err = run(["export", tiny, "-o", out], capsys)
    assert code == 0, err
    full = sum(f.stat().st_size for f in tiny.rglob("*.safetensors"))
    half = sum(f.stat().st_size for f in out.rglob("*.safetensors"))
    assert half < 0.55 * full
    unet = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    assert {v.dtype for v in unet.values()} == {torch.float16}
    a = load_pipeline(tiny).txt2rgbd("a red room", seed=0, num_inference_steps=2)
    b = load_pipeline(out).txt2rgbd("a red room", seed=0, num_inference_steps=2)
    assert np.abs(a.depth[0] - b.depth[0]).max() < 0.02
    # An existing, non-empty target is refused in one line.
    capsys.readouterr()
    code, _, err = run(["export", tiny, "-o", out], capsys)
    assert_user_error(code, err, "not an empty folder")
