"""Frustum culling is conservative (never drops a visible face) and actually culls."""

import numpy as np
import pytest

from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.render.camera import eye_matrices
from depthfusion.render.culling import draw_runs, tile_faces, visible_tiles
from depthfusion.render.pose import Pose
from depthfusion.rgbd.panorama import RGBDPanorama


@pytest.fixture(scope="module")
def mesh():
    rng = np.random.default_rng(0)
    depth = rng.random((64, 128)).astype(np.float32)
    depth[20:30, 40:60] = 1.0  # a near block: long stretched triangles at its edges
    return build_sphere_mesh(RGBDPanorama(np.zeros((64, 128, 3), np.uint8), depth), strength=0.8)


@pytest.mark.parametrize(
    "pose,fov",
    [
        (Pose((0, 0, 0), 0, 0, 0), 90),
        (Pose((0, 0, 0), 179, 5, 0), 60),  # across the ±180° seam
        (Pose((0.3, 0.1, -0.2), -60, -10, 15), 100),
        (Pose((0, 0, 0), 30, 89, 0), 90),  # at the zenith
        (Pose((0, 0, 0), 0, -85, 0), 120),
    ],
)
def test_every_face_with_a_vertex_in_view_is_drawn(mesh, pose, fov):
    tiled = tile_faces(mesh.vertices, mesh.faces, 16, 8)
    view, proj = eye_matrices(pose, 0.0, None, fov, (160, 90), 0.05, 1000.0, None)
    mvp = proj @ view
    runs = draw_runs(tiled, visible_tiles(tiled, mvp))
    drawn = np.zeros(len(tiled.faces), bool)
    for first, count in runs:
        drawn[first : first + count] = True
    clip = np.c_[mesh.vertices, np.ones(len(mesh.vertices))] @ mvp.T
    w = clip[:, 3:4]
    inside = (w[:, 0] > 0) & np.all(np.abs(clip[:, :3]) <= w, axis=1)
    face_in_view = inside[tiled.faces].any(axis=1)
    assert face_in_view.any()
    assert not (face_in_view & ~drawn).any()  # conservative
    assert drawn.mean() < 0.6  # and it culls
    assert sorted(tiled.faces.tolist()) == sorted(mesh.faces.tolist())  # same faces, reordered
