"""Reading and writing RGBD panoramas: colour images, depth maps in every supported encoding.

Everything read here ends up in the project's in-memory conventions (see DESIGN.md,
"Conventions"): colour is (H, W, 3) uint8 RGB, depth is (H, W) float32 normalised disparity
in [0, 1] with 1.0 nearest. Each on-disk encoding is converted by one explicit mapping.

Colour (:func:`read_rgb`)
    PNG / JPEG, 8- or 16-bit, grayscale, RGB or RGBA: alpha is dropped, grayscale is
    replicated, 16-bit becomes 8-bit as ``rint(v / 257)`` (65535 -> 255, exact for v = 257 k).
    EXR: linear float, encoded with the sRGB transfer function, clipped to [0, 1] and rounded
    to ``rint(255 c)``. No tone mapping: values above 1.0 clip to white.

Depth in ``units="disparity"`` (:func:`read_depth`)
    ======================================  ==============================================
    16-bit grayscale PNG                    v / 65535
    8-bit grayscale PNG / JPEG              v / 255
    3-channel uint8 with first channel 0    LDM3D packed: (hi * 256 + lo) / 65535
    3-channel with equal channels           one channel, as grayscale above
    4-channel PNG (RGB + D, 4-channel       4th channel / 255 (8-bit) or / 65535 (16-bit);
    LDM3D models)                           a gray + alpha PNG uses its gray channel instead
    float .npy                              as is; must lie in [0, 1]
    EXR                                     channel Z, else Y, else R, else the first;
                                            must lie in [0, 1]
    ======================================  ==============================================

Depth in ``units="meters"``
    Distances in metres: float/int .npy or EXR (same channel rule) times ``depth_scale``
    (default 1), or a 16-bit grayscale PNG times ``depth_scale`` (required). The valid
    distances give ``near = min``, ``far = max`` (``far = 2 near`` for a constant scene, as
    :meth:`RGBDPanorama.from_metres`), and disparity = :func:`conventions.metres_to_disparity`.
    ``RGBDPanorama(rgb, depth, (near, far)).distance()`` then recovers the distances.

Invalid depth (NaN, +-inf and, in metres, values <= 0: sensor holes)
    Up to ``max_invalid_fraction`` of the pixels are filled with the value of the nearest
    valid pixel, measured on the panorama's cylinder (the left and right edges are
    neighbours across the +-180 degree seam), with one warning on the ``depthfusion``
    logger. More than that is an :class:`InputError`.

Writers go through :func:`depthfusion.atomic.atomic_path`, so a failed write never leaves a
partial file under the final name. Every user-facing failure is a one-line
:class:`InputError` (reading) or :class:`OutputError` (writing) that starts with the path.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np
import OpenEXR

from ldm3d_core import files, limits
from ldm3d_core.codec import (
    DEPTH16_MAX,
    float_to_depth16,
    is_packed_depth,
    pack_depth16,
    unpack_depth16,
)

from ..atomic import atomic_path
from ..conventions import linear_to_srgb, metres_to_disparity, srgb_to_linear
from ..errors import InputError, OutputError, SceneError
from .panorama import RGBDPanorama, metric_range_of

__all__ = [
    "DEPTH_UNITS",
    "load_rgbd",
    "read_depth",
    "read_rgb",
    "save_rgbd",
    "write_depth16",
    "write_depth_preview",
    "write_packed_depth",
    "write_rgb",
]

logger = logging.getLogger("depthfusion")

PathLike = str | os.PathLike

#: Accepted values of ``units`` (the scene key ``depth_units``); "metres" is an alias.
DEPTH_UNITS = ("disparity", "meters")
_UNIT_ALIASES = {"disparity": "disparity", "meters": "meters", "metres": "meters"}

_CV_IMAGE_EXTS = (".png", ".jpg", ".jpeg")
_RGB_EXTS = (*_CV_IMAGE_EXTS, ".exr")
_DEPTH_EXTS = (*_CV_IMAGE_EXTS, ".npy", ".exr")
# Preferred EXR depth channels: Z is the standard depth channel, Y a luminance-only image.
_EXR_DEPTH_CHANNELS = ("Z", "Y", "R")
# Float disparity a hair outside [0, 1] is rounding noise, not a different convention.
_RANGE_TOLERANCE = 1e-6
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GRAY_ALPHA = 4


# --- small helpers -----------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (cv2/OpenEXR messages can span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _exts(exts: tuple[str, ...]) -> str:
    return ", ".join(exts[:-1]) + " or " + exts[-1]


def _existing_file(path: PathLike) -> Path:
    """An existing regular file (no FIFO or device) whose header claims no more pixels than
    the documented limit (``ldm3d_core.limits``): checked before any decoding, so a
    decompression bomb costs a header read."""
    p = Path(path)
    try:
        files.regular_file(p)
        size = limits.image_size(p)
        if size is not None:
            limits.check_pixels(*size, str(p))
    except (files.FileSafetyError, limits.LimitError) as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read file ({exc.strerror})") from None
    return p


def _read_bytes(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read file ({exc.strerror or _one_line(exc)})") from None


def _png_color_type(data: bytes) -> int | None:
    """The IHDR colour type of PNG data (4 = gray + alpha), or None for other formats."""
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 25:
        return data[25]
    return None


def _decode_image(p: Path, data: bytes, flags: int) -> np.ndarray:
    """cv2-decode image bytes; InputError instead of None or a raw cv2.error."""
    # imdecode on bytes (rather than imread on the path) also handles non-ASCII paths.
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags) if data else None
    except cv2.error as exc:
        raise InputError(f"{p}: cannot read image ({_one_line(exc)})") from None
    if img is None:
        raise InputError(f"{p}: cannot read image (not a valid or complete PNG/JPEG file)")
    return img


def _read_exr_channels(p: Path) -> dict[str, np.ndarray]:
    """All channels of an EXR file's first part, each a 2-D array, by name."""
    try:
        exr = OpenEXR.File(str(p), separate_channels=True)
        channels = {name: np.asarray(ch.pixels) for name, ch in exr.channels().items()}
    except Exception as exc:  # OpenEXR raises RuntimeError and friends for bad files
        raise InputError(f"{p}: cannot read image (EXR: {_one_line(exc)})") from None
    channels = {k: v for k, v in channels.items() if v is not None and v.ndim == 2 and v.size}
    if not channels:
        raise InputError(f"{p}: cannot read image (EXR file has no image channels)")
    return channels


def _bgr_to_rgb(img: np.ndarray) -> np.ndarray:
    """cv2 stores colour as BGR(A); flip the first three channels."""
    return img[..., 2::-1] if img.shape[2] >= 3 else img


# --- colour ------------------------------------------------------------------------------------


def read_rgb(path: PathLike) -> np.ndarray:
    """Read a colour image as (H, W, 3) uint8 RGB (see the module docstring for the mapping).

    PNG/JPEG: 8- or 16-bit, gray, gray + alpha, RGB or RGBA (alpha dropped, 16-bit rounded to
    8-bit). JPEG EXIF orientation is applied. EXR: linear float -> sRGB, clipped, rounded.
    """
    p = _existing_file(path)
    ext = p.suffix.lower()
    if ext not in _RGB_EXTS:
        raise InputError(
            f"{p}: unsupported file type {p.suffix!r} for a colour image "
            f"(expected {_exts(_RGB_EXTS)})"
        )
    if ext == ".exr":
        return _read_exr_rgb(p)
    data = _read_bytes(p)
    # JPEG is always 8-bit without alpha; IMREAD_COLOR also applies EXIF orientation and
    # converts CMYK/gray JPEGs. PNG keeps its bit depth and channels with IMREAD_UNCHANGED.
    is_png = data[:8] == _PNG_SIGNATURE
    img = _decode_image(p, data, cv2.IMREAD_UNCHANGED if is_png else cv2.IMREAD_COLOR)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] not in (1, 3, 4):
        raise InputError(f"{p}: expected 1, 3 or 4 colour channels, got {img.shape[2]}")
    img = _bgr_to_rgb(img)[..., :3]  # drop alpha: the panorama is opaque
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.dtype == np.uint16:
        # 65535 / 257 = 255 exactly, so full scale maps to full scale.
        img = np.rint(img.astype(np.float32) / np.float32(257.0))
    elif img.dtype != np.uint8:
        raise InputError(f"{p}: unsupported sample type {img.dtype} (expected 8- or 16-bit)")
    return np.ascontiguousarray(img, dtype=np.uint8)


def _read_exr_rgb(p: Path) -> np.ndarray:
    channels = _read_exr_channels(p)
    if all(c in channels for c in "RGB"):
        linear = np.stack([channels[c] for c in "RGB"], axis=-1)
    else:
        # A luminance-only (Y) or single-channel EXR is shown as gray.
        name = "Y" if "Y" in channels else sorted(channels)[0]
        linear = np.repeat(channels[name][..., None], 3, axis=2)
    srgb = linear_to_srgb(linear.astype(np.float64))
    return np.rint(srgb * 255.0).astype(np.uint8)


def _encode(p: Path, img: np.ndarray, params: list[int] | None = None) -> bytes:
    ext = p.suffix.lower()
    try:
        ok, buf = cv2.imencode(ext, img, params or [])
    except cv2.error as exc:
        raise OutputError(f"{p}: cannot encode image ({_one_line(exc)})") from None
    if not ok:
        raise OutputError(f"{p}: cannot encode image as {ext}")
    return buf.tobytes()


def _write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    p = Path(path)
    try:
        with atomic_path(p) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{p}: cannot write file ({exc.strerror or _one_line(exc)})") from None


def _check_ext(p: Path, allowed: tuple[str, ...], what: str) -> str:
    ext = p.suffix.lower()
    if ext not in allowed:
        raise OutputError(
            f"{p}: unsupported file type {p.suffix!r} for {what} (expected {_exts(allowed)})"
        )
    return ext


def write_rgb(path: PathLike, rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB as PNG, JPEG (quality 95) or EXR (linear float, sRGB-decoded).

    EXR is the exact inverse of :func:`read_rgb`'s mapping: reading it back gives ``rgb``.
    """
    p = Path(path)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"write_rgb expects (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    ext = _check_ext(p, _RGB_EXTS, "a colour image")
    if ext == ".exr":
        linear = srgb_to_linear(rgb.astype(np.float64) / 255.0).astype(np.float32)
        _write_exr(p, {"RGB": np.ascontiguousarray(linear)})
        return
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else None
    _write_bytes(p, _encode(p, np.ascontiguousarray(rgb[..., ::-1]), params))


def _write_exr(p: Path, channels: dict[str, np.ndarray]) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    try:
        with atomic_path(p) as tmp:
            OpenEXR.File(header, channels).write(str(tmp))
    except OutputError:
        raise
    except Exception as exc:  # OSError or OpenEXR's RuntimeError
        raise OutputError(f"{p}: cannot write EXR ({_one_line(exc)})") from None


# --- depth -------------------------------------------------------------------------------------


def _normalise_units(units: str, p: Path) -> str:
    key = str(units).strip().lower()
    if key not in _UNIT_ALIASES:
        raise SceneError(f"{p}: unknown depth_units {units!r} (expected 'disparity' or 'meters')")
    return _UNIT_ALIASES[key]


def _check_options(
    p: Path, units: str, depth_scale: float | None, max_invalid_fraction: float
) -> None:
    if not (0.0 <= float(max_invalid_fraction) <= 1.0):
        raise SceneError(
            f"{p}: max_invalid_fraction must lie in [0, 1], got {max_invalid_fraction}"
        )
    if depth_scale is None:
        return
    if units != "meters":
        raise SceneError(f"{p}: depth_scale applies only to depth_units: meters")
    if not (math.isfinite(float(depth_scale)) and float(depth_scale) > 0.0):
        raise SceneError(
            f"{p}: depth_scale must be a positive number of metres per unit, got {depth_scale}"
        )


def _pick_exr_depth(p: Path, channels: dict[str, np.ndarray]) -> np.ndarray:
    for name in _EXR_DEPTH_CHANNELS:
        if name in channels:
            return channels[name]
    return channels[sorted(channels)[0]]


def _load_npy(p: Path) -> np.ndarray:
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{p}: cannot read .npy array ({_one_line(exc)})") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{p}: expected a single array in the .npy file")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise InputError(f"{p}: expected a 2-D depth array (H, W), got shape {arr.shape}")
    return arr


def _image_disparity(p: Path, data: bytes, img: np.ndarray) -> np.ndarray:
    """Decoded depth image -> float64 disparity in [0, 1] by the module's mapping table."""
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{p}: unsupported depth sample type {img.dtype} (8- or 16-bit)")
    scale = 255.0 if img.dtype == np.uint8 else float(DEPTH16_MAX)
    if img.ndim == 2:
        return img / scale
    channels = img.shape[2]
    if channels == 4:
        if _png_color_type(data) == _PNG_GRAY_ALPHA:
            return img[..., 0] / scale  # gray + alpha: the gray channel is the depth
        return img[..., 3] / scale  # RGB + D from the 4-channel LDM3D models
    if channels == 3:
        rgb = _bgr_to_rgb(img)
        # Packed is checked first: an all-zero image reads as 0 either way.
        if is_packed_depth(rgb):
            return unpack_depth16(rgb) / float(DEPTH16_MAX)
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return rgb[..., 0] / scale
        raise InputError(
            f"{p}: 3-channel depth image is neither LDM3D packed depth (first channel 0) "
            "nor grayscale (equal channels)"
        )
    raise InputError(f"{p}: expected a 1, 3 or 4-channel depth image, got {channels} channels")


def _read_raw_depth(p: Path, units: str) -> tuple[np.ndarray, bool]:
    """File -> (float64 values, already_normalised): disparity in [0, 1] or raw metric units."""
    ext = p.suffix.lower()
    if ext not in _DEPTH_EXTS:
        raise InputError(
            f"{p}: unsupported file type {p.suffix!r} for depth (expected {_exts(_DEPTH_EXTS)})"
        )
    if ext == ".npy":
        arr = _load_npy(p)
        if units == "disparity" and not np.issubdtype(arr.dtype, np.floating):
            raise InputError(
                f"{p}: disparity .npy must be floating point in [0, 1], got {arr.dtype}"
            )
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise InputError(f"{p}: unsupported depth array type {arr.dtype}")
        return arr.astype(np.float64), False
    if ext == ".exr":
        return _pick_exr_depth(p, _read_exr_channels(p)).astype(np.float64), False
    data = _read_bytes(p)
    img = _decode_image(p, data, cv2.IMREAD_UNCHANGED)
    if units == "meters":
        if ext != ".png" or img.dtype != np.uint16:
            bits = 8 * img.dtype.itemsize
            raise InputError(
                f"{p}: metric depth in an image must be a 16-bit grayscale PNG "
                f"(got {bits}-bit {ext}); use .npy/.exr or depth_units: disparity"
            )
        if img.ndim == 3:
            if img.shape[2] == 3 and (img == img[..., :1]).all():
                img = img[..., 0]
            else:
                raise InputError(
                    f"{p}: metric depth PNG must be grayscale, got {img.shape[2]} channels"
                )
        return img.astype(np.float64), False
    return _image_disparity(p, data, img), True


def _wrap_pad(a: np.ndarray, pad: int) -> np.ndarray:
    """Pad columns with the opposite edge's columns: the panorama wraps at +-180 degrees."""
    return np.concatenate([a[:, -pad:], a, a[:, :pad]], axis=1)


def _fill_nearest_wrapped(values: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """Replace invalid pixels by the nearest valid pixel's value, distance measured on the
    cylinder (left and right edges adjacent). ``values`` must have at least one valid pixel.

    Nearest-value fill (not a smooth inpaint) never blends foreground and background depth
    into floating in-between surfaces, and commutes with the metres -> disparity mapping.
    """
    w = values.shape[1]
    # Every invalid pixel has a valid one within its flat-image distance, so wrapped padding
    # that wide (with a margin for cv2's approximate metric; at most half the width, which
    # covers the whole cylinder) contains each pixel's nearest valid neighbour.
    flat = cv2.distanceTransform(invalid.astype(np.uint8), cv2.DIST_L2, 5)
    pad = int(min(max(1, w // 2), math.ceil(1.1 * float(flat.max())) + 2))
    padded_invalid = _wrap_pad(invalid, pad)
    padded_values = _wrap_pad(values, pad)
    src = padded_invalid.astype(np.uint8)  # 0 = a valid source pixel
    _, labels = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    # Map each valid pixel's label to its value; robust to however cv2 numbers the labels.
    valid_pos = src == 0
    lut = np.zeros(int(labels.max()) + 1, dtype=values.dtype)
    lut[labels[valid_pos]] = padded_values[valid_pos]
    filled = lut[labels][:, pad : pad + w]
    return np.where(invalid, filled, values)


def read_depth(
    path: PathLike,
    units: str = "disparity",
    depth_scale: float | None = None,
    max_invalid_fraction: float = 0.01,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Read a depth map as (H, W) float32 normalised disparity in [0, 1], 1.0 nearest.

    units: "disparity" (normalised disparity, any encoding in the module docstring's table)
        or "meters" (distances; .npy, .exr, or 16-bit PNG with ``depth_scale``).
    depth_scale: metres per stored unit for ``units="meters"``; required for PNG, default 1
        for .npy/.exr. Not allowed with disparity.
    max_invalid_fraction: the largest fraction of invalid pixels (NaN, inf, and <= 0 in
        metres) that is filled from the nearest valid pixel (wrap-aware), with one warning;
        more is an InputError.

    Returns (depth, metric_range): metric_range is (near, far) in metres for
    ``units="meters"``, else None.
    """
    p = Path(path)
    units = _normalise_units(units, p)
    _check_options(p, units, depth_scale, max_invalid_fraction)
    p = _existing_file(p)
    values, normalised = _read_raw_depth(p, units)
    if values.size == 0:
        raise InputError(f"{p}: depth map is empty")
    if units == "meters":
        if depth_scale is None and p.suffix.lower() == ".png":
            raise InputError(
                f"{p}: a 16-bit PNG in metres needs depth_scale (metres per unit, "
                "e.g. 0.001 for millimetres)"
            )
        values = values * (1.0 if depth_scale is None else float(depth_scale))

    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(values)
        if units == "meters":
            invalid |= values <= 0.0  # 0 is the usual "no return" value of depth sensors
    n_invalid = int(np.count_nonzero(invalid))
    total = values.size
    if n_invalid == total:
        raise InputError(f"{p}: depth map has no valid values (all NaN, inf or <= 0)")
    if n_invalid > max_invalid_fraction * total:
        raise InputError(
            f"{p}: {n_invalid} of {total} depth pixels ({100.0 * n_invalid / total:.2f}%) are "
            f"invalid (NaN, inf{' or <= 0' if units == 'meters' else ''}), more than the limit "
            f"of {100.0 * max_invalid_fraction:.2f}% (max_invalid_fraction)"
        )

    if units == "disparity" and not normalised:
        finite = values[~invalid]
        lo, hi = float(finite.min()), float(finite.max())
        if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
            raise InputError(
                f"{p}: disparity values must lie in [0, 1], found {lo:.6g} to {hi:.6g} "
                "(metric depth? use depth_units: meters)"
            )

    metric_range: tuple[float, float] | None = None
    if units == "meters":
        metric_range = metric_range_of(values[~invalid])
        # Invalid pixels get a placeholder; they are filled below from valid neighbours.
        disparity = metres_to_disparity(np.where(invalid, 1.0, values), *metric_range)
    else:
        disparity = np.clip(np.where(invalid, 0.0, values), 0.0, 1.0).astype(np.float32)

    if n_invalid:
        disparity = _fill_nearest_wrapped(disparity, invalid)
        logger.warning(
            "%s: filled %d invalid depth pixels (%.2f%% of %d) from their nearest valid neighbours",
            p,
            n_invalid,
            100.0 * n_invalid / total,
            total,
        )
    return np.ascontiguousarray(disparity, dtype=np.float32), metric_range


def _resize_wrapped(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resample (h, w) depth to (height, width), wrap-aware across the +-180 degree seam.

    Bilinear when enlarging, area-averaging when shrinking (bilinear alone would alias).
    The columns are padded with wrapped copies by ``ps`` source columns, where ``ps`` maps
    to a whole number of target columns so the crop lines up exactly with the unpadded
    resampling grid; rows are clamped (there is no wrap across the poles).
    """
    h, w = depth.shape
    step = w // math.gcd(w, width)  # the smallest source pad with an integer target pad
    ps = min(w, step * max(1, math.ceil((math.ceil(w / width) + 2) / step)))
    pt = ps * width // w
    padded = _wrap_pad(depth.astype(np.float32), ps)
    shrinking = width < w or height < h
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(padded, (width + 2 * pt, height), interpolation=interp)
    return np.clip(out[:, pt : pt + width], 0.0, 1.0)


def load_rgbd(
    rgb_path: PathLike,
    depth_path: PathLike,
    units: str = "disparity",
    depth_scale: float | None = None,
    max_invalid_fraction: float = 0.01,
) -> RGBDPanorama:
    """Load a colour panorama and its depth map as an :class:`RGBDPanorama`.

    Size rule: the colour image must be 2:1 (equirectangular). A depth map of a different
    size that is also 2:1 is resampled to the colour size (wrap-aware at the seam: bilinear
    when enlarging, area average when shrinking) in normalised disparity, with an info log
    line; metric depth keeps its (near, far), so distances follow the resampled disparity
    through the same mapping. A depth map that is not 2:1 is an InputError naming both sizes.
    The same 4-channel RGBD PNG may be passed as both paths (colour from RGB, depth from D).
    Depth options are those of :func:`read_depth`.
    """
    rgb = read_rgb(rgb_path)
    h, w = rgb.shape[:2]
    if w != 2 * h:
        raise InputError(f"{rgb_path}: panorama must be 2:1 (equirectangular), got {w}x{h}")
    depth, metric_range = read_depth(depth_path, units, depth_scale, max_invalid_fraction)
    dh, dw = depth.shape
    if (dh, dw) != (h, w):
        if dw != 2 * dh:
            raise InputError(
                f"{depth_path}: depth size {dw}x{dh} is not 2:1 and differs from the colour "
                f"size {w}x{h} of {rgb_path}"
            )
        logger.info(
            "%s: resampling depth from %dx%d to the colour size %dx%d", depth_path, dw, dh, w, h
        )
        depth = _resize_wrapped(depth, w, h)
    return RGBDPanorama(rgb, depth, metric_range, name=str(rgb_path))


# --- depth writers -----------------------------------------------------------------------------


def _as_depth16(depth: np.ndarray) -> np.ndarray:
    """Float depth in [0, 1] -> uint16 (codec rounding); uint16 input passes through exactly."""
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {d.shape}")
    if d.dtype == np.uint16:
        return d
    if not np.isfinite(d).all():
        raise ValueError("depth contains NaN or inf values")
    return float_to_depth16(d)


def write_depth16(path: PathLike, depth: np.ndarray) -> None:
    """Write depth in [0, 1] (float, or uint16 as is) as a 16-bit grayscale PNG, 65535 nearest.

    Lossless for 16-bit values: :func:`read_depth` returns ``depth16 / 65535`` exactly.
    """
    p = Path(path)
    _check_ext(p, (".png",), "16-bit depth")
    _write_bytes(p, _encode(p, np.ascontiguousarray(_as_depth16(depth))))


def write_packed_depth(path: PathLike, depth: np.ndarray) -> None:
    """Write depth as LDM3D's packed RGB-like PNG: channels (0, hi, lo), value = hi*256 + lo."""
    p = Path(path)
    _check_ext(p, (".png",), "packed depth")
    packed = pack_depth16(_as_depth16(depth))
    _write_bytes(p, _encode(p, np.ascontiguousarray(packed[..., ::-1])))


def write_depth_preview(path: PathLike, depth: np.ndarray) -> None:
    """Write a colour-mapped view of depth (Turbo: near = 1.0 red/warm, far = 0.0 blue).

    For looking at, not for reading back: 8-bit and colour-mapped.
    """
    p = Path(path)
    ext = _check_ext(p, _CV_IMAGE_EXTS, "a depth preview")
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {d.shape}")
    u8 = np.rint(np.clip(np.nan_to_num(d, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)
    bgr = cv2.applyColorMap(u8, cv2.COLORMAP_TURBO)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else None
    _write_bytes(p, _encode(p, bgr, params))


def save_rgbd(
    rgbd: RGBDPanorama,
    rgb_path: PathLike,
    depth_path: PathLike,
    preview_path: PathLike | None = None,
    *,
    where: PathLike | None = None,
) -> None:
    """Write an RGBD panorama: colour via :func:`write_rgb`, depth by ``depth_path``'s type,
    and optionally a colour-mapped depth preview (:func:`write_depth_preview`).

    ``where`` names the depth file in messages (when the paths are temporaries).

    - ``.png``: 16-bit normalised disparity (:func:`write_depth16`); a metric range is not
      stored, so read it back with ``units="disparity"``.
    - ``.npy`` / ``.exr`` (channel Z): float32 distances in metres for a metric panorama (read
      back with ``units="meters"``: the distances and (near, far) are recovered), else
      float32 disparity (read back with ``units="disparity"``).
    """
    dp = Path(depth_path)
    ext = _check_ext(dp, (".png", ".npy", ".exr"), "RGBD depth")
    if preview_path is not None:
        _check_ext(Path(preview_path), _CV_IMAGE_EXTS, "a depth preview")
    write_rgb(rgb_path, rgbd.rgb)
    if preview_path is not None:
        write_depth_preview(preview_path, rgbd.depth)
    if ext == ".png":
        if rgbd.is_metric:
            logger.info(
                "%s: writing normalised disparity; the metric range is not stored", where or dp
            )
        write_depth16(dp, rgbd.depth)
        return
    values = rgbd.distance() if rgbd.is_metric else rgbd.depth
    values = np.ascontiguousarray(values, dtype=np.float32)
    if ext == ".exr":
        _write_exr(dp, {"Z": values})
        return
    try:
        with atomic_path(dp) as tmp, open(tmp, "wb") as fh:
            np.save(fh, values, allow_pickle=False)
    except OSError as exc:
        raise OutputError(f"{dp}: cannot write file ({exc.strerror or _one_line(exc)})") from None
