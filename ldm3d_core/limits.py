"""Documented upper bounds on the work one command may ask for, checked before any work.

Each bound has a default that fits a 24 GiB workstation and an environment variable that
raises (or lowers) it. They are never scene-file keys: a scene file from a stranger must not
lift them.

==========================  ==================================  ==============================
bound                       default                             environment variable
==========================  ==================================  ==============================
pixels of one panorama      16384 x 8192 (134 M)                DEPTHFUSION_MAX_PIXELS
(an input image, a
procedural or generated
or upscaled panorama)
frames of one video or      108 000 (an hour at 30 fps)         DEPTHFUSION_MAX_FRAMES
frame sequence
pixels of one output frame  8192 x 8192 (67 M)                  DEPTHFUSION_MAX_FRAME_PIXELS
(both eyes composed)
mesh columns                8192                                DEPTHFUSION_MAX_MESH_COLUMNS
(``sphere.resolution``)
==========================  ==================================  ==============================

:func:`image_size` reads an image's size from its header without decoding it, so a small
file that claims 40000 x 20000 pixels (a decompression bomb) is refused in milliseconds.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

__all__ = [
    "check_pixels",
    "image_size",
    "max_frame_pixels",
    "max_frames",
    "max_mesh_columns",
    "max_pixels",
]

DEFAULT_MAX_PIXELS = 16384 * 8192
DEFAULT_MAX_FRAMES = 108_000
DEFAULT_MAX_FRAME_PIXELS = 8192 * 8192
DEFAULT_MAX_MESH_COLUMNS = 8192


class LimitError(ValueError):
    """A one-line message: a request above a documented bound, or an unreadable header."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise LimitError(f"environment variable {name}={raw!r}: expected a number") from None
    if value < 1:
        raise LimitError(f"environment variable {name}={raw!r}: must be at least 1")
    return value


def max_pixels() -> int:
    return _env_int("DEPTHFUSION_MAX_PIXELS", DEFAULT_MAX_PIXELS)


def max_frames() -> int:
    return _env_int("DEPTHFUSION_MAX_FRAMES", DEFAULT_MAX_FRAMES)


def max_frame_pixels() -> int:
    return _env_int("DEPTHFUSION_MAX_FRAME_PIXELS", DEFAULT_MAX_FRAME_PIXELS)


def max_mesh_columns() -> int:
    return _env_int("DEPTHFUSION_MAX_MESH_COLUMNS", DEFAULT_MAX_MESH_COLUMNS)


def check_pixels(width: int, height: int, where: str) -> None:
    """LimitError when a ``width`` x ``height`` panorama is above :func:`max_pixels`."""
    cap = max_pixels()
    if int(width) * int(height) > cap:
        raise LimitError(
            f"{where}: {width}x{height} is {int(width) * int(height) / 1e6:.0f} M pixels, "
            f"above the limit of {cap / 1e6:.0f} M (raise it with DEPTHFUSION_MAX_PIXELS)"
        )


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from the file's header, without decoding the pixels; None for a
    format this does not know or a header that cannot be read (the caller's reader then
    reports the problem)."""
    p = Path(path)
    ext = p.suffix.lower()
    try:
        if ext == ".npy":
            import numpy as np

            with open(p, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape = read(f)[0]  # the header only
            if len(shape) < 2:
                return None
            return int(shape[1]), int(shape[0])
        if ext == ".exr":
            import OpenEXR

            header = OpenEXR.File(str(p), header_only=True).header()
            (x0, y0), (x1, y1) = header["dataWindow"]
            return int(x1 - x0 + 1), int(y1 - y0 + 1)
        with open(p, "rb") as f:
            head = f.read(32)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        from PIL import Image

        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our cap applies, not PIL's
        try:
            with Image.open(p) as im:  # lazy: reads the header only
                return im.size
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        return None  # not an image PIL knows: the format's own reader reports it
    except Exception:  # a malformed header: the format's own reader reports it in full
        return None
