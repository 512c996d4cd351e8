"""360° and 180° VR output (the scene's ``vr360`` and ``vr180`` output kinds): presets,
checks, render and write.

VR180 (``field=180``): side-by-side stereo (left eye on the left), each eye a square
half-equirect covering 180° x 180° around the heading, rendered by the same ODS renderer:
each eye is the middle half of that eye's 360 frame. MP4s carry ``st3d`` left-right, ``sv3d``
with equirect projection bounds left = right = 0x40000000 (a quarter of the sphere's width
cropped each side) and V1 metadata with the cropped area; stills their XMP with the crop.

One equirect frame per viewpoint: top-bottom omnidirectional stereo (left eye on top, each eye
``W x W/2``, so the frame is square) or mono (``W x W/2``), rendered by
:class:`~depthfusion.render.ods.ODSRenderer`. The path's extension picks the container:

- ``.png`` / ``.jpg``: a still from one viewpoint: mono with GPano XMP, top-bottom stereo
  with the ``GSpherical`` stereo fields (:mod:`.spherical`);
- ``.vr.jpg``: a stereo still in Google's VR photo format, which photo viewers show in
  stereo: the left eye with GPano, the right eye in its XMP (:mod:`.vr_photo`);
- ``.mp4``: a video, one frame per pose of the camera path, or a fixed viewpoint held for
  ``duration`` seconds; H.264 or H.265, with Spherical Video V1 + V2 metadata injected by the
  project's own box writer. The encoder writes to a temporary file, the tagged copy is
  verified (box tree, chunk offsets) under another temporary name, then renamed into place.

The 360 frame stays world-aligned (horizon level, centre column at ``yaw`` degrees) while its
origin follows the path; ``follow_yaw`` adds each pose's yaw.

Presets (a preset's values are defaults; explicit fields of :class:`VR360Spec` win):

==============  ==========  =====  =====  ==================================================
preset          eye (WxH)   frame  codec  notes
==============  ==========  =====  =====  ==================================================
``quest``       3840x1920   3840²  H.264  30 fps; level 6.0; ``mvrange=511`` (see below)
``quest-h265``  4096x2048   4096²  H.265  30 fps; level 6
``youtube``     3840x1920   3840²  H.264  High profile, closed GOP of fps/2, 2 B-frames
``preview``     2048x1024   2048²  H.264  x264 ``veryfast``, crf 23: quick to encode
==============  ==========  =====  =====  ==================================================

Codec levels: the stream gets the lowest level whose frame-size and macroblock-rate limits
fit (H.264 Table A-1, H.265 Table A.8), signalled with ``-level``; a frame too big for level
6.2 is an error. Above H.264 level 5.2 x264 allows vertical motion vectors of up to 2048
pixels, which the hardware decoders of Quest-class headsets (and many phones) mis-decode;
``mvrange=511`` keeps them within the level-5.2 range, at a negligible cost in size. The
Quest presets also cap the frame at what those players decode (H.264: 3840x3840 pixels,
H.265: 4096x4096) and say which preset to use instead. ``+faststart`` (moov first) is always
on (writers.VideoWriter).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..console import progress, stage
from ..conventions import DEFAULT_IPD
from ..errors import OutputError
from ..render.ods import DEFAULT_TAPER, ODSRenderer
from ..render.ods_mesh import simplify_for_ods
from ..render.pose import Pose
from .spherical import Crop, inject_spherical, write_equirect_still
from .state import SceneState
from .vr_photo import write_vr_photo
from .writers import X264_PRESETS, VideoWriter

log = logging.getLogger("depthfusion")

__all__ = [
    "CODECS",
    "PRESETS",
    "VR360Error",
    "VR360Preset",
    "VR360Settings",
    "VR360Spec",
    "codec_level",
    "resolve_vr360",
    "spec_from_mapping",
    "write_vr360",
]

#: Scene-file codec names -> ffmpeg encoders.
CODECS = {"h264": "libx264", "h265": "libx265"}
STILL_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4",)

# H.264 Table A-1: level -> (MaxMBPS macroblocks/s, MaxFS macroblocks/frame).
H264_LEVELS: tuple[tuple[str, int, int], ...] = (
    ("3", 40500, 1620), ("3.1", 108000, 3600), ("3.2", 216000, 5120),
    ("4", 245760, 8192), ("4.1", 245760, 8192), ("4.2", 522240, 8704),
    ("5", 589824, 22080), ("5.1", 983040, 36864), ("5.2", 2073600, 36864),
    ("6", 4177920, 139264), ("6.1", 8355840, 139264), ("6.2", 16711680, 139264),
)  # fmt: skip
# H.265 Table A.8: level -> (MaxLumaSr samples/s, MaxLumaPs samples/picture).
H265_LEVELS: tuple[tuple[str, int, int], ...] = (
    ("3", 16588800, 552960), ("3.1", 33177600, 983040), ("4", 66846720, 2228224),
    ("4.1", 133693440, 2228224), ("5", 267386880, 8912896), ("5.1", 534773760, 8912896),
    ("5.2", 1069547520, 8912896), ("6", 1069547520, 35651584),
    ("6.1", 2139095040, 35651584), ("6.2", 4278190080, 35651584),
)  # fmt: skip


class VR360Error(OutputError):
    """An invalid vr360 output: size, preset, codec, fps or duration."""


@dataclass(frozen=True)
class VR360Preset:
    """Defaults for one playback target."""

    name: str
    eye_width: int
    fps: float
    codec: str
    crf: int
    encoder_preset: str
    limits: dict[str, tuple[int, int]] | None = None  # codec -> (max side, max pixels) played
    gop_seconds: float | None = None  # closed GOP of this length (None: encoder default)
    bframes: int | None = None
    suggestion: str = ""  # what to use when a size is over the target's limits


# What Quest-class players decode: H.264 up to 3840x3840 (4096 a side: 4096x2048 mono),
# H.265 up to 4096x4096 (5760 a side: 5760x2880 mono).
QUEST_LIMITS = {"h264": (4096, 3840 * 3840), "h265": (5760, 4096 * 4096)}

PRESETS: dict[str, VR360Preset] = {
    "quest": VR360Preset(
        "quest", 3840, 30.0, "h264", 18, "medium", limits=QUEST_LIMITS,
        suggestion="use preset quest-h265 (up to 4096x4096) or a smaller resolution",
    ),
    "quest-h265": VR360Preset(
        "quest-h265", 4096, 30.0, "h265", 20, "medium", limits=QUEST_LIMITS,
        suggestion="use a smaller resolution",
    ),
    "youtube": VR360Preset(
        "youtube", 3840, 30.0, "h264", 18, "medium", gop_seconds=0.5, bframes=2,
        suggestion="use codec h265 or a smaller resolution",
    ),
    "preview": VR360Preset("preview", 2048, 30.0, "h264", 23, "veryfast"),
}  # fmt: skip
_DEFAULT = VR360Preset("default", 2048, 30.0, "h264", 18, "medium")

#: VR180 presets: ``eye_width`` is one square eye's side; the frame is two of them.
PRESETS_180: dict[str, VR360Preset] = {
    "quest": VR360Preset(
        "quest", 2048, 30.0, "h264", 18, "medium", limits=QUEST_LIMITS,
        suggestion="use preset quest-h265 (eyes up to 2880) or a smaller resolution",
    ),
    "quest-h265": VR360Preset(
        "quest-h265", 2880, 30.0, "h265", 20, "medium", limits=QUEST_LIMITS,
        suggestion="use a smaller resolution",
    ),
    "youtube": VR360Preset(
        "youtube", 2880, 30.0, "h264", 18, "medium", gop_seconds=0.5, bframes=2,
        suggestion="use codec h265 or a smaller resolution",
    ),
    "preview": VR360Preset("preview", 1024, 30.0, "h264", 23, "veryfast"),
}  # fmt: skip
_DEFAULT_180 = VR360Preset("default", 1024, 30.0, "h264", 18, "medium")


@dataclass(frozen=True)
class VR360Spec:
    """What to write: plain values (the scene's ``vr360`` output maps onto these fields)."""

    path: Path
    """.png/.jpg (still) or .mp4 (video)."""
    preset: str | None = None
    """quest, quest-h265, youtube or preview (None: defaults of 2048-wide eyes, H.264)."""
    stereo: bool = True
    """Top-bottom ODS (left eye on top) or mono equirect."""
    resolution: int | tuple[int, int] | None = None
    """Eye width (height = width / 2), or (width, height), which must be 2:1."""
    codec: str | None = None
    """h264 or h265 (video)."""
    fps: float | None = None
    """Frames per second (video); None: the preset's (30)."""
    duration: float | None = None
    """Seconds of a video from a fixed viewpoint (no poses given)."""
    yaw: float = 0.0
    """Heading (degrees) of the frame's centre column."""
    follow_yaw: bool = False
    """Add each pose's yaw (the 360 frame turns with the path); pitch and roll never apply."""
    crf: int | None = None
    """x264/x265 quality (None: the preset's)."""
    bitrate: str | None = None
    """Target bitrate like '40M' instead of crf."""
    encoder_preset: str | None = None
    """x264/x265 speed preset (None: the preset's)."""
    samples: int = 0
    """MSAA samples (0 = off)."""
    taper: tuple[float, float] = DEFAULT_TAPER
    """Pole taper of the eye separation: full below taper[0], none at taper[1] (degrees)."""
    simplify: bool = True
    """Render an adaptive mesh (render.ods_mesh.simplify_for_ods): same image, much faster."""
    tolerance: float = 0.5
    """Geometric error allowed to the adaptive mesh, in output pixels."""
    linear_light: bool = False
    """Filter in linear light (see ODSRenderer); slower on CPUs."""
    quality: int = 95
    """JPEG quality of a still."""
    field: int = 360
    """360 (the full sphere) or 180 (VR180: square eyes, the middle half, side by side)."""


@dataclass(frozen=True)
class VR360Settings:
    """A validated :class:`VR360Spec` with every default resolved."""

    path: Path
    kind: str  # "still" | "video"
    stereo: bool
    eye_size: tuple[int, int]
    frame_size: tuple[int, int]  # (width, height) of the written image / video
    fps: float
    codec: str  # h264 | h265
    level: str | None
    crf: int | None
    bitrate: str | None
    encoder_preset: str
    ffmpeg_params: tuple[str, ...] = field(default_factory=tuple)
    preset: str | None = None
    field: int = 360

    @property
    def stereo_mode(self) -> str:
        if not self.stereo:
            return "mono"
        return "left-right" if self.field == 180 else "top-bottom"

    @property
    def render_width(self) -> int:
        """Width of the 360 equirect each eye is rendered at (VR180 keeps its middle half)."""
        return 2 * self.eye_size[0] if self.field == 180 else self.eye_size[0]

    @property
    def crop(self) -> Crop | None:
        """Where an eye lies in its sphere (None: all of it)."""
        s = self.eye_size[0]
        return Crop(2 * s, s, s, s, s // 2, 0) if self.field == 180 else None

    def compose(self, rendered: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The written frame from ``render_equirect``'s stacked eyes: as is for 360; for VR180
        each eye's middle half, side by side."""
        if self.field != 180:
            return rendered
        s = self.eye_size[0]
        n = rendered.shape[0] // s
        out = np.empty((s, n * s, 3), np.uint8) if out is None else out
        for k in range(n):
            out[:, k * s : (k + 1) * s] = rendered[k * s : (k + 1) * s, s // 2 : s // 2 + s]
        return out


def codec_level(codec: str, width: int, height: int, fps: float) -> str | None:
    """The lowest level of ``codec`` (h264/h265) that fits the frame size and rate; None if none."""
    if codec == "h264":
        mbs = math.ceil(width / 16) * math.ceil(height / 16)
        for name, max_mbps, max_fs in H264_LEVELS:
            side = math.sqrt(8 * max_fs)  # each dimension <= sqrt(8 MaxFS) macroblocks
            fits = mbs <= max_fs and max(width, height) / 16 <= side and mbs * fps <= max_mbps
            if fits:
                return name
        return None
    samples = width * height
    for name, max_sr, max_ps in H265_LEVELS:
        side = math.sqrt(8 * max_ps)
        if samples <= max_ps and max(width, height) <= side and samples * fps <= max_sr:
            return name
    return None


def _eye_size(spec: VR360Spec, preset: VR360Preset, where: str) -> tuple[int, int]:
    if spec.field == 180:
        return _square_eye(spec, preset, where)
    res = spec.resolution
    if res is None:
        width, height = preset.eye_width, preset.eye_width // 2
    elif isinstance(res, (int, np.integer)) and not isinstance(res, bool):
        width, height = int(res), int(res) // 2
        if width < 8 or width % 2:
            raise VR360Error(f"{where}: eye resolution must be an even width >= 8, got {res}")
    else:
        try:
            width, height = (int(v) for v in res)
        except (TypeError, ValueError):
            raise VR360Error(f"{where}: resolution must be a width or [width, height]") from None
    if width != 2 * height or width < 8:
        raise VR360Error(
            f"{where}: each eye must be a 2:1 equirectangular image (width = 2 x height), "
            f"got {width}x{height}"
        )
    return width, height


def _square_eye(spec: VR360Spec, preset: VR360Preset, where: str) -> tuple[int, int]:
    res = spec.resolution if spec.resolution is not None else preset.eye_width
    if isinstance(res, (int, np.integer)) and not isinstance(res, bool):
        res = (int(res), int(res))
    try:
        width, height = (int(v) for v in res)
    except (TypeError, ValueError):
        raise VR360Error(f"{where}: resolution must be a width or [width, height]") from None
    if width != height or width < 8 or width % 2:
        raise VR360Error(
            f"{where}: each VR180 eye is square (180 x 180 degrees) with an even side >= 8, "
            f"got {width}x{height}"
        )
    return width, height


def resolve_vr360(spec: VR360Spec) -> VR360Settings:
    """Check a :class:`VR360Spec` and fill in its defaults; :class:`VR360Error` if invalid."""
    path = Path(spec.path)
    if spec.field not in (180, 360):
        raise VR360Error(f"vr{spec.field} {path}: field must be 360 or 180")
    where = f"vr{spec.field} {path}"
    presets = PRESETS_180 if spec.field == 180 else PRESETS
    if spec.preset is not None and spec.preset not in presets:
        raise VR360Error(f"{where}: unknown preset {spec.preset!r} (valid: {', '.join(presets)})")
    default = _DEFAULT_180 if spec.field == 180 else _DEFAULT
    preset = presets[spec.preset] if spec.preset else default
    suffix = path.suffix.lower()
    if path.name.lower().endswith(".vr.jpg"):
        if not spec.stereo:
            raise VR360Error(f"{where}: a .vr.jpg is a stereo photo; set stereo: true or use .jpg")
        kind = "still"
    elif suffix in STILL_SUFFIXES:
        kind = "still"
    elif suffix in VIDEO_SUFFIXES:
        kind = "video"
    else:
        raise VR360Error(f"{where}: extension must be .png, .jpg (still) or .mp4 (video)")
    eye_w, eye_h = _eye_size(spec, preset, where)
    if not spec.stereo:
        frame = (eye_w, eye_h)
    else:
        frame = (2 * eye_w, eye_h) if spec.field == 180 else (eye_w, 2 * eye_h)
    taper = tuple(spec.taper)
    if len(taper) != 2 or not 0.0 <= taper[0] < taper[1] <= 90.0:
        raise VR360Error(f"{where}: taper must be [start, end] with 0 <= start < end <= 90")
    codec = spec.codec or preset.codec
    if codec not in CODECS:
        raise VR360Error(f"{where}: codec must be h264 or h265, got {codec!r}")
    fps = float(spec.fps if spec.fps is not None else preset.fps)
    if not math.isfinite(fps) or fps <= 0:
        raise VR360Error(f"{where}: fps must be > 0, got {spec.fps!r}")
    encoder_preset = spec.encoder_preset or preset.encoder_preset
    crf = spec.crf if spec.crf is not None else preset.crf
    common = dict(
        path=path, stereo=spec.stereo, eye_size=(eye_w, eye_h), frame_size=frame, fps=fps,
        codec=codec, crf=crf, bitrate=spec.bitrate, encoder_preset=encoder_preset,
        preset=spec.preset, field=spec.field,
    )  # fmt: skip
    if kind == "still":
        return VR360Settings(kind="still", level=None, **common)

    if frame[0] % 2 or frame[1] % 2:
        raise VR360Error(
            f"{where}: a {frame[0]}x{frame[1]} video frame must have even sides (4:2:0 "
            f"chroma); use an eye width that is a multiple of 4, e.g. {eye_w + 4 - eye_w % 4}"
        )
    if encoder_preset not in X264_PRESETS:
        raise VR360Error(
            f"{where}: encoder preset must be one of {', '.join(X264_PRESETS)}, got "
            f"{encoder_preset!r}"
        )
    if spec.bitrate is None and (crf is None or not 0 <= int(crf) <= 51):
        raise VR360Error(f"{where}: crf must be in [0, 51], got {crf!r}")
    if spec.bitrate is None and int(crf) == 0:
        # crf 0 is lossless, which x264/x265 encode only outside the profiles players expect
        # (High / Main): ffmpeg would fail after the first frames were rendered.
        raise VR360Error(
            f"{where}: crf 0 (lossless) is not encodable in the {codec.upper()} profile 360 "
            "players decode; use crf 1 or more"
        )
    label = f"{frame[0]}x{frame[1]}"
    if preset.limits and codec in preset.limits:
        max_side, max_pixels = preset.limits[codec]
        if max(frame) > max_side or frame[0] * frame[1] > max_pixels:
            square = math.isqrt(max_pixels)
            suggestion = preset.suggestion if codec == "h264" else "use a smaller resolution"
            raise VR360Error(
                f"{where}: {label} is more than the {preset.name} preset's players decode in "
                f"{codec.upper()} ({square}x{square} pixels, {max_side} a side); {suggestion}"
            )
    level = codec_level(codec, frame[0], frame[1], fps)
    if level is None:
        top = "6.2"
        hint = preset.suggestion or "use codec h265 or a smaller resolution"
        if codec == "h265":
            hint = "use a smaller resolution or frame rate"
        raise VR360Error(
            f"{where}: {label} at {fps:g} fps is beyond {codec.upper()} level {top}, the "
            f"highest there is; {hint}"
        )
    return VR360Settings(
        kind="video",
        level=level,
        ffmpeg_params=tuple(_ffmpeg_params(codec, level, fps, preset)),
        **common,
    )


def _ffmpeg_params(codec: str, level: str, fps: float, preset: VR360Preset) -> list[str]:
    params: list[str] = []
    if codec == "h264":
        x264 = []
        if float(level) > 5.2:
            x264.append("mvrange=511")  # Quest-class decoders: level-5.2 vertical MV range
        if preset.gop_seconds is not None:
            x264.append("open-gop=0")
        params += ["-profile:v", "high", "-level:v", level]
        if x264:
            params += ["-x264-params", ":".join(x264)]
    else:
        x265 = ["log-level=error"]  # replaces VideoWriter's -x265-params, so keep its setting
        if preset.gop_seconds is not None:
            x265.append("open-gop=0")
        params += ["-profile:v", "main", "-x265-params", ":".join(x265)]
    if preset.gop_seconds is not None:
        params += ["-g", str(max(1, round(fps * preset.gop_seconds)))]
    if preset.bframes is not None:
        params += ["-bf", str(preset.bframes)]
    return params


# --- rendering and writing ---------------------------------------------------------------------


def _pose_list(poses: Any, settings: VR360Settings, spec: VR360Spec) -> list[Pose | None]:
    """One entry per output frame (None = the sphere's centre)."""
    where = f"vr{settings.field} {settings.path}"
    if poses is not None and hasattr(poses, "poses") and callable(poses.poses):
        poses = poses.poses(settings.fps, spec.duration)  # a CameraPath, sampled at our fps
    if settings.kind == "still":
        return [poses[0] if poses else None]
    if poses:
        return list(poses)
    if spec.duration is None:
        raise VR360Error(f"{where}: a video from a fixed viewpoint needs a duration (seconds)")
    n = round(float(spec.duration) * settings.fps)
    if not math.isfinite(spec.duration) or n < 1:
        raise VR360Error(
            f"{where}: duration {spec.duration:g} s at {settings.fps:g} fps gives no frames"
        )
    return [None] * n


def _viewpoint(pose: Pose | None, spec: VR360Spec) -> tuple[tuple[float, float, float], float]:
    if pose is None:
        return (0.0, 0.0, 0.0), float(spec.yaw)
    yaw = float(spec.yaw) + (float(pose.yaw) if spec.follow_yaw else 0.0)
    return tuple(float(v) for v in pose.position), yaw


def prepare_mesh(mesh: Any, settings: VR360Settings, spec: VR360Spec, positions, ipd: float):
    """The mesh to render: adaptive (:func:`simplify_for_ods`) for a SphereMesh or LayeredMesh,
    any other mesh as it is."""
    from ..mesh.layers import LayeredMesh
    from ..mesh.sphere import SphereMesh

    if not spec.simplify or not isinstance(mesh, SphereMesh | LayeredMesh):
        return mesh
    with stage("simplify"):
        simple = simplify_for_ods(
            mesh,
            settings.render_width,
            ipd=ipd if settings.stereo else 0.0,
            positions=positions,
            taper=tuple(spec.taper),
            tolerance=spec.tolerance,
        )
    log.debug(
        "vr360: adaptive mesh %d triangles (dense %d); leaves per block size %s",
        simple.triangle_count,
        getattr(mesh, "triangle_count", None) or len(mesh.faces),
        simple.leaves,
    )
    return simple


def write_vr360(
    spec: VR360Spec,
    mesh: Any,
    poses: Sequence[Pose] | Any | None = None,
    *,
    ipd: float = DEFAULT_IPD,
    quiet: bool = False,
    ctx: Any = None,
) -> list[Path]:
    """Render and write one vr360 output; returns the written path(s).

    spec : what to write (:class:`VR360Spec`).
    mesh : a :class:`~depthfusion.mesh.SphereMesh` or
        :class:`~depthfusion.discontinuities.LayeredMesh` (simplified here for speed), or any
        object with ``vertices``, ``uvs``, ``faces``, ``texture`` (and optional ``alpha``).
    poses : None (the sphere's centre: a still, or a video of ``spec.duration`` seconds), a
        sequence of :class:`Pose` (one per video frame, at the resolved fps; a still uses the
        first), or an object with ``poses(fps, duration)`` such as a CameraPath (sampled at
        the resolved fps, so the frame count is ``round(duration * fps)``). Only positions
        are used (plus yaw with ``spec.follow_yaw``).
    ipd : eye separation in metres (the scene's ``stereo.ipd``; ODS has no convergence).
    ctx : a moderngl context (default: the shared headless one).
    """
    settings = resolve_vr360(spec)
    frames = _pose_list(poses, settings, spec)
    if not ipd >= 0.0:
        raise VR360Error(f"vr{settings.field} {settings.path}: ipd must be >= 0 metres, got {ipd}")
    views = [_viewpoint(p, spec) for p in frames]
    if ctx is None:
        from ..render.gl import get_context

        ctx = get_context()
    render_mesh = prepare_mesh(mesh, settings, spec, [v[0] for v in views], ipd)
    eyes = (-ipd / 2.0, ipd / 2.0) if settings.stereo else (0.0,)
    with stage("upload"):
        renderer = ODSRenderer.from_mesh(
            ctx, render_mesh, samples=spec.samples, taper=tuple(spec.taper),
            linear_light=spec.linear_light,
        )  # fmt: skip
    try:
        if settings.kind == "still":
            position, yaw = views[0]
            with stage("render"):
                rendered = renderer.render_equirect(settings.render_width, eyes, position, yaw)
            image = settings.compose(rendered)
            if settings.path.name.lower().endswith(".vr.jpg"):
                left, right = (
                    np.split(image, 2, axis=1) if settings.field == 180 else np.split(image, 2)
                )
                write_vr_photo(settings.path, left, right, spec.quality, crop=settings.crop)
            else:
                write_equirect_still(
                    settings.path, image, stereo=settings.stereo, quality=spec.quality,
                    stereo_mode=settings.stereo_mode, crop=settings.crop,
                )  # fmt: skip
        else:
            _write_video(renderer, settings, views, eyes, quiet)
    finally:
        renderer.release()
    log.info(
        "vr%d -> %s (%s, %dx%d%s)",
        settings.field,
        settings.path,
        settings.stereo_mode,
        *settings.frame_size,
        f", {len(views)} frames" if settings.kind == "video" else "",
    )
    return [settings.path]


def _write_video(
    renderer: ODSRenderer,
    settings: VR360Settings,
    views: list[tuple[tuple[float, float, float], float]],
    eyes: tuple[float, ...],
    quiet: bool,
) -> None:
    width, height = settings.frame_size
    eye_w = settings.render_width
    with atomic_path(settings.path) as tagged:
        # The encoder's output (itself written atomically by VideoWriter) is a second
        # temporary file; inject_spherical copies it into `tagged` and verifies the copy.
        raw = tagged.with_name(tagged.name + ".raw.mp4")
        try:
            video = VideoWriter(
                raw,
                settings.fps,
                size=(width, height),
                crf=settings.crf,
                preset=settings.encoder_preset,
                bitrate=settings.bitrate,
                codec=CODECS[settings.codec],
                params=list(settings.ffmpeg_params),
                threaded=True,
            )
            frame = np.empty((height, width, 3), dtype=np.uint8)
            # VR180 renders each eye's whole sphere and keeps its middle half: one buffer.
            rendered = (
                frame
                if settings.field != 180
                else np.empty((len(eyes) * settings.eye_size[0], eye_w, 3), dtype=np.uint8)
            )
            last = None
            with video, progress(len(views), settings.path.name, quiet) as bar:
                for view in views:
                    if view != last:  # a held viewpoint is rendered once
                        with stage("render"):
                            full = renderer.render_equirect(
                                eye_w, eyes, view[0], view[1], out=rendered
                            )
                        if settings.field == 180:
                            settings.compose(full, out=frame)
                        last = view
                    with stage("encode"):
                        video.write(frame)
                    bar.update()
            inject_spherical(raw, tagged, settings.stereo_mode, crop=settings.crop)
        except OutputError as exc:  # name the output, not the encoder's temporary file
            raise type(exc)(str(exc).replace(str(raw), str(settings.path))) from None
        finally:
            raw.unlink(missing_ok=True)


def spec_from_mapping(data: dict[str, Any]) -> VR360Spec:
    """A :class:`VR360Spec` from a plain mapping such as a scene output's fields (``kind`` is
    ignored; other unknown keys are an error)."""
    values = {k: v for k, v in data.items() if k != "kind"}
    unknown = sorted(set(values) - set(VR360Spec.__dataclass_fields__))
    if unknown:
        raise VR360Error(f"vr360: unknown setting(s) {', '.join(unknown)}")
    if "path" not in values:
        raise VR360Error("vr360: missing path")
    values["path"] = Path(os.fspath(values["path"]))
    if values.get("taper") is not None:
        values["taper"] = tuple(values["taper"])
    return VR360Spec(**{k: v for k, v in values.items() if v is not None or k == "preset"})


# --- the output kind ---------------------------------------------------------------------------


def vr360_spec(scene, out, path_fps: float | None = None):
    """The scene's ``vr360`` output as a :class:`VR360Spec`
    (``path_fps``: the camera path's frame rate, when the caller has built the path)."""
    if out.fps is not None:
        fps = out.fps
    else:
        fps = path_fps if path_fps is not None else scene.camera.build_path()[1]
    return VR360Spec(
        path=Path(out.path),
        preset=out.preset,
        stereo=out.stereo,
        resolution=out.resolution,
        codec=out.codec,
        fps=fps,
        duration=out.duration,
        yaw=out.yaw,
        follow_yaw=out.follow_yaw,
        crf=out.crf,
        bitrate=out.bitrate,
        encoder_preset=out.encoder_preset,
        samples=out.samples,
        quality=out.quality,
        field=180 if out.kind == "vr180" else 360,
    )


def write_vr360_output(state: SceneState, out, index: int) -> list[Path]:
    path, path_fps, duration = state.scene.camera.build_path()
    spec = vr360_spec(state.scene, out, path_fps)
    fixed = Pose(position=tuple(out.position))
    if Path(out.path).suffix.lower() == ".mp4" and out.follow_path:
        poses = path.poses(spec.fps, out.duration or duration)
    elif Path(out.path).suffix.lower() == ".mp4":
        poses = [fixed] * max(1, round(out.duration * spec.fps))
    else:
        poses = [fixed]
    return write_vr360(spec, state.mesh, poses, ipd=state.scene.stereo.ipd, quiet=state.quiet)


#: The ``vr180`` kind: the same writer, ``field=180`` (see :func:`vr360_spec`).
write_vr180_output = write_vr360_output
