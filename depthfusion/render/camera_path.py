"""Camera paths: keyframes or presets -> one :class:`~depthfusion.pose.Pose` per video frame.

Angles follow ``conventions.py`` (degrees; yaw about +Y, positive turns right; pitch up;
roll right side down); positions are metres, ``fov`` the horizontal field of view in degrees.

Keyframe paths (:class:`CameraPath`)
    * Position: a cubic Hermite spline in *time* whose tangents are Catmull-Rom's
      (``spline="centripetal"``, the default, or ``"uniform"``). It passes exactly through every
      keyframe at its time and its velocity is continuous across keyframes (C1 in seconds,
      not only in the spline parameter). With centripetal knots a repeated position makes the
      camera stop there instead of overshooting. Ends: ``ends="reflect"`` (a phantom point
      mirrored through the end point: the path starts and ends moving toward its neighbour)
      or ``"duplicate"`` (the end point repeated: the path starts and ends slowly).
    * Rotation: slerp between unit quaternions built from ``conventions.camera_rotation``
      (pyrr), the short way round (dot >= 0), converted back with
      ``conventions.rotation_to_yaw_pitch_roll``. Angle values are read literally: yaw 0 -> 270
      turns 270 degrees right, yaw 170 -> -170 turns 340 degrees left (write 190 for a 20 degree
      turn right). Segments where an angle changes by 180 degrees or more are split into
      slerps of at most 90 degrees so that slerp cannot take the short way. Output yaw and roll
      are unwrapped (continuous, not folded into (-180, 180]).
    * fov: linear between the keyframes that set one; None when none do.
    * Before the first / after the last keyframe the pose holds.

Presets (:func:`preset_path`): ``orbit`` (alias ``circle``), ``swing``, ``dolly``, ``zoom``,
``look-around``; closed-form functions of the path fraction, so they are exactly periodic where
they loop (frame ``round(duration*fps)`` would equal frame 0, so videos loop seamlessly).

Easing (both kinds) re-maps time over the whole path: ``linear``, ``ease-in-out``
(smoothstep), ``ease-in`` (quadratic), ``ease-out``.

Frame timing: :meth:`CameraPath.poses` gives exactly ``round(duration * fps)`` poses at
``t = i / fps``.
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pyrr import matrix33, quaternion

from ..conventions import (
    camera_axes,
    camera_rotation,
    direction_to_lonlat,
    rotation_to_yaw_pitch_roll,
)
from ..errors import SceneError
from .pose import Pose

__all__ = [
    "EASINGS",
    "PRESETS",
    "CameraPath",
    "Keyframe",
    "ease",
    "path_from_config",
    "preset_path",
]

# --- validation helpers ------------------------------------------------------------------------


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SceneError(f"{where}: expected a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise SceneError(f"{where}: must be finite, got {value!r}")
    return x


def _vec3(value, where: str) -> tuple[float, float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise SceneError(f"{where}: expected [x, y, z] in metres, got {value!r}")
    if len(value) != 3:
        raise SceneError(f"{where}: expected [x, y, z] in metres, got {len(value)} values")
    x, y, z = (_number(v, where) for v in value)
    return (x, y, z)


def _check_fov(value, where: str) -> float:
    fov = _number(value, where)
    if not 0.0 < fov < 180.0:
        raise SceneError(f"{where}: horizontal fov must be in (0, 180) degrees, got {fov:g}")
    return fov


def _check_positive(value, where: str) -> float:
    x = _number(value, where)
    if x <= 0.0:
        raise SceneError(f"{where}: must be > 0, got {x:g}")
    return x


# --- easing -----------------------------------------------------------------------------------

EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda s: s,
    "ease-in-out": lambda s: s * s * (3.0 - 2.0 * s),  # smoothstep: zero speed at both ends
    "ease-in": lambda s: s * s,
    "ease-out": lambda s: s * (2.0 - s),
}


def _easing_name(name: str | None, where: str = "camera.path.easing") -> str:
    if name is None:
        return "linear"
    key = str(name).strip().lower().replace("_", "-")
    if key not in EASINGS:
        raise SceneError(f"{where}: unknown easing {name!r} (valid: {', '.join(EASINGS)})")
    return key


def ease(name: str, s: float) -> float:
    """Apply easing ``name`` to a path fraction ``s`` (clamped to [0, 1])."""
    return float(EASINGS[_easing_name(name)](min(1.0, max(0.0, float(s)))))


# --- quaternions (pyrr: [x, y, z, w], column-vector matrices) ---------------------------------


def _quat(yaw: float, pitch: float, roll: float) -> np.ndarray:
    q = quaternion.create_from_matrix(camera_rotation(yaw, pitch, roll))
    return q / np.linalg.norm(q)


def _slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Constant-speed slerp, the short way round.

    Not ``pyrr.quaternion.slerp``: for dot >= 0.95 (rotations up to ~36 degrees apart) it
    falls back to an un-normalised lerp toward the *un-flipped* q1, which bends the angular
    speed and breaks when the signs differ.
    """
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9999995:
        q = q0 + s * (q1 - q0)
    else:
        angle = math.acos(min(1.0, dot))
        q = (math.sin((1.0 - s) * angle) * q0 + math.sin(s * angle) * q1) / math.sin(angle)
    return q / np.linalg.norm(q)


def _unwrap(angle: float, reference: float) -> float:
    """``angle`` plus the multiple of 360 that brings it closest to ``reference``."""
    return angle + 360.0 * round((reference - angle) / 360.0)


# --- keyframes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyframe:
    """A pose at time ``t`` (seconds). ``fov`` (horizontal degrees) is optional."""

    t: float
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    fov: float | None = None

    @classmethod
    def from_mapping(cls, data: Mapping, where: str = "keyframe") -> Keyframe:
        """Build from a scene-file mapping ``{t, position, yaw, pitch, roll, fov}``."""
        if not isinstance(data, Mapping):
            raise SceneError(
                f"{where}: expected a mapping with t, position, yaw, ..., got {data!r}"
            )
        unknown = sorted(set(data) - {"t", "position", "yaw", "pitch", "roll", "fov"})
        if unknown:
            raise SceneError(
                f"{where}.{unknown[0]}: unknown key (valid: t, position, yaw, pitch, roll, fov)"
            )
        if "t" not in data:
            raise SceneError(f"{where}.t: missing (keyframe time in seconds)")
        fov = data.get("fov")
        return cls(
            t=_number(data["t"], f"{where}.t"),
            position=_vec3(data.get("position", (0.0, 0.0, 0.0)), f"{where}.position"),
            yaw=_number(data.get("yaw", 0.0), f"{where}.yaw"),
            pitch=_number(data.get("pitch", 0.0), f"{where}.pitch"),
            roll=_number(data.get("roll", 0.0), f"{where}.roll"),
            fov=None if fov is None else _check_fov(fov, f"{where}.fov"),
        )

    def pose(self) -> Pose:
        return Pose(self.position, self.yaw, self.pitch, self.roll, self.fov)


def _validated(keyframes: Iterable[Keyframe], where: str) -> tuple[Keyframe, ...]:
    out: list[Keyframe] = []
    for i, kf in enumerate(keyframes):
        at = f"{where}.keyframes[{i}]"
        if isinstance(kf, Mapping):
            kf = Keyframe.from_mapping(kf, at)
        elif not isinstance(kf, Keyframe):
            raise SceneError(f"{at}: expected a Keyframe, got {type(kf).__name__}")
        t = _number(kf.t, f"{at}.t")
        pitch = _number(kf.pitch, f"{at}.pitch")
        if abs(pitch) > 90.0:
            raise SceneError(f"{at}.pitch: must be in [-90, 90] degrees, got {pitch:g}")
        kf = Keyframe(
            t=t,
            position=_vec3(kf.position, f"{at}.position"),
            yaw=_number(kf.yaw, f"{at}.yaw"),
            pitch=pitch,
            roll=_number(kf.roll, f"{at}.roll"),
            fov=None if kf.fov is None else _check_fov(kf.fov, f"{at}.fov"),
        )
        if out and kf.t <= out[-1].t:
            what = "duplicate time" if kf.t == out[-1].t else "out of order"
            raise SceneError(
                f"{at}.t: keyframe times must increase ({what}: {kf.t:g} after {out[-1].t:g})"
            )
        out.append(kf)
    if not out:
        raise SceneError(f"{where}.keyframes: need at least one keyframe")
    return tuple(out)


# --- the path ----------------------------------------------------------------------------------


@dataclass
class _Segment:
    t0: float
    dt: float
    p0: np.ndarray
    p1: np.ndarray
    v0: np.ndarray  # velocities (m/s) at the ends
    v1: np.ndarray
    a0: np.ndarray  # (yaw, pitch, roll) at the ends, degrees, as written
    a1: np.ndarray
    quats: list[np.ndarray] = field(default_factory=list)  # slerp pieces, sign-aligned


SPLINES = ("centripetal", "uniform")
ENDS = ("reflect", "duplicate")


class CameraPath:
    """A camera path: ``pose_at(t)`` for any time, ``poses(fps)`` for the frames of a video.

    Build from keyframes (``CameraPath(keyframes, ...)``), from a closed-form function of the
    path fraction (:meth:`from_function`), or from a preset (:func:`preset_path`).

    ``duration`` (seconds) is the default video length; for keyframe paths it defaults to the
    last keyframe's time. ``easing`` re-maps time over the whole path (keyframe paths: from
    the first to the last keyframe; function paths: over ``[0, duration]``).
    """

    def __init__(
        self,
        keyframes: Iterable[Keyframe | Mapping],
        *,
        easing: str | None = "linear",
        spline: str = "centripetal",
        ends: str = "reflect",
        duration: float | None = None,
        where: str = "camera.path",
    ) -> None:
        self.where = where
        self.keyframes = _validated(keyframes, where)
        self.easing = _easing_name(easing, f"{where}.easing")
        if spline not in SPLINES:
            raise SceneError(f"{where}.spline: unknown {spline!r} (valid: {', '.join(SPLINES)})")
        if ends not in ENDS:
            raise SceneError(f"{where}.ends: unknown {ends!r} (valid: {', '.join(ENDS)})")
        self.spline = spline
        self.ends = ends
        self.name = "keyframes"
        self._fn: Callable[[float], Pose] | None = None
        if duration is not None:
            duration = _check_positive(duration, f"{where}.duration")
        self.duration = duration if duration is not None else (self.keyframes[-1].t or None)
        self._build()

    @classmethod
    def from_function(
        cls,
        fn: Callable[[float], Pose],
        duration: float,
        *,
        easing: str | None = "linear",
        name: str = "function",
        where: str = "camera.path",
    ) -> CameraPath:
        """A path given by ``fn(s) -> Pose`` for the (eased) path fraction ``s`` in [0, 1]."""
        self = cls.__new__(cls)
        self.where = where
        self.duration = _check_positive(duration, f"{where}.duration")
        self.easing = _easing_name(easing, f"{where}.easing")
        self.keyframes = ()
        self.spline = self.ends = None
        self.name = name
        self._fn = fn
        self._segments = []
        return self

    def __repr__(self) -> str:
        if self._fn is not None:
            return f"CameraPath({self.name}, duration={self.duration}, easing={self.easing!r})"
        return (
            f"CameraPath({len(self.keyframes)} keyframes, duration={self.duration}, "
            f"easing={self.easing!r}, spline={self.spline!r})"
        )

    # -- construction --

    def _build(self) -> None:
        kfs = self.keyframes
        self._segments: list[_Segment] = []
        fovs = [(k.t, k.fov) for k in kfs if k.fov is not None]
        self._fov_t = np.array([t for t, _ in fovs])
        self._fov_v = np.array([f for _, f in fovs])
        if len(kfs) < 2:
            return
        t = np.array([k.t for k in kfs])
        p = np.array([k.position for k in kfs], dtype=np.float64)
        # Phantom end points (reflect: mirrored; duplicate: repeated), spaced like their neighbour.
        if self.ends == "reflect":
            p_ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
        else:
            p_ext = np.vstack([p[0], p, p[-1]])
        t_ext = np.concatenate([[2 * t[0] - t[1]], t, [2 * t[-1] - t[-2]]])
        dt = np.diff(t_ext)
        chords = np.linalg.norm(np.diff(p_ext, axis=0), axis=1)
        du = np.sqrt(chords) if self.spline == "centripetal" else np.ones_like(chords)
        eps = 1e-12
        vel = np.zeros_like(p)
        for i in range(len(kfs)):
            j = i + 1  # index in the extended arrays
            du0, du1 = du[j - 1], du[j]
            if du0 <= eps or du1 <= eps:
                continue  # a repeated position (centripetal): the camera stops there
            d0 = p_ext[j] - p_ext[j - 1]
            d1 = p_ext[j + 1] - p_ext[j]
            # Catmull-Rom (Barry-Goldman) tangent in the knot parameter u, times du/dt around
            # the keyframe -> a velocity in m/s shared by both segments: C1 in time.
            vel[i] = (d0 * (du1 / du0) + d1 * (du0 / du1)) / (dt[j - 1] + dt[j])
        for i in range(len(kfs) - 1):
            a0 = np.array([kfs[i].yaw, kfs[i].pitch, kfs[i].roll])
            a1 = np.array([kfs[i + 1].yaw, kfs[i + 1].pitch, kfs[i + 1].roll])
            biggest = float(np.max(np.abs(a1 - a0)))
            pieces = 1 if biggest < 180.0 else math.ceil(biggest / 90.0)
            quats = []
            for k in range(pieces + 1):
                q = _quat(*(a0 + (a1 - a0) * (k / pieces)))
                if quats and np.dot(quats[-1], q) < 0.0:
                    q = -q
                quats.append(q)
            self._segments.append(
                _Segment(t[i], t[i + 1] - t[i], p[i], p[i + 1], vel[i], vel[i + 1], a0, a1, quats)
            )

    # -- evaluation --

    def _fov_at(self, t: float) -> float | None:
        if len(self._fov_t) == 0:
            return None
        return float(np.interp(t, self._fov_t, self._fov_v))

    def _eased(self, t: float, start: float, end: float) -> float:
        if end <= start:
            return start
        s = min(1.0, max(0.0, (t - start) / (end - start)))
        return start + EASINGS[self.easing](s) * (end - start)

    def pose_at(self, t: float) -> Pose:
        """The camera pose at time ``t`` seconds."""
        t = float(t)
        if self._fn is not None:
            s = min(1.0, max(0.0, t / self.duration))
            return self._fn(EASINGS[self.easing](s))
        kfs = self.keyframes
        if len(kfs) == 1 or t <= kfs[0].t:
            return kfs[0].pose()
        if t >= kfs[-1].t:
            return kfs[-1].pose()
        te = self._eased(t, kfs[0].t, kfs[-1].t)
        times = [k.t for k in kfs]
        i = min(max(0, int(np.searchsorted(times, te, side="right")) - 1), len(self._segments) - 1)
        seg = self._segments[i]
        s = min(1.0, max(0.0, (te - seg.t0) / seg.dt))
        # cubic Hermite in time
        s2, s3 = s * s, s * s * s
        h00, h10 = 2 * s3 - 3 * s2 + 1, s3 - 2 * s2 + s
        h01, h11 = -2 * s3 + 3 * s2, s3 - s2
        pos = h00 * seg.p0 + h10 * seg.dt * seg.v0 + h01 * seg.p1 + h11 * seg.dt * seg.v1
        # rotation: piecewise slerp
        n = len(seg.quats) - 1
        k = min(int(s * n), n - 1)
        q = _slerp(seg.quats[k], seg.quats[k + 1], s * n - k)
        yaw, pitch, roll = rotation_to_yaw_pitch_roll(matrix33.create_from_quaternion(q))
        ref = seg.a0 + (seg.a1 - seg.a0) * s
        return Pose(
            position=(float(pos[0]), float(pos[1]), float(pos[2])),
            yaw=_unwrap(yaw, ref[0]),
            pitch=pitch,
            roll=_unwrap(roll, ref[2]),
            fov=self._fov_at(te),
        )

    def frame_count(self, fps: float, duration: float | None = None) -> int:
        """``round(duration * fps)``, validated (SceneError naming the field)."""
        fps = _check_positive(fps, f"{self.where}.fps")
        if duration is None:
            duration = self.duration
            if duration is None:
                raise SceneError(
                    f"{self.where}.duration: a path with one keyframe at t=0 needs a duration"
                )
        duration = _check_positive(duration, f"{self.where}.duration")
        n = round(duration * fps)
        if n < 1:
            raise SceneError(
                f"{self.where}.duration: {duration:g} s at {fps:g} fps gives no frames"
            )
        return int(n)

    def times(self, fps: float, duration: float | None = None) -> np.ndarray:
        """Frame times ``i / fps`` for ``i < round(duration * fps)``."""
        return np.arange(self.frame_count(fps, duration)) / float(fps)

    def poses(self, fps: float, duration: float | None = None) -> PoseSequence:
        """One pose per frame: exactly ``round(duration * fps)`` poses at ``t = i / fps``.

        ``duration`` defaults to the path's (presets: their duration; keyframes: the last
        keyframe's time). The sequence is lazy: each pose is computed when it is read, so a
        long video costs no memory before its first frame.
        """
        return PoseSequence(self, fps, self.frame_count(fps, duration))


class PoseSequence(Sequence):
    """The frames' poses of a :class:`CameraPath`, computed on access (``len``, index, iterate)."""

    def __init__(self, path: CameraPath, fps: float, count: int) -> None:
        self.path, self.fps, self.count = path, float(fps), int(count)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        i = operator.index(index)
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"frame {index} of {self.count}")
        return self.path.pose_at(i / self.fps)

    def __iter__(self):
        for i in range(self.count):
            yield self.path.pose_at(i / self.fps)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


# --- presets -----------------------------------------------------------------------------------


def _look_at(position: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    lon, lat = direction_to_lonlat(target - position)
    return float(np.degrees(lon)), float(np.degrees(lat))


def _orbit(
    duration, *, radius=0.3, cycles=1.0, target=None, position=(0.0, 0.0, 0.0),
    yaw=0.0, pitch=0.0, roll=0.0, fov=None, easing="linear", where="camera.path",
):  # fmt: skip
    """Position on a horizontal circle of ``radius`` around ``position`` (``cycles`` turns,
    clockwise seen from above, starting straight ahead of the centre). Looks along
    ``yaw``/``pitch`` throughout, or at ``target`` [x, y, z] when given."""
    radius = _number(radius, f"{where}.radius")
    if radius < 0:
        raise SceneError(f"{where}.radius: must be >= 0, got {radius:g}")
    cycles = _number(cycles, f"{where}.cycles")
    centre = np.array(_vec3(position, f"{where}.position"))
    tgt = None if target is None else np.array(_vec3(target, f"{where}.target"))
    # Looking at a target inside the circle turns the camera all the way round: unwrap yaw
    # against the orbit angle so that it stays continuous.
    inside = tgt is not None and np.hypot(*(tgt - centre)[[0, 2]]) < radius

    def fn(s: float) -> Pose:
        theta = 2.0 * math.pi * cycles * s
        p = centre + radius * np.array([math.sin(theta), 0.0, -math.cos(theta)])
        y, pt = yaw, pitch
        if tgt is not None:
            y, pt = _look_at(p, tgt)
            base = _look_at(centre + radius * np.array([0.0, 0.0, -1.0]), tgt)[0]
            y = _unwrap(y, base + (360.0 * cycles * s if inside else 0.0))
        return Pose((float(p[0]), float(p[1]), float(p[2])), y, pt, roll, fov)

    return fn, easing


def _swing(
    duration, *, amplitude=0.2, yaw_amplitude=5.0, cycles=1.0, position=(0.0, 0.0, 0.0),
    yaw=0.0, pitch=0.0, roll=0.0, fov=None, easing="linear", where="camera.path",
):  # fmt: skip
    """Side-to-side sway: ``amplitude`` metres along the camera's horizontal right axis,
    sinusoidal, ``cycles`` full periods (so it returns to the start), with a gentle counter
    yaw of ``yaw_amplitude`` degrees (looking back toward the scene ahead)."""
    amplitude = _number(amplitude, f"{where}.amplitude")
    yaw_amplitude = _number(yaw_amplitude, f"{where}.yaw_amplitude")
    cycles = _number(cycles, f"{where}.cycles")
    start = np.array(_vec3(position, f"{where}.position"))
    right = camera_axes(yaw, 0.0, 0.0)[0]

    def fn(s: float) -> Pose:
        w = math.sin(2.0 * math.pi * cycles * s)
        p = start + amplitude * w * right
        return Pose(
            (float(p[0]), float(p[1]), float(p[2])), yaw - yaw_amplitude * w, pitch, roll, fov
        )

    return fn, easing


def _dolly(
    duration, *, distance=0.5, back=True, position=(0.0, 0.0, 0.0),
    yaw=0.0, pitch=0.0, roll=0.0, fov=None, easing=None, where="camera.path",
):  # fmt: skip
    """Move ``distance`` metres forward along the view direction; ``back=True`` returns
    (``(1 - cos)/2`` profile, smooth and periodic), ``back=False`` goes one way (linear in
    eased time; default easing ``ease-in-out``)."""
    distance = _number(distance, f"{where}.distance")
    if not isinstance(back, bool):
        raise SceneError(f"{where}.back: expected true or false, got {back!r}")
    start = np.array(_vec3(position, f"{where}.position"))
    forward = camera_axes(yaw, pitch, roll)[2]
    if easing is None:
        easing = "linear" if back else "ease-in-out"

    def fn(s: float) -> Pose:
        k = 0.5 * (1.0 - math.cos(2.0 * math.pi * s)) if back else s
        p = start + distance * k * forward
        return Pose((float(p[0]), float(p[1]), float(p[2])), yaw, pitch, roll, fov)

    return fn, easing


def _zoom(
    duration, *, fov_start=90.0, fov_end=60.0, position=(0.0, 0.0, 0.0),
    yaw=0.0, pitch=0.0, roll=0.0, easing="ease-in-out", where="camera.path",
):  # fmt: skip
    """Fixed pose; the horizontal fov goes linearly (in eased time) from ``fov_start`` to
    ``fov_end`` degrees."""
    f0 = _check_fov(fov_start, f"{where}.fov_start")
    f1 = _check_fov(fov_end, f"{where}.fov_end")
    pos = _vec3(position, f"{where}.position")

    def fn(s: float) -> Pose:
        return Pose(pos, yaw, pitch, roll, f0 + (f1 - f0) * s)

    return fn, easing


def _look_around(
    duration, *, turns=1.0, position=(0.0, 0.0, 0.0), yaw=0.0, pitch=0.0, roll=0.0,
    fov=None, easing="linear", where="camera.path",
):  # fmt: skip
    """Stays at ``position`` (the sphere's centre by default) and pans ``turns`` x 360 degrees
    of yaw (positive = to the right), monotonic and unwrapped."""
    turns = _number(turns, f"{where}.turns")
    pos = _vec3(position, f"{where}.position")

    def fn(s: float) -> Pose:
        return Pose(pos, yaw + 360.0 * turns * s, pitch, roll, fov)

    return fn, easing


PRESETS: dict[str, Callable] = {
    "orbit": _orbit,
    "swing": _swing,
    "dolly": _dolly,
    "zoom": _zoom,
    "look-around": _look_around,
}
ALIASES = {"circle": "orbit"}


def preset_path(name: str, duration: float, *, where: str = "camera.path", **params) -> CameraPath:
    """A preset path of ``duration`` seconds.

    ===============  ============================================================================
    orbit / circle   radius=0.3, cycles=1, target=None (look forward; or [x,y,z] to look at)
    swing            amplitude=0.2 (m), yaw_amplitude=5 (deg), cycles=1
    dolly            distance=0.5 (m), back=True
    zoom             fov_start=90, fov_end=60 (deg; default easing ease-in-out)
    look-around      turns=1 (x 360 deg of yaw)
    all              position=[0,0,0], yaw=0, pitch=0, roll=0, fov=None, easing
    ===============  ============================================================================

    Unknown names or parameters raise :class:`SceneError` listing the valid ones.
    """
    key = str(name).strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        valid = ", ".join([*PRESETS, *ALIASES])
        raise SceneError(f"{where}.preset: unknown preset {name!r} (valid: {valid})")
    builder = PRESETS[key]
    accepted = [p for p in inspect.signature(builder).parameters if p not in ("duration", "where")]
    for param in params:
        if param not in accepted:
            raise SceneError(
                f"{where}.{param}: preset {key!r} does not take {param!r} "
                f"(valid: {', '.join(accepted)})"
            )
    for angle in ("yaw", "pitch", "roll"):
        if angle in params:
            params[angle] = _number(params[angle], f"{where}.{angle}")
    if "pitch" in params and abs(params["pitch"]) > 90.0:
        raise SceneError(f"{where}.pitch: must be in [-90, 90] degrees, got {params['pitch']:g}")
    if params.get("fov") is not None:
        params["fov"] = _check_fov(params["fov"], f"{where}.fov")
    duration = _check_positive(duration, f"{where}.duration")
    fn, easing = builder(duration, where=where, **params)
    return CameraPath.from_function(fn, duration, easing=easing, name=key, where=where)


def path_from_config(config: Mapping, where: str = "camera.path") -> CameraPath:
    """Build a path from the scene file's ``camera.path`` mapping.

    Either ``{preset: NAME, duration: S, <preset params>}`` or
    ``{keyframes: [{t, position, yaw, pitch, roll, fov}, ...], duration?, easing?, spline?,
    ends?}``. An ``fps`` key is allowed and ignored (the caller passes it to :meth:`poses`).
    """
    if not isinstance(config, Mapping):
        raise SceneError(f"{where}: expected a mapping with 'preset' or 'keyframes'")
    cfg = {k: v for k, v in config.items() if k != "fps"}
    if ("preset" in cfg) == ("keyframes" in cfg):
        raise SceneError(f"{where}: give exactly one of 'preset' or 'keyframes'")
    if "preset" in cfg:
        name = cfg.pop("preset")
        if "duration" not in cfg:
            raise SceneError(f"{where}.duration: missing (seconds) for preset {name!r}")
        return preset_path(name, cfg.pop("duration"), where=where, **cfg)
    keyframes = cfg.pop("keyframes")
    if not isinstance(keyframes, Sequence) or isinstance(keyframes, (str, bytes)):
        raise SceneError(f"{where}.keyframes: expected a list of keyframes")
    valid = ("duration", "easing", "spline", "ends")
    for key in cfg:
        if key not in valid:
            raise SceneError(f"{where}.{key}: unknown key (valid: keyframes, {', '.join(valid)})")
    return CameraPath(
        [Keyframe.from_mapping(k, f"{where}.keyframes[{i}]") for i, k in enumerate(keyframes)],
        where=where,
        **cfg,
    )
