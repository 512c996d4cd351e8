"""Atomic, non-destructive output: ``ldm3d_core.files`` with depthfusion's error type.

Every file is written to a temporary name beside the target and renamed into place when
complete (sets of files together), so an interrupted render never leaves a truncated file
under the final name; a target may be replaced only when this project wrote it and it is
unchanged since, or when the user passed ``--overwrite`` (the rules and the per-folder
manifest are described in ``ldm3d_core/files.py``). Every problem is a one-line OutputError.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ldm3d_core import files

from .errors import DepthFusionError, OutputError

MANIFEST = files.MANIFEST
allow_overwrite = files.allow_overwrite
is_owned = files.is_owned


def ensure_writable_dir(path: str | os.PathLike) -> None:
    """Create ``path``'s parent folder if needed; OutputError when it cannot be written."""
    try:
        files.ensure_parent(Path(path))
    except files.FileSafetyError as exc:
        raise OutputError(str(exc)) from None


def check_replaceable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """OutputError unless ``path`` may be written (absent, the project's own, or allowed)."""
    try:
        files.check_replaceable(Path(path), folder=folder)
    except files.FileSafetyError as exc:
        raise OutputError(str(exc)) from None


@contextmanager
def atomic_paths(
    paths: Sequence[str | os.PathLike], *, directories: Sequence[bool] | None = None
) -> Iterator[list[Path]]:
    """Temporary paths that become ``paths`` together when the block succeeds."""
    temps: list[Path] = []
    try:
        with files.atomic_paths(paths, directories=directories) as temps:
            yield temps
    except files.FileSafetyError as exc:
        raise OutputError(str(exc)) from None
    except DepthFusionError as exc:
        # A writer's message names the temporary file it was given; the user knows the target.
        message = str(exc)
        for tmp, final in zip(temps, paths, strict=False):
            message = message.replace(str(tmp), str(final))
        if message == str(exc):
            raise
        raise type(exc)(message) from None


@contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path (file, or folder when ``directory``) that becomes ``path`` on
    success; on any exception the temporary is removed and ``path`` is left untouched."""
    with atomic_paths([path], directories=[directory]) as (tmp,):
        yield tmp
