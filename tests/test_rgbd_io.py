"""Tests for depthfusion.rgbd.io: every depth encoding's mapping, invalid fill, sizes, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
from conftest import visible

from depthfusion.conventions import metres_to_disparity
from depthfusion.errors import InputError, OutputError, SceneError
from depthfusion.rgbd import io as rgbd_io
from depthfusion.rgbd.io import (
    load_rgbd,
    read_depth,
    read_rgb,
    save_rgbd,
    write_depth16,
    write_depth_preview,
    write_packed_depth,
    write_rgb,
)
from depthfusion.rgbd.panorama import RGBDPanorama
from ldm3d_core.codec import pack_depth16

H, W = 32, 64


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _cv_write(path: Path, img: np.ndarray) -> Path:
    """Write an array exactly as given (cv2 channel order: BGR(A))."""
    assert cv2.imwrite(str(path), img)
    return path


def _write_exr(path: Path, channels: dict[str, np.ndarray]) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, channels).write(str(path))
    return path


def _rgb(rng: np.random.Generator, h: int = H, w: int = W) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _distances(rng: np.random.Generator, h: int = H, w: int = W) -> np.ndarray:
    return rng.uniform(0.5, 40.0, (h, w))


# --- colour ------------------------------------------------------------------------------------


def test_rgb_png_and_jpeg_round_trip(tmp_path, rng):
    rgb = _rgb(rng)
    write_rgb(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), rgb)
    # Channel order: a pure red image stays red through the BGR library.
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 255
    write_rgb(tmp_path / "red.jpg", red)
    back = read_rgb(tmp_path / "red.jpg")
    assert back.dtype == np.uint8 and back.shape == (H, W, 3)
    assert back[..., 0].min() > 240 and back[..., 1:].max() < 15


def test_rgb_16bit_rounds_to_8bit(tmp_path):
    bgr16 = np.zeros((H, W, 3), np.uint16)
    bgr16[..., 2] = 65535  # R
    bgr16[..., 1] = 257 * 100 + 128  # G: 100.498 -> 100
    bgr16[..., 0] = 257 * 100 + 129  # B: 100.502 -> 101
    rgb = read_rgb(_cv_write(tmp_path / "c16.png", bgr16))
    assert rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], [255, 100, 101])


def test_rgba_and_gray_inputs(tmp_path, rng):
    rgb = _rgb(rng)
    bgra = np.dstack([rgb[..., ::-1], np.full((H, W), 7, np.uint8)])
    np.testing.assert_array_equal(read_rgb(_cv_write(tmp_path / "rgba.png", bgra)), rgb)
    gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
    out = read_rgb(_cv_write(tmp_path / "g.png", gray))
    np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=2))
    gray16 = (gray.astype(np.uint16) * 257).astype(np.uint16)
    np.testing.assert_array_equal(read_rgb(_cv_write(tmp_path / "g16.png", gray16))[..., 1], gray)


def test_rgb_exr_uses_srgb_transfer(tmp_path):
    linear = np.zeros((H, W, 3), np.float32)
    linear[..., 0] = 0.5  # sRGB(0.5) = 0.7354 -> 188
    linear[..., 1] = 0.001  # linear segment: 12.92 * 0.001 * 255 = 3.29 -> 3
    linear[..., 2] = 4.0  # HDR: clipped to white
    linear[0, 0] = [np.nan, -1.0, 1.0]
    rgb = read_rgb(_write_exr(tmp_path / "c.exr", {"RGB": linear}))
    np.testing.assert_array_equal(rgb[1, 1], [188, 3, 255])
    np.testing.assert_array_equal(rgb[0, 0], [0, 0, 255])


def test_rgb_exr_write_read_exact(tmp_path, rng):
    rgb = _rgb(rng)
    write_rgb(tmp_path / "c.exr", rgb)
    np.testing.assert_array_equal(read_rgb(tmp_path / "c.exr"), rgb)


# --- depth: disparity encodings ----------------------------------------------------------------


def test_depth16_round_trip_is_lossless(tmp_path, rng):
    d16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
    d16[0, 0], d16[0, 1] = 0, 65535
    write_depth16(tmp_path / "d.png", d16 / 65535.0)
    depth, rng_m = read_depth(tmp_path / "d.png")
    assert rng_m is None and depth.dtype == np.float32 and depth.shape == (H, W)
    np.testing.assert_array_equal(np.rint(depth.astype(np.float64) * 65535).astype(np.uint16), d16)
    # The file itself is a 16-bit single-channel PNG holding exactly those values.
    raw = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.ndim == 2
    np.testing.assert_array_equal(raw, d16)


def test_packed_depth_round_trip_is_exact(tmp_path, rng):
    d16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
    write_packed_depth(tmp_path / "p.png", d16)
    raw = cv2.imread(str(tmp_path / "p.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(raw, pack_depth16(d16))  # (0, hi, lo) in RGB order
    depth, _ = read_depth(tmp_path / "p.png")
    np.testing.assert_array_equal(np.rint(depth.astype(np.float64) * 65535).astype(np.uint16), d16)


def test_8bit_depth_maps_by_255(tmp_path, rng):
    d8 = rng.integers(0, 256, (H, W), dtype=np.uint8)
    depth, _ = read_depth(_cv_write(tmp_path / "d8.png", d8))
    np.testing.assert_allclose(depth, d8 / 255.0, rtol=0, atol=1e-7)
    # A grayscale-looking 3-channel image gives the same values.
    d3 = np.dstack([d8, d8, d8])
    d3[0, 0] = 200  # make sure the first channel is not all zero (not packed)
    depth3, _ = read_depth(_cv_write(tmp_path / "d3.png", d3))
    np.testing.assert_allclose(depth3, d3[..., 0] / 255.0, atol=1e-7)


def test_three_channel_colour_is_rejected(tmp_path, rng):
    path = _cv_write(tmp_path / "colour.png", _rgb(rng))
    with pytest.raises(InputError, match=r"neither LDM3D packed depth") as exc:
        read_depth(path)
    assert str(exc.value).startswith(str(path))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_four_channel_rgbd_png(tmp_path, rng, dtype):
    top = np.iinfo(dtype).max
    rgb = rng.integers(0, top + 1, (H, W, 3)).astype(dtype)
    d = rng.integers(0, top + 1, (H, W)).astype(dtype)
    path = _cv_write(tmp_path / "rgbd.png", np.dstack([rgb[..., ::-1], d]))
    depth, _ = read_depth(path)
    np.testing.assert_allclose(depth, d / float(top), atol=1e-7)
    # The same file gives the colour through read_rgb (alpha dropped).
    pano = load_rgbd(path, path)
    np.testing.assert_allclose(pano.depth, d / float(top), atol=1e-7)
    if dtype == np.uint8:
        np.testing.assert_array_equal(pano.rgb, rgb)


def test_gray_alpha_png_uses_gray_channel(tmp_path, rng):
    from PIL import Image

    gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
    la = np.dstack([gray, np.full((H, W), 255, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    depth, _ = read_depth(tmp_path / "la.png")
    np.testing.assert_allclose(depth, gray / 255.0, atol=1e-7)


def test_npy_disparity_and_range_check(tmp_path, rng):
    d = rng.random((H, W)).astype(np.float32)
    np.save(tmp_path / "d.npy", d)
    depth, metric = read_depth(tmp_path / "d.npy")
    assert metric is None
    np.testing.assert_array_equal(depth, d)
    np.save(tmp_path / "bad.npy", d * 10.0)
    with pytest.raises(InputError, match=r"must lie in \[0, 1\]") as exc:
        read_depth(tmp_path / "bad.npy")
    assert str(exc.value).startswith(str(tmp_path / "bad.npy"))


def test_exr_disparity_single_channel(tmp_path, rng):
    d = rng.random((H, W)).astype(np.float32)
    depth, metric = read_depth(_write_exr(tmp_path / "d.exr", {"Y": d}))
    assert metric is None
    np.testing.assert_array_equal(depth, d)


# --- depth: metres -----------------------------------------------------------------------------


def test_npy_metres_recovers_distances(tmp_path, rng):
    dist = _distances(rng)
    np.save(tmp_path / "m.npy", dist)
    write_rgb(tmp_path / "c.png", _rgb(rng))
    depth, metric = read_depth(tmp_path / "m.npy", units="meters")
    assert metric == pytest.approx((dist.min(), dist.max()))
    assert depth.max() == 1.0 and depth.min() == 0.0
    pano = load_rgbd(tmp_path / "c.png", tmp_path / "m.npy", units="meters")
    assert pano.is_metric
    np.testing.assert_allclose(pano.distance(), dist, rtol=1e-4)
    # Same mapping as RGBDPanorama.from_metres.
    ref = RGBDPanorama.from_metres(pano.rgb, dist)
    np.testing.assert_allclose(pano.depth, ref.depth, atol=1e-6)
    assert pano.metric_range == pytest.approx(ref.metric_range)


def test_png16_metres_with_depth_scale(tmp_path, rng):
    mm = rng.integers(500, 30000, (H, W), dtype=np.uint16)
    path = _cv_write(tmp_path / "mm.png", mm)
    depth, metric = read_depth(path, units="meters", depth_scale=0.001)
    assert metric == pytest.approx((mm.min() / 1000.0, mm.max() / 1000.0))
    np.testing.assert_allclose(depth, metres_to_disparity(mm / 1000.0, *metric), atol=1e-6)
    with pytest.raises(InputError, match="depth_scale") as exc:
        read_depth(path, units="meters")
    assert str(exc.value).startswith(str(path))


def test_exr_metres_prefers_z_channel(tmp_path, rng):
    dist = _distances(rng).astype(np.float32)
    path = _write_exr(tmp_path / "m.exr", {"R": np.ones((H, W), np.float32), "Z": dist})
    depth, metric = read_depth(path, units="metres")  # the British spelling is accepted
    assert metric == pytest.approx((float(dist.min()), float(dist.max())))
    pano = RGBDPanorama(np.zeros((H, W, 3), np.uint8), depth, metric)
    np.testing.assert_allclose(pano.distance(), dist, rtol=1e-4)


def test_8bit_png_in_metres_is_rejected(tmp_path, rng):
    path = _cv_write(tmp_path / "m8.png", rng.integers(1, 255, (H, W), dtype=np.uint8))
    with pytest.raises(InputError, match="16-bit grayscale PNG"):
        read_depth(path, units="meters", depth_scale=0.1)


def test_save_rgbd_metric_npy_round_trip(tmp_path, rng):
    dist = _distances(rng)
    pano = RGBDPanorama.from_metres(_rgb(rng), dist)
    save_rgbd(pano, tmp_path / "c.png", tmp_path / "m.npy")
    back = load_rgbd(tmp_path / "c.png", tmp_path / "m.npy", units="meters")
    np.testing.assert_array_equal(back.rgb, pano.rgb)
    np.testing.assert_allclose(back.distance(), dist, rtol=1e-4)
    save_rgbd(pano, tmp_path / "c2.png", tmp_path / "d.png", tmp_path / "d_preview.png")
    assert read_rgb(tmp_path / "d_preview.png").shape == (H, W, 3)
    back16 = load_rgbd(tmp_path / "c2.png", tmp_path / "d.png")
    assert not back16.is_metric
    np.testing.assert_allclose(back16.depth, pano.depth, atol=0.5 / 65535 + 1e-7)


# --- invalid values ----------------------------------------------------------------------------


def test_small_fraction_of_nan_is_filled_with_one_warning(tmp_path, rng, caplog):
    d = np.full((H, W), 0.25, np.float32)
    d[:, W // 2 :] = 0.75
    holes = [(5, 3), (6, 3), (20, 10), (10, 60), (30, 40), (2, 50), (15, 5), (25, 20), (12, 33)]
    for y, x in holes:  # 9 of 2048 pixels = 0.44%
        d[y, x] = np.nan
    np.save(tmp_path / "d.npy", d)
    with caplog.at_level(logging.WARNING, logger="depthfusion"):
        depth, _ = read_depth(tmp_path / "d.npy")
    assert np.isfinite(depth).all()
    for y, x in holes:
        assert depth[y, x] == (0.25 if x < W // 2 else 0.75)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert str(tmp_path / "d.npy") in msg and " 9 " in msg and "0.44%" in msg


def test_too_many_invalid_pixels_is_an_error(tmp_path, rng):
    d = rng.random((H, W)).astype(np.float32)
    flat = d.reshape(-1)
    flat[rng.choice(flat.size, size=int(0.05 * flat.size), replace=False)] = np.inf
    np.save(tmp_path / "d.npy", d)
    with pytest.raises(InputError) as exc:
        read_depth(tmp_path / "d.npy")
    msg = str(exc.value)
    assert msg.startswith(str(tmp_path / "d.npy")) and "\n" not in msg
    assert f"{int(0.05 * flat.size)} of {flat.size}" in msg and "1.00%" in msg
    # A larger limit accepts the same file.
    depth, _ = read_depth(tmp_path / "d.npy", max_invalid_fraction=0.1)
    assert np.isfinite(depth).all()


def test_metric_zeros_are_invalid_and_filled(tmp_path, rng, caplog):
    mm = np.full((H, W), 2000, np.uint16)
    mm[:, W // 2 :] = 4000
    mm[10, 10] = 0  # sensor hole
    path = _cv_write(tmp_path / "mm.png", mm)
    with caplog.at_level(logging.WARNING, logger="depthfusion"):
        depth, metric = read_depth(path, units="meters", depth_scale=0.001)
    assert metric == pytest.approx((2.0, 4.0))  # the hole does not become the near plane
    assert depth[10, 10] == 1.0  # the neighbours' value (2 m = near)
    assert "filled 1 invalid" in caplog.text


def test_fill_wraps_across_the_seam(tmp_path):
    d = np.full((H, W), 0.1, np.float32)
    d[:, -4:] = 0.9  # the right edge, just across the seam from column 0
    d[:, 0:3] = np.nan  # full-height hole at the left edge: column 0 is 1 px from column W-1
    np.save(tmp_path / "d.npy", d)
    depth, _ = read_depth(tmp_path / "d.npy", max_invalid_fraction=0.05)
    np.testing.assert_array_equal(depth[:, 0], np.float32(0.9))  # from the right edge
    np.testing.assert_array_equal(depth[:, 2], np.float32(0.1))  # nearer to column 3


def test_all_invalid_is_an_error(tmp_path):
    np.save(tmp_path / "d.npy", np.full((H, W), np.nan, np.float32))
    with pytest.raises(InputError, match="no valid values"):
        read_depth(tmp_path / "d.npy", max_invalid_fraction=1.0)


# --- sizes -------------------------------------------------------------------------------------


def test_rgb_must_be_2_to_1(tmp_path, rng):
    write_rgb(tmp_path / "c.png", _rgb(rng, 32, 48))
    write_depth16(tmp_path / "d.png", np.zeros((32, 48)))
    with pytest.raises(InputError) as exc:
        load_rgbd(tmp_path / "c.png", tmp_path / "d.png")
    assert (
        str(exc.value) == f"{tmp_path / 'c.png'}: panorama must be 2:1 (equirectangular), got 48x32"
    )


def test_depth_of_other_2_to_1_size_is_resized(tmp_path, rng, caplog):
    write_rgb(tmp_path / "c.png", _rgb(rng))
    small = np.tile(np.linspace(0.0, 1.0, W // 2, dtype=np.float32), (H // 2, 1))
    np.save(tmp_path / "d.npy", small)
    with caplog.at_level(logging.INFO, logger="depthfusion"):
        pano = load_rgbd(tmp_path / "c.png", tmp_path / "d.npy")
    assert pano.depth.shape == (H, W)
    assert "32x16" in caplog.text and "64x32" in caplog.text
    # Interior: bilinear between source samples. Seam: blends the two edges (wrap-aware), so
    # column 0 lies between the last and first source values rather than equal to the first.
    assert pano.depth[0, 0] == pytest.approx(0.75 * 0.0 + 0.25 * 1.0)
    assert pano.depth[0, W - 1] == pytest.approx(0.75 * 1.0 + 0.25 * 0.0)
    src_x = (np.arange(2, W - 2) + 0.5) / 2 - 0.5
    np.testing.assert_allclose(
        pano.depth[5, 2 : W - 2], np.interp(src_x, np.arange(W // 2), small[0]), atol=1e-6
    )
    # Shrinking averages; a constant stays constant and a metric range is kept.
    big = tmp_path / "big.npy"
    np.save(big, np.full((2 * H, 2 * W), 3.0))
    pano_m = load_rgbd(tmp_path / "c.png", big, units="meters")
    assert pano_m.depth.shape == (H, W) and pano_m.metric_range == (3.0, 6.0)
    np.testing.assert_allclose(pano_m.distance(), 3.0, rtol=1e-6)


def test_resize_odd_ratio_matches_plain_resize_in_the_interior():
    rng = np.random.default_rng(0)
    src = rng.random((25, 50)).astype(np.float32)
    out = rgbd_io._resize_wrapped(src, 64, 32)
    ref = cv2.resize(src, (64, 32), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(out[:, 3:-3], ref[:, 3:-3], atol=1e-6)
    shrunk = rgbd_io._resize_wrapped(src, 34, 17)
    ref = cv2.resize(src, (34, 17), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(shrunk[:, 3:-3], ref[:, 3:-3], atol=1e-6)


def test_depth_not_2_to_1_is_an_error(tmp_path, rng):
    write_rgb(tmp_path / "c.png", _rgb(rng))
    write_depth16(tmp_path / "d.png", np.zeros((30, 40)))
    with pytest.raises(InputError) as exc:
        load_rgbd(tmp_path / "c.png", tmp_path / "d.png")
    msg = str(exc.value)
    assert msg.startswith(str(tmp_path / "d.png")) and "40x30" in msg and "64x32" in msg


# --- errors ------------------------------------------------------------------------------------


def _assert_input_error(fn, path: Path, fragment: str) -> None:
    with pytest.raises(InputError) as exc:
        fn(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: "), msg
    assert fragment in msg, msg
    assert "\n" not in msg


def test_error_messages_name_the_file(tmp_path, rng):
    _assert_input_error(read_rgb, tmp_path / "missing.png", "file not found")
    _assert_input_error(read_depth, tmp_path / "missing.npy", "file not found")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    _assert_input_error(read_rgb, tmp_path / "bad.png", "cannot read image")
    _assert_input_error(read_depth, tmp_path / "bad.png", "cannot read image")
    good = tmp_path / "good.png"
    write_rgb(good, _rgb(rng))
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:100])
    _assert_input_error(read_rgb, tmp_path / "trunc.png", "cannot read image")
    (tmp_path / "bad.exr").write_bytes(b"garbage")
    _assert_input_error(read_rgb, tmp_path / "bad.exr", "cannot read image")
    _assert_input_error(read_depth, tmp_path / "bad.exr", "cannot read image")
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    _assert_input_error(read_depth, tmp_path / "bad.npy", "cannot read .npy")
    (tmp_path / "x.bmp").write_bytes(b"BM")
    _assert_input_error(read_rgb, tmp_path / "x.bmp", "unsupported file type")
    _assert_input_error(read_depth, tmp_path / "x.bmp", "unsupported file type")
    np.save(tmp_path / "chan.npy", np.zeros((H, W, 2), np.float32))
    _assert_input_error(read_depth, tmp_path / "chan.npy", "got shape (32, 64, 2)")
    np.save(tmp_path / "int.npy", np.zeros((H, W), np.uint16))
    _assert_input_error(read_depth, tmp_path / "int.npy", "floating point")
    (tmp_path / "folder.png").mkdir()
    _assert_input_error(read_rgb, tmp_path / "folder.png", "is a folder")


def test_unknown_units_and_bad_options(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((H, W), np.float32))
    with pytest.raises(SceneError, match="'inches'"):
        read_depth(path, units="inches")
    with pytest.raises(SceneError, match="depth_scale"):
        read_depth(path, depth_scale=0.001)  # disparity has no scale
    with pytest.raises(SceneError, match="depth_scale"):
        read_depth(path, units="meters", depth_scale=-1.0)
    with pytest.raises(SceneError, match="max_invalid_fraction"):
        read_depth(path, max_invalid_fraction=2.0)


# --- writers -----------------------------------------------------------------------------------


def test_depth_preview_near_is_warm(tmp_path):
    d = np.zeros((H, W), np.float32)
    d[:, W // 2 :] = 1.0
    write_depth_preview(tmp_path / "p.png", d)
    rgb = read_rgb(tmp_path / "p.png")
    near, far = rgb[0, -1].astype(int), rgb[0, 0].astype(int)
    assert near[0] > near[2]  # red > blue
    assert far[2] > far[0]  # blue > red


def test_failed_write_leaves_no_partial_file(tmp_path, rng, monkeypatch):
    target = tmp_path / "d.png"
    write_depth16(target, np.full((H, W), 0.5))
    before = target.read_bytes()

    def broken_write(self, data):  # write half the bytes, then fail like a full disk
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", broken_write)
    with pytest.raises(OutputError) as exc:
        write_depth16(target, rng.random((H, W)))
    monkeypatch.undo()
    assert str(exc.value).startswith(str(target)) and "No space left" in str(exc.value)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in visible(tmp_path)) == ["d.png"]  # no temporary left


def test_writers_reject_wrong_extension(tmp_path):
    with pytest.raises(OutputError, match="unsupported file type"):
        write_depth16(tmp_path / "d.jpg", np.zeros((H, W)))
    assert list(visible(tmp_path)) == []
