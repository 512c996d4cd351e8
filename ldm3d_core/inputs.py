"""Checks on the files ``ldm3d`` commands read, made before anything is decoded.

- :func:`input_file`: an existing regular file (``ldm3d_core.files.regular_file``): a FIFO
  or a device (``/dev/zero``) would block or stream forever, so it is refused in one line.
- :func:`open_image`: an image opened lazily (PIL reads the header only), refused when it
  claims more pixels than ``ldm3d_core.limits.max_pixels()`` (16384 x 8192 by default,
  ``DEPTHFUSION_MAX_PIXELS`` to change it) before a pixel is decoded: a small file that
  claims 40000 x 20000 pixels (a decompression bomb) costs milliseconds, not gigabytes.
- :func:`npy_shape`: the shape of a ``.npy`` file from its header, with the same cap.

Every refusal is an :class:`InputError`, a ValueError whose message is one line naming
the file, so the commands' existing ``except (OSError, ValueError)`` report it (and
``ldm3d build-dataset`` and the training dataset skip such an item with the reason).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["InputError", "input_file", "npy_shape", "open_image"]


class InputError(ValueError):
    """An input file that is not read: not a regular file, or above the pixel limit."""


def input_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` when it is an existing regular file, else a one-line error: FileNotFoundError
    when nothing is there (callers that say "not found" keep working), InputError for a
    folder, FIFO, device or socket."""
    from .files import FileSafetyError, regular_file

    try:
        return regular_file(path, what)
    except FileSafetyError as exc:
        if not os.path.lexists(path) or (
            os.path.islink(path) and not os.path.exists(path)  # a dangling link
        ):
            raise FileNotFoundError(str(exc)) from None
        raise InputError(str(exc)) from None


def check_pixels(width: int, height: int, path: str | os.PathLike) -> None:
    """InputError when ``width`` x ``height`` is above the pixel limit (names ``path``)."""
    from .limits import LimitError
    from .limits import check_pixels as _check

    try:
        _check(width, height, str(path))
    except LimitError as exc:
        raise InputError(str(exc)) from None


@contextmanager
def open_image(path: str | os.PathLike, what: str = "file") -> Iterator[Any]:
    """``PIL.Image.open`` of a checked input: a regular file whose header claims at most the
    pixel limit. Nothing is decoded until the caller asks for the pixels.

    PIL's own decompression-bomb guard (which raises above 179 M pixels, a number nobody
    sets) is replaced by the project's documented limit for the header read.
    """
    from PIL import Image

    p = input_file(path, what)
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        im = Image.open(p)  # lazy: reads the header only
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    with im:
        check_pixels(*im.size, p)
        yield im


def npy_shape(path: str | os.PathLike, what: str = "file") -> tuple[int, ...]:
    """The shape a ``.npy`` file declares, read from its header (nothing is loaded); an
    (H, W, ...) array above the pixel limit is an InputError."""
    import numpy as np

    fmt = np.lib.format
    p = input_file(path, what)
    try:
        with open(p, "rb") as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                header = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                header = fmt.read_array_header_2_0(f)
            else:  # (3, 0): UTF-8 field names; no public reader
                header = fmt._read_array_header(f, version)
        shape = tuple(int(n) for n in header[0])
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise InputError(f"{p}: not a readable .npy file ({exc})") from None
    if len(shape) >= 2:
        check_pixels(shape[1], shape[0], p)
    return shape
