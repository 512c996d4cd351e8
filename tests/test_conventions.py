"""The conventions of DESIGN.md, checked with numbers."""

import numpy as np
import pytest

from depthfusion import conventions as cv


def test_pixel_centre_angles():
    w, h = 8, 4
    lon, lat = cv.panorama_lonlat(w, h)
    # Column x has its centre at u = (x + 0.5) / W -> lon = (u - 0.5) 2 pi.
    assert lon[0] == pytest.approx(-np.pi + np.pi / 8)
    assert lon[-1] == pytest.approx(np.pi - np.pi / 8)
    assert lat[0] == pytest.approx(np.pi / 2 - np.pi / 8)
    assert lat[-1] == pytest.approx(-np.pi / 2 + np.pi / 8)


def test_centre_column_is_forward_and_u_grows_to_the_right():
    np.testing.assert_allclose(cv.lonlat_to_direction(0.0, 0.0), [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(cv.lonlat_to_direction(np.pi / 2, 0.0), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(cv.lonlat_to_direction(0.0, np.pi / 2), [0, 1, 0], atol=1e-12)
    d = cv.panorama_directions(16, 8)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-6)
    lon, lat = cv.direction_to_lonlat(d)
    elon, elat = cv.panorama_lonlat(16, 8)
    np.testing.assert_allclose(lon, np.broadcast_to(elon, (8, 16)), atol=1e-6)
    np.testing.assert_allclose(lat, np.broadcast_to(elat[:, None], (8, 16)), atol=1e-6)


def test_uv_lonlat_round_trip():
    u = np.linspace(0.01, 0.99, 7)
    v = np.linspace(0.02, 0.98, 7)
    lon, lat = cv.uv_to_lonlat(u, v)
    u2, v2 = cv.lonlat_to_uv(lon, lat)
    np.testing.assert_allclose(u2, u)
    np.testing.assert_allclose(v2, v)


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (90, 0), (-45, 30), (170, -60)])
def test_camera_looks_along_panorama_direction(yaw, pitch):
    right, up, fwd = cv.camera_axes(yaw, pitch, 0.0)
    np.testing.assert_allclose(
        fwd, cv.lonlat_to_direction(np.radians(yaw), np.radians(pitch)), atol=1e-12
    )
    assert up[1] > 0 or abs(pitch) == 90
    # right-handed camera frame
    np.testing.assert_allclose(np.cross(right, up), -fwd, atol=1e-12)


def test_yaw_positive_turns_right_and_roll_tilts_right_side_down():
    _, _, fwd = cv.camera_axes(10, 0, 0)
    assert fwd[0] > 0  # toward +X = right
    right, _, _ = cv.camera_axes(0, 0, 20)
    assert right[1] < 0


def test_rotation_round_trip():
    for ypr in [(30, 20, 10), (-170, -45, 5), (90, 0, -30)]:
        rot = cv.camera_rotation(*ypr)
        assert cv.rotation_to_yaw_pitch_roll(rot) == pytest.approx(ypr, abs=1e-9)


def test_perspective_rays_and_focal_length():
    f = cv.focal_length_px(100, 90)
    assert f == pytest.approx(50.0)
    d = cv.perspective_ray_directions(4, 2, 90)
    assert d.shape == (2, 4, 3)
    assert np.all(d[..., 2] < 0)
    assert d[0, 0, 0] < 0 and d[0, 0, 1] > 0  # top-left pixel looks left and up
    assert cv.vertical_fov(90, 200, 100) == pytest.approx(np.degrees(2 * np.arctan(0.5)))


def test_disparity_metres_mapping():
    z = np.array([1.0, 2.0, 10.0])
    d = cv.metres_to_disparity(z, 1.0, 10.0)
    np.testing.assert_allclose(d, [1.0, (0.5 - 0.1) / 0.9, 0.0], atol=1e-7)
    np.testing.assert_allclose(cv.disparity_to_metres(d, 1.0, 10.0), z, rtol=1e-6)


def test_linear_radius_scale():
    g = cv.linear_radius_scale(np.array([0.0, 0.5, 1.0]), 0.5)
    np.testing.assert_allclose(g, [1.5, 1.0, 0.5])
