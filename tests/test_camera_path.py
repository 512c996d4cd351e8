"""Camera paths: keyframe interpolation, easing, presets, frame timing, validation."""

from __future__ import annotations

import numpy as np
import pytest

from depthfusion.conventions import camera_rotation
from depthfusion.errors import SceneError
from depthfusion.render.camera_path import (
    EASINGS,
    CameraPath,
    Keyframe,
    ease,
    path_from_config,
    preset_path,
)


def _pos(path: CameraPath, t: float) -> np.ndarray:
    return np.array(path.pose_at(t).position)


KEYS = [
    Keyframe(0.0, (0.0, 0.0, 0.0), yaw=0, pitch=0, roll=0, fov=90),
    Keyframe(1.0, (1.0, 0.2, -0.5), yaw=30, pitch=10, roll=-5),
    Keyframe(3.0, (1.5, -0.1, -2.0), yaw=75, pitch=-20, roll=15, fov=60),
    Keyframe(3.5, (0.2, 0.0, -2.2), yaw=100, pitch=0, roll=0),
]


# --- position -------------------------------------------------------------------------------


@pytest.mark.parametrize("spline", ["centripetal", "uniform"])
@pytest.mark.parametrize("ends", ["reflect", "duplicate"])
def test_passes_through_keyframes_exactly(spline, ends):
    path = CameraPath(KEYS, spline=spline, ends=ends)
    for k in KEYS:
        pose = path.pose_at(k.t)
        np.testing.assert_allclose(pose.position, k.position, atol=1e-12)
        assert pose.yaw == pytest.approx(k.yaw, abs=1e-9)
        assert pose.pitch == pytest.approx(k.pitch, abs=1e-9)
        assert pose.roll == pytest.approx(k.roll, abs=1e-9)
    # approaching the next keyframe from inside a segment also lands on it
    np.testing.assert_allclose(_pos(path, 3.0 - 1e-9), KEYS[2].position, atol=1e-7)


@pytest.mark.parametrize("spline", ["centripetal", "uniform"])
def test_velocity_is_continuous_across_keyframes(spline):
    """C1 in *time*: one-sided finite-difference velocities agree at interior keyframes,
    even with uneven keyframe spacing (1 s, 2 s, 0.5 s)."""
    path = CameraPath(KEYS, spline=spline)
    h = 1e-5
    for k in KEYS[1:-1]:
        p = _pos(path, k.t)
        v_left = (p - _pos(path, k.t - h)) / h
        v_right = (_pos(path, k.t + h) - p) / h
        assert np.linalg.norm(v_left) > 0.05  # really moving through the keyframe
        np.testing.assert_allclose(v_left, v_right, atol=1e-3)
    # and smooth inside segments: second differences stay bounded
    ts = np.linspace(0.0, 3.5, 701)
    ps = np.array([_pos(path, t) for t in ts])
    acc = np.diff(ps, 2, axis=0) / (ts[1] - ts[0]) ** 2
    assert np.abs(acc).max() < 50.0


def test_two_keyframes_reflect_is_a_straight_constant_speed_line():
    path = CameraPath([Keyframe(0, (0, 0, 0)), Keyframe(2, (1, 2, -2))])
    for t in np.linspace(0, 2, 9):
        np.testing.assert_allclose(_pos(path, t), np.array([1, 2, -2]) * t / 2, atol=1e-12)


def test_duplicate_ends_start_and_stop_at_rest():
    path = CameraPath([Keyframe(0, (0, 0, 0)), Keyframe(1, (1, 0, 0))], ends="duplicate")
    h = 1e-4
    assert np.linalg.norm(_pos(path, h) - _pos(path, 0)) / h < 1e-3
    assert np.linalg.norm(_pos(path, 1) - _pos(path, 1 - h)) / h < 1e-3
    assert _pos(path, 0.5)[0] == pytest.approx(0.5)


def test_centripetal_holds_still_on_a_repeated_position():
    keys = [
        Keyframe(0, (0, 0, 0)),
        Keyframe(1, (1, 0, 0)),
        Keyframe(2, (1, 0, 0)),
        Keyframe(3, (2, 0, 0)),
    ]
    path = CameraPath(keys)
    for t in np.linspace(1, 2, 11):
        np.testing.assert_allclose(_pos(path, t), (1, 0, 0), atol=1e-12)
    # the uniform spline drifts forward then back during the hold: what centripetal avoids
    uniform = CameraPath(keys, spline="uniform")
    assert _pos(uniform, 1.25)[0] > 1.04 and _pos(uniform, 1.75)[0] < 0.96


def test_holds_before_first_and_after_last_keyframe():
    path = CameraPath(KEYS)
    assert path.pose_at(-1.0) == KEYS[0].pose()
    assert path.pose_at(10.0) == KEYS[-1].pose()


# --- rotation -------------------------------------------------------------------------------


def test_slerp_midpoint_of_yaw_0_and_90_is_45():
    path = CameraPath([Keyframe(0, yaw=0), Keyframe(2, yaw=90)])
    pose = path.pose_at(1.0)
    assert pose.yaw == pytest.approx(45.0, abs=1e-9)
    assert pose.pitch == pytest.approx(0.0, abs=1e-9)
    assert pose.roll == pytest.approx(0.0, abs=1e-9)


def test_slerp_has_constant_angular_speed_for_small_turns():
    """pyrr's slerp lerps below ~36 degrees; ours stays exact (quarter point = quarter turn)."""
    path = CameraPath([Keyframe(0, yaw=0, pitch=20), Keyframe(1, yaw=30, pitch=20)])
    for s in (0.1, 0.25, 0.8):
        pose = path.pose_at(s)
        assert pose.yaw == pytest.approx(30 * s, abs=1e-9)
        assert pose.pitch == pytest.approx(20.0, abs=1e-9)  # pure yaw keeps pitch


def test_slerp_matches_the_geodesic_between_general_rotations():
    a, b = (10.0, 20.0, 30.0), (-40.0, -10.0, -60.0)
    path = CameraPath(
        [Keyframe(0, yaw=a[0], pitch=a[1], roll=a[2]), Keyframe(1, yaw=b[0], pitch=b[1], roll=b[2])]
    )
    r0, r1 = camera_rotation(*a), camera_rotation(*b)
    rel = r0.T @ r1
    total = np.degrees(np.arccos((np.trace(rel) - 1) / 2))
    for s in (0.25, 0.5, 0.75):
        rs = path.pose_at(s).rotation()
        d0 = np.degrees(np.arccos(np.clip((np.trace(r0.T @ rs) - 1) / 2, -1, 1)))
        d1 = np.degrees(np.arccos(np.clip((np.trace(rs.T @ r1) - 1) / 2, -1, 1)))
        assert d0 == pytest.approx(s * total, abs=1e-6)
        assert d1 == pytest.approx((1 - s) * total, abs=1e-6)


@pytest.mark.parametrize(
    "angles", [(0, 45, 0), (0, -60, 0), (0, 0, 30), (120, -30, -70), (-150, 80, 170)]
)
def test_pitch_and_roll_round_trip(angles):
    yaw, pitch, roll = angles
    path = CameraPath([Keyframe(0, yaw=yaw, pitch=pitch, roll=roll), Keyframe(1, yaw=0)])
    pose = path.pose_at(1e-12)  # through quaternion -> matrix -> angles
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx(angles, abs=1e-6)
    np.testing.assert_allclose(pose.rotation(), camera_rotation(*angles), atol=1e-9)


def test_full_turn_keyframes_give_monotonic_unwrapped_yaw():
    path = CameraPath([Keyframe(0, yaw=0), Keyframe(4, yaw=360)])
    yaws = [p.yaw for p in path.poses(fps=10)]
    assert np.all(np.diff(yaws) > 0)
    assert yaws[0] == 0 and yaws[-1] == pytest.approx(351.0)
    assert np.diff(yaws) == pytest.approx(9.0)


def test_yaw_values_are_read_literally():
    short = CameraPath([Keyframe(0, yaw=170), Keyframe(1, yaw=190)])
    assert short.pose_at(0.5).yaw == pytest.approx(180.0)
    long_left = CameraPath([Keyframe(0, yaw=170), Keyframe(1, yaw=-170)])
    yaws = [long_left.pose_at(t).yaw for t in np.linspace(0, 1, 21)]
    assert np.all(np.diff(yaws) < 0)  # 340 degrees to the left, not 20 to the right
    assert long_left.pose_at(0.5).yaw == pytest.approx(0.0, abs=1e-9)


def test_fov_is_linear_between_keyframes_that_set_it():
    path = CameraPath(KEYS)
    assert path.pose_at(0).fov == 90
    assert path.pose_at(1.5).fov == pytest.approx(75.0)
    assert path.pose_at(3.25).fov == pytest.approx(60.0)  # held after the last fov
    assert CameraPath([Keyframe(0), Keyframe(1)]).pose_at(0.5).fov is None


# --- easing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EASINGS))
def test_easing_endpoints_and_monotonic(name):
    assert ease(name, 0.0) == 0.0
    assert ease(name, 1.0) == 1.0
    assert ease(name, -1.0) == 0.0 and ease(name, 2.0) == 1.0
    values = [ease(name, s) for s in np.linspace(0, 1, 101)]
    assert np.all(np.diff(values) >= 0)


def test_easing_speeds_at_the_ends():
    h = 1e-6
    assert ease("ease-in-out", h) / h < 1e-3 and (1 - ease("ease-in-out", 1 - h)) / h < 1e-3
    assert ease("ease-in", h) / h < 1e-3 and (1 - ease("ease-in", 1 - h)) / h == pytest.approx(2)
    assert ease("ease-out", h) / h == pytest.approx(2) and (1 - ease("ease-out", 1 - h)) / h < 1e-3
    assert ease("ease-in-out", 0.5) == 0.5
    assert ease("ease_in_out", 0.25) == ease("ease-in-out", 0.25)


def test_easing_remaps_time_over_the_whole_path():
    keys = [Keyframe(0, (0, 0, 0)), Keyframe(1, (1, 0, 0)), Keyframe(2, (2, 0, 0))]
    path = CameraPath(keys, easing="ease-in-out")
    assert _pos(path, 0)[0] == 0 and _pos(path, 2)[0] == 2
    assert _pos(path, 1)[0] == pytest.approx(1.0)  # symmetric easing keeps the midpoint
    assert _pos(path, 0.5)[0] == pytest.approx(2 * ease("ease-in-out", 0.25))
    assert np.linalg.norm(_pos(path, 1e-4) - _pos(path, 0)) < 1e-6  # starts at rest


# --- presets --------------------------------------------------------------------------------


def test_orbit_keeps_radius_and_looks_forward():
    path = preset_path("orbit", 4.0, radius=0.3, yaw=20)
    poses = path.poses(fps=12)
    radii = [np.hypot(p.position[0], p.position[2]) for p in poses]
    np.testing.assert_allclose(radii, 0.3, atol=1e-12)
    assert all(p.position[1] == 0 and p.yaw == 20 for p in poses)
    angles = np.unwrap([np.arctan2(p.position[0], -p.position[2]) for p in poses])
    assert np.all(np.diff(angles) > 0) and angles[-1] - angles[0] == pytest.approx(
        2 * np.pi * 47 / 48
    )
    np.testing.assert_allclose(path.pose_at(4.0).position, path.pose_at(0).position, atol=1e-12)
    assert preset_path("circle", 4.0).poses(12) == preset_path("orbit", 4.0).poses(12)


@pytest.mark.parametrize("target", [(0.0, 0.5, -3.0), (0.0, 0.0, 0.0)])
def test_orbit_with_a_target_looks_at_it(target):
    path = preset_path("orbit", 2.0, radius=0.5, target=target)
    poses = path.poses(fps=15)
    for pose in poses:
        to_target = np.array(target) - np.array(pose.position)
        np.testing.assert_allclose(pose.axes()[2], to_target / np.linalg.norm(to_target), atol=1e-9)
    assert np.all(np.abs(np.diff([p.yaw for p in poses])) < 30)  # continuous, no 360 jumps


def test_look_around_covers_360_degrees_monotonically():
    path = preset_path("look-around", 6.0, yaw=-90)
    poses = path.poses(fps=30)
    yaws = np.array([p.yaw for p in poses])
    assert len(poses) == 180
    assert np.all(np.diff(yaws) > 0)
    assert yaws[0] == -90 and yaws[-1] == pytest.approx(-90 + 360 * 179 / 180)
    assert path.pose_at(6.0).yaw - path.pose_at(0.0).yaw == pytest.approx(360.0)
    assert all(p.position == (0.0, 0.0, 0.0) for p in poses)
    # with easing: still monotonic, still a full turn
    eased = preset_path("look_around", 6.0, easing="ease-in-out")
    yaws = [eased.pose_at(t).yaw for t in np.linspace(0, 6, 61)]
    assert np.all(np.diff(yaws) > 0) and yaws[-1] - yaws[0] == pytest.approx(360.0)


def test_zoom_fov_endpoints():
    path = preset_path("zoom", 3.0, fov_start=100, fov_end=40, position=(0.1, 0, 0))
    assert path.pose_at(0).fov == 100 and path.pose_at(3.0).fov == 40
    assert path.pose_at(1.5).fov == pytest.approx(70.0)
    fovs = [p.fov for p in path.poses(fps=10)]
    assert np.all(np.diff(fovs) < 0)
    assert all(p.position == (0.1, 0.0, 0.0) for p in path.poses(fps=10))


def test_swing_returns_to_start_and_sways_by_amplitude():
    path = preset_path("swing", 4.0, amplitude=0.25, yaw_amplitude=6)
    poses = path.poses(fps=20)
    xs = np.array([p.position[0] for p in poses])
    assert xs.max() == pytest.approx(0.25) and xs.min() == pytest.approx(-0.25)
    assert all(p.position[1] == 0 and p.position[2] == 0 for p in poses)
    yaws = np.array([p.yaw for p in poses])
    assert yaws.max() == pytest.approx(6) and yaws.min() == pytest.approx(-6)
    end, start = path.pose_at(4.0), path.pose_at(0.0)
    np.testing.assert_allclose(end.position, start.position, atol=1e-12)
    assert end.yaw == pytest.approx(start.yaw)


def test_swing_follows_the_camera_right_axis():
    path = preset_path("swing", 4.0, amplitude=0.2, yaw=90)  # facing +X: right is +Z
    np.testing.assert_allclose(path.pose_at(1.0).position, (0, 0, 0.2), atol=1e-12)


def test_dolly_moves_along_the_view_and_back():
    path = preset_path("dolly", 2.0, distance=0.4, yaw=90)  # forward = +X
    np.testing.assert_allclose(path.pose_at(1.0).position, (0.4, 0, 0), atol=1e-12)
    np.testing.assert_allclose(path.pose_at(2.0).position, (0, 0, 0), atol=1e-12)
    one_way = preset_path("dolly", 2.0, distance=0.4, back=False)
    np.testing.assert_allclose(one_way.pose_at(2.0).position, (0, 0, -0.4), atol=1e-12)
    np.testing.assert_allclose(one_way.pose_at(1.0).position, (0, 0, -0.2), atol=1e-12)
    assert one_way.easing == "ease-in-out"


# --- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "fps"), [(2.0, 30), (2.5, 29.97), (1.0, 24), (0.1, 25), (8, 60)]
)
def test_frame_count_and_times(duration, fps):
    path = preset_path("swing", duration)
    poses = path.poses(fps)
    assert len(poses) == round(duration * fps)
    assert poses[1] == path.pose_at(1 / fps)
    np.testing.assert_allclose(path.times(fps), np.arange(len(poses)) / fps)


def test_keyframe_duration_defaults_to_last_keyframe():
    path = CameraPath(KEYS)
    assert len(path.poses(10)) == 35
    assert len(path.poses(10, duration=5.0)) == 50  # holds the last pose after 3.5 s
    single = CameraPath([Keyframe(0, yaw=30)])
    with pytest.raises(SceneError, match="duration"):
        single.poses(30)
    assert single.poses(30, duration=1) == [single.pose_at(0)] * 30


# --- validation -----------------------------------------------------------------------------


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(SceneError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_validation_messages_name_the_field():
    path = preset_path("orbit", 2)
    assert "fps" in _error(path.poses, 0)
    assert "fps" in _error(path.poses, -30)
    assert "duration" in _error(path.poses, 30, duration=0)
    assert "duration" in _error(preset_path, "orbit", -1)
    assert "no frames" in _error(path.poses, 10, duration=0.01)
    assert "keyframes[0].fov" in _error(CameraPath, [Keyframe(0, fov=0)])
    assert "keyframes[1].fov" in _error(CameraPath, [Keyframe(0), Keyframe(1, fov=180)])
    assert "fov_end" in _error(preset_path, "zoom", 2, fov_end=200)
    assert "fov" in _error(preset_path, "orbit", 2, fov=-5)
    msg = _error(CameraPath, [Keyframe(0), Keyframe(2), Keyframe(1)])
    assert "keyframes[2].t" in msg and "out of order" in msg
    msg = _error(CameraPath, [Keyframe(0), Keyframe(1), Keyframe(1)])
    assert "keyframes[2].t" in msg and "duplicate" in msg
    assert "keyframes" in _error(CameraPath, [])
    assert "pitch" in _error(CameraPath, [Keyframe(0, pitch=95)])
    assert "position" in _error(CameraPath, [Keyframe(0, position=(0, 0))])
    assert "easing" in _error(CameraPath, KEYS, easing="bounce")
    assert "spline" in _error(CameraPath, KEYS, spline="bezier")


def test_unknown_preset_lists_valid_names():
    msg = _error(preset_path, "spin", 2)
    for name in ("orbit", "circle", "swing", "dolly", "zoom", "look-around"):
        assert name in msg
    msg = _error(preset_path, "zoom", 2, radius=1)
    assert "radius" in msg and "fov_start" in msg


def test_path_from_config_both_forms():
    preset = path_from_config({"preset": "swing", "duration": 8, "fps": 30, "amplitude": 0.1})
    assert preset.name == "swing" and preset.duration == 8
    assert len(preset.poses(30)) == 240
    keyed = path_from_config(
        {
            "keyframes": [
                {"t": 0, "position": [0, 0, 0], "yaw": 0, "pitch": 0, "roll": 0, "fov": 90},
                {"t": 2, "position": [0, 0, -1], "yaw": 90, "fov": 60},
            ],
            "easing": "ease-in-out",
        }
    )
    assert keyed.pose_at(1).yaw == pytest.approx(45) and keyed.pose_at(1).fov == pytest.approx(75)
    assert "keyframes[1].t" in _error(path_from_config, {"keyframes": [{"t": 1}, {"t": 0}]})
    assert "keyframes[0].yawn" in _error(path_from_config, {"keyframes": [{"t": 0, "yawn": 1}]})
    assert "exactly one" in _error(path_from_config, {"duration": 3})
    assert "duration" in _error(path_from_config, {"preset": "orbit"})
