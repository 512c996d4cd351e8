"""The ``ldm3d`` commands refuse bad input in one line with exit status 2, before any work:

- every subcommand reports user errors as ``ldm3d: error: ...`` and status 2 (the depth,
  build-dataset, evaluate and convert-vae commands used to exit with 1);
- generation sizes, steps, guidance and image counts are bounded (environment variables move
  the bounds) and checked before a model loads; an allocation that fails anyway is one line
  naming the flag that asked for it;
- an image whose header claims more pixels than the limit is refused before it is decoded
  (a 2 MB PNG claiming 40000 x 20000 pixels costs milliseconds, not 2.4 GB);
- FIFOs and devices given as inputs are refused, not read (they would block or never end);
- a YAML config with a key given twice is an error naming the file and the key.
"""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ldm3d_core.cli import build_parser, main

pytestmark = pytest.mark.usefixtures("one_thread", "offline")

FAST = ["--steps", "2", "--seed", "0", "-q"]


@pytest.fixture(autouse=True)
def no_hang():
    """A test that blocks (reading a FIFO) fails after 60 s instead of hanging the suite."""

    def expire(signum, frame):
        raise TimeoutError("the command blocked (it opened a FIFO or device?)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse, or an error that escaped main()
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *fragments) -> str:
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ldm3d: error: "), err
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    return lines[0]


def crafted_png(path: Path, width: int, height: int, payload=(1000, 700)) -> Path:
    """A valid PNG of ``payload`` random pixels (about 2 MB) whose IHDR then claims
    ``width`` x ``height``, with the chunk's CRC recomputed: a decompression bomb header."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (payload[1], payload[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, compress_level=0)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- exit status 2, one line, in every subcommand -------------------------------------------


def test_subcommand_errors_exit_2_in_one_line(tmp_path, capsys):
    """These raised SystemExit("ldm3d: error: ...") inside the command, which Python turns
    into exit status 1; main() now reports them with status 2."""
    missing = tmp_path / "missing"
    cases = [
        (["depth", missing / "a.png", "-o", tmp_path / "d.png"], ["a.png: file not found"]),
        (["build-dataset", missing, "-o", tmp_path / "ds", "-q"], ["folder not found"]),
        (["convert-vae", missing, "-o", tmp_path / "vae"], ["folder not found"]),
        (
            ["evaluate", "--generated", tmp_path, "--reference", tmp_path, "-o", tmp_path / "e"]
            + ["--metrics", "bogus"],
            ["unknown metric(s) bogus"],
        ),
        (["evaluate", "--reference", tmp_path, "-o", tmp_path / "e"], ["exactly one of"]),
        (["train", "diffusion", "--config", missing / "c.yaml"], ["config file not found"]),
        (["export", missing, "-o", tmp_path / "x"], ["not found"]),
    ]
    for argv, fragments in cases:
        code, _, err = run(argv, capsys)
        one_line_error(code, err, *fragments)


def test_console_script_depth_error_exits_2(tmp_path):
    """The real process status (``ldm3d depth`` exited 1 before)."""
    os.mkfifo(tmp_path / "fifo.png")
    proc = subprocess.run(
        [sys.executable, "-m", "ldm3d_core.cli", "depth", str(tmp_path / "fifo.png")]
        + ["-o", str(tmp_path / "d.png")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"ldm3d: error: {tmp_path / 'fifo.png'}: is a FIFO, not a regular file"
    ]


def _corrupt_copy(model: Path, dest: Path, part: str) -> Path:
    import shutil

    shutil.copytree(model, dest)
    f = dest / part
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    return f


def test_corrupt_model_parts_are_one_line(tiny_ldm3d, tmp_path, capsys):
    """A truncated weights file or a broken tokenizer (tokenizers raises a bare Exception)
    was a traceback."""
    broken = _corrupt_copy(tiny_ldm3d, tmp_path / "m1", "tokenizer/vocab.json")
    code, _, err = run(
        ["generate", "a", "-o", tmp_path / "o", "--model", broken.parents[1]], capsys
    )
    one_line_error(code, err, tmp_path / "m1" / "tokenizer", "cannot load")
    weights = _corrupt_copy(tiny_ldm3d, tmp_path / "m2", "unet/diffusion_pytorch_model.safetensors")
    code, _, err = run(["export", tmp_path / "m2", "-o", tmp_path / "half"], capsys)
    one_line_error(code, err, weights, "cannot read these weights")
    assert not (tmp_path / "half").exists()


# -- generation bounds, before the model loads -----------------------------------------------


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (
            ["--width", "8192"],
            ["--width 8192: above the limit of 4096", "LDM3D_MAX_GENERATION_WIDTH"],
        ),
        (["--height", "4104"], ["--height 4104: above the limit of 4096"]),
        (["--steps", "1001"], ["--steps 1001: above the limit of 1000", "LDM3D_MAX_STEPS"]),
        (["--guidance", "nan"], ["--guidance must be a number >= 0, got nan"]),
        (["--guidance", "-1"], ["--guidance must be a number >= 0"]),
        (["--guidance", "1e9"], ["--guidance 1e+09: above the limit of 100"]),
        (["--num-images", "65"], ["--num-images 65: above the limit of 64"]),
        (["--seed", str(2**64)], ["--seed must be a 64-bit integer"]),
        (["--width", "60"], ["--width must be a multiple of 8, got 60"]),
        (["--panorama", "--width", "72"], ["--width must be a multiple of 16 for a panorama"]),
        (["--panorama", "--width", "128", "--height", "128"], ["must be 2 x --height"]),
    ],
)
def test_generation_bounds_are_checked_before_the_model_loads(tmp_path, capsys, extra, fragments):
    # The model does not exist: an error about it would mean the bound came too late.
    argv = ["generate", "a", "-o", tmp_path / "o", "--model", tmp_path / "no-model", "-q"]
    code, _, err = run(argv + extra, capsys)
    line = one_line_error(code, err, *fragments)
    assert "no-model" not in line
    assert not (tmp_path / "o").exists()


def test_bounds_move_with_environment_variables(tmp_path, capsys, monkeypatch):
    argv = ["generate", "a", "-o", tmp_path / "o", "--model", tmp_path / "no-model", "-q"]
    monkeypatch.setenv("LDM3D_MAX_GENERATION_WIDTH", "64")
    code, _, err = run([*argv, "--width", "72"], capsys)
    one_line_error(code, err, "--width 72: above the limit of 64")
    code, _, err = run([*argv, "--width", "64"], capsys)  # within the bound: the model is next
    one_line_error(code, err, "no-model")
    monkeypatch.setenv("LDM3D_MAX_STEPS", "5000")
    code, _, err = run([*argv, "--steps", "2000"], capsys)
    one_line_error(code, err, "no-model")
    monkeypatch.setenv("LDM3D_MAX_STEPS", "lots")
    code, _, err = run([*argv, "--steps", "2"], capsys)
    one_line_error(code, err, "LDM3D_MAX_STEPS='lots': not a number")


def test_help_documents_the_bounds(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for command in ("generate", "img2img"):
        parser = build_parser()
        sub = next(a for a in parser._actions if a.dest == "command").choices[command]
        text = " ".join(sub.format_help().split())
        assert "at most 4096, env LDM3D_MAX_GENERATION_WIDTH" in text
        assert "at most 4096, env LDM3D_MAX_GENERATION_HEIGHT" in text
        assert "at most 1000, env LDM3D_MAX_STEPS" in text
        assert "at most 100, env LDM3D_MAX_GUIDANCE" in text


def test_panorama_width_alone_gives_a_2_to_1_image(tiny_ldm3d, tmp_path, capsys):
    argv = ["generate", "a", "-o", tmp_path, "--model", tiny_ldm3d, "--panorama", *FAST]
    code, _, err = run([*argv, "--width", "128", "--name", "p"], capsys)
    assert code == 0, err
    with Image.open(tmp_path / "p_rgb.png") as im:
        assert im.size == (128, 64)


def test_img2img_input_size_is_bounded(tmp_path, capsys):
    """Without --width/--height img2img generates at the input's size: the same bound."""
    Image.fromarray(np.zeros((8, 4104, 3), np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.zeros((8, 4104), np.uint16)).save(tmp_path / "d.png")
    argv = ["img2img", "--image", tmp_path / "wide.png", "--depth", tmp_path / "d.png", "a"]
    argv += ["-o", tmp_path / "o", "--model", tmp_path / "no-model", "-q"]
    code, _, err = run(argv, capsys)
    one_line_error(code, err, "--image", "4104x8", "--width 4104: above the limit of 4096")


def _exhaust_memory(*args, **kwargs):
    # A real allocation failure from torch's allocator (2**62 bytes can never be mapped).
    return torch.empty(1 << 62, dtype=torch.uint8)


def test_out_of_memory_names_the_flag(tiny_ldm3d, tmp_path, capsys, monkeypatch):
    from ldm3d_core.pipelines.base import LDM3DPipelineBase

    monkeypatch.setattr(LDM3DPipelineBase, "denoise", _exhaust_memory)
    argv = ["generate", "a", "-o", tmp_path / "o", "--model", tiny_ldm3d, *FAST]
    code, _, err = run([*argv, "--width", "64"], capsys)
    one_line_error(code, err, "--width 64: out of memory; try a smaller --width")
    code, _, err = run([*argv, "--num-images", "2"], capsys)
    one_line_error(code, err, "--num-images 2: out of memory; try a smaller --num-images")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(LDM3DPipelineBase, "denoise", no_memory)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tmp_path / "d.png")
    code, _, err = run(
        ["img2img", "--image", tmp_path / "rgb.png", "--depth", tmp_path / "d.png", "a"]
        + ["--height", "64", "-o", tmp_path / "o", "--model", tiny_ldm3d, *FAST],
        capsys,
    )
    one_line_error(code, err, "--height 64: out of memory; try a smaller --height")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# -- pixel caps from the header, before decoding --------------------------------------------


def test_crafted_png_is_a_valid_bomb(tmp_path):
    """The test input itself: PIL reads its header and believes it (and would refuse it only
    through its own guard, which is not the documented limit)."""
    bomb = crafted_png(tmp_path / "bomb.png", 40000, 20000)
    assert 1.5e6 < bomb.stat().st_size < 3e6
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(bomb) as im:
            assert im.size == (40000, 20000)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@pytest.mark.parametrize("size", [(40000, 20000), (12000, 12000)])
def test_depth_refuses_a_decompression_bomb_before_decoding(tmp_path, capsys, size):
    """12000 x 12000 (144 M pixels) is above the project's limit (134 M) but below PIL's own
    guard (179 M): only the header check stops it from being decoded (432 MB)."""
    bomb = crafted_png(tmp_path / "bomb.png", *size)
    rss, t0 = max_rss_mb(), time.perf_counter()
    code, _, err = run(
        ["depth", bomb, "-o", tmp_path / "d.png", "--model", tmp_path / "no"], capsys
    )
    elapsed, grown = time.perf_counter() - t0, max_rss_mb() - rss
    one_line_error(
        code, err, bomb, f"{size[0]}x{size[1]}", "above the limit", "DEPTHFUSION_MAX_PIXELS"
    )
    assert elapsed < 1.0, elapsed
    assert grown < 100, f"{grown:.0f} MB more memory"
    assert not (tmp_path / "d.png").exists()


def test_other_readers_refuse_the_bomb_too(tmp_path, capsys):
    bomb = crafted_png(tmp_path / "bomb.png", 40000, 20000)
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tmp_path / "d.png")
    code, _, err = run(
        ["img2img", "--image", bomb, "--depth", tmp_path / "d.png", "a", "-o", tmp_path / "o"]
        + ["--model", tmp_path / "no-model", "-q"],
        capsys,
    )
    one_line_error(code, err, bomb, "above the limit")
    code, _, err = run(["unpack-depth", bomb, "-o", tmp_path / "u.png"], capsys)
    one_line_error(code, err, bomb, "above the limit")
    # a .npy depth map whose header claims 20000 x 40000 floats (3.2 GB) and holds 16 bytes
    npy = tmp_path / "big.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (20000, 40000), }"
    header = header.ljust(117) + "\n"
    npy.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    npy.write_bytes(npy.read_bytes() + b"\0" * 16)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "rgb.png")
    code, _, err = run(
        ["img2img", "--image", tmp_path / "rgb.png", "--depth", npy, "a", "-o", tmp_path / "o"]
        + ["--model", tmp_path / "no-model", "-q"],
        capsys,
    )
    one_line_error(code, err, npy, "40000x20000", "above the limit")


def test_pixel_limit_moves_with_depthfusion_max_pixels(tmp_path, capsys, monkeypatch):
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(tmp_path / "small.png")
    monkeypatch.setenv("DEPTHFUSION_MAX_PIXELS", "1000")
    code, _, err = run(["depth", tmp_path / "small.png", "-o", tmp_path / "d.png"], capsys)
    one_line_error(code, err, "small.png", "64x32", "above the limit")


def test_build_dataset_and_training_data_skip_a_bomb(tiny_dpt, tmp_path, capsys):
    from ldm3d_core.data import RGBDDataset

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(images / "good.png")
    crafted_png(images / "bomb.png", 40000, 20000)
    out = tmp_path / "ds"
    argv = ["build-dataset", images, "-o", out, "--depth-model", tiny_dpt, "--device", "cpu"]
    t0 = time.perf_counter()
    code, stdout, err = run([*argv, "-q"], capsys)
    assert code == 0, err
    assert "1 items (1 new depth maps, 1 images skipped)" in stdout
    assert time.perf_counter() - t0 < 30
    # the training dataset: an item whose image is a bomb is skipped with the reason
    manifest = out / "manifest.csv"
    rows = manifest.read_text().splitlines()
    rows.append(f"{os.path.relpath(images / 'bomb.png', out)},{rows[1].split(',')[1]},a bomb")
    manifest.write_text("\n".join(rows) + "\n")
    ds = RGBDDataset(out, 16)
    assert len(ds) == 1 and ds.skip_counts["unreadable"] == 1
    assert "above the limit" in ds.skipped[0][1]


# -- FIFOs, devices and duplicate YAML keys --------------------------------------------------


def test_fifo_and_device_inputs_are_refused(tmp_path, capsys):
    fifo = tmp_path / "in.png"
    os.mkfifo(fifo)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "rgb.png")
    model = ["--model", tmp_path / "no-model", "-q", "-o", tmp_path / "o"]
    cases = [
        (["depth", fifo, "-o", tmp_path / "d.png"], [fifo, "is a FIFO"]),
        (["depth", "/dev/zero", "-o", tmp_path / "d.png"], ["/dev/zero: is a device"]),
        (["img2img", "--image", fifo, "--depth", fifo, "a", *model], [fifo, "is a FIFO"]),
        (
            ["img2img", "--image", tmp_path / "rgb.png", "--depth", "/dev/zero", "a", *model],
            ["/dev/zero: is a device"],
        ),
        (["pack-depth", fifo, "-o", tmp_path / "p.png"], [fifo, "is a FIFO"]),
        (["train", "diffusion", "--config", fifo], [fifo, "is a FIFO", "config file"]),
        (["train", "autoencoder", "--config", "/dev/zero"], ["/dev/zero: is a device"]),
        (
            ["make-tiny-model", tmp_path / "m", "--tokenizer-from", fifo],
            [fifo, "is a FIFO"],
        ),
        (
            ["evaluate", "--generated", tmp_path, "--reference", fifo, "-o", tmp_path / "e"]
            + ["--metrics", "depth"],
            [fifo, "is a FIFO"],
        ),
    ]
    for argv, fragments in cases:
        code, _, err = run(argv, capsys)
        one_line_error(code, err, *fragments)


def test_duplicate_yaml_key_in_a_train_config_names_file_and_key(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "model: m\noutput_dir: out\ndata: {synthetic: 4}\n"
        "train:\n  max_steps: 5\ntrain:\n  max_steps: 50000\n"
    )
    code, _, err = run(["train", "diffusion", "--config", cfg, "--print-config"], capsys)
    one_line_error(code, err, f"{cfg}: line 6: duplicate key 'train' (first at line 4)")
    # nested, and in a --set value
    cfg.write_text("model: m\noutput_dir: out\ndata: {synthetic: 4, synthetic: 8}\n")
    code, _, err = run(["train", "diffusion", "--config", cfg, "--print-config"], capsys)
    one_line_error(code, err, str(cfg), "duplicate key 'synthetic'")
    cfg.write_text("model: m\noutput_dir: out\ndata: {synthetic: 4}\n")
    code, _, err = run(
        ["train", "diffusion", "--config", cfg, "--print-config"]
        + ["--set", "train={max_steps: 1, max_steps: 2}"],
        capsys,
    )
    one_line_error(code, err, "--set train={max_steps: 1, max_steps: 2}", "duplicate key")
    # a YAML tag that would construct a Python object is refused, not run
    cfg.write_text("model: !!python/object/apply:os.system ['touch MARKER']\noutput_dir: o\n")
    code, _, err = run(["train", "diffusion", "--config", cfg, "--print-config"], capsys)
    one_line_error(code, err, str(cfg), "line 1")
    assert not Path("MARKER").exists()
    # a valid config still loads and prints
    cfg.write_text(yaml.safe_dump({"model": "m", "output_dir": "o", "data": {"synthetic": 4}}))
    code, out, err = run(["train", "diffusion", "--config", cfg, "--print-config"], capsys)
    assert code == 0 and yaml.safe_load(out)["data"]["synthetic"] == 4, err
