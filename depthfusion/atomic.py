"""Atomic output: write to a temporary name beside the target, rename into place when complete.

An interrupted render therefore never leaves a truncated file under the final name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def ensure_writable_dir(path: Path) -> None:
    """Create ``path``'s parent folder if needed; OutputError when it cannot be written."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{path}: cannot create output folder {parent} ({exc.strerror})"
        ) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: output folder {parent} is not writable")


@contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path (file, or folder when ``directory``) that becomes ``path`` on success.

    The temporary name keeps the suffix so that writers choosing a format by extension work.
    On any exception the temporary file is removed and an existing ``path`` is left untouched.
    """
    final = Path(path)
    ensure_writable_dir(final)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    else:
        fd, name = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=final.parent
        )
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            if final.exists():
                shutil.rmtree(final) if final.is_dir() else final.unlink()
            os.replace(tmp, final)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
