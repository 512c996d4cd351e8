"""The whole chain through the commands users run, on a micro model trained from scratch:
procedural captioned data -> stage 1 -> stage 2 -> a prompt scene rendered to a 360° stereo
still, with the embedded model's recipe (its architecture, caption tokenizer and shipped
configs) at micro scale. Proves every CI run that training, generation and rendering fit
together."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.gl]


def run(*argv, cwd):
    r = subprocess.run(
        [sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_dataset_train_generate_render(tmp_path):
    # 1. Data: captioned procedural panoramas (64x32).
    run("depthfusion", "dataset", "data", "--count", "6", "--width", "64", "--holdout", "0.1",
        "-q", cwd=tmp_path)  # fmt: skip
    # 2. The embedded model's architecture from scratch, its BPE trained on the captions.
    run("ldm3d_core.cli", "make-tiny-model", "micro", "--arch", "pano",
        "--tokenizer-from", "data", cwd=tmp_path)  # fmt: skip
    common = ["--set", "data.source=data", "--set", "data.resolution=32",
              "--set", "train.batch_size=2", "--set", "samples.every=100",
              "--set", "checkpoint.every=100", "--set", "train.max_steps=3"]  # fmt: skip
    # 3. Stage 1 (32 px windows, latent scale measured) then stage 2 (latents cached), each
    #    with the shipped config on the previous stage's output.
    run("ldm3d_core.cli", "train", "autoencoder", "--config", "autoencoder-pano",
        "--set", "model=micro", "--set", "output_dir=ae", "--set", "data.crop=32", *common,
        cwd=tmp_path)  # fmt: skip
    vae = __import__("json").loads((tmp_path / "ae/model/vae/config.json").read_text())
    assert vae["scaling_factor"] != 0.18215  # measured, not the SD default
    run("ldm3d_core.cli", "train", "diffusion", "--config", "diffusion-pano",
        "--set", "model=ae/model", "--set", "output_dir=ldm", *common, cwd=tmp_path)  # fmt: skip
    assert (tmp_path / "ldm/model/tokenizer/merges.txt").is_file()
    # 4. A prompt scene on the trained model, rendered as a 360° top-bottom still.
    (tmp_path / "scene.yaml").write_text(
        "source: {prompt: 360 view of a red room with a blue sphere, model: ldm/model,\n"
        "         generation: {steps: 2, width: 64}}\n"
        "sphere: {resolution: 64}\n"
        "outputs: [{kind: vr360, path: out/tb.png, resolution: 64},"
        " {kind: rgbd, path: out/pano.png}]\n"
    )
    run("depthfusion", "render", "scene.yaml", "-q", cwd=tmp_path)
    tb = cv2.imread(str(tmp_path / "out" / "tb.png"))
    assert tb.shape == (64, 64, 3) and tb.std() > 0
    depth = cv2.imread(str(tmp_path / "out" / "pano_depth.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (32, 64)
