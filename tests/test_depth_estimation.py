"""Monocular depth (issue 7): DPT estimator, 360° panorama depth, alignment, ``ldm3d depth``.

Models are tiny random DPTs saved in the real folder format (config.json + weights +
preprocessor_config.json), loaded with HF_HUB_OFFLINE=1: nothing is downloaded. The
panorama projection/alignment/blending is checked against procedural scenes with exact
depth, through an "estimator" that returns each view's true disparity corrupted by its own
random scale and shift.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import visible
from PIL import Image

from depthfusion import conventions as cv
from depthfusion.render.pose import Pose
from depthfusion.sources.procedural import build_scene, render_panorama, render_view
from ldm3d_core.depth import (
    DepthEstimator,
    DepthModelNotFoundError,
    align_disparity,
    disparity_metrics,
    estimate_depth,
    estimate_panorama,
    estimate_panorama_depth,
    fit_scale_shift,
    merge_views,
    panorama_views,
    render_views,
)
from ldm3d_core.depth import geometry as geo
from ldm3d_core.depth.cli import register
from ldm3d_core.depth.geometry import remap_points


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# --- geometry: one definition of the conventions -----------------------------------------------


def test_both_packages_use_one_definition_of_the_conventions():
    import ldm3d_core.conventions as shared
    from ldm3d_core.depth import panorama as depth_panorama

    for name in cv.__all__:  # depthfusion's conventions are ldm3d_core's, not copies
        assert getattr(cv, name) is getattr(shared, name), name
    for name in ("camera_rotation", "panorama_directions", "perspective_ray_directions"):
        assert getattr(depth_panorama, name) is getattr(shared, name), name
    # and no module of either package defines its own copy of a convention function
    root = Path(__file__).resolve().parents[1]
    defined = re.compile(r"^def (" + "|".join(cv.__all__) + r")\(", re.M)
    copies = [
        str(p.relative_to(root))
        for pkg in ("depthfusion", "ldm3d_core")
        for p in (root / pkg).rglob("*.py")
        if p.name != "conventions.py" and defined.search(p.read_text(encoding="utf-8"))
    ]
    assert copies == []


def test_equirect_sampling_is_continuous_across_seam_and_poles():
    # A panorama whose pixels store their own direction: sampling it anywhere, including
    # straddling the +/-180° seam and beyond the poles, must give back that direction.
    w, h = 256, 128
    pano = cv.panorama_directions(w, h)
    lon = np.array([np.pi - 0.001, -np.pi + 0.001, np.pi, 0.3, 2.0, -1.0])
    lat = np.array([0.2, -0.3, 0.0, np.pi / 2 - 0.002, -np.pi / 2 + 0.002, 1.5])
    dirs = cv.lonlat_to_direction(lon, lat).astype(np.float32)
    got = geo.sample_equirect(pano, dirs)
    # Bilinear blending of unit vectors shortens them a little near the poles; the
    # direction must still be right to within a pixel.
    got /= np.linalg.norm(got, axis=-1, keepdims=True)
    assert np.degrees(np.arccos(np.clip((got * dirs).sum(-1), -1, 1))).max() < 360 / w


# --- alignment shared with evaluation ----------------------------------------------------------


def test_fit_scale_shift_recovers_an_affine_map_and_metrics_vanish():
    rng = np.random.default_rng(0)
    target = rng.uniform(0.05, 1.0, (40, 60))
    pred = (target - 0.3) / 2.5
    scale, shift = fit_scale_shift(pred, target)
    assert scale == pytest.approx(2.5) and shift == pytest.approx(0.3)
    np.testing.assert_allclose(align_disparity(pred, target), target, rtol=1e-5)
    m = disparity_metrics(pred * 7 + 1, target)
    assert m["abs_rel"] < 1e-6 and m["rmse"] < 1e-5
    # Invalid pixels (negative, NaN, masked out) never enter the fit.
    bad = pred.copy()
    bad[:5] = np.nan
    bad[5:10] = -1.0
    mask = np.ones_like(target, bool)
    mask[10:15] = False
    bad[10:15] = 99.0
    assert fit_scale_shift(bad, target, mask, samples=500) == pytest.approx((2.5, 0.3))
    with pytest.raises(ValueError, match="fewer than two"):
        fit_scale_shift(np.full((2, 2), -1.0), np.ones((2, 2)))


# --- panorama views -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [6, 10, 20])
def test_views_cover_the_sphere_with_overlap(count):
    views = panorama_views(count, 256)
    assert len(views) == count
    if count == 6:
        assert views[0].fov == pytest.approx(110.0, abs=0.1)  # cube faces + 10° each side
    dirs = cv.panorama_directions(256, 128).reshape(-1, 3)
    seen = np.zeros(len(dirs), int)
    for v in views:
        seen[v.project(dirs)[0]] += 1
    assert seen.min() >= 1  # every pixel, poles and seam included
    assert (seen >= 2).mean() > 0.2  # and plenty of overlap to align on


def test_bad_view_layouts_are_rejected():
    with pytest.raises(ValueError, match="at least 6 views"):
        panorama_views(4, 256)
    with pytest.raises(ValueError, match="do not cover"):
        panorama_views(6, 256, fov=80.0)
    with pytest.raises(ValueError, match="width = 2 x height"):
        estimate_panorama(np.zeros((100, 150, 3), np.uint8), estimator=lambda ims: ims)


# --- the panorama path against exact procedural depth ---------------------------------------


def _exact_view_estimator(scene, views, rng, radial=False):
    """Each view's true disparity (1/z, or 1/r when radial), times and plus its own random
    scale and shift, as a depth model with unknown scale/shift per image would give it."""
    seen = []

    def estimate(images):
        out = []
        for image, v in zip(images, views, strict=True):
            size = image.shape[0]
            rgb, dist = render_view(scene, Pose(yaw=v.yaw, pitch=v.pitch), (size, size), v.fov)
            seen.append(np.abs(rgb.astype(int) - image.astype(int)).mean())
            cos = -cv.perspective_ray_directions(size, size, v.fov)[..., 2]
            z = dist if radial else dist * cos
            out.append(rng.uniform(0.2, 5.0) / z + rng.uniform(-1.0, 1.0))
        return out

    estimate.rgb_errors = seen
    return estimate


def _pairs(a):
    """Neighbour differences: horizontal (H, W) with x -> x+1 wrapping the seam, vertical (H-1, W)."""
    return np.diff(np.concatenate([a, a[:, :1]], axis=1), axis=1), np.diff(a, axis=0)


def _steps(merged, truth, views):
    """Steps across the seam and across view borders, relative to typical neighbour differences.

    A step is the part of a neighbour difference of ``merged`` (aligned to the truth) that
    the truth does not have; only pairs off true depth edges count. Border pairs: where any
    view's coverage starts, and where the view nearest to a pixel changes (cube-face edges).
    """
    h, w = truth.shape
    m = align_disparity(merged, truth, samples=None).astype(np.float64)
    (mx, my), (tx, ty) = _pairs(m), _pairs(truth)
    ex, ey = np.abs(mx - tx), np.abs(my - ty)
    smooth_x = np.abs(tx) < np.percentile(np.abs(tx), 98)
    smooth_y = np.abs(ty) < np.percentile(np.abs(ty), 98)
    typical = np.mean(np.concatenate([np.abs(tx)[smooth_x], np.abs(ty)[smooth_y]]))
    dirs = cv.panorama_directions(w, h).reshape(-1, 3)
    weights = np.zeros((len(views), h * w))
    for k, v in enumerate(views):
        idx, _, _, _, wk = v.project(dirs)
        weights[k, idx] = wk
    weights = weights.reshape(len(views), h, w)
    bx, by = (c != 0 for c in _pairs(weights.argmax(0).astype(float)))
    for wk in weights:
        cx, cy = _pairs((wk > 0).astype(float))
        bx, by = bx | (cx != 0), by | (cy != 0)
    border = np.concatenate([ex[bx & smooth_x], ey[by & smooth_y]])
    seam = ex[:, -1][smooth_x[:, -1]]
    return {
        "seam": float(np.percentile(seam, 90) / typical),
        "border": float(np.percentile(border, 90) / typical),
        "pole": float(np.abs(m[0] - np.roll(m[0], w // 2)).max() / typical),
    }


@pytest.fixture(scope="module")
def courtyard():
    scene = build_scene("courtyard", 0)
    rgb, dist = render_panorama(scene, 512)
    views = panorama_views(6, 512)
    estimator = _exact_view_estimator(scene, views, np.random.default_rng(1))
    result = estimate_panorama(rgb, estimator=estimator, views=views)
    return scene, rgb, dist, views, estimator, result


def test_exact_views_merge_to_the_true_panorama_disparity(courtyard):
    _, rgb, dist, views, estimator, result = courtyard
    assert result.depth.shape == dist.shape and result.depth.dtype == np.float32
    assert result.depth.min() == 0.0 and result.depth.max() == 1.0
    assert result.evaluations == 6
    # The views handed to the model are the scene as a pinhole camera sees it.
    assert max(estimator.rgb_errors) < 12
    truth = 1.0 / dist.astype(np.float64)
    metrics = disparity_metrics(result.depth, truth, samples=None)
    assert metrics["abs_rel"] < 0.02, metrics
    # Per-view fits undo the random scale/shift: all views agree on one global scale.
    assert metrics["abs_rel_disparity"] < 0.02, metrics


def test_no_steps_at_seam_poles_or_view_borders(courtyard):
    scene, rgb, dist, views, _, result = courtyard
    truth = 1.0 / dist.astype(np.float64)
    steps = _steps(result.inverse_distance, truth, views)
    assert steps["seam"] < 0.1 and steps["border"] < 0.1 and steps["pole"] < 0.1, steps
    # The measure does see steps: the same views, each min-max normalised on its own and
    # pasted to the panorama by nearest view centre (a plain cube map), step at every edge.
    predictions = _exact_view_estimator(scene, views, np.random.default_rng(1))(
        render_views(rgb, views)
    )
    h, w = truth.shape
    dirs = cv.panorama_directions(w, h).reshape(-1, 3)
    best = np.zeros(h * w)
    naive = np.zeros(h * w)
    for v, p in zip(views, predictions, strict=True):
        idx, col, row, _, wk = v.project(dirs)
        take = wk > best[idx]
        p = ((p - p.min()) / (p.max() - p.min())).astype(np.float32)
        naive[idx[take]] = remap_points(p, col[take], row[take])
        best[idx[take]] = wk[take]
    assert _steps(naive.reshape(h, w), truth, views)["border"] > 10 * max(steps["border"], 0.1)


def test_radial_views_and_a_fibonacci_layout_on_an_indoor_scene():
    scene = build_scene("room", 3)
    rgb, dist = render_panorama(scene, 256)
    views = panorama_views(8, 256)
    est = _exact_view_estimator(scene, views, np.random.default_rng(2), radial=True)
    depth = estimate_panorama_depth(rgb, estimator=est, views=views, view_depth="radial")
    assert depth.shape == (128, 256)
    assert disparity_metrics(depth, 1.0 / dist, samples=None)["abs_rel"] < 0.02


def test_merge_checks_its_inputs():
    views = panorama_views(6, 64)
    maps = [np.ones((v.size, v.size), np.float32) for v in views]
    with pytest.raises(ValueError, match="6 views"):
        merge_views(maps[:5], views, 32, 64)
    with pytest.raises(ValueError, match="view_depth"):
        merge_views(maps, views, 32, 64, view_depth="z")
    # Featureless views (a constant prediction everywhere) give a flat, neutral panorama.
    depth = estimate_panorama_depth(
        np.zeros((32, 64, 3), np.uint8), estimator=lambda ims: [np.ones(i.shape[:2]) for i in ims]
    )
    assert depth.shape == (32, 64) and np.all(depth == 0.5)


# --- tiny random DPT models in the real folder format ----------------------------------------


def test_estimator_gives_normalised_disparity_for_any_image(tiny_dpt):
    est = DepthEstimator.from_pretrained(tiny_dpt, device="cpu")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    depth = est.estimate(rgb)
    assert depth.shape == (40, 56) and depth.dtype == np.float32
    assert depth.min() == 0.0 and depth.max() == 1.0
    # Alpha is dropped; 16-bit and float images are scaled to 8 bits; gray gets 3 channels.
    for same in (np.dstack([rgb, rgb[..., :1]]), rgb.astype(np.uint16) * 257, rgb / 255.0):
        np.testing.assert_allclose(estimate_depth(same, est), depth, atol=1e-6)
    gray = estimate_depth(rgb[..., 0], est)
    assert gray.shape == (40, 56)
    np.testing.assert_allclose(estimate_depth(rgb[..., :1], est), gray, atol=1e-6)
    np.testing.assert_allclose(estimate_depth(np.repeat(rgb[..., :1], 3, 2), est), gray, atol=1e-6)
    # Batches of mixed sizes come back one map per image, at each image's size.
    out = est([rgb, rgb[:20, :30], rgb])
    assert [o.shape for o in out] == [(40, 56), (20, 30), (40, 56)]
    assert est.evaluations == 1 + 3 + 3 + 3


def test_panorama_path_with_a_tiny_dpt(tiny_dpt):
    rgb, _ = render_panorama("pillars", 128)
    result = estimate_panorama(rgb, str(tiny_dpt), device="cpu", views=6)
    assert result.depth.shape == (64, 128) and result.depth.dtype == np.float32
    assert result.depth.min() >= 0.0 and result.depth.max() <= 1.0
    assert np.isfinite(result.inverse_distance).all() and result.evaluations == 6


def test_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(DepthModelNotFoundError) as err:
        DepthEstimator.from_pretrained("ldm3d-tests/no-such-depth-model", device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and "ldm3d-tests/no-such-depth-model" in msg
    assert "huggingface-cli download ldm3d-tests/no-such-depth-model" in msg
    with pytest.raises(DepthModelNotFoundError, match="folder .* not found"):
        DepthEstimator.from_pretrained(tmp_path / "nowhere", device="cpu")


# --- the `ldm3d depth` command ------------------------------------------------------------------


def ldm3d_depth(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ldm3d")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["depth", *argv])
    return args.func(args)


def test_cli_writes_16bit_depth_and_preview(tiny_dpt, tmp_path, capsys):
    rgb, _ = render_panorama("room", 128)
    src = tmp_path / "pano.png"
    Image.fromarray(rgb).save(src)
    out = tmp_path / "out" / "pano_depth.png"
    assert ldm3d_depth(str(src), "-o", str(out), "--panorama", "--model", str(tiny_dpt)) == 0
    depth = np.asarray(Image.open(out))
    assert depth.dtype == np.uint16 and depth.shape == (64, 128)
    assert depth.min() == 0 and depth.max() == 65535
    preview = np.asarray(Image.open(tmp_path / "out" / "pano_depth_preview.png"))
    assert preview.shape == (64, 128, 3) and preview.dtype == np.uint8
    assert sorted(p.name for p in visible(out.parent)) == [
        "pano_depth.png",
        "pano_depth_preview.png",
    ]
    assert "6 model runs" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16"])
def test_cli_accepts_grayscale_alpha_palette_and_16bit_images(tiny_dpt, tmp_path, mode):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 44, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    if mode == "I;16":
        image = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    else:
        image = image.convert(mode)
    image.save(tmp_path / "in.png")
    ldm3d_depth(str(tmp_path / "in.png"), "-o", str(tmp_path / "d.png"), "--model", str(tiny_dpt))
    assert np.asarray(Image.open(tmp_path / "d.png")).shape == (30, 44)


def test_cli_user_errors_are_one_line(tiny_dpt, tmp_path):
    Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(tmp_path / "wide.png")
    cases = {
        ("wide.png", "--panorama"): "width = 2 x height, got 50x30",
        ("missing.png",): "missing.png: file not found",
        ("wide.png", "--model", "ldm3d-tests/no-such-depth-model"): "huggingface-cli download",
        ("wide.png", "--model", str(tmp_path / "no-folder")): "not found",
    }
    (tmp_path / "junk.png").write_bytes(b"not an image")
    cases[("junk.png",)] = "cannot read image"
    for argv, expected in cases.items():
        with pytest.raises(SystemExit) as err:
            ldm3d_depth(str(tmp_path / argv[0]), "-o", str(tmp_path / "d.png"), *argv[1:])
        msg = str(err.value.code)
        assert msg.startswith("ldm3d: error: ") and "\n" not in msg and expected in msg, msg
    with pytest.raises(SystemExit, match="unknown dtype 'fp8'"):
        ldm3d_depth(str(tmp_path / "wide.png"), "-o", str(tmp_path / "d.png"), "--dtype", "fp8")
    with pytest.raises(SystemExit, match="16-bit PNG"):
        ldm3d_depth(str(tmp_path / "wide.png"), "-o", str(tmp_path / "d.jpg"))
    assert not (tmp_path / "d.png").exists()
