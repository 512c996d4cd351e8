"""Depth discontinuities: edge detection, cutting, the background layer, the atlas, export,
soft edges in the renderer, and novel views against the procedural scenes' ray-cast truth.

GL tests use tiny panoramas (256 x 128) and frames; the full table (more scenes, poses and
resolutions) is benchmarks/bench_discontinuities.py.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh

from depthfusion.conventions import perspective_ray_directions
from depthfusion.errors import DepthFusionError, SceneError
from depthfusion.mesh.discontinuities import (
    DEFAULT_FEATHER,
    FILL_MODES,
    build_layered_mesh,
    check_settings,
    detect_edges,
)
from depthfusion.mesh.layers import LayeredMesh, MeshLayer, layers_to_trimesh_scene
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.render.pose import Pose
from depthfusion.rgbd.panorama import RGBDPanorama

W, H = 64, 32
RED, GREEN = (200, 30, 30), (30, 160, 60)


def patch_panorama(x0: int, x1: int, y0: int = 10, y1: int = 22, near: float = 0.9):
    """A green wall (d = 0.2) with a red patch (d = ``near``) over columns [x0, x1), wrapping."""
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[:] = GREEN
    depth = np.full((H, W), 0.2, np.float32)
    cols = np.arange(x0, x1) % W
    rgb[y0:y1, cols] = RED
    depth[y0:y1, cols] = near
    return RGBDPanorama(rgb, depth)


def span(mesh_like, faces):
    """Disparity span of each face, from the radii of the linear law (r = R(1 + s(1 - 2d)))."""
    r = np.linalg.norm(mesh_like.vertices[faces].astype(np.float64), axis=-1)
    d = (1.0 - (r / 5.0 - 1.0) / 0.5) / 2.0
    return d.max(axis=1) - d.min(axis=1)


@pytest.mark.parametrize("sigma", [2.0, 8.0, 11.0, 16.0])
def test_fill_blur_matches_the_exact_gaussian(sigma):
    """Wide fill blurs run on a shrunk copy: within a level of OpenCV's exact blur away from
    the borders (a step and noise, 3 channels, a width the shrink factor does not divide)."""
    import cv2

    from depthfusion.mesh.inpaint import SHRUNK_BLUR_SIGMA, _gaussian

    rng = np.random.default_rng(3)
    img = rng.random((180, 1031, 3)).astype(np.float32) * 60.0
    img[:, 400:520] += 150.0
    img[90:, :, 1] += 40.0
    got, exact = _gaussian(img, sigma), cv2.GaussianBlur(img, (0, 0), sigma)
    m = int(4 * sigma)
    err = np.abs(got - exact)[m:-m, m:-m]
    if sigma < SHRUNK_BLUR_SIGMA:
        assert np.array_equal(got, exact)
    else:
        assert err.max() < 2.0 and err.mean() < 0.25


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "fill", "match"),
    [
        (0.0, "inpaint", "threshold"),
        (-0.1, "inpaint", "threshold"),
        (float("nan"), "stretch", "threshold"),
        ("abc", "none", "threshold"),
        (0.05, "smear", "fill"),
        (0.05, "Inpaint", "fill"),
    ],
)
def test_bad_settings_are_one_line_scene_errors(threshold, fill, match):
    for call in (
        lambda: check_settings(threshold, fill),
        lambda: build_layered_mesh(patch_panorama(5, 9), threshold=threshold, fill=fill),
    ):
        with pytest.raises(SceneError, match=match) as info:
            call()
        assert isinstance(info.value, DepthFusionError) and "\n" not in str(info.value)
        assert "sphere.discontinuities" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"), [("thickness", -1.0), ("reach", float("inf")), ("feather", 1.5)]
)
def test_bad_tuning_values(key, value):
    with pytest.raises(SceneError, match=key):
        build_layered_mesh(patch_panorama(5, 9), fill="inpaint", **{key: value})


def test_fill_modes_match_the_scene_schema():
    from depthfusion.scene.schema import Discontinuities

    schema = Discontinuities.model_fields["fill"].annotation.__args__
    assert set(schema) == set(FILL_MODES)


# --- edges ----------------------------------------------------------------------------------------


def test_detect_edges_sides_and_threshold():
    pano = patch_panorama(20, 30)
    edges = detect_edges(pano.depth, 0.5)
    # Near side: the patch's outline; far side: the wall around it.
    assert edges.near[15, 20] and edges.near[15, 29] and edges.near[10, 25] and edges.near[21, 25]
    assert edges.far[15, 19] and edges.far[15, 30] and edges.far[9, 25] and edges.far[22, 25]
    assert not edges.near[15, 25] and not edges.far[15, 25] and not edges.any[2, 2]
    assert not (edges.near & ~(pano.depth > 0.5)).any()
    assert not (edges.far & (pano.depth > 0.5)).any()
    # A jump of 0.7 is no edge for a threshold of 0.8.
    assert not detect_edges(pano.depth, 0.8).any.any()


def test_detect_edges_wraps_across_the_seam():
    edges = detect_edges(patch_panorama(W - 3, W + 4).depth, 0.1)  # columns 61..63, 0..3
    assert edges.near[15, W - 3] and edges.far[15, W - 4]  # left end, before the seam
    assert edges.near[15, 3] and edges.far[15, 4]  # right end, after the seam
    assert not edges.any[15, 0] and not edges.any[15, W - 1]  # no edge at the seam itself


def test_smooth_depth_has_no_edges_and_one_layer():
    lon = np.linspace(0, 2 * np.pi, W, endpoint=False)
    depth = (0.5 + 0.2 * np.sin(lon))[None, :].repeat(H, 0).astype(np.float32)
    pano = RGBDPanorama(np.zeros((H, W, 3), np.uint8), depth)
    assert not detect_edges(depth, 0.05).any.any()
    layered = build_layered_mesh(pano, fill="inpaint")
    assert [lay.name for lay in layered.layers] == ["foreground"] and layered.band == 0
    plain = build_sphere_mesh(pano)
    np.testing.assert_array_equal(layered.faces, plain.faces)


# --- cutting and layers ---------------------------------------------------------------------------


def test_stretch_is_the_plain_sphere_mesh():
    pano = patch_panorama(20, 30)
    layered = build_layered_mesh(pano, fill="stretch", threshold=0.05)
    plain = build_sphere_mesh(pano)
    assert len(layered.layers) == 1 and layered.alpha is None
    for name in ("vertices", "uvs", "faces", "texture"):
        np.testing.assert_array_equal(getattr(layered, name), getattr(plain, name))


@pytest.mark.parametrize("x0", [20, W - 4])  # the second patch straddles the seam
def test_none_cuts_exactly_the_spanning_triangles(x0):
    pano = patch_panorama(x0, x0 + 10)
    plain = build_sphere_mesh(pano)
    layered = build_layered_mesh(pano, fill="none", threshold=0.3)
    assert [lay.name for lay in layered.layers] == ["foreground"]
    kept = layered.layers[0].faces
    all_spans = span(plain, plain.faces)
    assert (span(plain, kept) <= 0.3 + 1e-4).all()
    assert len(plain.faces) - len(kept) == int((all_spans > 0.3 + 1e-4).sum()) > 0
    if x0 > W - 10:  # triangles of the seam column (u > 1 side) are cut too
        seam_faces = (plain.faces % (W + 1) == W).any(axis=1) & (plain.faces < H * (W + 1)).all(1)
        assert (all_spans[seam_faces] > 0.3).any()
        assert not (
            span(plain, kept[(kept % (W + 1) == W).any(1) & (kept < H * (W + 1)).all(1)])
            > 0.3 + 1e-4
        ).any()


@pytest.mark.parametrize("x0", [20, W - 4])
def test_background_layer_lies_behind_and_continues_the_far_side(x0):
    pano = patch_panorama(x0, x0 + 10)
    layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, reach=2.0, thickness=0.0)
    fg, bg = layered.layers
    assert bg.name == "background" and layered.band >= 2
    r_wall = 5.0 * (1 + 0.5 * (1 - 2 * 0.2))
    r_bg = np.linalg.norm(bg.vertices.astype(np.float64), axis=1)
    # Every background vertex sits at the wall's distance: the patch's band was pushed back.
    np.testing.assert_allclose(r_bg, r_wall, rtol=1e-5)
    # Its faces include every cut triangle (same uvs), so the cut is closed from the centre.
    assert len(bg.faces) >= len(build_sphere_mesh(pano).faces) - len(fg.faces)
    # Far-side vertices are shared bit-for-bit with the foreground (no crack at the edge).
    fg_pos = {tuple(v) for v in fg.vertices[np.unique(fg.faces)].tolist()}
    bg_pos = [tuple(v) for v in bg.vertices.tolist()]
    assert sum(p in fg_pos for p in bg_pos) > 0
    # Colour: the band is filled from the wall only (no red from the occluder).
    used_uv = bg.uvs[np.unique(bg.faces)]
    xs = (used_uv[:, 0] % 1.0 * W).astype(int)
    ys = (used_uv[:, 1] * H).astype(int)
    colours = bg.texture[ys, xs].astype(int)
    assert np.abs(colours - np.array(GREEN)).max() <= 12
    # Outside the band the background texture is the panorama.
    changed = (bg.texture != pano.rgb).any(axis=2)
    assert changed.any() and (pano.depth[changed] > 0.5).all()


def test_band_width_follows_reach_and_jump():
    from depthfusion.mesh.discontinuities import MAX_BAND_FRACTION

    pano = patch_panorama(20, 40, 4, 28)
    bands = [
        build_layered_mesh(pano, fill="inpaint", reach=r, threshold=0.3).band for r in (0.5, 2, 50)
    ]
    # reach * (1/r_near - 1/r_far) radians in cells, + 2: the patch at 3 m, the wall at 6.5 m.
    cell = 2 * np.pi / W
    assert bands[0] == int(np.ceil(0.5 * (1 / 3.0 - 1 / 6.5) / cell)) + 2
    assert bands[1] == int(np.ceil(2.0 * (1 / 3.0 - 1 / 6.5) / cell)) + 2
    assert bands[2] == int(MAX_BAND_FRACTION * W)  # capped


def test_skirt_extends_the_silhouette_backward_by_the_thickness():
    pano = patch_panorama(20, 30)
    plain = build_sphere_mesh(pano)
    layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, thickness=0.5)
    fg = layered.layers[0]
    n = len(plain.vertices)
    skirt = np.linalg.norm(fg.vertices[n:].astype(np.float64), axis=1)
    r_near, r_wall = 5.0 * (1 + 0.5 * (1 - 1.8)), 5.0 * (1 + 0.5 * 0.6)
    assert set(np.round(skirt, 4)) == {round(r_near, 4), round(r_near + 0.5, 4)}
    assert skirt.max() < r_wall
    # One skirt triangle per cut triangle, with the cut triangle's uvs.
    cut = int((span(plain, plain.faces) > 0.3).sum())
    assert len(fg.vertices) - n == 3 * cut
    skirt_faces = fg.faces[-cut:]
    assert (skirt_faces >= n).all()
    uv_sets = {tuple(map(tuple, np.round(fg.uvs[f], 6))) for f in skirt_faces}
    cut_faces = plain.faces[span(plain, plain.faces) > 0.3]
    assert uv_sets == {tuple(map(tuple, np.round(plain.uvs[f], 6))) for f in cut_faces}


def test_feather_sets_alpha_on_the_skirt_back_edge_only():
    pano = patch_panorama(20, 30)
    layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, feather=1.0)
    fg = layered.layers[0]
    n = len(build_sphere_mesh(pano).vertices)
    assert (fg.alpha[:n] == 1).all() and set(np.unique(fg.alpha[n:])) == {0.0, 1.0}
    assert layered.alpha.shape == (len(layered.vertices),)
    assert build_layered_mesh(pano, fill="inpaint", threshold=0.3, feather=0.0).alpha is None
    # The default is a little soft: 1 - DEFAULT_FEATHER at the skirt's back edge.
    soft = build_layered_mesh(pano, fill="inpaint", threshold=0.3).layers[0].alpha
    assert set(np.unique(soft[n:])) == {np.float32(1.0 - DEFAULT_FEATHER), 1.0}


# --- one mesh over an atlas, export ---------------------------------------------------------------


def _sample(texture, uvs):
    h, w = texture.shape[:2]
    x = np.clip((uvs[:, 0] % 1.0 * w).astype(int), 0, w - 1)
    y = np.clip((uvs[:, 1] * h).astype(int), 0, h - 1)
    return texture[y, x]


def test_combined_atlas_samples_each_layers_own_texture():
    layered = build_layered_mesh(patch_panorama(W - 4, W + 6), fill="inpaint", threshold=0.3)
    c = layered.combined()
    assert c is layered.combined()  # cached
    assert len(c.vertices) == sum(len(lay.vertices) for lay in layered.layers)
    assert len(c.faces) == sum(len(lay.faces) for lay in layered.layers)
    assert c.texture.shape == (2 * H, W, 3)
    start = 0
    for lay in layered.layers:
        sl = slice(start, start + len(lay.vertices))
        # Pixel-centre uvs (pole copies sit on the texture's edge: skip them).
        inner = (lay.uvs[:, 1] > 0) & (lay.uvs[:, 1] < 1)
        np.testing.assert_array_equal(
            _sample(c.texture, c.uvs[sl][inner]), _sample(lay.texture, lay.uvs[inner])
        )
        start += len(lay.vertices)
    # The background half is upside down: its south-pole rows meet the foreground's.
    np.testing.assert_array_equal(c.texture[H - 1], c.texture[H])


def test_exports_textured_vertex_coloured_and_scene(tmp_path):
    layered = build_layered_mesh(patch_panorama(20, 30), fill="inpaint", threshold=0.3)
    tm = layered.to_trimesh(textured=True)
    assert len(tm.vertices) == len(layered.vertices) and len(tm.faces) == len(layered.faces)
    glb = trimesh.load(io.BytesIO(trimesh.exchange.gltf.export_glb(tm)), file_type="glb")
    assert sum(len(g.faces) for g in glb.geometry.values()) == len(layered.faces)
    coloured = layered.to_trimesh(textured=False)  # the PLY: the foreground, welded
    assert len(coloured.faces) == len(layered.layers[0].faces)
    assert len(np.unique(coloured.vertices, axis=0)) == len(coloured.vertices)
    ply = trimesh.exchange.ply.export_ply(coloured, encoding="binary")
    assert trimesh.load(io.BytesIO(ply), file_type="ply").faces.shape == coloured.faces.shape
    scene = layers_to_trimesh_scene(layered)
    assert set(scene.geometry) == {"foreground", "background"}
    assert len(scene.geometry["background"].faces) == len(layered.layers[1].faces)
    back = trimesh.load(io.BytesIO(scene.export(file_type="glb")), file_type="glb")
    assert len(back.geometry) == 2


def test_layered_mesh_accepts_foreign_texture_widths():
    tex = np.zeros((4, 8, 3), np.uint8)
    v = np.zeros((3, 3), np.float32)
    uv = np.full((3, 2), 0.5, np.float32)
    f = np.array([[0, 1, 2]], np.uint32)
    small = np.full((2, 4, 3), 9, np.uint8)
    lm = LayeredMesh(
        [MeshLayer("a", v, uv, f, tex), MeshLayer("b", v, uv, f, small)], 2, 4, 0.1, "x"
    )
    assert lm.texture.shape == (8, 8, 3) and (lm.texture[4:] == 9).all()


# --- rendering: soft edges ------------------------------------------------------------------------


QUAD_V = np.array([[-1, -1, -2], [1, -1, -2], [1, 1, -2], [-1, 1, -2]], np.float32)
QUAD_UV = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
QUAD_F = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)


@pytest.mark.gl
def test_renderer_alpha_to_coverage_and_discard(ctx):
    from depthfusion.render.gl import RenderError
    from depthfusion.render.renderer import MeshRenderer

    white = np.full((4, 4, 3), 255, np.uint8)
    alpha = np.array([0.0, 1.0, 1.0, 0.0], np.float32)  # fades out toward x = -1
    with MeshRenderer(ctx, QUAD_V, QUAD_UV, QUAD_F, white, samples=4, alpha=alpha) as r:
        soft = r.render(Pose(), (32, 16), 90.0)[8, :, 0].astype(int)
    with MeshRenderer(ctx, QUAD_V, QUAD_UV, QUAD_F, white, samples=0, alpha=alpha) as r:
        hard = r.render(Pose(), (32, 16), 90.0)[8, :, 0].astype(int)
    with MeshRenderer(ctx, QUAD_V, QUAD_UV, QUAD_F, white, samples=4) as r:
        opaque = r.render(Pose(), (32, 16), 90.0)[8, :, 0].astype(int)
    assert (opaque[8:24] == 255).all()
    # Coverage rises across the quad from the transparent side (several grey levels).
    assert soft[9] < soft[15] < soft[22] and len(set(soft[8:24].tolist()) - {0, 255}) >= 3
    # Without MSAA: a hard edge where alpha crosses 0.5 (the quad's middle).
    assert (hard[8:15] == 0).all() and (hard[17:24] == 255).all()
    with pytest.raises(RenderError, match="alpha"):
        MeshRenderer(ctx, QUAD_V, QUAD_UV, QUAD_F, white, alpha=np.ones(3, np.float32))


@pytest.mark.gl
def test_from_mesh_renders_a_feathered_layered_mesh(ctx):
    from depthfusion.render.renderer import MeshRenderer

    pano = patch_panorama(28, 36)
    for feather in (0.0, 1.0):
        layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, feather=feather)
        with MeshRenderer.from_mesh(ctx, layered, samples=4) as r:
            assert r.has_alpha == (feather > 0)
            img = r.render(Pose(position=(0.3, 0.0, 0.0)), (48, 32), 60.0)
        assert img.min(axis=2).min() > 0  # no clear colour: no holes


@pytest.mark.gl
def test_skirts_keep_the_stretched_texture_mapping_from_the_centre(ctx):
    """texq: seen from the centre, a skirt (corners moved along their rays) samples the texture
    as the stretched triangle it replaces did; with plain uvs its perspective-correct
    interpolation follows the new corner depths and shifts the texture."""
    from depthfusion.render.renderer import MeshRenderer

    noise = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    pano = RGBDPanorama(noise, patch_panorama(28, 36, near=0.95).depth)
    layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, thickness=0.3, feather=0)
    n = len(build_sphere_mesh(pano).vertices)
    q = layered.layers[0].texq
    # far corners pulled from the wall (6.5 m) to 0.3 m behind the patch (2.75 m)
    skirt_q = set(np.round(q[n:].astype(float), 4).tolist())
    assert (q[:n] == 1).all() and skirt_q == {1.0, round(3.05 / 6.5, 4)}
    assert layered.texq.shape == (len(layered.vertices),)
    assert build_layered_mesh(pano, fill="stretch").texq is None

    def centre_view(*args, **kwargs):
        with MeshRenderer(ctx, *args, samples=0, **kwargs) as r:
            return r.render(Pose(), (256, 192), 60.0).astype(np.int16)

    plain = build_sphere_mesh(pano)
    stretch = centre_view(plain.vertices, plain.uvs, plain.faces, plain.texture)
    parts = (layered.vertices, layered.uvs, layered.faces, layered.texture)
    with_q = np.abs(centre_view(*parts, texq=layered.texq) - stretch).max(axis=2)
    without_q = np.abs(centre_view(*parts) - stretch).max(axis=2)
    # Rasterisation of the moved corners may differ on a few edge pixels, nothing more.
    assert (with_q > 8).mean() < 0.002
    assert (without_q > 8).mean() > 0.02


# --- novel views against the ray-cast truth --------------------------------------------------------

SIZE, FOV = (128, 96), 90.0


def psnr(a, b, mask=None):
    err = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    err = err if mask is None else err[mask]
    return float(10 * np.log10(255.0**2 / max(float(err.mean()), 1e-12)))


def disoccluded(scene, pose, distance):
    """Pixels whose true hit point is hidden from the panorama's centre."""
    h, w = distance.shape
    rays = perspective_ray_directions(w, h, FOV) @ pose.rotation().T
    hits = np.asarray(pose.position) + rays * distance[..., None]
    _, t = scene.raycast(np.zeros((1, 3)), hits.reshape(-1, 3))
    return t.reshape(h, w) < np.linalg.norm(hits, axis=-1) * (1 - 2e-3) - 1e-3


def aim(scene):
    """Yaw toward the nearest object of a procedural room."""
    x, z = min(
        ((o["position"][0], o["position"][2]) for o in scene.params["objects"]),
        key=lambda q: np.hypot(*q),
    )
    return float(np.degrees(np.arctan2(x, -z)))


def white_renderer(ctx, layered):
    """The layered mesh as the renderer draws it, all white: a pixel below white is a hole."""
    from depthfusion.render.renderer import MeshRenderer

    return MeshRenderer.from_mesh(ctx, layered, 4, texture=np.full_like(layered.texture, 255))


@pytest.fixture(scope="module")
def room(gl_context):
    from depthfusion.render.renderer import MeshRenderer
    from depthfusion.sources.procedural import build_scene, generate_panorama

    scene = build_scene("room", 1)
    pano = generate_panorama(scene, width=256, supersample=2)
    meshes = {f: build_layered_mesh(pano, mode="metric", fill=f) for f in FILL_MODES}
    renderers = {f: MeshRenderer.from_mesh(gl_context, m, samples=4) for f, m in meshes.items()}
    white = {f: white_renderer(gl_context, m) for f, m in meshes.items()}
    yield scene, renderers, white
    for r in (*renderers.values(), *white.values()):
        r.release()


def holes(white_renderer, pose):
    return int((white_renderer.render(pose, SIZE, FOV).min(axis=2) < 250).sum())


@pytest.mark.gl
@pytest.mark.parametrize("samples", [4, 0])
def test_centre_view_is_exactly_the_stretched_mesh(ctx, room, samples):
    """From the capture centre every skirt is the stretched triangle it replaces (exact
    vertices, plain uvs, opaque), the background layer loses every depth tie with it, and
    what the panorama shows is drawn unchanged, pixel for pixel."""
    scene, renderers, _ = room
    for pose in (Pose(yaw=aim(scene)), Pose(yaw=aim(scene) + 150.0, pitch=-30.0)):
        img = {}
        for f in ("stretch", "inpaint"):
            renderers[f].samples = samples
            img[f] = renderers[f].render(pose, SIZE, FOV)
            renderers[f].samples = 4
        assert np.array_equal(img["inpaint"], img["stretch"])


@pytest.mark.gl
def test_skirts_follow_the_head_move_across_their_edge(ctx):
    """A patch spanning every row seen by the view has only vertical edges: rising moves
    along them (nothing opens: the stretched mesh, exactly), a sideways move crosses them
    (the skirts and the background layer show: not the stretched mesh)."""
    from depthfusion.render.renderer import MeshRenderer

    pano = patch_panorama(28, 36, y0=2, y1=H - 2)
    layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, thickness=0.3)
    fg = layered.layers[0]
    n0 = len(fg.vertices) - len(fg.skirt_source)
    assert (layered.across[n0 : len(fg.vertices), 1] > 0).any()
    stretch = build_layered_mesh(pano, fill="stretch")
    size, look = (96, 64), Pose(yaw=(32 / W - 0.5) * 360.0, pitch=0.0)

    def views(mesh, pose):
        with MeshRenderer.from_mesh(ctx, mesh, samples=4) as r:
            return r.render(pose, size, 60.0).astype(int)

    up = look.offset(up=0.25)
    assert np.array_equal(views(layered, up), views(stretch, up))
    # The foreground layer alone (the preview's "no background") is drawn the same way.
    assert np.array_equal(views(fg, up), views(stretch, up))
    side = look.offset(right=0.25)
    changed = np.abs(views(layered, side) - views(stretch, side)).max(axis=2) > 24
    assert changed.sum() > 40
    # The same mesh with its skirts fixed (no across) differs from the stretched mesh when
    # rising, too: the view-dependent skirts are what makes the difference.
    with MeshRenderer(
        ctx, layered.vertices, layered.uvs, layered.faces, layered.texture, 4,
        alpha=layered.alpha, texq=layered.texq,
    ) as r:  # fmt: skip
        fixed = r.render(up, size, 60.0).astype(int)
    assert (np.abs(fixed - views(stretch, up)).max(axis=2) > 24).sum() > 20


@pytest.mark.gl
def test_skirts_across_vertical_edges_ignore_a_sloping_background(ctx):
    """Behind the patch the background's disparity changes from row to row (a floor seen
    from above): the direction across the patch's vertical edges is still exactly
    horizontal (from the near side's mask, not the disparity's tilted gradient), so rising
    along them draws exactly the stretched mesh."""
    from depthfusion.render.renderer import MeshRenderer

    pano = patch_panorama(28, 36, y0=2, y1=H - 2)
    slope = np.linspace(0.05, 0.45, H, dtype=np.float32)[:, None]
    depth = np.where(pano.depth > 0.5, pano.depth, np.broadcast_to(slope, pano.depth.shape))
    pano = RGBDPanorama(pano.rgb, depth)
    layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, thickness=0.3)
    fg = layered.layers[0]
    n0 = len(fg.vertices) - len(fg.skirt_source)
    row = fg.skirt_source.astype(np.int64) // (W + 1)
    across = layered.across[n0 : len(fg.vertices)]
    side = (across[:, 1] > 0) & (row >= 4) & (row <= H - 5)
    assert side.sum() >= 40
    assert np.abs(np.sin(across[side, 0])).max() < 1e-6
    stretch = build_layered_mesh(pano, fill="stretch")
    up = Pose(yaw=(32 / W - 0.5) * 360.0, pitch=0.0).offset(up=0.25)
    with (
        MeshRenderer.from_mesh(ctx, layered, samples=4) as a,
        MeshRenderer.from_mesh(ctx, stretch, samples=4) as b,
    ):
        assert np.array_equal(a.render(up, (96, 64), 60.0), b.render(up, (96, 64), 60.0))


def test_render_vertices_put_view_dependent_corners_back():
    pano = patch_panorama(20, 30)
    layered = build_layered_mesh(pano, fill="inpaint", threshold=0.3, thickness=0.5)
    fg = layered.layers[0]
    n0 = len(fg.vertices) - len(fg.skirt_source)
    moving = layered.across[: len(fg.vertices), 1] > 0
    assert not moving[:n0].any() and moving[n0:].sum() == 3 * (len(fg.vertices) - n0) // 3
    out = layered.render_vertices
    assert np.array_equal(out[: len(fg.vertices)], fg.render_vertices)
    assert np.array_equal(out[n0 : len(fg.vertices)], fg.vertices[fg.skirt_source])
    assert np.array_equal(out[:n0], fg.vertices[:n0])
    assert np.array_equal(out[len(fg.vertices) :], layered.layers[1].vertices)
    # Pulled corners (q < 1) sit at their skirt radius in `vertices`, stretched in the input.
    pulled = np.flatnonzero(fg.texq[n0:] < 1.0)
    r_skirt = np.linalg.norm(fg.vertices[n0 + pulled], axis=1)
    r_stretch = np.linalg.norm(out[n0 + pulled], axis=1)
    assert pulled.size and np.allclose(r_skirt, r_stretch * fg.texq[n0 + pulled], rtol=1e-5)
    assert layered.background_vertex == len(fg.vertices)
    assert build_layered_mesh(pano, fill="stretch").background_vertex is None


@pytest.mark.gl
def test_renderer_across_needs_texq(ctx):
    from depthfusion.render.gl import RenderError
    from depthfusion.render.renderer import MeshRenderer

    white = np.full((4, 4, 3), 255, np.uint8)
    with pytest.raises(RenderError, match="across"):
        MeshRenderer(ctx, QUAD_V, QUAD_UV, QUAD_F, white, across=np.ones((4, 2), np.float32))


@pytest.mark.gl
@pytest.mark.parametrize("pitch", [0.0, 90.0])
def test_full_depth_skirts_draw_exactly_the_stretched_mesh(ctx, room, pitch):
    """Skirts as deep as the jump (far corners left in place, q = 1) and no feather: the
    layered mesh covers exactly the stretched mesh's surface, and the renderer samples its
    q = 1 triangles as plain uvs, so even an offset view toward the pole is bit-identical
    (dividing by an interpolated q = 1 shifted texels near the pole)."""
    from depthfusion.render.renderer import MeshRenderer
    from depthfusion.sources.procedural import generate_panorama

    scene, renderers, _ = room
    pano = generate_panorama(scene, width=256, supersample=2)
    full = build_layered_mesh(pano, mode="metric", thickness=100.0, feather=0.0)
    assert full.texq is not None and (full.texq == 1.0).all() and len(full.layers) == 2
    pose = Pose(yaw=30.0, pitch=pitch).offset(right=0.3)
    with MeshRenderer.from_mesh(ctx, full, samples=4) as r:
        layered = r.render(pose, (320, 240), FOV)
    stretch = renderers["stretch"].render(pose, (320, 240), FOV)
    assert np.array_equal(layered, stretch)


@pytest.mark.gl
@pytest.mark.parametrize("move", [-0.3, -0.2, 0.2])
def test_head_move_beats_stretch_and_fills_disocclusions(ctx, room, move):
    from depthfusion.sources.procedural import render_view

    scene, renderers, white = room
    pose = Pose(yaw=aim(scene)).offset(right=move)
    truth, distance = render_view(scene, pose, SIZE, FOV, supersample=2)
    dis = disoccluded(scene, pose, distance)
    assert dis.sum() > 30  # the view really uncovers something
    img = {f: r.render(pose, SIZE, FOV) for f, r in renderers.items()}
    assert psnr(img["inpaint"], truth) > psnr(img["stretch"], truth)
    assert psnr(img["inpaint"], truth, dis) > psnr(img["stretch"], truth, dis) + 1.0
    assert holes(white["none"], pose) > 30  # the cut alone leaves holes ...
    assert holes(white["inpaint"], pose) == 0  # ... the background layer fills them


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize(
    "pose",
    [
        Pose(yaw=180.0).offset(right=0.3),  # across the +-180 degree seam
        Pose(yaw=-170.0, pitch=-20.0).offset(right=-0.3, up=0.1),
        Pose(pitch=90.0).offset(right=0.3),  # straight up
        Pose(yaw=40.0, pitch=-90.0).offset(right=0.3, forward=0.1),  # straight down
        Pose(yaw=30.0, pitch=10.0).offset(up=0.3),
    ],
)
def test_no_holes_across_the_seam_and_at_the_poles(ctx, room, pose):
    from depthfusion.sources.procedural import render_view

    scene, renderers, white = room
    assert holes(white["inpaint"], pose) == 0
    truth, distance = render_view(scene, pose, SIZE, FOV, supersample=2)
    stretch = psnr(renderers["stretch"].render(pose, SIZE, FOV), truth)
    inpaint = psnr(renderers["inpaint"].render(pose, SIZE, FOV), truth)
    if disoccluded(scene, pose, distance).any():
        assert inpaint > stretch
    else:  # nothing uncovered (straight up / down): the same picture
        assert inpaint == pytest.approx(stretch, abs=1e-3)


@pytest.fixture(scope="module")
def pillars(gl_context):
    """Thin pillars before a detailed (checkered, tiled) background, at the benchmark's
    panorama width: a coarse fill, or one that ignored the far-side pixels, lost to the
    stretched mesh on every one of these poses (up to -0.26 dB)."""
    from depthfusion.render.renderer import MeshRenderer
    from depthfusion.sources.procedural import build_scene, generate_panorama

    scene = build_scene("pillars", 0)
    pano = generate_panorama(scene, width=1024, supersample=2)
    renderers = {
        f: MeshRenderer.from_mesh(
            gl_context, build_layered_mesh(pano, mode="metric", fill=f), samples=4
        )
        for f in ("stretch", "inpaint")
    }
    x, z = min(scene.params["pillars"]["xz"], key=lambda q: np.hypot(*q))
    yield scene, renderers, float(np.degrees(np.arctan2(x, -z)))
    for r in renderers.values():
        r.release()


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize(
    ("yaw", "right", "pitch"),
    [(None, 0.3, 0.0), (None, -0.3, 0.0), (None, -0.2, 0.0), (180.0, 0.3, 0.0), (-170, -0.2, -15)],
)
def test_thin_occluders_before_detailed_background_beat_stretch(ctx, pillars, yaw, right, pitch):
    from depthfusion.sources.procedural import render_view

    scene, renderers, aim_yaw = pillars
    pose = Pose(yaw=aim_yaw if yaw is None else yaw, pitch=pitch).offset(right=right)
    size = (160, 120)
    truth, distance = render_view(scene, pose, size, FOV, supersample=2)
    dis = disoccluded(scene, pose, distance)
    assert dis.sum() > 100
    img = {f: r.render(pose, size, FOV) for f, r in renderers.items()}
    assert psnr(img["inpaint"], truth) > psnr(img["stretch"], truth)
    assert psnr(img["inpaint"], truth, dis) > psnr(img["stretch"], truth, dis) + 0.2


@pytest.mark.gl
@pytest.mark.slow
def test_no_holes_for_head_moves_up_to_30_cm(ctx, room):
    _, _, white = room
    for move in (0.1, 0.2, 0.3):
        for az in range(0, 360, 60):
            for el in (-40, 0, 40):
                a, e = np.radians(az), np.radians(el)
                offset = move * np.array([np.cos(e) * np.sin(a), np.sin(e), -np.cos(e) * np.cos(a)])
                for yaw in (0, 90, 180, 270):
                    pose = Pose(position=tuple(offset), yaw=yaw)
                    assert holes(white["inpaint"], pose) == 0, (move, az, el, yaw)
