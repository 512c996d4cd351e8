"""The displaced sphere mesh: radius law, closed seam and poles, pixel -> direction, metric mode."""

import numpy as np
import pytest
import trimesh

from depthfusion.conventions import lonlat_to_direction, panorama_lonlat
from depthfusion.errors import SceneError
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.rgbd.panorama import RGBDPanorama

W, H = 64, 32


def pano(depth, metric_range=None):
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    return RGBDPanorama(rgb, np.asarray(depth, np.float32), metric_range)


def grid(mesh):
    """Grid vertices without the seam column: (rows, cols, 3)."""
    return mesh.vertices[: mesh.rows * (mesh.cols + 1)].reshape(mesh.rows, mesh.cols + 1, 3)[:, :-1]


@pytest.mark.parametrize("radius", [1.0, 5.0, 37.5])
def test_neutral_depth_gives_a_sphere_of_radius_r(radius):
    mesh = build_sphere_mesh(pano(np.full((H, W), 0.5)), radius=radius, strength=0.7)
    dev = np.abs(np.linalg.norm(mesh.vertices.astype(np.float64), axis=1) - radius).max()
    assert dev < 1e-5 * radius


def test_near_moves_in_and_far_moves_out():
    depth = np.full((H, W), 0.5, np.float32)
    depth[:, : W // 2] = 1.0
    depth[:, W // 2 :] = 0.0
    mesh = build_sphere_mesh(pano(depth), radius=5.0, strength=0.5)
    r = np.linalg.norm(grid(mesh), axis=-1)
    np.testing.assert_allclose(r[:, : W // 2], 2.5, rtol=1e-6)  # (1 - strength) R
    np.testing.assert_allclose(r[:, W // 2 :], 7.5, rtol=1e-6)  # (1 + strength) R


def test_radius_decreases_monotonically_with_depth():
    depth = np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1))
    r = np.linalg.norm(grid(build_sphere_mesh(pano(depth), radius=2.0, strength=0.9)), axis=-1)
    assert np.all(np.diff(r, axis=1) < 0)


def test_pixel_lands_in_its_direction():
    depth = np.random.default_rng(1).random((H, W)).astype(np.float32)
    mesh = build_sphere_mesh(pano(depth))
    g = grid(mesh).astype(np.float64)
    dirs = g / np.linalg.norm(g, axis=-1, keepdims=True)
    lon, lat = panorama_lonlat(W, H)
    expected = lonlat_to_direction(lon[None, :], lat[:, None])
    assert np.abs(dirs - expected).max() < 1e-6
    # UVs are the pixel centres.
    uv = mesh.uvs[: mesh.rows * (mesh.cols + 1)].reshape(mesh.rows, mesh.cols + 1, 2)
    np.testing.assert_allclose(uv[3, 5], [(5 + 0.5) / W, (3 + 0.5) / H])
    np.testing.assert_allclose(uv[3, W], [1 + 0.5 / W, (3 + 0.5) / H])  # seam copy, u + 1


def test_metric_mode_places_vertices_at_true_distance():
    rng = np.random.default_rng(2)
    dist = rng.uniform(1.2, 30.0, (H, W))
    p = RGBDPanorama.from_metres(np.zeros((H, W, 3), np.uint8), dist)
    mesh = build_sphere_mesh(p, mode="metric")
    r = np.linalg.norm(grid(mesh).astype(np.float64), axis=-1)
    np.testing.assert_allclose(r, dist, rtol=1e-5)


def test_metric_mode_from_disparity_with_near_far():
    depth = np.full((H, W), 1.0, np.float32)
    depth[H // 2 :] = 0.0
    mesh = build_sphere_mesh(pano(depth), mode="metric", near=2.0, far=40.0)
    r = np.linalg.norm(grid(mesh), axis=-1)
    np.testing.assert_allclose(r[: H // 2], 2.0, rtol=1e-6)
    np.testing.assert_allclose(r[H // 2 :], 40.0, rtol=1e-6)
    with pytest.raises(SceneError, match="metric"):
        build_sphere_mesh(pano(depth), mode="metric")


def test_seam_and_poles_are_closed():
    mesh = build_sphere_mesh(pano(np.full((H, W), 0.3)))
    vertices, faces = mesh.closed()
    assert len(vertices) == mesh.grid_vertex_count == H * W + 2
    tm = trimesh.Trimesh(vertices, faces, process=False)
    edges = tm.edges_sorted
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2)  # no boundary edges anywhere: seam and poles closed
    assert tm.is_watertight and tm.is_winding_consistent
    assert tm.euler_number == 2
    # every face is seen counter-clockwise from the centre (normals point inward)
    assert np.all(np.einsum("ij,ij->i", tm.face_normals, tm.triangles_center) < 0)
    # the poles are single points on the axis
    np.testing.assert_allclose(vertices[-2, [0, 2]], 0)
    np.testing.assert_allclose(vertices[-1, [0, 2]], 0)
    assert vertices[-2, 1] > 0 > vertices[-1, 1]


def test_seam_copies_share_positions_exactly():
    depth = np.random.default_rng(3).random((H, W)).astype(np.float32)
    mesh = build_sphere_mesh(pano(depth))
    g = mesh.vertices[: mesh.rows * (mesh.cols + 1)].reshape(mesh.rows, mesh.cols + 1, 3)
    np.testing.assert_array_equal(g[:, -1], g[:, 0])  # no crack, no duplicated-depth step
    # the seam's quads connect the last real column with column 0
    vertices, faces = mesh.closed()
    tm = trimesh.Trimesh(vertices, faces, process=False)
    assert tm.is_watertight


def test_coarser_resolution_averages_depth_and_keeps_directions():
    depth = np.random.default_rng(4).random((H, W)).astype(np.float32)
    mesh = build_sphere_mesh(pano(depth), resolution=W // 4, strength=0.5, radius=1.0)
    assert (mesh.rows, mesh.cols) == (H // 4, W // 4)
    r = np.linalg.norm(grid(mesh), axis=-1)
    expected_d = depth.reshape(H // 4, 4, W // 4, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(r, 1 + 0.5 * (1 - 2 * expected_d), rtol=1e-5)
    g = grid(mesh).astype(np.float64)
    lon, lat = panorama_lonlat(W // 4, H // 4)
    np.testing.assert_allclose(
        g / np.linalg.norm(g, axis=-1, keepdims=True),
        lonlat_to_direction(lon[None, :], lat[:, None]),
        atol=1e-6,
    )


def test_resolution_is_capped_at_the_panorama():
    mesh = build_sphere_mesh(pano(np.full((H, W), 0.5)), resolution=4096)
    assert mesh.cols == W


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"resolution": 7}, "resolution"),
        ({"strength": 1.0}, "strength"),
        ({"radius": 0}, "radius"),
        ({"mode": "cubic"}, "mode"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(SceneError, match=field):
        build_sphere_mesh(pano(np.full((H, W), 0.5)), **kwargs)


def test_select_rows_equals_boolean_indexing():
    from depthfusion.mesh.arrays import select_rows

    rng = np.random.default_rng(0)
    for a in (
        rng.integers(0, 2**32, (1000, 3), dtype=np.uint32),
        rng.random((1000, 2), dtype=np.float32),
        rng.random((1000, 3))[:, :2],  # not C-contiguous: numpy's own indexing
        np.zeros((0, 3), np.uint32),
    ):
        mask = rng.random(len(a)) < 0.3
        got = select_rows(a, mask)
        assert got.dtype == a.dtype and got.shape == (mask.sum(), a.shape[1])
        np.testing.assert_array_equal(got, a[mask])
