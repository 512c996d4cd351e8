"""The GL core: context, shader loader, projection/stereo maths, MeshRenderer, layouts.

GL tests render tiny framebuffers through the EGL context (llvmpipe on CPU machines).
Ground truth comes from conventions.py independently of GL: a perspective crop of the
panorama by cv2.remap, and the off-axis disparity formula f * ipd * (1/Z - 1/C).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthfusion.conventions import (
    direction_to_lonlat,
    focal_length_px,
    lonlat_to_uv,
    panorama_directions,
    perspective_ray_directions,
    vertical_fov,
)
from depthfusion.errors import DepthFusionError
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.render import camera, gl, layouts
from depthfusion.render.pose import Pose
from depthfusion.render.renderer import MeshRenderer
from depthfusion.rgbd.panorama import RGBDPanorama

# --- scene helpers -----------------------------------------------------------------------------


def sphere_mesh(texture: np.ndarray, radius: float):
    """A constant-radius sphere (every vertex at ``radius``) textured with ``texture``."""
    h, w = texture.shape[:2]
    rgbd = RGBDPanorama(texture, np.full((h, w), 0.5, dtype=np.float32))
    return build_sphere_mesh(rgbd, radius=radius, mode="linear", strength=0.0)


def smooth_panorama(width: int) -> np.ndarray:
    """A smooth but textured sRGB panorama: colour waves that are functions of direction
    (so seamless across +-180 degrees and regular at the poles)."""
    d = panorama_directions(width, width // 2).astype(np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    rgb = np.stack(
        [
            0.5 + 0.4 * np.sin(7 * x + 3 * y + 1.0) * np.cos(5 * z - 2 * y),
            0.5 + 0.4 * np.sin(8 * y + 3 * z) * np.cos(3 * x),
            0.5 + 0.4 * np.cos(6 * x - 7 * z + 2 * y),
        ],
        axis=-1,
    )
    return np.round(rgb * 255).astype(np.uint8)


def blob_panorama(width: int, sigma_deg: float = 2.0) -> np.ndarray:
    """Dark panorama with one bright Gaussian spot straight ahead (lon 0, lat 0)."""
    d = panorama_directions(width, width // 2).astype(np.float64)
    angle = np.arccos(np.clip(-d[..., 2], -1.0, 1.0))
    spot = np.exp(-0.5 * (angle / np.radians(sigma_deg)) ** 2)
    grey = np.round(20 + 220 * spot).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def reference_view(pano: np.ndarray, pose: Pose, size: tuple[int, int], fov: float):
    """Perspective crop of ``pano`` by cv2.remap, from conventions.py alone (no GL)."""
    w, h = size
    rays = perspective_ray_directions(w, h, fov) @ pose.rotation().T  # camera -> world
    u, v = lonlat_to_uv(*direction_to_lonlat(rays))
    ph, pw = pano.shape[:2]
    # Rows beyond the poles replicate the edge rows (as GL's CLAMP in v); columns wrap.
    padded = np.pad(pano, ((2, 2), (0, 0), (0, 0)), mode="edge")
    map_x = (u * pw - 0.5).astype(np.float32)
    map_y = (v * ph - 0.5 + 2).astype(np.float32)
    return cv2.remap(padded, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def spot_centroid(img: np.ndarray, background: int = 20) -> tuple[float, float]:
    """(x, y) centroid of the bright spot, pixel centres at +0.5."""
    weight = np.clip(img[..., 0].astype(np.float64) - background, 0, None)
    ys, xs = np.indices(weight.shape) + 0.5
    return float((weight * xs).sum() / weight.sum()), float((weight * ys).sum() / weight.sum())


# --- gl.py -------------------------------------------------------------------------------------


@pytest.mark.gl
def test_gl_info_reports_limits(ctx):
    info = gl.gl_info(ctx)
    assert info["renderer"] and info["version"]
    assert info["version_code"] >= 330
    assert info["max_texture_size"] >= 2048
    assert info["max_samples"] >= 0
    assert gl.get_context() is gl.get_context()


def test_missing_egl_is_one_line_error(monkeypatch):
    def no_egl(**kwargs):
        raise Exception("libEGL.so: cannot open shared object file")

    monkeypatch.setattr(gl.moderngl, "create_standalone_context", no_egl)
    with pytest.raises(gl.GLUnavailableError) as info:
        gl.create_context()
    message = str(info.value)
    assert isinstance(info.value, DepthFusionError)
    assert "\n" not in message
    assert "libegl1 libegl-mesa0 libgl1-mesa-dri" in message


def test_shader_source_inserts_defines_after_version():
    src = gl.shader_source("mesh", "FRAGMENT_SHADER", {"EXTRA": 3})
    lines = src.splitlines()
    assert lines[0] == "#version 330"
    assert lines[1:4] == ["#define FRAGMENT_SHADER 1", "#define EXTRA 3", "#line 2"]
    assert gl.shader_stages("mesh") == ("vertex_shader", "fragment_shader")


@pytest.mark.gl
def test_load_program(ctx):
    program = gl.load_program(ctx, "mesh", {"UNUSED": 1})
    assert "m_mvp" in program and "texture0" in program
    program.release()


# --- camera.py (pure maths) --------------------------------------------------------------------


def test_perspective_maps_fov_edges_to_image_edges():
    size, fov = (200, 100), 75.0
    view, proj = camera.eye_matrices(Pose(), 0.0, None, fov, size)
    half_h, half_v = np.radians(fov / 2), np.radians(vertical_fov(fov, *size) / 2)
    points = np.array(
        [[np.tan(half_h), 0, -1], [-np.tan(half_h), 0, -1], [0, np.tan(half_v), -1], [0, 0, -3]]
    )
    px = camera.project_to_pixels(points, view, proj, size)
    np.testing.assert_allclose(px, [[200, 50], [0, 50], [100, 0], [100, 50]], atol=1e-9)


@pytest.mark.parametrize("convergence", [None, 1.5, 4.0])
def test_off_axis_disparity_formula_and_sign(convergence):
    pose = Pose(position=(0.3, -0.2, 1.0), yaw=35.0, pitch=-20.0, roll=10.0)
    size, fov, ipd = (320, 180), 80.0, 0.064
    (view_l, proj_l), (view_r, proj_r) = camera.stereo_matrices(pose, ipd, convergence, fov, size)
    right, up, forward = pose.axes()
    depths = np.array([0.5, 1.0, 1.5, 3.0, 4.0, 10.0])
    # Points at several depths and off-centre positions in front of the camera.
    points = np.asarray(pose.position) + depths[:, None] * (forward + 0.2 * right - 0.1 * up)
    x_l, y_l = camera.project_to_pixels(points, view_l, proj_l, size).T
    x_r, y_r = camera.project_to_pixels(points, view_r, proj_r, size).T
    expected = camera.expected_disparity_px(depths, ipd, convergence, fov, size[0])
    np.testing.assert_allclose(x_l - x_r, expected, atol=1e-9)
    np.testing.assert_allclose(y_l, y_r, atol=1e-9)  # parallel axes: no vertical disparity
    c = np.inf if convergence is None else convergence
    # Crossed (left-eye image further right) exactly for points nearer than C.
    assert np.all((x_l - x_r > 1e-12) == (depths < c - 1e-12))
    assert expected[0] == pytest.approx(focal_length_px(320, fov) * ipd * (2.0 - 1.0 / c))


def test_eyes_are_parallel_and_separated_along_right_axis():
    pose = Pose(position=(1.0, 2.0, 3.0), yaw=-70.0, pitch=30.0, roll=-15.0)
    (view_l, _), (view_r, _) = camera.stereo_matrices(pose, 0.07, 2.0, 90.0, (64, 64))
    np.testing.assert_allclose(view_l[:3, :3], view_r[:3, :3], atol=1e-12)  # never toe-in
    eye_l = -view_l[:3, :3].T @ view_l[:3, 3]
    eye_r = -view_r[:3, :3].T @ view_r[:3, 3]
    np.testing.assert_allclose(eye_r - eye_l, 0.07 * pose.axes()[0], atol=1e-12)
    np.testing.assert_allclose((eye_l + eye_r) / 2, pose.position, atol=1e-12)


# --- renderer: geometry and orientation ------------------------------------------------------

VIEW_SIZE, VIEW_FOV = (96, 64), 90.0


@pytest.fixture(scope="module")
def smooth_scene(gl_context):
    pano = smooth_panorama(512)
    renderers = {s: MeshRenderer.from_mesh(gl_context, sphere_mesh(pano, 5.0), s) for s in (0, 4)}
    yield pano, renderers
    for r in renderers.values():
        r.release()


@pytest.mark.gl
@pytest.mark.parametrize(
    ("yaw", "pitch", "roll", "samples"),
    [
        (0, 0, 0, 0),
        (90, 0, 0, 0),
        (-135, 20, 0, 0),
        (180, 0, 0, 0),  # looking straight at the +-180 degree seam
        (170, -10, 0, 4),  # the seam crosses the view
        (-175, 5, 0, 0),
        (30, 60, 0, 0),  # north pole in view
        (-60, -60, 0, 4),  # south pole in view
        (45, 10, 25, 0),
    ],
)
def test_centre_view_matches_perspective_crop(ctx, smooth_scene, yaw, pitch, roll, samples):
    pano, renderers = smooth_scene
    pose = Pose(yaw=yaw, pitch=pitch, roll=roll)
    img = renderers[samples].render(pose, VIEW_SIZE, VIEW_FOV)
    assert img.shape == (VIEW_SIZE[1], VIEW_SIZE[0], 3) and img.dtype == np.uint8
    assert psnr(img, reference_view(pano, pose, VIEW_SIZE, VIEW_FOV)) >= 30.0


@pytest.mark.gl
def test_image_rows_top_first_and_not_mirrored(ctx):
    # A quad in front of the camera with a quadrant texture (top-left red, top-right green,
    # bottom-left blue): the image must show it as the texture reads, top row first.
    verts = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1]], np.float32)
    uvs = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)
    tex = np.zeros((64, 64, 3), np.uint8)
    tex[:32, :32], tex[:32, 32:], tex[32:, :32] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    with MeshRenderer(ctx, verts, uvs, faces, tex, samples=0) as r:
        img = r.render(Pose(), (16, 16), 90.0)
    assert img[2, 2].tolist() == [255, 0, 0]
    assert img[2, 13].tolist() == [0, 255, 0]
    assert img[13, 2].tolist() == [0, 0, 255]
    assert img[13, 13].tolist() == [0, 0, 0]


# --- renderer: stereo -------------------------------------------------------------------------

STEREO_SIZE, STEREO_FOV, STEREO_IPD = (128, 64), 60.0, 0.5


@pytest.fixture(scope="module")
def spot_spheres(gl_context):
    pano = blob_panorama(512)
    renderers = {z: MeshRenderer.from_mesh(gl_context, sphere_mesh(pano, z), 4) for z in (2, 4, 8)}
    yield renderers
    for r in renderers.values():
        r.release()


@pytest.mark.gl
@pytest.mark.parametrize(("depth", "convergence"), [(2, 4.0), (8, 4.0), (4, None), (2, 8.0)])
def test_stereo_disparity_size_and_sign(ctx, spot_spheres, depth, convergence):
    left, right = spot_spheres[depth].render_stereo(
        Pose(), STEREO_SIZE, STEREO_FOV, STEREO_IPD, convergence
    )
    (x_l, y_l), (x_r, y_r) = spot_centroid(left), spot_centroid(right)
    expected = camera.expected_disparity_px(
        depth, STEREO_IPD, convergence, STEREO_FOV, STEREO_SIZE[0]
    )
    assert abs(expected) > 5  # the test is meaningful: several pixels of shift
    assert x_l - x_r == pytest.approx(expected, abs=0.25)
    # Symmetric about the centre: each eye carries half the disparity.
    assert x_l - STEREO_SIZE[0] / 2 == pytest.approx(expected / 2, abs=0.2)
    # Sign: nearer than the convergence plane -> crossed (further right in the left eye).
    nearer = convergence is None or depth < convergence
    assert (x_l > x_r) == nearer
    assert y_l == pytest.approx(y_r, abs=0.05) and y_l == pytest.approx(32.0, abs=0.1)


@pytest.mark.gl
def test_convergence_distance_has_zero_disparity(ctx, spot_spheres):
    left, right = spot_spheres[4].render_stereo(Pose(), STEREO_SIZE, STEREO_FOV, STEREO_IPD, 4.0)
    mono = spot_spheres[4].render(Pose(), STEREO_SIZE, STEREO_FOV)
    (x_l, y_l), (x_r, y_r), (x_m, y_m) = map(spot_centroid, (left, right, mono))
    assert x_l == pytest.approx(x_r, abs=0.05) and x_l == pytest.approx(x_m, abs=0.05)
    assert y_l == pytest.approx(y_r, abs=0.05) and y_l == pytest.approx(y_m, abs=0.05)


@pytest.mark.gl
def test_off_axis_not_toe_in_plane_at_convergence_coincides(ctx):
    # A plane facing the camera at the convergence distance: with parallel axes and sheared
    # frusta every point of it lands on the same pixel in both eyes (toe-in would keystone).
    c = 3.0
    s = 2.5 * c
    verts = np.array([[-s, -s, -c], [s, -s, -c], [s, s, -c], [-s, s, -c]], np.float32)
    uvs = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (512, 512, 3)).astype(np.uint8), (0, 0), 3)
    tex = cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)
    with MeshRenderer(ctx, verts, uvs, faces, tex, samples=4) as r:
        left, right = r.render_stereo(Pose(), (96, 64), 90.0, 0.5, c)
        near_l, near_r = r.render_stereo(Pose(), (96, 64), 90.0, 0.5, 2 * c)
    assert psnr(left, right) > 40.0
    assert psnr(near_l, near_r) < 30.0  # sanity: the same plane off the convergence distance


# --- renderer: colour, sizes, buffers ---------------------------------------------------------


@pytest.mark.gl
@pytest.mark.parametrize("samples", [0, 4])
def test_flat_colour_round_trips_exactly(ctx, samples):
    # Every 8-bit level in every channel: one sRGB decode (texture) and one encode
    # (framebuffer), no double gamma, no rounding drift.
    for level in range(256):
        colour = (level, 255 - level, (level * 37) % 256)
        tex = np.empty((8, 16, 3), np.uint8)
        tex[:] = colour
        with MeshRenderer.from_mesh(ctx, sphere_mesh(tex, 2.0), samples) as r:
            img = r.render(Pose(yaw=175.0, pitch=50.0), (16, 16), 120.0)
        assert (img == np.array(colour, np.uint8)).all(), colour


@pytest.mark.gl
def test_filtering_averages_linear_light(ctx):
    # A 1-pixel checkerboard minified 16x: mipmaps average in linear light, so the result is
    # sRGB(0.5) = 188, not the 128 a gamma-unaware average would give.
    verts = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1]], np.float32)
    uvs = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)
    checker = (np.indices((128, 128)).sum(axis=0) % 2 * 255).astype(np.uint8)
    tex = np.repeat(checker[..., None], 3, axis=2)
    with MeshRenderer(ctx, verts, uvs, faces, tex, samples=0) as r:
        img = r.render(Pose(), (8, 8), 90.0)
    assert np.all(np.abs(img.astype(int) - 188) <= 1)


@pytest.mark.gl
def test_samples_can_change_between_views_of_one_renderer(ctx, smooth_scene):
    """Outputs with different MSAA settings share one renderer (one upload of the mesh): each
    view draws exactly what a renderer made with that setting draws."""
    pano, renderers = smooth_scene
    pose = Pose(yaw=40.0, pitch=-20.0).offset(right=0.5)
    with MeshRenderer.from_mesh(ctx, sphere_mesh(pano, 5.0), 4) as shared:
        for samples in (0, 4, 0):
            shared.samples = samples
            expected = renderers[samples].render(pose, (64, 48), 90.0)
            assert np.array_equal(shared.render(pose, (64, 48), 90.0), expected)
        with pytest.raises(DepthFusionError, match="samples=3 unsupported"):
            shared.samples = 3
        assert shared.samples == 0  # a refused value changes nothing
    # the two settings do draw differently here (so the comparisons above can fail)
    assert not np.array_equal(
        renderers[0].render(pose, (64, 48), 90.0), renderers[4].render(pose, (64, 48), 90.0)
    )


@pytest.mark.gl
def test_sliver_edge_pixels_sample_near_their_triangle(ctx):
    # Four background-layer triangles of the courtyard scene that run nearly along the ray
    # from an eye moved 20 cm (36-65 m away, a pixel wide): with MSAA, pixel centres outside
    # them get perspective-correct uvs extrapolated far across the texture (and llvmpipe's
    # 16x anisotropic filter took a tenth of a second per such triangle). The renderer clamps
    # uvs to 16 cells around each triangle, so every drawn pixel shows the texels around it
    # (green) and none of the red texture beyond.
    verts = np.array(
        [[57.066, -8.338, 39.41], [44.354, -6.816, 30.631], [36.165, -5.307, 25.304],
         [36.137, -5.577, 25.285], [64.799, -9.549, 45.934], [64.75, -10.036, 45.9]],
        np.float32,
    )  # fmt: skip
    uvs = np.array(
        [[0.8462, 0.5381], [0.8462, 0.54], [0.8472, 0.5381], [0.8472, 0.54], [0.8481, 0.5381],
         [0.8481, 0.54]],
        np.float32,
    )  # fmt: skip
    faces = np.array([[0, 1, 2], [2, 1, 3], [2, 3, 4], [4, 3, 5]], np.uint32)
    tex = np.zeros((512, 1024, 3), np.uint8)
    tex[:] = (255, 0, 0)
    tex[235:317, 826:909] = (0, 255, 0)  # the triangles' texels and 40 more on every side
    pose = Pose(position=(0.18783501, 0.0, -0.06868776), yaw=159.91347584)
    with MeshRenderer(ctx, verts, uvs, faces, tex, samples=4, cull=False) as r:
        r.texture.anisotropy = min(16.0, gl.gl_info(ctx)["max_anisotropy"])
        img = r.render(pose, (320, 240), 90.0).astype(int)
    drawn = img.sum(axis=2) > 0
    assert drawn.sum() >= 5
    assert not (drawn & (img[..., 0] > img[..., 1])).any()


@pytest.mark.gl
def test_msaa_antialiases_edges(ctx):
    # A white triangle on black: without MSAA every pixel is 0 or 255; with 4x the edge
    # pixels get partial coverage (resolved into the single-sample read framebuffer).
    verts = np.array([[-1, -1, -2], [1.3, -0.2, -2], [-0.4, 1, -2]], np.float32)
    uvs = np.full((3, 2), 0.5, np.float32)
    tex = np.full((4, 4, 3), 255, np.uint8)
    levels = {}
    for samples in (0, 4):
        with MeshRenderer(ctx, verts, uvs, np.array([[0, 1, 2]]), tex, samples=samples) as r:
            levels[samples] = set(np.unique(r.render(Pose(), (32, 32), 90.0)).tolist())
    assert levels[0] == {0, 255}
    assert len(levels[4] - {0, 255}) >= 3


@pytest.mark.gl
def test_size_over_gl_limit_is_one_line_error(ctx, smooth_scene):
    renderer = smooth_scene[1][0]
    limit = renderer.max_size
    with pytest.raises(gl.RenderError) as info:
        renderer.render(Pose(), (limit + 1, 8), 90.0)
    message = str(info.value)
    assert isinstance(info.value, DepthFusionError) and "\n" not in message
    assert f"{limit + 1}x8" in message and str(limit) in message

    too_wide = np.zeros((1, gl.gl_info(ctx)["max_texture_size"] + 1, 3), np.uint8)
    verts = np.zeros((3, 3), np.float32)
    with pytest.raises(gl.RenderError, match="texture"):
        MeshRenderer(ctx, verts, np.zeros((3, 2), np.float32), np.array([[0, 1, 2]]), too_wide)


@pytest.mark.gl
def test_bad_inputs(ctx):
    verts = np.zeros((3, 3), np.float32)
    uvs = np.zeros((3, 2), np.float32)
    tex = np.zeros((2, 4, 3), np.uint8)
    with pytest.raises(gl.RenderError, match="face index"):
        MeshRenderer(ctx, verts, uvs, np.array([[0, 1, 3]]), tex)
    with pytest.raises(gl.RenderError, match="samples=3"):
        MeshRenderer(ctx, verts, uvs, np.array([[0, 1, 2]]), tex, samples=3)


@pytest.mark.gl
def test_out_buffer_and_framebuffer_cache(ctx, smooth_scene):
    renderer = smooth_scene[1][4]
    out = np.zeros((24, 40, 3), np.uint8)
    result = renderer.render(Pose(yaw=10), (40, 24), 70.0, out=out)
    assert result is out and out.any()
    np.testing.assert_array_equal(out, renderer.render(Pose(yaw=10), (40, 24), 70.0))
    targets = renderer._targets_for(40, 24)
    assert renderer._targets_for(40, 24) is targets  # reused per size
    for w in range(8, 8 + 6):  # more sizes than the cache keeps: old ones are released
        renderer.render(Pose(), (w, 8), 70.0)
    assert len(renderer._targets) <= 4
    with pytest.raises(ValueError, match="out must be"):
        renderer.render(Pose(), (40, 24), 70.0, out=np.zeros((24, 40, 4), np.uint8))


@pytest.mark.gl
def test_render_leaves_caller_framebuffer_bound(ctx, smooth_scene):
    fbo = ctx.simple_framebuffer((8, 8))
    fbo.use()
    smooth_scene[1][0].render(Pose(), (16, 16), 90.0)
    assert ctx.fbo is fbo
    fbo.release()  # a released framebuffer left bound: the next render must not trip on it
    smooth_scene[1][0].render(Pose(), (20, 12), 90.0)
    assert ctx.fbo is not fbo


# --- layouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "eye", "out"),
    [
        ("mono", (64, 32), (64, 32)),
        ("sbs", (64, 32), (128, 32)),
        ("sbs-half", (32, 32), (64, 32)),
        ("tb", (64, 32), (64, 64)),
        ("anaglyph", (64, 32), (64, 32)),
        ("left-right-files", (64, 32), (64, 32)),
    ],
)
def test_layout_sizes_and_compose_shapes(layout, eye, out):
    assert layouts.eye_size(layout, (64, 32)) == eye
    assert layouts.output_size(layout, (64, 32)) == out
    assert layouts.eye_aspect(layout, (64, 32)) == 2.0
    left = np.full((eye[1], eye[0], 3), 10, np.uint8)
    right = np.full((eye[1], eye[0], 3), 200, np.uint8)
    frame = layouts.compose(layout, left, right)
    if layout == "left-right-files":
        assert frame[0] is left and frame[1] is right
        return
    assert frame.shape == (out[1], out[0], 3)
    if layout in ("sbs", "sbs-half"):
        assert (frame[:, : eye[0]] == 10).all() and (frame[:, eye[0] :] == 200).all()
    if layout == "tb":  # left eye on top
        assert (frame[: eye[1]] == 10).all() and (frame[eye[1] :] == 200).all()


def test_layout_odd_sizes_and_unknown():
    assert layouts.eye_size("sbs-half", (101, 51)) == (50, 51)
    assert layouts.output_size("sbs-half", (101, 51)) == (100, 51)
    assert layouts.output_size("tb", (101, 51)) == (101, 102)
    with pytest.raises(ValueError, match="sbs-half"):
        layouts.eye_size("side-by-side", (64, 32))


@pytest.mark.parametrize("linear", [True, False])
def test_anaglyph_channels(linear):
    white = np.full((4, 4, 3), 255, np.uint8)
    black = np.zeros((4, 4, 3), np.uint8)
    left_only = layouts.compose("anaglyph", white, black, linear=linear)
    right_only = layouts.compose("anaglyph", black, white, linear=linear)
    # Left eye -> red channel only (behind the red filter), right eye -> green and blue.
    assert (left_only[..., 0] == 255).all() and (left_only[..., 1:] == 0).all()
    assert (right_only[..., 0] == 0).all() and (right_only[..., 1:] == 255).all()
    grey = np.full((4, 4, 3), 128, np.uint8)
    mixed = layouts.anaglyph(grey, grey, linear=linear)
    assert mixed.dtype == np.uint8 and 0 < mixed[0, 0, 0] < 255 and mixed[0, 0, 1] > 0


def test_anaglyph_linear_matches_float_reference():
    rng = np.random.default_rng(1)
    left, right = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)

    def decode(c):
        c = c / 255.0
        return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)

    lin = np.clip(
        decode(left) @ layouts.DUBOIS_LEFT.T + decode(right) @ layouts.DUBOIS_RIGHT.T, 0, 1
    )
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    expected = np.round(enc * 255)
    got = layouts.anaglyph(left, right)
    assert np.abs(got.astype(int) - expected).max() <= 1


@pytest.mark.gl
@pytest.mark.parametrize("layout", layouts.LAYOUTS)
def test_render_frame_layouts(ctx, spot_spheres, layout):
    renderer = spot_spheres[2]
    frame = layouts.render_frame(renderer, layout, Pose(), (48, 24), 60.0, 0.3, 4.0)
    w, h = layouts.output_size(layout, (48, 24))
    if layout == "left-right-files":
        assert [f.shape for f in frame] == [(h, w, 3)] * 2
        return
    assert frame.shape == (h, w, 3)
    if layout == "tb":  # rendered in place into the halves == composed from separate renders
        left, right = renderer.render_stereo(Pose(), (48, 24), 60.0, 0.3, 4.0)
        np.testing.assert_array_equal(frame, layouts.compose("tb", left, right))
    if layout == "sbs-half":  # anamorphic: the spot is squeezed horizontally, not cropped
        full = layouts.render_frame(renderer, "sbs", Pose(), (48, 24), 60.0, 0.3, 4.0)
        x_half = spot_centroid(frame[:, :24])[0]
        x_full = spot_centroid(full[:, :48])[0]
        assert x_half == pytest.approx(x_full / 2, abs=0.3)


@pytest.mark.gl
@pytest.mark.parametrize(
    ("position", "yaw", "pitch", "fov", "eye"),
    [
        ((0, 0, 0), 0, 0, 90, 0.0),
        ((0, 0, 0), 180, 0, 90, -0.032),  # across the +-180 seam, left eye
        ((0.3, 0.2, -0.4), -100, 10, 120, 0.032),  # head moved, wide fov
        ((0, 0, 0), 30, 89, 90, 0.0),  # straight up through the pole
        ((0, -0.2, 0), 0, -85, 60, 0.0),  # down
    ],
)
def test_frustum_culling_changes_no_pixel(ctx, position, yaw, pitch, fov, eye):
    from depthfusion.sources.procedural import generate_panorama

    pano = generate_panorama("room", seed=1, width=256, supersample=1)
    mesh = build_sphere_mesh(pano, 256, mode="metric")
    pose = Pose(position=position, yaw=yaw, pitch=pitch)
    images, drawn = [], []
    for cull in (False, True):
        with MeshRenderer(
            ctx, mesh.vertices, mesh.uvs, mesh.faces, mesh.texture, 0, cull=cull
        ) as r:
            images.append(r.render(pose, (160, 120), fov, eye, 3.0))
            drawn.append(r.last_drawn / r.triangle_count)
    assert drawn[0] == 1.0 and drawn[1] < (0.5 if fov <= 90 else 0.7)
    np.testing.assert_array_equal(images[1], images[0])
