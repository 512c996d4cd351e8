"""Evaluation: depth alignment metrics, FID / IS / CLIP through torchmetrics, rFID, results table,
and ``ldm3d evaluate`` — all offline, with tiny or hand-made feature extractors."""

from __future__ import annotations

import argparse
import csv
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg

from ldm3d_core.evaluation import (
    DepthMetrics,
    ImageMetrics,
    MetricUnavailableError,
    autoencoder_metrics,
    depth_to_disparity,
    image_depth_metrics,
    read_results,
    write_results,
)
from ldm3d_core.evaluation.cli import register
from ldm3d_core.evaluation.image import inception_weights_path, load_clip

# -- depth --------------------------------------------------------------------------------


def test_alignment_recovers_known_scale_and_shift():
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.05, 1.0, (48, 64))
    target = 2.5 * pred + 0.3
    m = image_depth_metrics(pred, target, samples=None)
    assert m["scale"] == pytest.approx(2.5, abs=1e-12)
    assert m["shift"] == pytest.approx(0.3, abs=1e-12)
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert m["rmse"] == pytest.approx(0.0, abs=1e-12)
    # the same reference given as metric depth (ZoeDepth gives metres)
    m = image_depth_metrics(pred, 1.0 / target, reference_is_depth=True)
    assert (m["scale"], m["shift"]) == (pytest.approx(2.5), pytest.approx(0.3))
    assert m["abs_rel"] < 1e-12


def test_abs_rel_and_rmse_on_known_arrays():
    # residual e is orthogonal to 1 and to pred, so the fit is the identity (scale 1, shift 0)
    pred = np.array([1.0, 2.0, 3.0, 4.0])
    target = pred + 0.1 * np.array([-1.0, 1.0, 1.0, -1.0])  # 0.9, 2.1, 3.1, 3.9
    m = image_depth_metrics(pred, target, samples=None)
    assert m["scale"] == pytest.approx(1.0) and m["shift"] == pytest.approx(0.0, abs=1e-12)
    # depth = 1 / disparity; AbsRel = mean |z_pred - z_true| / z_true = mean |t / p - 1|
    assert m["abs_rel"] == pytest.approx((0.1 / 1 + 0.1 / 2 + 0.1 / 3 + 0.1 / 4) / 4)
    assert m["abs_rel"] == pytest.approx(0.0520833, abs=1e-7)
    diffs = [1 - 1 / 0.9, 1 / 2 - 1 / 2.1, 1 / 3 - 1 / 3.1, 1 / 4 - 1 / 3.9]
    assert m["rmse"] == pytest.approx(math.sqrt(sum(d * d for d in diffs) / 4))
    assert m["rmse"] == pytest.approx(0.0571605, abs=1e-6)


def test_depth_metrics_mean_over_images_and_invalid_depth():
    acc = DepthMetrics(samples=None)
    pred = np.array([1.0, 2.0, 3.0, 4.0])
    acc.update(pred, 3 * pred + 1)  # exact: 0
    acc.update(pred, pred + 0.1 * np.array([-1.0, 1.0, 1.0, -1.0]))
    assert acc.compute()["abs_rel"] == pytest.approx(0.0520833 / 2, abs=1e-7)
    np.testing.assert_array_equal(
        depth_to_disparity(np.array([2.0, 0.0, -1.0, np.inf, np.nan])), [0.5, -1, -1, -1, -1]
    )
    with pytest.raises(ValueError, match="no depth maps"):
        DepthMetrics().compute()


# -- image metrics ------------------------------------------------------------------------


class ChannelMeans(torch.nn.Module):
    """A 3-feature 'Inception': the mean colour of each image."""

    num_features = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean(dim=(2, 3))


class ColourClass(torch.nn.Module):
    """An IS classifier with K classes: the class is the red value // 16, very confidently."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = x[:, 0, 0, 0].long() // 16
        return torch.nn.functional.one_hot(cls, 16).float() * 50.0


def _solid(colours: np.ndarray, size: int = 8) -> np.ndarray:
    """(N, 3) colours -> (N, size, size, 3) uint8 images of one colour each."""
    c = np.clip(np.rint(colours), 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(c[:, None, None, :], size, 1), size, 2)


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_against_hand_computed_frechet_distance():
    rng = np.random.default_rng(0)
    real = _solid(rng.normal(120, 20, (64, 3)))
    fake = _solid(rng.normal([140, 100, 120], [10, 30, 15], (64, 3)))
    fr, ff = (x[:, 0, 0, :].astype(np.float64) for x in (real, fake))

    same = ImageMetrics(("fid",), fid_features=ChannelMeans())
    same.update_real(real)
    same.update_generated(real)
    assert abs(same.compute()["fid"]) < 1e-6

    shifted = ImageMetrics(("fid",), fid_features=ChannelMeans())
    shifted.update_real(real)
    shifted.update_generated(np.clip(real.astype(int) + [10, -5, 0], 0, 255).astype(np.uint8))
    assert shifted.compute()["fid"] == pytest.approx(125.0, rel=1e-3)  # |(10, -5, 0)|^2

    metric = ImageMetrics(("fid",), fid_features=ChannelMeans())
    for i in range(0, 64, 16):  # batches accumulate
        metric.update_real(real[i : i + 16])
        metric.update_generated(fake[i : i + 16])
    assert metric.compute()["fid"] == pytest.approx(_frechet(fr, ff), rel=1e-4)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torchmetrics: buffers; std of 1 split
def test_inception_score_hand_values():
    metric = ImageMetrics(("is",), is_features=ColourClass(), is_splits=1)
    metric.update_generated(_solid(np.array([[16 * k + 3, 0, 0] for k in range(8)])))
    assert metric.compute()["is"] == pytest.approx(8.0, rel=1e-6)  # 8 sure, distinct classes
    metric = ImageMetrics(("is",), is_features=ColourClass(), is_splits=1)
    metric.update_generated(_solid(np.array([[5, 0, 0]] * 6)))
    assert metric.compute()["is"] == pytest.approx(1.0, rel=1e-6)  # one class only


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A tiny random CLIP model + processor in the real transformers folder format."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    from ldm3d_core.tiny import tiny_vocab, write_tiny_tokenizer

    folder = tmp_path_factory.mktemp("models") / "tiny-clip"
    vocab, _ = tiny_vocab()
    eos = vocab["<|endoftext|>"]
    small = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    config = CLIPConfig(
        text_config=dict(
            **small,
            vocab_size=len(vocab),
            max_position_embeddings=77,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=eos,
            pad_token_id=eos,
        ),
        vision_config=dict(**small, image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    tok_dir = write_tiny_tokenizer(tmp_path_factory.mktemp("tok"))
    CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=CLIPTokenizer.from_pretrained(tok_dir),
    ).save_pretrained(folder)
    return folder


def test_clip_similarity_matches_hand_computation(tiny_clip):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    captions = ["a red room", "the lake at dawn", "a snowy village"]
    metric = ImageMetrics(("clip",), clip_model=tiny_clip)
    metric.update_generated(images[:2], captions[:2])
    metric.update_generated(images[2], captions[2:])
    out = metric.compute()

    model, processor = load_clip(tiny_clip)
    expected = []
    with torch.no_grad():
        for image, caption in zip(images, captions, strict=True):
            pix = processor(images=[torch.from_numpy(image).permute(2, 0, 1)], return_tensors="pt")
            txt = processor(text=[caption], return_tensors="pt", padding=True)
            a = model.get_image_features(pix["pixel_values"]).pooler_output[0]
            b = model.get_text_features(txt["input_ids"], txt["attention_mask"]).pooler_output[0]
            expected.append(max(100 * float(torch.nn.functional.cosine_similarity(a, b, dim=0)), 0))
    assert metric.clip_scores == pytest.approx(expected, abs=1e-3)
    assert out["clip"] == pytest.approx(np.mean(expected), abs=1e-3)
    assert out["clip_std"] == pytest.approx(np.std(expected), abs=1e-3)
    with pytest.raises(ValueError, match="one caption per generated image"):
        metric.update_generated(images[:2], ["only one"])


def test_missing_networks_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MetricUnavailableError) as exc:
        inception_weights_path()
    msg = str(exc.value)
    assert "\n" not in msg and "weights-inception-2015-12-05-6726825d.pth" in msg
    assert "--inception-weights" in msg and str(tmp_path / "torch") in msg
    with pytest.raises(MetricUnavailableError, match="torch-fidelity|Inception-v3 weights"):
        ImageMetrics(("fid",))
    with pytest.raises(
        MetricUnavailableError,
        match=r"CLIP model 'openai/clip-vit-large-patch14' is not in the Hugging Face cache",
    ):
        load_clip()
    with pytest.raises(ValueError, match="unknown image metric"):
        ImageMetrics(("fud",))


# -- autoencoder --------------------------------------------------------------------------


class PerfectVAE:
    """Reconstructs its input exactly: rFID 0, depth AbsRel 0."""

    config = SimpleNamespace(in_channels=4)
    device, dtype = torch.device("cpu"), torch.float32

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: x))

    def decode(self, z):
        return SimpleNamespace(sample=z)


def _rgbd_items(n: int, size: int = 16, seed: int = 0) -> list[dict]:
    from ldm3d_core.codec import to_model_rgbd

    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        depth = rng.uniform(0.1, 1.0, (size, size)).astype(np.float32)
        x = torch.from_numpy(to_model_rgbd(rgb, depth, 4)).permute(2, 0, 1)
        items.append({"pixel_values": x, "caption": ""})
    return items


def test_autoencoder_metrics_of_perfect_and_real_vae(tiny_ldm3d):
    items = _rgbd_items(6)
    perfect = autoencoder_metrics(PerfectVAE(), items, fid_features=ChannelMeans(), batch_size=4)
    assert perfect["n"] == 6
    assert abs(perfect["rfid"]) < 1e-6
    assert perfect["abs_rel"] < 1e-4 and perfect["rmse"] < 1e-4  # 16-bit rounding only

    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(tiny_ldm3d / "vae").eval()
    out = autoencoder_metrics(vae, items, fid_features=ChannelMeans(), limit=4)
    assert out["n"] == 4 and out["rfid"] > 1.0 and 0 < out["abs_rel"] < 10
    with pytest.raises(ValueError, match="items have 4 channels but the VAE takes 6"):
        vae6 = SimpleNamespace(config=SimpleNamespace(in_channels=6))
        autoencoder_metrics(vae6, items, metrics=("depth",))


# -- results table ------------------------------------------------------------------------


def test_results_table_rows_replace_by_name(tmp_path):
    write_results(tmp_path, {"model": "ldm3d", "n": 2, "fid": 27.8201, "clip": 26.61})
    write_results(tmp_path, {"model": "dpt", "n": 2, "abs_rel": 0.0779, "rmse": 0.297})
    csv_path, md_path = write_results(tmp_path, {"model": "ldm3d", "n": 3, "fid": 28.0})
    rows = read_results(tmp_path)
    assert [(r["model"], r["n"], r["fid"]) for r in rows] == [
        ("dpt", "2", ""),
        ("ldm3d", "3", "28.0"),
    ]
    assert csv_path.read_text().splitlines()[0] == "model,n,fid,abs_rel,rmse"
    assert md_path.read_text() == (
        "| Model | Images | FID ↓ | AbsRel ↓ | RMSE ↓ |\n"
        "| --- | ---: | ---: | ---: | ---: |\n"
        "| dpt | 2 |  | 0.0779 | 0.2970 |\n"
        "| ldm3d | 3 | 28.00 |  |  |\n"
    )


# -- ldm3d evaluate -----------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ldm3d")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def _images(folder, n=3, size=32):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            folder / f"{i}.png"
        )
        (folder / f"{i}.txt").write_text(f"caption number {i}\n", encoding="utf-8")


def test_evaluate_generated_folder(tmp_path, tiny_dpt, tiny_clip, capsys):
    from ldm3d_core.data import build_dataset

    _images(tmp_path / "gen")
    # "generated" depth = the reference model's own estimate: alignment makes it exact
    build_dataset(tmp_path / "gen", tmp_path / "gen_data", depth_model=str(tiny_dpt), device="cpu")
    argv = ["evaluate", "--generated", str(tmp_path / "gen_data"), "--reference"]
    argv += [str(tmp_path / "gen_data"), "-o", str(tmp_path / "eval"), "--metrics", "depth,clip"]
    argv += ["--depth-reference", str(tiny_dpt), "--clip-model", str(tiny_clip), "--device", "cpu"]
    args = _parse(argv)
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "| Model | Images | CLIP ↑ | CLIP std | AbsRel ↓ | RMSE ↓ |" in printed
    (row,) = read_results(tmp_path / "eval")
    assert row["model"] == "gen_data" and row["n"] == "3"
    assert float(row["abs_rel"]) < 0.01  # 16-bit rounding of the stored depth only
    assert 0.0 <= float(row["clip"]) <= 100.0


def test_evaluate_model_generates_then_scores(tmp_path, tiny_ldm3d, tiny_clip):
    _images(tmp_path / "ref", n=2)
    argv = ["evaluate", "--model", str(tiny_ldm3d), "--reference", str(tmp_path / "ref")]
    argv += ["-o", str(tmp_path / "eval"), "--metrics", "clip", "--clip-model", str(tiny_clip)]
    argv += ["--steps", "2", "--height", "64", "--width", "64", "--device", "cpu", "--name", "tiny"]
    args = _parse(argv)
    assert args.func(args) == 0
    gen = tmp_path / "eval" / "generated"
    with open(gen / "manifest.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["caption"] for r in rows] == ["caption number 0", "caption number 1"]
    with Image.open(gen / "00001_depth.png") as im:
        assert np.asarray(im).dtype == np.uint16 and im.size == (64, 64)
    (row,) = read_results(tmp_path / "eval")
    assert row["model"] == "tiny" and row["n"] == "2"


def test_evaluate_vae_depth(tmp_path, tiny_ldm3d):
    ref = tmp_path / "ref"
    _images(ref, n=2)
    for i in range(2):
        d = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (32, 1))
        Image.fromarray(d).save(ref / f"{i}_depth.png")
    argv = [
        "evaluate",
        "--vae",
        str(tiny_ldm3d),
        "--reference",
        str(ref),
        "-o",
        str(tmp_path / "e"),
    ]
    args = _parse([*argv, "--metrics", "depth", "--resolution", "32", "--device", "cpu"])
    assert args.func(args) == 0
    (row,) = read_results(tmp_path / "e")
    assert row["n"] == "2" and math.isfinite(float(row["abs_rel"])) and "rfid" not in row


def test_evaluate_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _images(tmp_path / "ref", n=2)
    base = ["evaluate", "--reference", str(tmp_path / "ref"), "-o", str(tmp_path / "e")]
    cases = [
        ([], "give exactly one of --model, --generated, --vae"),
        (
            ["--generated", str(tmp_path / "ref"), "--metrics", "fid,bogus"],
            "unknown metric(s) bogus",
        ),
        (["--generated", str(tmp_path / "ref"), "--metrics", "fid"], "torch-fidelity"),
        (["--vae", str(tmp_path / "ref"), "--metrics", "fid"], "for --vae; choose from rfid,depth"),
    ]
    for extra, text in cases:
        args = _parse(base + extra)
        with pytest.raises(SystemExit) as exc:
            args.func(args)
        msg = str(exc.value)
        assert msg.startswith("ldm3d: error: ") and "\n" not in msg
        if text == "torch-fidelity":
            assert "torch-fidelity" in msg or "Inception-v3 weights" in msg
        else:
            assert text in msg


def test_image_quality_measures_edges_blotches_and_noise():
    from depthfusion.prompt_following import image_quality

    flat = np.full((128, 256, 3), 120, np.uint8)
    q = image_quality(flat)
    assert q.sharpness == 0.0 and q.blotches < 1e-9 and q.noise == 0.0
    # Vertical stripes 8 px wide, 100 grey levels apart: every 8th luma step is 100.
    stripes = flat.copy()
    stripes[:, (np.arange(256) // 8) % 2 == 1] = 220
    assert image_quality(stripes).sharpness == pytest.approx(100, abs=1)
    # Gaussian pixel noise of sigma 3 reads as about 3 (the Haar band's robust sigma).
    rng = np.random.default_rng(0)
    noisy = np.clip(120 + rng.normal(0, 3, flat.shape[:2])[..., None], 0, 255)
    q = image_quality(np.repeat(noisy, 3, axis=2).round().astype(np.uint8))
    assert 2.6 < q.noise < 3.4 and q.blotches < 0.2  # grey noise has no chroma
    # Colour patches 32 px wide: blotches, no pixel noise.
    patches = flat.copy()
    patches[(np.arange(128) // 32 % 2 == 1)[:, None] & (np.arange(256) // 32 % 2 == 1)] = (
        160,
        100,
        120,
    )
    q = image_quality(patches)
    assert q.blotches > 2.0 and q.noise == 0.0
