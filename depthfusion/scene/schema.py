"""Scene files: the typed, validated schema of ``scene.yaml`` (loading is :mod:`.loading`).

Every field carries a one-line docstring; ``depthfusion keys`` prints them, so the help and
the code cannot drift. The keys of DESIGN.md's scene contract are kept as they are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from ldm3d_core import limits

from ..conventions import DEFAULT_IPD
from ..mesh.discontinuities import (
    DEFAULT_FEATHER,
    DEFAULT_FILL,
    DEFAULT_REACH,
    DEFAULT_THICKNESS,
    DEFAULT_THRESHOLD,
)
from ..render.camera_path import CameraPath, Keyframe, preset_path

Vec3 = tuple[float, float, float]
Size = tuple[int, int]


class _Model(BaseModel):
    # Unknown keys are errors (a typo must not be silently ignored).
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=False)


def _check_fov(value: float | None) -> float | None:
    if value is not None and not 0.0 < value < 180.0:
        raise ValueError(f"field of view must be between 0 and 180 degrees, got {value}")
    return value


def _check_size(value: Size) -> Size:
    if value[0] <= 0 or value[1] <= 0:
        raise ValueError(f"size must be two positive integers [width, height], got {list(value)}")
    cap = limits.max_frame_pixels()
    if value[0] * value[1] > cap:
        raise ValueError(
            f"size {value[0]}x{value[1]} is above the limit of {cap / 1e6:.0f} M pixels a frame "
            "(raise it with DEPTHFUSION_MAX_FRAME_PIXELS)"
        )
    return value


def _check_suffix(path: Path, allowed: tuple[str, ...], what: str) -> Path:
    if path.suffix.lower() not in allowed:
        names = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
        raise ValueError(f"{what} path must end in {names}, got '{path.name}'")
    return path


_BITRATE = re.compile(r"\d+(\.\d+)?[kKmMgG]?")
#: x264's and x265's speed presets (both encoders use the same names).
ENCODER_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip
STILL_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")


def _check_bitrate(value: str | None) -> str | None:
    if value is not None and not _BITRATE.fullmatch(str(value)):
        raise ValueError(
            f"bitrate must be a number with an optional k, M or G (like '20M'), got {value!r}"
        )
    return value


def _check_encoder_preset(value: str | None) -> str | None:
    if value is not None and value not in ENCODER_PRESETS:
        raise ValueError(
            f"encoder preset must be one of {', '.join(ENCODER_PRESETS)}, got {value!r}"
        )
    return value


# --- source -----------------------------------------------------------------------------------


class ProceduralSource(_Model):
    preset: str = "room"
    """Built-in scene: room, courtyard, ... (`depthfusion presets` lists them)."""
    seed: int = 0
    """Random seed for colours and object placement."""
    width: int = Field(2048, ge=16)
    """Panorama width in pixels (height = width / 2)."""
    supersample: int = Field(2, ge=1, le=8)
    """Rays per pixel along each axis for anti-aliased colour (depth is exact at pixel centres)."""

    @field_validator("width")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"width must be even, got {v}")
        limits.check_pixels(v, v // 2, f"a {v}-wide panorama")
        return v


class PanoramaSource(_Model):
    image: Path
    """Equirectangular RGB image (PNG, JPEG or EXR), 2:1."""
    depth: Path | Literal["estimate"] | None = None
    """Depth file, or `estimate` for monocular depth (DPT)."""
    depth_units: Literal["disparity", "meters"] = "disparity"
    """disparity: normalised, 1.0 nearest; meters: metric distance (.npy/.exr, or PNG with depth_scale)."""
    depth_scale: float | None = Field(None, gt=0)
    """Metres per unit of a 16-bit PNG holding metric depth (e.g. 0.001 for millimetres)."""
    max_invalid_fraction: float = Field(0.01, ge=0, le=1)
    """Largest fraction of invalid depth pixels (NaN, inf, <= 0 m) filled from neighbours."""


class Img2Img(_Model):
    prompt: str
    """Prompt guiding the LDM3D img2img transform of the panorama (paper Fig. 2a)."""
    strength: float = Field(0.6, ge=0, le=1)
    """How far to move from the input (0 keeps it, 1 ignores it)."""


class Generation(_Model):
    seed: int = 0
    """Random seed of the diffusion sampler."""
    steps: int = Field(50, ge=1, le=1000)
    """Denoising steps (at most 1000, the training schedule's length)."""
    guidance: float = Field(5.0, ge=0)
    """Classifier-free guidance scale (the paper finds about 5 best)."""
    scheduler: Literal["ddim", "dpm++", "dpm", "euler"] = "ddim"
    """Sampler: ddim (as in the paper), dpm++ (alias dpm) or euler (fewer steps)."""
    negative_prompt: str = ""
    """What the image should not contain."""
    width: int | None = Field(None, ge=64)
    """Generated panorama width, a multiple of 16 (height = width / 2); default: the model's native size (1024 for Intel/ldm3d-pano, 256 for the embedded model)."""

    @field_validator("width")
    @classmethod
    def _latent_multiple(cls, v: int | None) -> int | None:
        if v is not None:
            if v % 16:
                raise ValueError(
                    f"width must be a multiple of 16 (the height, width / 2, a multiple of 8 "
                    f"for the latents), got {v}; e.g. {v + (-v) % 16}"
                )
            limits.check_pixels(v, v // 2, f"a {v}-wide panorama")
        return v


class Upscale(_Model):
    model: str | None = None
    """Super-resolution model (LDM3D-VR): hub id (from the local cache) or a local folder; default Intel/ldm3d-sr."""
    scale: float = Field(4.0, ge=1, le=16)
    """Target size = scale x the source's panorama (width rounded to a multiple of 16)."""
    width: int | None = Field(None, ge=64)
    """Target panorama width instead of scale, a multiple of 16 (height = width / 2)."""
    prompt: str | None = None
    """What the panorama shows, guiding the added detail; default: the source's prompt (or img2img's), else none."""
    negative_prompt: str = ""
    """What the detail should not contain."""
    steps: int = Field(50, ge=1, le=1000)
    """Denoising steps."""
    guidance: float = Field(9.0, ge=0)
    """Classifier-free guidance scale (9, the reference's default)."""
    noise_level: int = Field(20, ge=0, le=350)
    """Noise level of the low-res conditioning given to the model (0..350)."""
    seed: int | None = None
    """Random seed; default: source.generation.seed."""
    scheduler: Literal["ddim", "dpm++", "dpm", "euler"] = "ddim"
    """Sampler."""
    tile: int = Field(1024, ge=64)
    """Largest side in pixels computed in one piece; larger targets run in overlapping tiles (a multiple of 8)."""

    @field_validator("width")
    @classmethod
    def _width_multiple(cls, v: int | None) -> int | None:
        if v is not None:
            if v % 16:
                raise ValueError(f"width must be a multiple of 16, got {v}; e.g. {v + (-v) % 16}")
            limits.check_pixels(v, v // 2, f"a {v}-wide panorama")
        return v

    @field_validator("tile")
    @classmethod
    def _tile_multiple(cls, v: int) -> int:
        if v % 8:
            raise ValueError(f"tile must be a multiple of 8, got {v}")
        return v


class Source(_Model):
    procedural: ProceduralSource | None = None
    """Built-in procedural scene with exact depth."""
    prompt: str | None = None
    """Text prompt for LDM3D text-to-RGBD panorama generation."""
    panorama: PanoramaSource | None = None
    """An existing panorama with a depth file or `depth: estimate`."""
    img2img: Img2Img | None = None
    """With panorama: transform it with LDM3D img2img guided by a prompt."""
    model: str | None = None
    """LDM3D model: hub id (from the local cache), a local diffusers folder, or `embedded` (the small model shipped in assets/, trained on procedural scenes); default Intel/ldm3d-pano."""
    depth_model: str | None = None
    """Depth estimator for `depth: estimate` (hub id or folder); default Intel/dpt-large."""
    generation: Generation = Field(default_factory=Generation)
    """Sampler settings for prompt and img2img."""
    upscale: Upscale | None = None
    """Super-resolution of the RGBD panorama after any source (LDM3D-VR, RGB and depth together, seamless at ±180°)."""
    device: str = "auto"
    """Torch device for the models: auto, cpu, cuda or mps."""
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    """Model precision."""

    @field_validator("panorama", mode="before")
    @classmethod
    def _panorama_shorthand(cls, v: Any) -> Any:
        return {"image": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        given = [k for k in ("procedural", "prompt", "panorama") if getattr(self, k) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of procedural, prompt or panorama (found: {found})")
        if self.img2img is not None and self.panorama is None:
            raise ValueError("img2img needs a panorama source")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("procedural", "prompt", "panorama") if getattr(self, k) is not None)


# --- sphere -----------------------------------------------------------------------------------


class Displacement(_Model):
    mode: Literal["linear", "metric"] = "linear"
    """linear: r = R(1 + strength(1 - 2d)) as in the paper; metric: each vertex at its true distance."""
    strength: float = Field(0.5, ge=0, lt=1)
    """Linear mode: d = 1 lands at (1 - strength) R, d = 0 at (1 + strength) R."""
    near: float | None = Field(None, gt=0)
    """Metric mode on disparity depth: distance (m) of d = 1."""
    far: float | None = Field(None, gt=0)
    """Metric mode on disparity depth: distance (m) of d = 0."""

    @model_validator(mode="after")
    def _near_far(self) -> Displacement:
        if (self.near is None) != (self.far is None):
            raise ValueError("give both near and far, or neither")
        if self.near is not None and self.far is not None and self.near >= self.far:
            raise ValueError(f"near ({self.near}) must be less than far ({self.far})")
        return self


class Discontinuities(_Model):
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0)
    """Disparity jump between neighbouring pixels that counts as a depth edge."""
    fill: Literal["none", "stretch", "inpaint"] = DEFAULT_FILL
    """At depth edges: inpaint (cut + inpainted background layer), stretch (one continuous mesh), none (cut, holes)."""
    thickness: float = Field(DEFAULT_THICKNESS, ge=0)
    """inpaint: depth in metres of the skirt that extends cut silhouettes backward (0 = none)."""
    reach: float = Field(DEFAULT_REACH, ge=0)
    """inpaint: the largest head move in metres whose disocclusions the background layer covers."""
    feather: float = Field(DEFAULT_FEATHER, ge=0, le=1)
    """inpaint: soft silhouettes in [0, 1] (alpha at the skirt's back edge is 1 - feather)."""


class Sphere(_Model):
    radius: float = Field(5.0, gt=0)
    """Neutral radius in metres (where d = 0.5 sits in linear mode)."""
    displacement: Displacement = Field(default_factory=Displacement)
    """How depth moves the vertices."""
    resolution: int = Field(2048, ge=8)
    """Mesh columns (rows = half); capped at the panorama's width."""
    discontinuities: Discontinuities = Field(default_factory=Discontinuities)
    """Handling of depth edges."""

    @field_validator("resolution")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"resolution must be even, got {v}")
        cap = limits.max_mesh_columns()
        if v > cap:
            raise ValueError(
                f"resolution {v} is above the limit of {cap} columns "
                "(raise it with DEPTHFUSION_MAX_MESH_COLUMNS)"
            )
        return v


# --- camera and stereo ------------------------------------------------------------------------


class PoseSpec(_Model):
    position: Vec3 = (0.0, 0.0, 0.0)
    """Camera position in metres (+X right, +Y up, -Z forward)."""
    yaw: float = 0.0
    """Degrees; positive turns right."""
    pitch: float = 0.0
    """Degrees; positive looks up."""
    roll: float = 0.0
    """Degrees; positive tilts the right side down."""


class KeyframeSpec(PoseSpec):
    t: float = Field(ge=0)
    """Time in seconds."""
    fov: float | None = None
    """Horizontal field of view in degrees at this keyframe (default: the output's)."""

    _fov = field_validator("fov")(classmethod(lambda cls, v: _check_fov(v)))


class PathSpec(_Model):
    preset: str = "swing"
    """orbit (alias circle), swing, dolly, zoom or look-around."""
    duration: float = Field(8.0, gt=0)
    """Seconds."""
    fps: float = Field(30.0, gt=0)
    """Frames per second."""
    easing: Literal["linear", "ease-in-out", "ease-in", "ease-out"] | None = None
    """Time re-mapping over the whole path (default: the preset's own)."""
    position: Vec3 | None = None
    """Where the path starts or centres (metres; default the sphere's centre)."""
    yaw: float | None = None
    """Heading in degrees (where the camera looks)."""
    pitch: float | None = None
    """Pitch in degrees."""
    roll: float | None = None
    """Roll in degrees."""
    fov: float | None = None
    """Horizontal field of view in degrees (default: each output's)."""
    radius: float | None = Field(None, ge=0)
    """orbit: circle radius in metres (default 0.3)."""
    cycles: float | None = None
    """orbit, swing: number of full periods (default 1)."""
    target: Vec3 | None = None
    """orbit: a point to keep looking at (default: look along yaw)."""
    amplitude: float | None = Field(None, ge=0)
    """swing: sideways sway in metres (default 0.2)."""
    yaw_amplitude: float | None = None
    """swing: counter-yaw in degrees (default 5)."""
    distance: float | None = None
    """dolly: metres forward (default 0.5)."""
    back: bool | None = None
    """dolly: return to the start (default true)."""
    fov_start: float | None = None
    """zoom: field of view at the start (degrees, default 90)."""
    fov_end: float | None = None
    """zoom: field of view at the end (degrees, default 60)."""
    turns: float | None = None
    """look-around: number of 360° turns (default 1)."""

    _fovs = field_validator("fov", "fov_start", "fov_end")(
        classmethod(lambda cls, v: _check_fov(v))
    )

    def preset_params(self) -> dict[str, Any]:
        """The preset's own parameters that the scene sets (None = the preset's default)."""
        skip = {"preset", "duration", "fps"}
        return {k: v for k, v in self.model_dump().items() if k not in skip and v is not None}


class Camera(_Model):
    path: PathSpec | None = None
    """A preset camera path."""
    keyframes: list[KeyframeSpec] | None = None
    """Explicit keyframes (instead of a preset path)."""
    fps: float = Field(30.0, gt=0)
    """Frames per second for keyframed paths."""
    duration: float | None = Field(None, gt=0)
    """Keyframed paths: seconds (default: the last keyframe's time)."""
    near: float = Field(0.05, gt=0)
    """Near clipping distance in metres."""
    far: float = Field(1000.0, gt=0)
    """Far clipping distance in metres."""

    @model_validator(mode="after")
    def _path_or_keyframes(self) -> Camera:
        if self.path is not None and self.keyframes is not None:
            raise ValueError("give either path or keyframes, not both")
        if self.keyframes is not None and not self.keyframes:
            raise ValueError("keyframes must not be empty")
        if self.path is None and self.keyframes is None:
            self.path = PathSpec()
        if self.near >= self.far:
            raise ValueError(f"near ({self.near}) must be less than far ({self.far})")
        return self

    def build_path(self) -> tuple[CameraPath, float, float]:
        """The camera path, its frame rate and its duration in seconds (SceneError if invalid)."""
        if self.keyframes is not None:
            keys = [
                Keyframe(k.t, tuple(k.position), k.yaw, k.pitch, k.roll, k.fov)
                for k in self.keyframes
            ]
            path = CameraPath(keys, duration=self.duration, where="camera.keyframes")
            return path, self.fps, self.duration or keys[-1].t
        spec = self.path
        assert spec is not None  # _path_or_keyframes fills in the default
        path = preset_path(spec.preset, spec.duration, where="camera.path", **spec.preset_params())
        return path, spec.fps, spec.duration


class Stereo(_Model):
    ipd: float = Field(DEFAULT_IPD, ge=0)
    """Interpupillary distance in metres."""
    convergence: float = Field(3.0, gt=0)
    """Distance in metres with zero parallax (the screen plane)."""


# --- outputs ----------------------------------------------------------------------------------

Layout = Literal["sbs", "sbs-half", "tb", "anaglyph", "mono", "left-right-files"]


class _OutputBase(_Model):
    path: Path
    """Where to write (relative to -o/--output-dir, else to the scene file's folder)."""


class _ViewOutput(_OutputBase):
    size: Size = (1920, 1080)
    """Frame size in pixels [width, height] (per eye for sbs and tb)."""
    fov: float = 90.0
    """Horizontal field of view in degrees."""
    layout: Layout = "sbs"
    """sbs, sbs-half, tb, anaglyph, mono or left-right-files."""
    samples: int | None = Field(None, ge=0, le=16)
    """MSAA samples (0 = off); default 4 on GPUs and for stills, 0 for videos on software GL."""
    anisotropy: float | None = Field(None, ge=1, le=16)
    """Anisotropic filtering (1 = trilinear); default 16 on GPUs and for stills, else 1."""

    _fov = field_validator("fov")(classmethod(lambda cls, v: _check_fov(v)))
    _size = field_validator("size")(classmethod(lambda cls, v: _check_size(v)))


class MeshOutput(_OutputBase):
    kind: Literal["mesh"]
    """Export the displaced sphere: .glb (textured), .ply (vertex colours) or .obj (+ .mtl, texture)."""

    _ext = field_validator("path")(
        classmethod(lambda cls, v: _check_suffix(v, (".glb", ".ply", ".obj"), "mesh"))
    )


class RGBDOutput(_OutputBase):
    kind: Literal["rgbd"]
    """Write the RGBD panorama: RGB to path, 16-bit depth to <stem>_depth.png, preview to <stem>_depth_preview.png."""

    _ext = field_validator("path")(
        classmethod(lambda cls, v: _check_suffix(v, (*STILL_SUFFIXES, ".exr"), "rgbd"))
    )


class StillOutput(_ViewOutput):
    kind: Literal["still"]
    """One image from a pose."""
    layout: Layout = "mono"
    """sbs, sbs-half, tb, anaglyph, mono or left-right-files."""
    pose: PoseSpec = Field(default_factory=PoseSpec)
    """The camera pose."""

    _ext = field_validator("path")(
        classmethod(lambda cls, v: _check_suffix(v, STILL_SUFFIXES, "still"))
    )


class VideoOutput(_ViewOutput):
    kind: Literal["video"]
    """An MP4 (H.264) along the camera path."""
    crf: int | None = Field(18, ge=0, le=51)
    """x264 constant rate factor (lower = better); ignored when bitrate is given."""
    bitrate: str | None = None
    """Target bitrate like '20M' instead of crf."""
    preset: str = "medium"
    """x264 speed preset (ultrafast ... veryslow)."""

    _ext = field_validator("path")(
        classmethod(lambda cls, v: _check_suffix(v, VIDEO_SUFFIXES, "video"))
    )
    _bitrate = field_validator("bitrate")(classmethod(lambda cls, v: _check_bitrate(v)))
    _preset = field_validator("preset")(classmethod(lambda cls, v: _check_encoder_preset(v)))


class FramesOutput(_ViewOutput):
    kind: Literal["frames"]
    """A PNG sequence along the camera path, in the folder `path` (or files named by a pattern like shots/f_%05d.png)."""

    @field_validator("path")
    @classmethod
    def _folder_or_pattern(cls, v: Path) -> Path:
        patterns = re.findall(r"%0?\d*d", v.name)
        if patterns:
            if len(patterns) != 1 or "%" in re.sub(r"%0?\d*d", "", v.name):
                raise ValueError(f"a frame pattern needs exactly one %d or %05d, got '{v.name}'")
            return _check_suffix(v, STILL_SUFFIXES, "frame pattern")
        if v.suffix.lower() in (*STILL_SUFFIXES, *VIDEO_SUFFIXES):
            raise ValueError(
                f"frames path '{v.name}' names a file; give a folder, or a pattern like "
                f"'{v.stem}_%05d{v.suffix if v.suffix.lower() in STILL_SUFFIXES else '.png'}'"
            )
        return v


def with_layout_hint(path: Path, hint: str) -> Path:
    """``name.mp4`` -> ``name_<hint>.mp4``: unchanged when the stem already ends with the
    hint, and ``name_360`` -> ``name_360_TB`` rather than ``name_360_360_TB``."""
    stem = path.stem
    if stem.upper().endswith(f"_{hint}"):
        return path
    first = hint.split("_")[0]
    if stem.upper().endswith(f"_{first}"):
        stem = stem[: -len(first) - 1]
    return path.with_name(f"{stem}_{hint}{path.suffix}")


class _SphericalOutput(_OutputBase):
    """What vr360 and vr180 share."""

    stereo: bool = True
    """Omnidirectional stereo (vr360: top-bottom, left eye on top; vr180: side by side), or mono."""
    resolution: int | tuple[int, int] | None = None
    """Width of each eye's image (vr360: height = width / 2, or [width, height] at 2:1; vr180: square)."""
    codec: Literal["h264", "h265"] | None = None
    """Video codec (default: the preset's, else h264)."""
    follow_path: bool = True
    """Video: the viewpoint moves along the camera path (positions); false: fixed for `duration`."""
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Fixed viewpoint in metres (stills, and videos with follow_path: false); default the centre."""
    duration: float | None = Field(None, gt=0)
    """Video seconds (default: the camera path's; required with follow_path: false)."""
    fps: float | None = Field(None, gt=0)
    """Video frames per second (default: the camera's)."""
    yaw: float = 0.0
    """Heading in degrees of the frame's centre column (the view a player starts in)."""
    follow_yaw: bool = False
    """The frame turns with the path's yaw (default: world-aligned, steadier in a headset)."""
    crf: int | None = Field(None, ge=0, le=51)
    """x264/x265 quality (lower = better; default: the preset's)."""
    bitrate: str | None = None
    """Target bitrate like '40M' instead of crf."""
    encoder_preset: str | None = None
    """x264/x265 speed preset (default: the preset's)."""
    samples: int = Field(0, ge=0, le=16)
    """MSAA samples (0 = off; the output is already supersampled by the texture's mipmaps)."""
    quality: int = Field(95, ge=1, le=100)
    """JPEG quality of a still."""
    filename_hint: bool = False
    """Add the layout that players such as DeoVR and Skybox read from file names to the path (vr360: `_360_TB` / `_360`; vr180: `_180_LR` / `_180`)."""

    _ext = field_validator("path")(
        classmethod(lambda cls, v: _check_suffix(v, (*STILL_SUFFIXES, ".mp4"), "vr360 / vr180"))
    )
    _bitrate = field_validator("bitrate")(classmethod(lambda cls, v: _check_bitrate(v)))
    _preset = field_validator("encoder_preset")(
        classmethod(lambda cls, v: _check_encoder_preset(v))
    )

    @model_validator(mode="after")
    def _hinted_name(self) -> _SphericalOutput:
        if self.filename_hint and not self.path.name.lower().endswith(".vr.jpg"):
            field = "180" if self.kind == "vr180" else "360"
            layout = ("_LR" if field == "180" else "_TB") if self.stereo else ""
            self.path = with_layout_hint(self.path, field + layout)
        return self


class VR360Output(_SphericalOutput):
    kind: Literal["vr360"]
    """360° equirectangular output (top-bottom ODS stereo or mono): .png/.jpg still, .vr.jpg stereo photo, or .mp4 video."""
    preset: Literal["quest", "quest-h265", "youtube", "preview"] | None = None
    """Resolution/codec presets for headsets and platforms (explicit keys below win)."""


class VR180Output(_SphericalOutput):
    kind: Literal["vr180"]
    """VR180: side-by-side stereo, each eye a square half-equirect (180° x 180° around the heading): .png/.jpg still, .vr.jpg stereo photo, or .mp4 video."""
    preset: Literal["quest", "quest-h265", "youtube", "preview"] | None = None
    """Presets: quest (2048 eyes, H.264), quest-h265 (2880, H.265), youtube (2880, H.264), preview (1024)."""


class WebXROutput(_OutputBase):
    kind: Literal["webxr"]
    """A folder with a self-contained viewer (index.html, three.js, the layered mesh as scene.glb, scene.json): desktop, phone, and headsets with 6-DoF head motion (WebXR); no network needed."""
    start: PoseSpec | None = None
    """Where the viewer starts; default: the camera path's first pose."""
    fov: float = 90.0
    """Horizontal field of view (degrees) on a desktop or phone."""
    comfort_radius: float = Field(0.5, gt=0)
    """Metres of head motion from the start before the scene fades out (in a headset)."""
    max_triangles: int = Field(500_000, ge=1000)
    """Triangle budget of the mesh (simplified where depth is smooth, as the 360 renderer does)."""
    texture_width: int = Field(4096, ge=256, le=16384)
    """Largest texture width; wider layers are downscaled."""

    _fov = field_validator("fov")(classmethod(lambda cls, v: _check_fov(v)))


Output = Annotated[
    MeshOutput
    | RGBDOutput
    | StillOutput
    | VideoOutput
    | FramesOutput
    | VR360Output
    | VR180Output
    | WebXROutput,
    Field(discriminator="kind"),
]


class Scene(_Model):
    source: Source
    """Where the RGBD panorama comes from."""
    sphere: Sphere = Field(default_factory=Sphere)
    """The displaced sphere mesh."""
    camera: Camera = Field(default_factory=Camera)
    """Camera path for videos."""
    stereo: Stereo = Field(default_factory=Stereo)
    """Stereo settings."""
    outputs: list[Output] = Field(min_length=1)
    """What to write."""

    # Set by load_scene: the scene file (an input no output may replace) and the folder
    # outputs must stay in (-o, else the scene file's folder). None for scenes built in code.
    _origin: Path | None = PrivateAttr(None)
    _output_root: Path | None = PrivateAttr(None)
    _label: str | None = PrivateAttr(None)

    @property
    def label(self) -> str | None:
        """The scene file as the user named it (error messages start with it)."""
        return self._label

    @property
    def origin(self) -> Path | None:
        return self._origin

    @property
    def output_root(self) -> Path | None:
        return self._output_root
