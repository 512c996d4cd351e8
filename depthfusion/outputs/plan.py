"""Every file a render will write, known and checked before any work.

``plan_outputs(scene)`` lists, per output, each final path it writes (derived names
included: ``_depth.png``, ``_depth_preview.png``, ``.mtl`` and texture, ``_left``/``_right``,
every frame of a pattern sequence) and refuses, with one line naming the output:

- a path outside the output folder (``-o``, else the scene file's folder; symlinks resolved)
  unless the user passed ``--allow-outside-output`` on the command line;
- the output folder itself, or a folder above it;
- two outputs writing one path, or one output's file inside another's folder;
- a path that is one of the job's inputs (the scene file, the panorama, its depth, a local
  model folder) or a folder that holds one;
- something at the path that this project did not write (``ldm3d_core.files``: a file needs
  ``--overwrite``; a folder is never replaced unless every entry in it is the project's);
- a file where a folder must be created.

``depthfusion validate`` runs the same checks, so a scene it calls "ok" cannot delete or
overwrite anything the project did not write.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ldm3d_core import files

from ..errors import SceneError
from ..mesh.export import obj_paths

# A printf-style frame pattern in a frames output's file name (shot_%05d.png).
FRAME_PATTERN = re.compile(r"%0?(\d*)d")


@dataclass(frozen=True)
class PlannedPath:
    """One final path an output writes (absolute, symlinks resolved)."""

    path: Path
    index: int
    folder: bool = False


def side_paths(path: Path) -> tuple[Path, Path]:
    """``<stem>_left<suffix>`` and ``<stem>_right<suffix>`` (layout left-right-files)."""
    return (
        path.with_name(f"{path.stem}_left{path.suffix}"),
        path.with_name(f"{path.stem}_right{path.suffix}"),
    )


def rgbd_paths(path: Path) -> tuple[Path, Path, Path]:
    """An rgbd output's three files: RGB, 16-bit depth, depth preview."""
    return (
        path,
        path.with_name(f"{path.stem}_depth.png"),
        path.with_name(f"{path.stem}_depth_preview.png"),
    )


def frame_files(pattern_path: Path, count: int) -> list[Path]:
    """The files of a printf-pattern frame sequence of ``count`` frames, from frame 0."""
    return [pattern_path.with_name(pattern_path.name % i) for i in range(count)]


def _frames_of(scene) -> int:
    path, fps, duration = scene.camera.build_path()
    return path.frame_count(fps, duration)


def output_paths(scene, index: int) -> list[tuple[Path, bool]]:
    """(final path, is a folder) for every file and folder output ``index`` writes, as
    configured (not yet resolved)."""
    out = scene.outputs[index]
    path = Path(out.path)
    layout = getattr(out, "layout", None)
    bases = list(side_paths(path)) if layout == "left-right-files" else [path]
    if out.kind == "rgbd":
        return [(p, False) for p in rgbd_paths(path)]
    if out.kind == "mesh" and path.suffix.lower() == ".obj":
        return [(p, False) for p in obj_paths(path)]
    if out.kind == "webxr":
        return [(path, True)]
    if out.kind == "frames":
        if FRAME_PATTERN.search(path.name):
            count = _frames_of(scene)
            return [(f, False) for base in bases for f in frame_files(base, count)]
        return [(b, True) for b in bases]
    return [(b, False) for b in bases]


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _job_inputs(scene) -> list[tuple[Path, str]]:
    """The files and folders the job reads, with the field that names each."""
    inputs: list[tuple[Path, str]] = []
    origin = getattr(scene, "origin", None)
    if origin is not None:
        inputs.append((_real(origin), "the scene file"))
    src = scene.source
    if src.panorama is not None:
        inputs.append((_real(src.panorama.image), "source.panorama.image"))
        if isinstance(src.panorama.depth, Path):
            inputs.append((_real(src.panorama.depth), "source.panorama.depth"))
    from ..sources.ldm3d import resolve_model_name

    models = [(getattr(src, name), f"source.{name}") for name in ("model", "depth_model")]
    if src.upscale is not None:
        models.append((src.upscale.model, "source.upscale.model"))
    for value, field in models:
        if value:
            local = Path(resolve_model_name(value))
            if local.exists():
                inputs.append((_real(local), field))
    return inputs


def _where(scene, index: int) -> str:
    return f"outputs[{index}].path"


def plan_outputs(scene, *, allow_outside: bool = False) -> list[PlannedPath]:
    """Every final path of every output, checked (SceneError, one line, on the first
    problem). Creates nothing."""
    root = getattr(scene, "output_root", None)
    root = _real(root) if root is not None else None
    inputs = _job_inputs(scene)
    plan: list[PlannedPath] = []
    owner: dict[Path, int] = {}
    for index in range(len(scene.outputs)):
        where = _where(scene, index)
        for raw, is_folder in output_paths(scene, index):
            path = _real(raw)
            if root is not None:
                if _inside(root, path):
                    what = "the output folder itself" if path == root else "above the output folder"
                    raise SceneError(
                        f"{where}: {raw} is {what} ({root}); name a file or folder in it"
                    )
                if not allow_outside and not _inside(path, root):
                    raise SceneError(
                        f"{where}: {raw} is outside the output folder {root}; "
                        "pass --allow-outside-output on the command line to write there"
                    )
            if path in owner:
                other = owner[path]
                by = "this output twice" if other == index else f"outputs[{other}] too"
                raise SceneError(f"{where}: {path} is written by {by}")
            owner[path] = index
            plan.append(PlannedPath(path, index, is_folder))
            for src_path, field in inputs:
                if path == src_path or _inside(src_path, path) or _inside(path, src_path):
                    raise SceneError(
                        f"{where}: {path} would overwrite the job's input ({field}: {src_path})"
                    )
    _check_nesting(plan)
    for item in plan:
        _check_target(item, _where(scene, item.index), root)
    for index in range(len(scene.outputs)):
        _check_pattern_strays(scene, index, {p.path for p in plan if p.index == index})
    return plan


def _check_nesting(plan: list[PlannedPath]) -> None:
    folders = {p.path: p.index for p in plan if p.folder}
    for item in plan:
        for parent in item.path.parents:
            if parent in folders:
                raise SceneError(
                    f"outputs[{item.index}].path: {item.path} lies inside the folder that "
                    f"outputs[{folders[parent]}] writes ({parent})"
                )


def _check_target(item: PlannedPath, where: str, root: Path | None) -> None:
    # Every existing folder on the way must be a folder (a file named like it is an error).
    for parent in reversed(item.path.parents):
        if parent.exists() and not parent.is_dir():
            raise SceneError(f"{where}: {item.path}: {parent} is a file, not a folder")
    nearest = next(p for p in item.path.parents if p.exists())
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise SceneError(f"{where}: {item.path}: the folder {nearest} is not writable")
    try:
        files.check_replaceable(item.path, folder=item.folder)
    except files.FileSafetyError as exc:
        raise SceneError(f"{where}: {exc}") from None


def _check_pattern_strays(scene, index: int, planned: set[Path]) -> None:
    """A pattern sequence must not mix with frames the project did not write."""
    out = scene.outputs[index]
    if out.kind != "frames" or not FRAME_PATTERN.search(Path(out.path).name):
        return
    bases = side_paths(Path(out.path)) if out.layout == "left-right-files" else (Path(out.path),)
    for base in bases:
        matcher = frame_matcher(base.name)
        folder = _real(base.parent)
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if matcher.match(entry.name) and entry not in planned and not files.is_owned(entry):
                raise SceneError(
                    f"outputs[{index}].path: {entry} matches the frame pattern and was not "
                    "written by depthfusion; not mixed into this sequence (move it away)"
                )


def frame_matcher(pattern: str) -> re.Pattern[str]:
    """A regex for the file names a printf frame pattern produces."""
    match = FRAME_PATTERN.search(pattern)
    assert match is not None
    prefix, suffix = pattern[: match.start()], pattern[match.end() :]
    width = match.group(1)
    digits = rf"\d{{{int(width)},}}" if width else r"\d+"
    return re.compile(re.escape(prefix) + digits + re.escape(suffix) + r"\Z")
