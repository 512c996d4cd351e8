"""360 rendering (ODS stereo / mono equirect) and the vr360 output.

Ground truth comes from conventions.py and the procedural scenes, independently of GL:
the input panorama itself (seen from the centre), the ODS disparity formula
2 asin(ipd / 2 / rho), ray-cast ODS images (procedural.raycast along the rays of
render.ods.ods_rays), and the dense mesh for the adaptive one. Sizes are tiny (eyes of
64-512 pixels); tolerances given for 4096-wide eyes scale with the width.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import visible

from depthfusion.atomic import allow_overwrite
from depthfusion.conventions import (
    camera_rotation,
    lonlat_to_direction,
    lonlat_to_uv,
    panorama_lonlat,
)
from depthfusion.errors import DepthFusionError, OutputError
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.outputs.spherical import read_spherical, read_xmp
from depthfusion.outputs.vr360 import VR360Error, VR360Spec, codec_level, resolve_vr360, write_vr360
from depthfusion.render.camera_path import preset_path
from depthfusion.render.ods import (
    ODSError,
    ODSRenderer,
    check_eye_size,
    eye_radius,
    ods_disparity,
    ods_project,
    ods_rays,
)
from depthfusion.render.ods_mesh import simplify_for_ods
from depthfusion.render.pose import Pose
from depthfusion.rgbd.panorama import RGBDPanorama
from depthfusion.sources.procedural import build_scene, generate_panorama

IPD = 0.064


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def spot_texture(width: int, centres: list[tuple[float, float]], sigma_px: float = 1.2):
    """Dark panorama with Gaussian spots at pixel positions (x, y) (pixel units, centres +0.5)."""
    h = width // 2
    ys, xs = np.mgrid[0:h, 0:width] + 0.5
    img = np.zeros((h, width))
    for cx, cy in centres:
        dx = (xs - cx + width / 2) % width - width / 2  # wraps around the seam
        img += np.exp(-0.5 * (dx**2 + (ys - cy) ** 2) / sigma_px**2)
    grey = np.round(20 + 220 * np.clip(img, 0, 1)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def spot_centroid(img: np.ndarray, x0: float, y0: float, radius: int = 8) -> tuple[float, float]:
    """Centroid (pixel centres at +0.5) of the bright spot near (x0, y0)."""
    h, w = img.shape[:2]
    cols = np.arange(int(x0) - radius, int(x0) + radius + 1) % w
    rows = np.clip(np.arange(int(y0) - radius, int(y0) + radius + 1), 0, h - 1)
    weight = np.clip(img[np.ix_(rows, cols)][..., 0].astype(np.float64) - 20.0, 0, None)
    xs = (np.arange(int(x0) - radius, int(x0) + radius + 1) + 0.5)[None, :]
    ys = (rows + 0.5)[:, None]
    return float((weight * xs).sum() / weight.sum()), float((weight * ys).sum() / weight.sum())


@pytest.fixture(scope="module")
def room():
    """A procedural room (metric depth) and its mesh, 256 wide."""
    rgbd = generate_panorama("room", width=256, supersample=2)
    return rgbd, build_sphere_mesh(rgbd, mode="metric")


# --- the projection (numpy) --------------------------------------------------------------------


def test_projection_lands_on_the_eye_rays():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 3)) * 3.0
    points = points[np.hypot(points[:, 0], points[:, 2]) > 0.3]
    position, yaw = (0.2, -0.1, 0.3), 35.0
    rot = camera_rotation(yaw, 0.0, 0.0)
    # Converged, the point lies on its pixel's ray; the shader's 3 steps are within 1e-4 m.
    for eye, iterations, atol in [(-IPD / 2, 3, 1e-6), (IPD / 2, 3, 1e-6), (0.0, 3, 1e-9),
                                  (-0.2, 40, 1e-9), (-0.2, 3, 1e-4)]:  # fmt: skip
        lon, lat, dist = ods_project(points, eye, position, yaw, iterations=iterations)
        r = eye_radius(eye, lat)
        origin = np.stack([r * np.cos(lon), 0 * r, r * np.sin(lon)], -1) @ rot.T + position
        direction = lonlat_to_direction(lon, lat) @ rot.T
        np.testing.assert_allclose(origin + dist[:, None] * direction, points, atol=atol)


def test_disparity_formula_and_sign_on_the_horizon():
    rho = np.array([0.5, 1.0, 2.0, 10.0])
    points = np.stack([np.sin(0.3) * rho, 0 * rho, -np.cos(0.3) * rho], -1)
    lon_l = ods_project(points, -IPD / 2)[0]
    lon_r = ods_project(points, IPD / 2)[0]
    np.testing.assert_allclose(lon_l - lon_r, 2 * np.arcsin(IPD / 2 / rho), atol=1e-12)
    np.testing.assert_allclose(ods_disparity(IPD, rho), 2 * np.arcsin(IPD / 2 / rho))
    assert np.all(lon_l > 0.3) and np.all(lon_r < 0.3)  # the left eye sees it to the right


def test_pole_taper():
    lat = np.radians([0.0, 30.0, 59.9, 75.0, 89.0, 90.0, -90.0])
    r = eye_radius(-0.032, lat)
    assert r[0] == r[1] == r[2] == -0.032
    assert -0.032 < r[3] < 0.0 and abs(r[4]) < 2e-4 and r[5] == r[6] == 0.0
    assert np.all(np.diff(np.abs(r[:6])) <= 0)
    with pytest.raises(ODSError):
        eye_radius(0.03, lat, taper=(80.0, 60.0))


def test_eye_size_must_be_two_to_one():
    assert check_eye_size(512) == (512, 256)
    for bad in ((500, 200), (3, 1), (512, 512)):
        with pytest.raises(ODSError) as info:
            check_eye_size(*bad)
        assert "2:1" in str(info.value) and "\n" not in str(info.value)


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.gl
@pytest.mark.parametrize("simplify", [False, True])
def test_centre_ipd0_reproduces_the_panorama(ctx, room, simplify):
    rgbd, mesh = room
    m = simplify_for_ods(mesh, 256, ipd=0.0) if simplify else mesh
    with ODSRenderer.from_mesh(ctx, m) as r:
        both = r.render_vr360(256, stereo=True, ipd=0.0)
        mono = r.render_vr360(256, stereo=False)
    assert both.shape == (256, 256, 3) and mono.shape == (128, 256, 3)
    for eye in (both[:128], both[128:], mono):
        assert psnr(eye, rgbd.rgb) >= 30.0
        assert np.abs(eye.astype(int) - rgbd.rgb).max() <= 1  # in fact exact
    if simplify:
        assert len(m.faces) < len(mesh.faces) / 5


@pytest.mark.gl
def test_linear_light_mode_agrees(ctx, room):
    rgbd, mesh = room
    m = simplify_for_ods(mesh, 512, ipd=IPD)
    with ODSRenderer.from_mesh(ctx, m, linear_light=True) as lin:
        a = lin.render_vr360(512)
        exact = lin.render_vr360(256, stereo=False, ipd=0.0)
    with ODSRenderer.from_mesh(ctx, m) as fast:
        b = fast.render_vr360(512)
    assert np.abs(exact.astype(int) - rgbd.rgb).max() <= 1
    assert psnr(a, b) >= 38.0  # 2x magnification: gamma-space filtering differs at edges only


@pytest.fixture(scope="module")
def spot_spheres(gl_context):
    """Constant-radius spheres textured with a spot at lon 30 deg on the horizon."""
    width = 512
    tex = spot_texture(width, [(width * (30 / 360 + 0.5), width / 4)])
    out = {}
    for z in (1.0, 2.5, 1000.0):
        rgbd = RGBDPanorama(tex, np.full((width // 2, width), 0.5, np.float32))
        mesh = build_sphere_mesh(rgbd, radius=z, mode="linear", strength=0.0)
        out[z] = ODSRenderer.from_mesh(gl_context, simplify_for_ods(mesh, width, ipd=IPD))
    yield width, out
    for r in out.values():
        r.release()


@pytest.mark.gl
@pytest.mark.parametrize("z", [1.0, 2.5, 1000.0])
def test_spot_disparity_matches_ods_formula(ctx, spot_spheres, z):
    width, renderers = spot_spheres
    frame = renderers[z].render_vr360(width, ipd=IPD)
    h = width // 2
    x0 = width * (30 / 360 + 0.5)
    (x_l, y_l), (x_r, y_r) = (
        spot_centroid(frame[:h], x0, h / 2),
        spot_centroid(frame[h:], x0, h / 2),
    )
    expected = ods_disparity(IPD, z) * width / (2 * np.pi)
    tolerance = 1.0 * width / 4096  # 1 px at 4096-wide eyes
    assert x_l - x_r == pytest.approx(expected, abs=tolerance)
    assert x_l - x0 == pytest.approx(expected / 2, abs=tolerance)  # left eye on top, shifted right
    assert y_l == pytest.approx(y_r, abs=0.05) and y_l == pytest.approx(h / 2, abs=0.05)


def _spot_scene(preset: str, width: int, pick):
    """The preset's exact geometry textured with spots at pixels chosen by ``pick(distance)``."""
    rgbd = generate_panorama(preset, width=width)
    dist = rgbd.distance()
    _, lat = panorama_lonlat(width, width // 2)
    smooth = np.ones_like(dist, dtype=bool)  # depth nearly constant around the spot
    for dy in (-2, 0, 2):
        for dx in (-2, 0, 2):
            smooth &= np.abs(np.roll(dist, (dy, dx), (0, 1)) / dist - 1) < 0.01
    smooth &= np.abs(lat)[:, None] < np.radians(45)
    spots = pick(np.where(smooth, dist, np.nan))
    tex = spot_texture(width, [(x + 0.5, y + 0.5) for y, x in spots])
    rho = [float(dist[y, x] * np.cos(lat[y])) for y, x in spots]
    mesh = build_sphere_mesh(RGBDPanorama(tex, rgbd.depth, rgbd.metric_range), mode="metric")
    return mesh, spots, rho


@pytest.mark.gl
def test_procedural_scene_near_object_disparity_and_far_background(ctx):
    width = 512
    tolerance = 1.0 * width / 4096

    def room_spots(d):
        near = np.unravel_index(np.nanargmin(d), d.shape)
        far = np.unravel_index(np.nanargmax(d), d.shape)
        return [near, far]

    def sky_spot(d):
        return [np.unravel_index(np.nanargmax(d), d.shape)]

    cases = [("room", room_spots), ("courtyard", sky_spot)]
    checked = []
    for preset, pick in cases:
        mesh, spots, rho = _spot_scene(preset, width, pick)
        with ODSRenderer.from_mesh(ctx, simplify_for_ods(mesh, width, ipd=IPD)) as r:
            frame = r.render_vr360(width, ipd=IPD)
        h = width // 2
        for (y, x), dist in zip(spots, rho, strict=True):
            (x_l, y_l) = spot_centroid(frame[:h], x + 0.5, y + 0.5)
            (x_r, y_r) = spot_centroid(frame[h:], x + 0.5, y + 0.5)
            expected = ods_disparity(IPD, dist) * width / (2 * np.pi)
            assert x_l - x_r == pytest.approx(expected, abs=tolerance), (preset, dist)
            assert y_l == pytest.approx(y_r, abs=tolerance)
            checked.append((dist, x_l - x_r))
    near, far, sky = checked
    assert near[0] < 2.5 and near[1] > 2.0  # a near object: pixels of disparity
    assert far[0] > 3.5 and sky[0] > 50.0 and abs(sky[1]) < tolerance  # background ~ 0


@pytest.mark.gl
@pytest.mark.parametrize("position", [(0.0, 0.0, 0.0), (0.25, 0.1, -0.2)])
def test_matches_ray_cast_ods_truth(ctx, position):
    # A wide ipd (same geometry, 5x the disparity) so that wrong stereo would show clearly.
    ipd, width, s = 0.3, 128, 2
    scene = build_scene("room", 0)
    mesh = build_sphere_mesh(generate_panorama(scene, width=256, supersample=2), mode="metric")
    truth = []
    for eye in (-ipd / 2, ipd / 2):
        origins, dirs = ods_rays(width * s, eye, position, yaw=20.0)
        rgb, _ = scene.raycast(origins.reshape(-1, 3), dirs.reshape(-1, 3))
        rgb = rgb.reshape(width // 2, s, width, s, 3).mean(axis=(1, 3))
        truth.append(np.round(rgb * 255).astype(np.uint8))
    truth = np.concatenate(truth)
    m = simplify_for_ods(mesh, width, ipd=ipd, positions=[position])
    with ODSRenderer.from_mesh(ctx, m) as r:
        frame = r.render_equirect(width, (-ipd / 2, ipd / 2), position, yaw=20.0)
        swapped = r.render_equirect(width, (ipd / 2, -ipd / 2), position, yaw=20.0)
    # Centre: only resampling differs; displaced: also disocclusions the panorama cannot show.
    score = psnr(frame, truth)
    assert score >= (29.0 if max(position) == 0 else 27.5)
    assert score >= psnr(swapped, truth) + 3.0


@pytest.mark.gl
def test_adaptive_mesh_matches_dense_for_a_moving_viewpoint(ctx, room):
    _, mesh = room
    positions = [p.position for p in preset_path("orbit", 2.0, radius=0.3).poses(4)]
    simple = simplify_for_ods(mesh, 256, ipd=IPD, positions=positions)
    assert simple.triangle_count < len(mesh.faces) / 3
    with ODSRenderer.from_mesh(ctx, mesh) as dense, ODSRenderer.from_mesh(ctx, simple) as fast:
        for p in positions[1:3]:
            a = dense.render_equirect(256, (-IPD / 2, IPD / 2), p)
            b = fast.render_equirect(256, (-IPD / 2, IPD / 2), p)
            assert psnr(a, b) >= 36.0


@pytest.mark.gl
@pytest.mark.parametrize("position", [(0.0, 0.0, 0.0), (0.3, -0.2, 0.25)])
def test_every_pixel_is_covered(ctx, room, position):
    # A white texture on the scene's geometry: any crack, T-junction gap, hole at the poles
    # or at the +-180 degree seam would show as a black pixel.
    rgbd, mesh = room
    white = RGBDPanorama(np.full_like(rgbd.rgb, 255), rgbd.depth, rgbd.metric_range)
    mesh_w = build_sphere_mesh(white, mode="metric")
    for m in (mesh_w, simplify_for_ods(mesh_w, 128, ipd=IPD, positions=[position])):
        with ODSRenderer.from_mesh(ctx, m) as r:
            frame = r.render_equirect(128, (-IPD / 2, 0.0, IPD / 2), position, yaw=-37.0)
        assert frame.min() == 255


@pytest.mark.gl
@pytest.mark.parametrize(("feather", "samples"), [(0.0, 0), (0.5, 4)])
def test_layered_mesh_with_cut_edges(ctx, room, feather, samples):
    from depthfusion.mesh.discontinuities import build_layered_mesh

    rgbd, _ = room
    layered = build_layered_mesh(rgbd, mode="metric", fill="inpaint", feather=feather)
    assert len(layered.layers) == 2 and (layered.alpha is not None) == (feather > 0)
    position = (0.25, 0.0, 0.1)
    simple = simplify_for_ods(layered, 256, ipd=IPD, positions=[position])
    assert simple.triangle_count < len(layered.faces) / 3
    assert (simple.alpha is not None) == (feather > 0)
    with (
        ODSRenderer.from_mesh(ctx, layered, samples=samples) as dense,
        ODSRenderer.from_mesh(ctx, simple, samples=samples) as fast,
    ):
        a = dense.render_equirect(256, (-IPD / 2, IPD / 2), position)
        b = fast.render_equirect(256, (-IPD / 2, IPD / 2), position)
        centre = fast.render_vr360(256, stereo=False)
    assert psnr(a, b) >= 36.0
    assert psnr(centre, rgbd.rgb) >= 40.0


def _column_step(img: np.ndarray, left: int, right: int) -> float:
    f = img.astype(np.float64)
    return float(np.abs(f[:, right] - f[:, left]).mean())


@pytest.mark.gl
@pytest.mark.parametrize(
    ("position", "yaw"),
    [((0.0, 0.0, 0.0), 0.0), ((0.2, 0.0, 0.15), 10.0), ((0.2, 0.0, 0.15), 73.0)],
)
def test_no_seam_at_180_degrees(ctx, room, position, yaw):
    _, mesh = room
    m = simplify_for_ods(mesh, 256, ipd=IPD, positions=[position])
    with ODSRenderer.from_mesh(ctx, m) as r:
        frame = r.render_equirect(256, (-IPD / 2, IPD / 2), position, yaw)
        turned = r.render_equirect(256, (-IPD / 2, IPD / 2), position, yaw + 180.0)
    for eye in (0, 1):
        img, inner = frame[eye * 128 : eye * 128 + 128], turned[eye * 128 : eye * 128 + 128]
        seam = _column_step(img, -1, 0)
        # The same two columns of the scene, rendered in the middle of the image.
        assert seam <= 1.1 * _column_step(inner, 127, 128) + 0.5
        if yaw != 73.0:  # (at 73 degrees the seam happens to fall on an edge of the room)
            steps = [_column_step(img, j, j + 1) for j in range(255)]
            assert seam <= np.percentile(steps, 90)


@pytest.mark.gl
def test_yaw_turns_the_frame_and_poles_merge(ctx, room):
    _, mesh = room
    with ODSRenderer.from_mesh(ctx, simplify_for_ods(mesh, 256, ipd=0.3)) as r:
        base = r.render_vr360(256, ipd=0.3)
        turned = r.render_vr360(256, ipd=0.3, pose=Pose(yaw=90.0))
    # Yaw 90: the centre column shows what column 3W/4 showed (ODS is symmetric about +Y).
    assert psnr(turned, np.roll(base, -64, axis=1)) >= 40.0
    left, right = base[:128].astype(int), base[128:].astype(int)
    assert np.abs(left[:2] - right[:2]).mean() < 1.0  # zenith rows: no eye separation
    assert np.abs(left[60:68] - right[60:68]).mean() > 5.0  # horizon: clear disparity


@pytest.mark.gl
def test_render_rejects_bad_sizes(ctx, room):
    _, mesh = room
    with ODSRenderer.from_mesh(ctx, simplify_for_ods(mesh, 64, ipd=0.0)) as r:
        with pytest.raises(ODSError):
            r.render_equirect(63)
        with pytest.raises(DepthFusionError):
            r.render_equirect(1 << 16)
        with pytest.raises(ValueError):
            r.render_vr360(64, out=np.empty((10, 10, 3), np.uint8))
        with pytest.raises(ODSError):
            r.render_vr360(64, ipd=-1.0)


# --- vr360 output -------------------------------------------------------------------------------


def test_presets_and_levels():
    quest = resolve_vr360(VR360Spec(Path("q.mp4"), preset="quest"))
    assert quest.frame_size == (3840, 3840) and quest.codec == "h264" and quest.fps == 30
    assert quest.level == "6" and "mvrange=511" in " ".join(quest.ffmpeg_params)
    h265 = resolve_vr360(VR360Spec(Path("q.mp4"), preset="quest-h265"))
    assert h265.frame_size == (4096, 4096) and h265.codec == "h265" and h265.level == "6"
    youtube = resolve_vr360(VR360Spec(Path("y.mp4"), preset="youtube"))
    params = " ".join(youtube.ffmpeg_params)
    assert "-profile:v high" in params and "open-gop=0" in params and "-g 15" in params
    preview = resolve_vr360(VR360Spec(Path("p.mp4"), preset="preview", stereo=False))
    assert preview.frame_size == (2048, 1024) and preview.level == "4"
    assert "mvrange" not in " ".join(preview.ffmpeg_params)
    still = resolve_vr360(VR360Spec(Path("s.jpg"), resolution=(512, 256)))
    assert still.kind == "still" and still.frame_size == (512, 512)
    assert codec_level("h264", 1920, 1080, 30) == "4"
    assert codec_level("h264", 8192, 8192, 30) is None
    assert codec_level("h265", 3840, 2160, 60) == "5.1"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (dict(path="a.mp4", preset="vive"), "unknown preset"),
        (dict(path="a.mp4", resolution=(1000, 400)), "2:1"),
        (dict(path="a.mp4", resolution=1001), "even"),
        (dict(path="a.mp4", preset="quest", resolution=4096), "quest-h265"),
        (dict(path="a.mp4", preset="quest-h265", resolution=8192), "decode in H265"),
        (dict(path="a.mp4", preset="youtube", resolution=7680), "level 6.2"),
        (dict(path="a.mp4", resolution=1022, stereo=False), "multiple of 4"),
        (dict(path="a.mp4", codec="vp9"), "h264 or h265"),
        (dict(path="a.mp4", fps=0), "fps"),
        (dict(path="a.gif"), ".png"),
        (dict(path="a.mp4", taper=(80, 40)), "taper"),
    ],
)
def test_bad_vr360_settings_are_one_line_errors(spec, words):
    with pytest.raises(VR360Error) as info:
        resolve_vr360(VR360Spec(**{**spec, "path": Path(spec["path"])}))
    assert isinstance(info.value, DepthFusionError)
    assert words in str(info.value) and "\n" not in str(info.value)


def _ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("ffprobe not installed")
    out = subprocess.run(
        [exe, "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)["streams"][0]


def _decode_all(path: Path) -> list[np.ndarray]:
    """Every frame, failing on any decoder message (ffmpeg -v error)."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    check = subprocess.run(
        [exe, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stderr.strip() == "", check.stderr
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def _side_data(stream: dict) -> dict[str, dict]:
    return {d["side_data_type"]: d for d in stream.get("side_data_list", [])}


@pytest.mark.gl
def test_stereo_video_along_a_path(ctx, room, tmp_path):
    _, mesh = room
    out = tmp_path / "tb.mp4"
    path = preset_path("swing", 0.5, amplitude=0.3)
    spec = VR360Spec(out, resolution=64, fps=8, encoder_preset="ultrafast")
    assert write_vr360(spec, mesh, path, ipd=IPD, quiet=True, ctx=ctx) == [out]
    stream = _ffprobe(out)
    assert int(stream["nb_read_frames"]) == 4  # duration * fps
    assert (stream["width"], stream["height"]) == (64, 64)
    side = _side_data(stream)
    assert side["Spherical Mapping"]["projection"] == "equirectangular"
    assert side["Stereo 3D"]["type"] == "top and bottom"
    frames = _decode_all(out)
    assert len(frames) == 4 and psnr(frames[0], frames[1]) < 40  # the viewpoint moves
    info = read_spherical(out)
    assert info["v1"]["StereoMode"] == "top-bottom" and info["st3d"] == "top-bottom"
    assert sorted(p.name for p in visible(tmp_path)) == ["tb.mp4"]  # no temporary left


@pytest.mark.gl
def test_mono_video_from_a_fixed_viewpoint(ctx, room, tmp_path):
    rgbd, mesh = room
    out = tmp_path / "mono.mp4"
    spec = VR360Spec(out, stereo=False, resolution=256, fps=10, duration=0.5, crf=10)
    write_vr360(spec, mesh, None, quiet=True, ctx=ctx)
    stream = _ffprobe(out)
    assert int(stream["nb_read_frames"]) == 5
    side = _side_data(stream)
    assert side["Spherical Mapping"]["projection"] == "equirectangular"
    assert "Stereo 3D" not in side
    frames = _decode_all(out)
    assert len(frames) == 5 and psnr(frames[-1], rgbd.rgb) >= 30.0  # the panorama itself


@pytest.mark.gl
@pytest.mark.parametrize(("name", "stereo"), [("s.png", True), ("s.jpg", True), ("m.jpg", False)])
def test_stills_carry_gpano(ctx, room, tmp_path, name, stereo):
    rgbd, mesh = room
    out = tmp_path / name
    write_vr360(VR360Spec(out, stereo=stereo, resolution=256), mesh, ipd=0.0, ctx=ctx)
    import cv2

    img = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert img.shape == ((256 if stereo else 128), 256, 3)
    assert psnr(img[:128], rgbd.rgb) >= (60 if name.endswith(".png") else 30)
    xmp = read_xmp(out)
    # The metadata describes the pixels that are there: one 256x128 eye, and for the
    # 256x256 top-bottom image no GPano (viewers would wrap both eyes round one sphere).
    ns = "GSpherical" if stereo else "GPano"
    assert f'{ns}:ProjectionType="equirectangular"' in xmp
    assert f'{ns}:FullPanoWidthPixels="256"' in xmp and f'{ns}:FullPanoHeightPixels="128"' in xmp
    assert f'{ns}:CroppedAreaImageHeightPixels="128"' in xmp
    assert ("GPano:" in xmp) != stereo
    assert ('StereoMode="top-bottom"' in xmp) == stereo


@pytest.mark.gl
def test_vr_photo_still_holds_both_eyes(ctx, room, tmp_path):
    from depthfusion.outputs.vr_photo import read_vr_photo

    rgbd, mesh = room
    out = tmp_path / "s.vr.jpg"
    write_vr360(VR360Spec(out, stereo=True, resolution=256), mesh, ipd=0.064, ctx=ctx)
    tb = tmp_path / "s.png"
    write_vr360(VR360Spec(tb, stereo=True, resolution=256), mesh, ipd=0.064, ctx=ctx)
    import cv2

    frame = cv2.cvtColor(cv2.imread(str(tb)), cv2.COLOR_BGR2RGB)
    left, right, xmp = read_vr_photo(out)
    assert left.shape == right.shape == (128, 256, 3)
    assert psnr(left, frame[:128]) >= 30 and psnr(right, frame[128:]) >= 30  # JPEG q95
    assert psnr(left, frame[128:]) < psnr(left, frame[:128])  # the eyes are not swapped
    assert 'GPano:FullPanoWidthPixels="256"' in xmp and 'GPano:FullPanoHeightPixels="128"' in xmp
    with pytest.raises(VR360Error, match="stereo photo"):
        write_vr360(VR360Spec(tmp_path / "m.vr.jpg", stereo=False, resolution=256), mesh, ctx=ctx)


@pytest.mark.gl
def test_failed_write_leaves_nothing(ctx, room, tmp_path, monkeypatch):
    _, mesh = room
    out = tmp_path / "x.mp4"
    out.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise VR360Error("boom")

    monkeypatch.setattr("depthfusion.outputs.vr360.inject_spherical", broken)
    spec = VR360Spec(out, resolution=64, fps=4, duration=0.5, encoder_preset="ultrafast")
    with pytest.raises(OutputError, match="not written by depthfusion"):
        write_vr360(spec, mesh, None, quiet=True, ctx=ctx)  # "old" is not the project's
    with allow_overwrite(), pytest.raises(VR360Error):
        write_vr360(spec, mesh, None, quiet=True, ctx=ctx)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in visible(tmp_path)) == ["x.mp4"]


def test_spec_from_a_scene_output_mapping():
    from depthfusion.outputs.vr360 import spec_from_mapping

    data = {"kind": "vr360", "path": "out/a.mp4", "preset": "preview", "stereo": True,
            "resolution": None, "codec": None}  # fmt: skip
    spec = spec_from_mapping(data)
    assert spec.path == Path("out/a.mp4") and spec.preset == "preview" and spec.resolution is None
    assert resolve_vr360(spec).frame_size == (2048, 2048)
    with pytest.raises(VR360Error, match="unknown setting"):
        spec_from_mapping({"path": "a.mp4", "layout": "sbs"})


@pytest.mark.gl
def test_still_from_a_pose_follows_its_yaw_only_when_asked(ctx, room, tmp_path):
    import cv2

    _, mesh = room
    pose = Pose(position=(0.1, 0.0, 0.0), yaw=90.0, pitch=30.0)
    images = {}
    for follow in (False, True):
        out = tmp_path / f"{follow}.png"
        write_vr360(VR360Spec(out, stereo=False, resolution=256, follow_yaw=follow), mesh, [pose])
        images[follow] = cv2.imread(str(out))
    with ODSRenderer.from_mesh(ctx, mesh) as r:
        level = r.render_equirect(256, (0.0,), pose.position, 0.0)[..., ::-1]
    assert psnr(images[False], level) >= 40.0  # pitch never applies: the horizon stays level
    assert psnr(images[True], np.roll(images[False], -64, axis=1)) >= 35.0


def test_static_video_needs_a_duration(room, tmp_path):
    _, mesh = room
    with pytest.raises(VR360Error, match="duration"):
        write_vr360(VR360Spec(tmp_path / "a.mp4", resolution=64), mesh, None)


@pytest.mark.gl
@pytest.mark.slow
def test_h265_quest_style_video(ctx, room, tmp_path):
    _, mesh = room
    out = tmp_path / "q.mp4"
    spec = VR360Spec(
        out, preset="quest-h265", resolution=128, fps=5, duration=0.6, encoder_preset="ultrafast"
    )
    write_vr360(spec, mesh, None, ipd=IPD, quiet=True, ctx=ctx)
    stream = _ffprobe(out)
    assert stream["codec_name"] == "hevc" and int(stream["nb_read_frames"]) == 3
    side = _side_data(stream)
    assert side["Stereo 3D"]["type"] == "top and bottom"
    assert side["Spherical Mapping"]["projection"] == "equirectangular"
    assert len(_decode_all(out)) == 3


def test_spot_helpers_agree_with_conventions():
    # The spot texture puts a spot where conventions.py says a direction lands.
    width = 128
    u, v = lonlat_to_uv(np.radians(30.0), 0.0)
    tex = spot_texture(width, [(u * width, v * width / 2)])
    x, y = spot_centroid(tex, u * width, v * width / 2)
    assert x == pytest.approx(u * width, abs=0.01) and y == pytest.approx(v * width / 2, abs=0.01)


def test_the_cut_mask_shortcut_gives_the_same_mesh_as_reading_the_faces(room):
    """simplify reads a layered mesh's cells from MeshLayer.grid_cut; without it (or when it
    no longer matches the faces) it classifies the faces themselves: same mesh either way."""
    from depthfusion.mesh.discontinuities import build_layered_mesh
    from depthfusion.render.ods_mesh import simplify_layers

    mesh = build_layered_mesh(room[0], 128, radius=5.0, mode="metric")
    fg = mesh.layer("foreground")
    cut = fg.grid_cut
    assert cut is not None and 0 < cut.sum() < len(cut)
    views = [(0.05, 0.0, 0.0), (-0.05, 0.01, 0.02)]
    fast = simplify_layers(mesh, 256, positions=views)
    fg.grid_cut = None
    slow = simplify_layers(mesh, 256, positions=views)
    fg.grid_cut = np.zeros_like(cut)  # stale: claims nothing was cut
    stale = simplify_layers(mesh, 256, positions=views)
    fg.grid_cut = cut
    for other in (slow, stale):
        for a, b in zip(fast.layers, other.layers, strict=True):
            np.testing.assert_array_equal(a.faces, b.faces)
            np.testing.assert_array_equal(a.vertices, b.vertices)
    assert len(fast.layer("foreground").faces) < 0.6 * len(fg.faces)  # it did simplify
