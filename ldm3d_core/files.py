"""File safety shared by ``ldm3d`` and ``depthfusion`` (``ldm3d_core`` never imports
``depthfusion``, so the rules live here and both packages import them).

Inputs
    :func:`regular_file` accepts only an existing regular file (a FIFO or a device would block
    or stream forever); :func:`load_yaml` is YAML's safe loader that also refuses duplicate
    keys (a second ``sphere:`` must not silently replace the first).

Outputs: nothing is destroyed that this project did not write
    Every file is written under a temporary name beside its target (``.NAME.PID.RAND.partial``
    plus the target's suffix, so writers that pick a format by extension work) and renamed
    into place only when complete; a set of files (an RGBD triple, an OBJ with its material
    and texture) is renamed together after all of them are complete (:func:`atomic_paths`).
    Each folder this project writes into gets a small manifest, :data:`MANIFEST`, naming the
    files and folders it wrote there with their size and modification time. A target that
    already exists may be replaced only when the manifest lists it and it is unchanged since
    (:func:`is_owned`), or when the user said ``--overwrite`` on the command line (files only:
    a folder is replaced only when every entry in it is the project's). Anything else is an
    :class:`OwnershipError` before any work (callers plan their files up front) and again,
    as a last guard, at the rename.

    Temporary files of a run that was killed are removed by the next run that writes the same
    target (their process id names them, so a running job's files are left alone).
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MANIFEST",
    "FileSafetyError",
    "OwnershipError",
    "allow_overwrite",
    "atomic_path",
    "atomic_paths",
    "check_replaceable",
    "is_owned",
    "load_yaml",
    "overwrite_allowed",
    "record_written",
    "regular_file",
]

#: The per-folder record of what this project wrote there.
MANIFEST = ".depthfusion-outputs.json"
_MANIFEST_VERSION = 1


class FileSafetyError(Exception):
    """A one-line, user-facing problem with an input or output path (callers wrap it in their
    own error type, e.g. ``depthfusion``'s OutputError, so the CLIs print it as one line)."""


class OwnershipError(FileSafetyError):
    """A target path holds something this project did not write."""


# --- inputs ------------------------------------------------------------------------------------


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a Path when it is an existing regular file (symlinks followed), else a
    one-line FileSafetyError: not found, a folder, or a FIFO/device/socket."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise FileSafetyError(f"{p}: {what} not found") from None
    except OSError as exc:
        raise FileSafetyError(f"{p}: cannot read {what} ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise FileSafetyError(f"{p}: is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode))
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise FileSafetyError(f"{p}: is {kind}, not a regular {what}")
    return p


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)  # merge keys (<<) first: an override there is not a duplicate
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # SafeLoader reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that raises ``yaml.YAMLError`` on duplicate keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


# --- ownership ---------------------------------------------------------------------------------

_overwrite: contextvars.ContextVar[bool] = contextvars.ContextVar("overwrite", default=False)


@contextmanager
def allow_overwrite(enabled: bool = True) -> Iterator[None]:
    """Within the block, existing *files* the project did not write may be replaced (the
    CLIs' ``--overwrite``). Folders stay protected."""
    token = _overwrite.set(bool(enabled))
    try:
        yield
    finally:
        _overwrite.reset(token)


def overwrite_allowed() -> bool:
    return _overwrite.get()


def _read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = data.get("entries", {}) if isinstance(data, dict) else {}
        return {k: v for k, v in entries.items() if isinstance(v, dict)}
    except (OSError, ValueError):
        return {}


def _signature(path: Path) -> dict[str, Any] | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return {"kind": "folder"}
    if stat.S_ISREG(st.st_mode):
        return {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"kind": "other"}


def record_written(folder: Path, names: Sequence[str]) -> None:
    """Add ``names`` (now in ``folder``) to the folder's manifest, atomically."""
    entries = _read_manifest(folder)
    for name in names:
        sig = _signature(folder / name)
        if sig is not None and sig["kind"] != "other":
            entries[name] = sig
    entries = {k: v for k, v in entries.items() if (folder / k).exists() or k == MANIFEST}
    text = json.dumps({"version": _MANIFEST_VERSION, "entries": entries}, indent=1) + "\n"
    tmp = folder / f".{MANIFEST}.{os.getpid()}.{secrets.token_hex(4)}.partial"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / MANIFEST)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def is_owned(path: str | os.PathLike) -> bool:
    """True when ``path`` was written by this project and is unchanged since.

    A file: listed in its folder's manifest with the same size and modification time. A
    folder: listed in its parent's manifest, and every entry inside it is its own manifest or
    a file its manifest lists, unchanged (a folder the user added a file to is theirs now).
    """
    p = Path(path)
    sig = _signature(p)
    if sig is None:
        return False
    entry = _read_manifest(p.parent).get(p.name)
    if entry is None or entry.get("kind") != sig["kind"]:
        return False
    if sig["kind"] == "file":
        return entry.get("size") == sig["size"] and entry.get("mtime_ns") == sig["mtime_ns"]
    if sig["kind"] != "folder":
        return False
    inner = _read_manifest(p)
    for child in p.iterdir():
        if child.name == MANIFEST:
            continue
        csig = _signature(child)
        rec = inner.get(child.name)
        if csig is None or csig["kind"] != "file" or rec != csig:
            return False
    return True


def check_replaceable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """OwnershipError unless ``path`` is absent, the project's own, empty (a folder), or a
    file the user allowed to be overwritten."""
    p = Path(path)
    sig = _signature(p)
    if sig is None:
        return
    if sig["kind"] == "other" and not p.is_symlink():
        raise OwnershipError(f"{p}: exists and is not a regular file or folder; not replaced")
    if p.is_symlink():
        raise OwnershipError(
            f"{p}: is a symbolic link; not replaced (remove it or pick another name)"
        )
    if folder:
        if sig["kind"] != "folder":
            raise OwnershipError(f"{p}: a file is there, where this output writes a folder")
        if is_owned(p) or not any(p.iterdir()):
            return
        raise OwnershipError(
            f"{p}: the folder exists and holds files depthfusion did not write there; "
            "not replaced (move it away or pick another path)"
        )
    if sig["kind"] == "folder":
        raise OwnershipError(f"{p}: is a folder, where this output writes a file")
    if is_owned(p) or overwrite_allowed():
        return
    raise OwnershipError(
        f"{p}: exists and was not written by depthfusion (or was changed since); not replaced "
        "(remove it, pick another path, or pass --overwrite)"
    )


# --- atomic writing ----------------------------------------------------------------------------

_PARTIAL = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.partial")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_partials(final: Path) -> list[Path]:
    """Delete temporary files of ``final`` left by killed runs (their process is gone)."""
    removed: list[Path] = []
    try:
        candidates = list(final.parent.glob(f".{glob.escape(final.name)}.*.partial*"))
    except OSError:
        return removed
    for cand in candidates:
        m = _PARTIAL.match(cand.name)
        if not m or m.group("name") != final.name or _pid_alive(int(m.group("pid"))):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(cand) if cand.is_dir() and not cand.is_symlink() else cand.unlink()
            removed.append(cand)
    return removed


def temporary_name(final: Path, directory: bool = False) -> Path:
    """A fresh temporary sibling of ``final`` (same suffix for files)."""
    tag = f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.partial"
    return final.parent / (tag if directory else f"{tag}{final.suffix}")


def _error_text(final: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{final}: cannot write ({reason})"


def ensure_parent(final: Path) -> None:
    """Create ``final``'s folder; FileSafetyError (one line) when that is impossible."""
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FileSafetyError(f"{final}: {parent} is a file, not a folder") from None
    except OSError as exc:
        raise FileSafetyError(
            f"{final}: cannot create output folder {parent} ({exc.strerror})"
        ) from None
    if not parent.is_dir():
        raise FileSafetyError(f"{final}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FileSafetyError(f"{final}: output folder {parent} is not writable")


@contextmanager
def atomic_paths(
    finals: Sequence[str | os.PathLike], *, directories: Sequence[bool] | None = None
) -> Iterator[list[Path]]:
    """Temporary paths for ``finals``, renamed into place together when the block succeeds.

    Each target must be replaceable (:func:`check_replaceable`) when the block starts and
    again at the rename; folders are staged whole. On any exception every temporary is
    removed and the targets are left as they were. OSErrors (disk full, permissions) become
    one-line FileSafetyErrors naming the target.
    """
    paths = [Path(p) for p in finals]
    dirs = list(directories) if directories is not None else [False] * len(paths)
    temps: list[Path] = []
    try:
        for final, is_dir in zip(paths, dirs, strict=True):
            ensure_parent(final)
            check_replaceable(final, folder=is_dir)
            remove_stale_partials(final)
            tmp = temporary_name(final, is_dir)
            if is_dir:  # a file's temporary is created by its writer (some refuse to open one)
                try:
                    tmp.mkdir()
                except OSError as exc:
                    raise FileSafetyError(_error_text(final, exc)) from None
            temps.append(tmp)
        try:
            yield list(temps)
        except OSError as exc:  # disk full, read-only, a folder in the way, ...
            raise FileSafetyError(_error_text(paths[0], exc)) from None
        _publish(paths, dirs, temps)
        temps = []
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()


def _publish(paths: list[Path], dirs: list[bool], temps: list[Path]) -> None:
    for final, is_dir in zip(paths, dirs, strict=True):
        check_replaceable(final, folder=is_dir)  # nothing new appeared while we worked
    old_dirs: list[Path] = []
    try:
        for final, is_dir, tmp in zip(paths, dirs, temps, strict=True):
            if is_dir:
                record_written(tmp, [c.name for c in tmp.iterdir() if c.name != MANIFEST])
                if final.exists():
                    aside = temporary_name(final, directory=True)
                    os.replace(final, aside)
                    old_dirs.append(aside)
            elif not tmp.is_file():
                raise FileSafetyError(f"{final}: nothing was written")
            else:
                os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        by_folder: dict[Path, list[str]] = {}
        for final in paths:
            by_folder.setdefault(final.parent, []).append(final.name)
        for folder, names in by_folder.items():
            record_written(folder, names)
    except OSError as exc:
        raise FileSafetyError(_error_text(paths[0], exc)) from None
    finally:
        for aside in old_dirs:
            shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """One target: :func:`atomic_paths` with a single path."""
    with atomic_paths([path], directories=[directory]) as (tmp,):
        yield tmp
