"""Training data: folder / manifest layouts, RGBDDataset items and augmentation, build-dataset."""

from __future__ import annotations

import argparse
import csv
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from ldm3d_core.codec import from_model_rgbd, to_model_rgbd
from ldm3d_core.data import RGBDDataset, build_dataset, iter_samples, read_depth
from ldm3d_core.data.build import register


def _pair(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RGB whose red channel is a ramp, and depth16 = red * 257, so depth == red / 255."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgb[..., 0] = (np.arange(w)[None, :] * 7 + np.arange(h)[:, None] * 3) % 256
    return rgb, rgb[..., 0].astype(np.uint16) * 257


def _write(folder, name, rgb, depth16=None, caption=None, depth_in_subdir=False):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(folder / f"{name}.png")
    if depth16 is not None:
        target = (
            folder / "depth" / f"{name}.png" if depth_in_subdir else folder / f"{name}_depth.png"
        )
        target.parent.mkdir(exist_ok=True)
        Image.fromarray(depth16).save(target)
    if caption is not None:
        (folder / f"{name}.txt").write_text(caption + "\n", encoding="utf-8")


@pytest.mark.parametrize("channels", [4, 6])
def test_item_is_the_pipelines_vae_input(tmp_path, channels):
    rgb, d16 = _pair(32, 32)
    _write(tmp_path, "a", rgb, d16, "a red room")
    ds = RGBDDataset(tmp_path, 32, channels=channels, augment=False)
    item = ds[0]
    assert set(item) == {"pixel_values", "caption"} and item["caption"] == "a red room"
    x = item["pixel_values"]
    assert x.dtype == torch.float32 and x.shape == (channels, 32, 32)
    expected = to_model_rgbd(rgb, d16.astype(np.float32) / 65535, channels)
    np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), expected)
    back_rgb, _, back16 = from_model_rgbd(x.permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(back_rgb, rgb)
    np.testing.assert_array_equal(back16, d16)  # 16-bit depth survives exactly
    assert x.min() >= -1 and x.max() <= 1


def test_crops_and_flips_move_rgb_and_depth_together(tmp_path):
    rgb, d16 = _pair(40, 56)
    _write(tmp_path, "a", rgb, d16, "x", depth_in_subdir=True)
    ds = RGBDDataset(tmp_path, 40, channels=4, augment=True, seed=3)
    seen = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        x = ds[0]["pixel_values"].numpy()
        assert x.shape == (4, 40, 40)
        # depth was built as red / 255: the pair stays aligned through crop and flip
        np.testing.assert_allclose(x[3], x[0], atol=1e-6)
        # the crop is a (possibly mirrored) window of the source
        red = np.rint((x[0] + 1) * 127.5).astype(np.uint8)
        matches = [
            (left, flip)
            for left in range(17)
            for flip in (False, True)
            if np.array_equal(
                red, (rgb[:, left : left + 40, 0])[:, ::-1] if flip else rgb[:, left : left + 40, 0]
            )
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) >= 4 and {f for _, f in seen} == {False, True}
    ds.set_epoch(5)
    torch.testing.assert_close(ds[0]["pixel_values"], ds[0]["pixel_values"])  # deterministic
    other = RGBDDataset(tmp_path, 40, channels=4, seed=3)
    other.set_epoch(5)
    torch.testing.assert_close(other[0]["pixel_values"], ds[0]["pixel_values"])


def test_batches_through_a_dataloader(tmp_path):
    for i in range(3):
        _write(tmp_path, f"im{i}", *_pair(32, 48, seed=i), f"caption {i}")
    ds = RGBDDataset(tmp_path, 32, channels=6)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["pixel_values"].shape == (3, 6, 32, 32)
    assert batch["caption"] == ["caption 0", "caption 1", "caption 2"]


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, ldm3d_core.data, ldm3d_core.evaluation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_resize_shorter_side_and_centre_crop(tmp_path):
    rgb, d16 = _pair(64, 96)
    _write(tmp_path, "a", rgb, d16)
    x = RGBDDataset(tmp_path, 32, augment=False)[0]["pixel_values"]
    assert x.shape == (4, 32, 32)
    assert RGBDDataset(tmp_path, 32, augment=False)[0]["caption"] == ""  # no sidecar


def test_panorama_kept_2to1_and_rolled(tmp_path):
    rgb, d16 = _pair(16, 32)
    _write(tmp_path, "pano", rgb, d16, "360 view")
    _write(tmp_path, "square", *_pair(16, 16), "not a panorama")
    plain = RGBDDataset(tmp_path, 16, panorama=True, augment=False)
    assert len(plain) == 1 and plain.skip_counts["not 2:1"] == 1
    base = plain[0]["pixel_values"].numpy()
    assert base.shape == (4, 16, 32)
    ds = RGBDDataset(tmp_path, 16, panorama=True, augment=True, seed=1)
    kinds = set()
    for epoch in range(10):
        ds.set_epoch(epoch)
        x = ds[0]["pixel_values"].numpy()
        np.testing.assert_allclose(x[3], x[0], atol=1e-6)
        found = [
            (s, f)
            for s in range(32)
            for f in (False, True)
            if np.array_equal(x, np.roll(base[..., ::-1] if f else base, s, axis=-1))
        ]
        assert len(found) == 1
        kinds.add(found[0])
    assert len({s for s, _ in kinds}) >= 5 and {f for _, f in kinds} == {False, True}


def test_panorama_resized_to_2r_by_r(tmp_path):
    _write(tmp_path, "pano", *_pair(40, 80))
    assert RGBDDataset(tmp_path, 16, panorama=True)[0]["pixel_values"].shape == (4, 16, 32)


def test_bad_items_are_skipped_with_reasons(tmp_path, caplog):
    rgb, d16 = _pair(32, 32)
    _write(tmp_path, "good", rgb, d16, "good")
    _write(tmp_path, "nodepth", rgb)
    _write(tmp_path, "mismatch", rgb, np.zeros((32, 48), np.uint16))
    _write(tmp_path, "smalldepth", rgb, d16[::2, ::2].copy(), "half-size depth")  # same aspect
    (tmp_path / "corrupt.png").write_bytes(b"not an image at all")
    Image.fromarray(d16).save(tmp_path / "corrupt_depth.png")
    with caplog.at_level(logging.WARNING, logger="ldm3d_core.data"):
        ds = RGBDDataset(tmp_path, 32, augment=False)
    assert len(ds) == 2
    assert dict(ds.skip_counts) == {"no depth": 1, "size mismatch": 1, "unreadable": 1}
    reasons = dict(ds.skipped)
    assert "image is 32x32 but depth is 48x32" in reasons[str(tmp_path / "mismatch.png")]
    assert "skipped" in caplog.text and "mismatch.png" in caplog.text
    # the half-size depth was resized to the image: close to the full-size original
    small = next(i for i in range(2) if ds[i]["caption"] == "half-size depth")
    assert np.abs(ds[small]["pixel_values"][3].numpy() - (d16 / 65535 * 2 - 1)).mean() < 0.1


def test_truncated_file_is_skipped_when_decoded(tmp_path):
    rgb, d16 = _pair(32, 32)
    _write(tmp_path, "b", rgb, d16, "second")
    Image.fromarray(d16).save(tmp_path / "a_depth.png")
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(data[: len(data) // 2])  # header fine, pixels cut off
    ds = RGBDDataset(tmp_path, 32, augment=False)
    assert len(ds) == 2
    assert ds[0]["caption"] == "second"  # the next item stands in
    assert ds.skip_counts["corrupt"] == 1


def test_empty_dataset_names_the_source(tmp_path):
    with pytest.raises(
        ValueError, match=rf"^{tmp_path}: no usable \(image, depth\) pairs \(0 skipped\)"
    ):
        RGBDDataset(tmp_path, 32)
    _write(tmp_path, "a", *_pair(8, 8)[:1])
    with pytest.raises(ValueError, match=r"1 skipped; first: .*a.png: no depth map"):
        RGBDDataset(tmp_path, 32)
    with pytest.raises(FileNotFoundError, match="dataset source not found"):
        RGBDDataset(tmp_path / "nope", 32)
    with pytest.raises(ValueError, match="multiple of 8"):
        RGBDDataset(tmp_path, 30)


def test_csv_manifest(tmp_path):
    rgb, d16 = _pair(32, 32)
    _write(tmp_path / "img", "a", rgb)
    np.save(tmp_path / "img" / "a.npy", d16 / 65535.0)
    (tmp_path / "m.csv").write_text(
        'image,depth,caption,extra\nimg/a.png,img/a.npy,"a caption, with comma",1\n', "utf-8"
    )
    ds = RGBDDataset(tmp_path / "m.csv", 32, channels=6, augment=False)
    assert ds[0]["caption"] == "a caption, with comma"
    _, _, back16 = from_model_rgbd(ds[0]["pixel_values"].permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(back16, d16)
    (tmp_path / "bad.csv").write_text("picture,caption\nx.png,y\n", "utf-8")
    with pytest.raises(ValueError, match="lacks the column"):
        RGBDDataset(tmp_path / "bad.csv", 32)


def test_parquet_without_pandas_is_a_clear_error(tmp_path):
    try:
        import pandas  # noqa: F401

        pytest.skip("pandas is installed")
    except ImportError:
        pass
    (tmp_path / "m.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="needs pandas and pyarrow"):
        list(iter_samples(tmp_path / "m.parquet"))


def test_depthfusion_procedural_dataset_is_readable(tmp_path):
    from depthfusion.sources.dataset import write_dataset

    write_dataset(tmp_path, 2, width=32, supersample=1, quiet=True)
    for source in (tmp_path, tmp_path / "manifest.csv"):
        ds = RGBDDataset(source, 16, panorama=True)
        assert len(ds) == 2 and ds.skip_counts == {}
        assert ds[1]["pixel_values"].shape == (4, 16, 32)
        assert ds[0]["caption"].startswith("360 view")


# -- build-dataset ------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ldm3d")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_build_dataset_resumable(tmp_path, tiny_dpt, monkeypatch):
    images = tmp_path / "images"
    _write(images, "a", _pair(32, 48)[0], caption="first")
    _write(images / "sub", "b", _pair(40, 40, seed=1)[0])
    (images / "broken.jpg").write_bytes(b"\xff\xd8 garbage")
    out = tmp_path / "data"
    (out / "depth").mkdir(parents=True)
    (out / "depth" / ".a.123.partial.png").write_bytes(b"half")  # a killed run's leftover

    report = build_dataset(images, out, depth_model=str(tiny_dpt), device="cpu")
    assert report.new == 2 and len(report.samples) == 2
    assert [p.name for p, _ in report.skipped] == ["broken.jpg"]
    assert "cannot use image" in report.skipped[0][1]
    with Image.open(out / "depth" / "sub" / "b.png") as im:
        depth = np.asarray(im)
    assert depth.dtype == np.uint16 and depth.shape == (40, 40) and depth.max() == 65535
    with open(out / "manifest.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["caption"] for r in rows] == ["first", ""]
    assert rows[0]["depth"] == "depth/a.png" and rows[0]["image"] == "../images/a.png"
    ds = RGBDDataset(out, 32, augment=False)
    assert len(ds) == 2 and ds[0]["caption"] == "first"
    depth_a = read_depth(out / "depth" / "a.png")
    assert depth_a.shape == (32, 48)

    # resume: nothing to do, and the model is not even loaded
    from ldm3d_core.depth import estimator as est

    monkeypatch.setattr(est, "_cached_estimator", lambda *a: pytest.fail("model loaded"))
    again = build_dataset(images, out, depth_model=str(tiny_dpt), device="cpu")
    assert again.new == 0 and len(again.samples) == 2
    np.testing.assert_array_equal(read_depth(out / "depth" / "a.png"), depth_a)


def test_build_dataset_panorama_and_cli(tmp_path, tiny_dpt, capsys):
    images = tmp_path / "images"
    _write(images, "pano", _pair(32, 64)[0], caption="360 view of a room")
    _write(images, "square", _pair(32, 32)[0])
    out = tmp_path / "data"
    args = _parse(
        ["build-dataset", str(images), "-o", str(out), "--depth-model", str(tiny_dpt)]
        + ["--panorama", "--device", "cpu", "-q"]
    )
    assert args.func(args) == 0
    assert "1 items (1 new depth maps, 1 images skipped)" in capsys.readouterr().out
    d = read_depth(out / "depth" / "pano.png")
    assert d.shape == (32, 64) and d.min() == 0.0 and d.max() == 1.0
    ds = RGBDDataset(out, 16, panorama=True)
    assert ds[0]["pixel_values"].shape == (4, 16, 32)

    args = _parse(["build-dataset", str(tmp_path / "missing"), "-o", str(out), "-q"])
    with pytest.raises(SystemExit) as exc:
        args.func(args)
    assert str(exc.value) == f"ldm3d: error: {tmp_path / 'missing'}: folder not found"
    (tmp_path / "empty").mkdir()
    args = _parse(["build-dataset", str(tmp_path / "empty"), "-o", str(tmp_path / "o2"), "-q"])
    with pytest.raises(SystemExit, match=r"^ldm3d: error: .*empty: no images found"):
        args.func(args)
    args = _parse(
        ["build-dataset", str(images), "-o", str(tmp_path / "o3"), "-q"]
        + ["--depth-model", str(tmp_path / "no-model"), "--device", "cpu"]
    )
    with pytest.raises(SystemExit, match=r"^ldm3d: error: depth model folder .*no-model not found"):
        args.func(args)
