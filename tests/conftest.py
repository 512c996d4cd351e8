"""Shared pytest fixtures.

GL: one headless EGL context per test session (``gl_context``); tests take ``ctx``, which
also checks that the test left no OpenGL error behind (moderngl-window's pattern). Without
EGL the GL tests are skipped with the one-line reason (which names the packages to install).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest single-threaded, above all on a busy machine (modules that
    run them use it for all their tests: ``pytestmark = pytest.mark.usefixtures(...)``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def offline():
    """HF_HUB_OFFLINE=1 for a module's tests: nothing may reach the hub."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield mp


@pytest.fixture(scope="session")
def gl_context():
    """The process's shared moderngl context (headless EGL)."""
    from depthfusion.render.gl import GLUnavailableError, get_context

    try:
        return get_context()
    except GLUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def ctx(gl_context):
    """The shared context; fails the test if it leaves a GL error (GL_NO_ERROR checked after)."""
    stale = gl_context.error  # reading clears the flag, so each test starts clean
    assert stale == "GL_NO_ERROR", f"a GL error was left by earlier code: {stale}"
    yield gl_context
    assert gl_context.error == "GL_NO_ERROR"


@pytest.fixture(scope="session")
def tiny_dpt(tmp_path_factory):
    """A tiny random DPT depth model saved in the real transformers folder format."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation
    from transformers.models.dpt import DPTImageProcessorPil

    folder = tmp_path_factory.mktemp("models") / "tiny-dpt"
    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=64,
        patch_size=16,
        backbone_out_indices=[0, 1],
        neck_hidden_sizes=[16, 32],
        reassemble_factors=[2, 0.5],
        fusion_hidden_size=16,
        use_auxiliary_head=False,
        initializer_range=0.2,  # large enough that the random head's ReLU output varies
    )
    DPTForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessorPil(
        size={"height": 64, "width": 64}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_ldm3d(tmp_path_factory):
    """A tiny random 4-channel LDM3D saved in the real diffusers folder format."""
    from ldm3d_core.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-ldm3d", channels=4, seed=0)


def visible(folder):
    """A folder's entries without the project's ownership manifest (.depthfusion-outputs.json)."""
    from ldm3d_core.files import MANIFEST

    return (p for p in sorted(folder.iterdir()) if p.name != MANIFEST)


def psnr(a, b) -> float:
    """PSNR in dB of two 8-bit images (inf when equal)."""
    import numpy as np

    mse = float(((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean())
    return 10 * np.log10(255.0**2 / mse) if mse > 0 else float("inf")
