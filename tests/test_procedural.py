"""Procedural scenes: exact analytic distances, panorama/perspective agreement, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depthfusion.conventions import (
    camera_rotation,
    lonlat_to_direction,
    panorama_directions,
    perspective_ray_directions,
    pixel_to_uv,
    uv_to_lonlat,
)
from depthfusion.errors import SceneError
from depthfusion.render.pose import Pose
from depthfusion.rgbd.panorama import RGBDPanorama
from depthfusion.sources.procedural import (
    CLEARANCE,
    FLOOR_Y,
    PALETTE,
    PRESETS,
    SKY_RADIUS,
    ProceduralScene,
    build_scene,
    generate_panorama,
    render_panorama,
    render_view,
)

W = 256  # panorama width used throughout: 256 x 128, fast


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _cast(scene: ProceduralScene, origin, direction) -> tuple[np.ndarray, float]:
    rgb, dist = scene.raycast(np.asarray([origin], float), np.asarray([direction], float))
    return rgb[0], float(dist[0])


def _box_exit(origin, dirs: np.ndarray, bounds: dict) -> np.ndarray:
    """Distance from a point inside an axis-aligned box to its walls along unit rays (N, 3)."""
    lo = np.array([bounds["x"][0], bounds["y"][0], bounds["z"][0]])
    hi = np.array([bounds["x"][1], bounds["y"][1], bounds["z"][1]])
    with np.errstate(divide="ignore"):
        t = np.where(dirs > 0, (hi - origin) / dirs, (lo - origin) / dirs)
    return np.where(dirs == 0, np.inf, t).min(axis=1)


@pytest.fixture(scope="module")
def panoramas() -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    return {(p, s): render_panorama(p, W, seed=s) for p in PRESETS for s in (0, 1, 2)}


# --- presets and errors ---------------------------------------------------------------------


def test_presets_and_params():
    assert {"room", "courtyard"} <= set(PRESETS)
    for preset in PRESETS:
        scene = build_scene(preset, 3)
        assert scene.params["preset"] == preset and scene.params["seed"] == 3
        assert scene.caption.startswith("360 view of ")
        json.dumps(scene.params)  # captions/params feed dataset metadata files
    room = build_scene("room", 0).params
    assert room["wall_colour"] in PALETTE
    assert room["wall_colour"] in room["caption"]
    assert room["objects"], "a room has objects"
    for obj in room["objects"]:
        assert obj["kind"] in ("sphere", "box", "cylinder")
        assert obj["colour"] in PALETTE and obj["colour"] != room["wall_colour"]
        assert f"{obj['colour']} {obj['kind']}" in room["caption"]


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(SceneError) as err:
        build_scene("castle")
    msg = str(err.value)
    assert "\n" not in msg and "castle" in msg
    assert all(p in msg for p in PRESETS)
    with pytest.raises(SceneError):
        generate_panorama("castle", width=16)


# --- exact distances --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_room_walls_floor_ceiling_at_their_exact_distance(seed):
    scene = build_scene("room", seed)
    box = scene.params["room"]
    (x0, x1), (y0, y1), (z0, z1) = box["x"], box["y"], box["z"]
    assert y0 == FLOOR_Y
    # Eye-level rays clear every object (all stand below y = -0.2), so they meet the walls.
    expected = {(1, 0, 0): x1, (-1, 0, 0): -x0, (0, 0, 1): z1, (0, 0, -1): -z0}
    expected.update({(0, 1, 0): y1, (0, -1, 0): -y0})
    for d, dist in expected.items():
        assert _cast(scene, (0, 0, 0), d)[1] == pytest.approx(dist, abs=1e-5)
    # An oblique ray from an offset origin meets the +x wall where the plane equation says.
    o, d = np.array([0.3, 0.2, -0.1]), _unit([1.0, 0.05, 0.02])
    t = _cast(scene, o, d)[1]
    assert t == pytest.approx((x1 - o[0]) / d[0], abs=1e-5)
    assert (o + t * d)[0] == pytest.approx(x1, abs=1e-5)


def test_room_upper_hemisphere_view_is_the_box_exit_distance():
    """Every ray of an upward view (nothing but walls/ceiling up there) hits the room box."""
    scene = build_scene("room", 4)
    pose = Pose(position=(0.2, 0.1, -0.3), yaw=30.0, pitch=50.0, roll=10.0)
    _, dist = render_view(scene, pose, (48, 32), fov=60.0)
    dirs = perspective_ray_directions(48, 32, 60.0).reshape(-1, 3) @ pose.rotation().T
    assert dirs[:, 1].min() > 0.0
    expected = _box_exit(np.array(pose.position), dirs, scene.params["room"]).reshape(32, 48)
    np.testing.assert_allclose(dist, expected, atol=1e-5)


def test_room_sphere_hit_at_centre_distance_minus_radius():
    checked = 0
    for seed in range(6):
        scene = build_scene("room", seed)
        for obj in scene.params["objects"]:
            if obj["kind"] != "sphere":
                continue
            c = np.array(obj["position"])
            assert c[1] == pytest.approx(FLOOR_Y + obj["size"])  # resting on the floor
            dist = _cast(scene, (0, 0, 0), _unit(c))[1]
            assert dist == pytest.approx(np.linalg.norm(c) - obj["size"], abs=1e-5)
            checked += 1
    assert checked >= 3


def test_courtyard_sky_dome_and_ground_exact():
    scene = build_scene("courtyard", 0)
    assert scene.params["sky_radius"] == SKY_RADIUS
    assert _cast(scene, (0, 0, 0), (0, 1, 0))[1] == pytest.approx(SKY_RADIUS, rel=1e-6)
    assert _cast(scene, (0, 0, 0), (0, -1, 0))[1] == pytest.approx(1.5, abs=1e-5)
    # Steep downward ray: lands within 0.6 m of the foot of the camera, clear of everything.
    d = _unit([0.3, -1.0, 0.2])
    assert _cast(scene, (0, 0, 0), d)[1] == pytest.approx(1.5 / -d[1], abs=1e-5)
    # From an offset origin the dome is still a sphere of radius SKY_RADIUS about the origin.
    o = np.array([0.4, 0.3, -0.2])
    t = _cast(scene, o, (0, 1, 0))[1]
    assert np.linalg.norm(o + t * np.array([0, 1, 0])) == pytest.approx(SKY_RADIUS, rel=1e-6)


def test_pillars_hit_at_centre_distance_minus_radius():
    scene = build_scene("pillars", 0)
    pil = scene.params["pillars"]
    xz = np.array(pil["xz"])
    nearest = xz[np.argmin(np.hypot(xz[:, 0], xz[:, 1]))]
    d = _unit([nearest[0], 0.0, nearest[1]])
    expected = np.hypot(*nearest) - pil["radius"]
    assert _cast(scene, (0, 0, 0), d)[1] == pytest.approx(expected, abs=1e-5)
    assert _cast(scene, (0, 0, 0), (0, -1, 0))[1] == pytest.approx(1.5, abs=1e-5)


# --- whole panoramas ----------------------------------------------------------------------------


def test_panoramas_have_finite_depth_beyond_the_clearance(panoramas):
    for (preset, _seed), (rgb, dist) in panoramas.items():
        assert rgb.shape == (W // 2, W, 3) and rgb.dtype == np.uint8
        assert dist.shape == (W // 2, W) and dist.dtype == np.float32
        assert np.isfinite(dist).all(), preset
        assert dist.min() > CLEARANCE, (preset, float(dist.min()))
        # The floor/ground is 1.5 m below the camera: the bottom row sees it almost straight down.
        np.testing.assert_allclose(dist[-1], 1.5, rtol=1e-3)
        assert dist.max() <= (SKY_RADIUS if preset == "courtyard" else 15.0) + 1e-3
        assert rgb.std() > 20, "textured, not flat"


def test_generate_panorama_is_metric_rgbd():
    pano = generate_panorama("room", seed=5, width=64)
    assert isinstance(pano, RGBDPanorama) and pano.is_metric
    assert (pano.width, pano.height) == (64, 32)
    rgb, dist = render_panorama("room", 64, seed=5)
    np.testing.assert_array_equal(pano.rgb, rgb)
    np.testing.assert_allclose(pano.distance(), dist, rtol=1e-5)
    assert pano.metric_range == pytest.approx((dist.min(), dist.max()))


def test_seed_is_deterministic_and_changes_the_scene(panoramas):
    for preset in PRESETS:
        again = render_panorama(preset, W, seed=1)
        np.testing.assert_array_equal(again[0], panoramas[(preset, 1)][0])
        np.testing.assert_array_equal(again[1], panoramas[(preset, 1)][1])
        assert build_scene(preset, 1).params == build_scene(preset, 1).params
        a, b = panoramas[(preset, 0)], panoramas[(preset, 1)]
        assert np.mean(np.abs(a[0].astype(int) - b[0].astype(int))) > 5, preset
        assert np.abs(a[1] - b[1]).max() > 0.1, preset
        assert build_scene(preset, 0).params != build_scene(preset, 1).params


def test_panorama_rays_are_the_convention_pixel_centres():
    scene = build_scene("courtyard", 1)
    rgb, dist = render_panorama(scene, 64)
    rgb_ref, dist_ref = scene.raycast(np.zeros(3), panorama_directions(64, 32, np.float64))
    np.testing.assert_allclose(dist, dist_ref.reshape(32, 64), rtol=1e-6)
    ref = np.round(rgb_ref * 255).reshape(rgb.shape)
    assert np.abs(rgb - ref).max() <= 1  # float32 colours may round the other way


def test_centre_column_looks_forward_and_u_grows_to_the_right():
    """Pixel columns follow the conventions: centre = -Z, a quarter turn right = +X."""
    scene = build_scene("room", 2)
    box = scene.params["room"]
    _, dist = render_panorama(scene, W)
    row = W // 4 - 1  # just above the horizon: eye level, above all objects
    lat = uv_to_lonlat(0.5, pixel_to_uv(0, row, W, W // 2)[1])[1]
    for lon, wall in [(0.0, -box["z"][0]), (np.pi / 2, box["x"][1]), (-np.pi / 2, -box["x"][0])]:
        x = W // 2 + int(round(lon / (2 * np.pi) * W))  # the column just right of lon
        col_lon = uv_to_lonlat(pixel_to_uv(x, 0, W, W // 2)[0], 0.5)[0]
        d = lonlat_to_direction(col_lon, lat)
        # Horizontal rays here hit the wall plane facing that way, at wall / |component|.
        axis = 2 if lon == 0.0 else 0
        assert dist[row, x] == pytest.approx(wall / abs(d[axis]), rel=1e-5)


# --- panorama vs perspective ------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
def test_perspective_centre_ray_equals_panorama_pixel(preset, panoramas):
    """A view from the origin aimed at a panorama pixel centre sees that pixel, same distance."""
    rgb_p, dist_p = panoramas[(preset, 0)]
    scene = build_scene(preset, 0)
    rng = np.random.default_rng(0)
    for _ in range(12):
        x, y = int(rng.integers(W)), int(rng.integers(5, W // 2 - 5))
        lon, lat = uv_to_lonlat(*pixel_to_uv(x, y, W, W // 2))
        pose = Pose(yaw=float(np.degrees(lon)), pitch=float(np.degrees(lat)), roll=37.0)
        rgb_v, dist_v = render_view(scene, pose, (5, 5), fov=20.0)
        assert dist_v[2, 2] == pytest.approx(float(dist_p[y, x]), rel=1e-5)
        assert np.abs(rgb_v[2, 2].astype(int) - rgb_p[y, x].astype(int)).max() <= 1


def test_render_view_pose_yaw_and_position():
    scene = build_scene("room", 0)
    box = scene.params["room"]
    pos = (0.2, -0.1, 0.4)  # eye level stays above the objects (tops below -0.2)
    _, d = render_view(scene, Pose(position=pos, yaw=0.0), (9, 7), fov=10.0)
    assert d[3, 4] == pytest.approx(pos[2] - box["z"][0], abs=1e-5)
    _, d = render_view(scene, Pose(position=pos, yaw=90.0), (9, 7), fov=10.0)
    assert d[3, 4] == pytest.approx(box["x"][1] - pos[0], abs=1e-5)
    _, d = render_view(scene, Pose(position=pos, pitch=-90.0), (9, 7), fov=10.0)
    assert d[3, 4] == pytest.approx(pos[1] - FLOOR_Y, abs=1e-5)
    # Radial distance, not z-depth: the corner pixel of a wall view is farther than the centre.
    _, d = render_view(scene, Pose(position=pos, pitch=40.0), (33, 21), fov=40.0)
    dirs = perspective_ray_directions(33, 21, 40.0) @ camera_rotation(0.0, 40.0).T
    np.testing.assert_allclose(
        d, _box_exit(np.array(pos), dirs.reshape(-1, 3), box).reshape(d.shape), atol=1e-5
    )
    # The pose's own fov overrides the argument, as for every output.
    a = render_view(scene, Pose(pitch=40.0, fov=70.0), (16, 12), fov=30.0)
    b = render_view(scene, Pose(pitch=40.0), (16, 12), fov=70.0)
    np.testing.assert_array_equal(a[0], b[0])
    # A preset name + seed builds the same scene.
    c = render_view("room", Pose(pitch=40.0), (16, 12), fov=70.0, seed=0)
    np.testing.assert_array_equal(c[1], b[1])


def test_colour_is_view_independent():
    """A ceiling point has the same colour and the right distance seen from another place."""
    scene = build_scene("room", 3)
    rng = np.random.default_rng(1)
    dirs = np.stack([_unit([rng.uniform(-1, 1), 1.0, rng.uniform(-1, 1)]) for _ in range(64)])
    rgb0, t0 = scene.raycast(np.zeros(3), dirs)
    points = dirs * t0[:, None].astype(np.float64)
    other = np.array([0.45, -0.2, -0.3])
    rgb1, t1 = scene.raycast(np.broadcast_to(other, points.shape), points - other)
    np.testing.assert_allclose(t1, np.linalg.norm(points - other, axis=1), rtol=1e-5)
    np.testing.assert_allclose(rgb1, rgb0, atol=2e-3)  # float32 hit points: texture edges move


# --- anti-aliasing ------------------------------------------------------------------------------


def _near_edges(rgb: np.ndarray, thresh: int = 12, radius: int = 2) -> np.ndarray:
    """Pixels within ``radius`` px (wrapping in longitude) of a neighbour that differs visibly."""
    img = rgb.astype(np.int32)
    near = np.zeros(img.shape[:2], dtype=bool)
    pad = np.pad(img, ((radius, radius), (0, 0), (0, 0)), mode="edge")
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = np.roll(pad, dx, axis=1)[radius + dy : radius + dy + img.shape[0]]
            near |= np.abs(shifted - img).max(axis=2) > thresh
    return near


@pytest.mark.parametrize("preset", PRESETS)
def test_supersampling_changes_only_edges_and_reduces_aliasing(preset, panoramas):
    rgb1, d1 = panoramas[(preset, 0)]
    rgb3, d3 = render_panorama(preset, W, supersample=3)
    rgb4, d4 = render_panorama(preset, W, supersample=4)
    # Depth always comes from the pixel-centre ray (odd grids reuse their middle sample).
    np.testing.assert_allclose(d3, d1, rtol=1e-6)
    np.testing.assert_array_equal(d4, d1)
    changed = np.abs(rgb3.astype(int) - rgb1.astype(int)).max(axis=2) > 12
    assert 0.02 < changed.mean() < 0.3, changed.mean()
    # Away from the poles (where a pixel row is a wedge around a point), colour changes only
    # near edges of either image: flat areas are untouched by supersampling.
    stray = (changed & ~(_near_edges(rgb1) | _near_edges(rgb3)))[4:-4]
    assert not stray.any(), np.argwhere(stray)[:10] + [4, 0]
    # Against a 4x4 reference, the 3x3 result is much closer than the aliased 1x1 one.
    err1 = np.abs(rgb1.astype(float) - rgb4).mean()
    err3 = np.abs(rgb3.astype(float) - rgb4).mean()
    assert err3 < 0.5 * err1, (err1, err3)


def test_view_supersampling_keeps_centre_depth():
    scene = build_scene("pillars", 1)
    pose = Pose(position=(0.1, 0.0, 0.2), yaw=-20.0, pitch=-10.0)
    rgb1, d1 = render_view(scene, pose, (40, 30), fov=80.0)
    rgb2, d2 = render_view(scene, pose, (40, 30), fov=80.0, supersample=2)
    np.testing.assert_array_equal(d1, d2)
    assert rgb2.shape == rgb1.shape and not np.array_equal(rgb1, rgb2)
    changed = np.abs(rgb2.astype(int) - rgb1).max(axis=2) > 12
    assert not (changed & ~(_near_edges(rgb1) | _near_edges(rgb2))).any()


def test_raycast_shapes_and_misses():
    scene = build_scene("room", 0)
    rgb, dist = scene.raycast(np.zeros(3), np.array([[0, 0, -2.0], [0, 3.0, 0]]))
    assert rgb.shape == (2, 3) and rgb.dtype == np.float32 and dist.dtype == np.float32
    assert ((rgb >= 0) & (rgb <= 1)).all()
    assert dist[1] == pytest.approx(scene.params["room"]["y"][1], abs=1e-5)  # unnormalised dir
    # From outside the closed room, a ray pointing away hits nothing: inf and black.
    rgb, dist = scene.raycast(np.array([[0, 0, 50.0]]), np.array([[0, 0, 1.0]]))
    assert np.isinf(dist[0]) and (rgb[0] == 0).all()
