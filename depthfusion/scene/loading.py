"""Loading scene files: read (size- and type-checked, duplicate keys refused), apply ``--set``
overrides, validate against :mod:`.schema`, resolve relative paths; plus the field listing
behind ``depthfusion keys`` and the scene argument's shipped-name lookup.

Scene files load with ``yaml.safe_load``: a file from a stranger cannot run code.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from ldm3d_core import files
from ldm3d_core.validation import format_validation_error as _format_validation_error

from ..errors import SceneError
from ..resources import scene_path
from .schema import Output, Scene

#: The output kinds, in the order of the Output union (its models' ``kind`` literals).
_OUTPUT_KINDS = tuple(
    get_args(model.model_fields["kind"].annotation)[0] for model in get_args(get_args(Output)[0])
)


def _output_message(error: dict[str, Any]) -> str | None:
    kinds = ", ".join(_OUTPUT_KINDS[:-1]) + f" or {_OUTPUT_KINDS[-1]}"
    if error["type"] == "too_short" and error["loc"] == ("outputs",):
        return f"the list is empty; add at least one output ({kinds})"
    if error["type"] == "union_tag_invalid":
        return f"unknown output kind {error.get('input', {}).get('kind')!r} (expected {kinds})"
    if error["type"] == "union_tag_not_found":
        return f"output needs a 'kind' ({kinds})"
    return None


def format_validation_error(exc: ValidationError, origin: str) -> str:
    """One line: ``origin: field.path: message (and N more problems)``."""
    return _format_validation_error(
        exc, origin, root="scene", skip_tags=_OUTPUT_KINDS, message=_output_message
    )


def _parse_override(item: str) -> tuple[list[str | int], Any]:
    if "=" not in item:
        raise SceneError(f"--set {item}: expected key.sub=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    if any(p == "" for p in parts):
        raise SceneError(f"--set {item}: empty key")
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML; list items by index: outputs.0.path)."""
    for item in overrides:
        parts, value = _parse_override(item)
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(node, list):
                if not isinstance(part, int) or part >= len(node):
                    raise SceneError(f"--set {item}: no list item {part}")
                node = node[part]
                continue
            if not isinstance(node, dict):
                raise SceneError(f"--set {item}: '{part}' is not a mapping")
            if node.get(part) is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
        last = parts[-1]
        if isinstance(node, list):
            if not isinstance(last, int) or last >= len(node):
                raise SceneError(f"--set {item}: no list item {last}")
            node[last] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise SceneError(f"--set {item}: cannot set a key inside a {type(node).__name__}")
    return data


#: A scene file is a page of YAML; anything this large is not one (and /dev/zero is refused).
MAX_SCENE_FILE_BYTES = 4 * 1024 * 1024


def read_scene_data(path: Path) -> dict[str, Any]:
    """The raw mapping of a scene file, read with the safe YAML loader (duplicate keys are
    errors)."""
    try:
        files.regular_file(path, "scene file")
        if Path(path).stat().st_size > MAX_SCENE_FILE_BYTES:
            raise SceneError(
                f"{path}: not a scene file (larger than {MAX_SCENE_FILE_BYTES >> 20} MB)"
            )
        text = Path(path).read_text(encoding="utf-8")
    except files.FileSafetyError as exc:
        message = str(exc).replace("scene file not found", "file not found")
        raise SceneError(message) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(f"{path}: cannot read scene file ({exc})") from None
    try:
        data = files.load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SceneError(f"{path}: YAML error{where}: {problem}") from None
    if not isinstance(data, dict):
        raise SceneError(f"{path}: a scene file must be a mapping with source and outputs")
    return data


def _resolve(base: Path, p: Path) -> Path:
    p = p.expanduser()
    return p if p.is_absolute() else (base / p)


def resolve_paths(scene: Scene, scene_dir: Path, output_dir: Path | None = None) -> Scene:
    """Input paths against the scene's folder; output paths against ``output_dir`` when given."""
    scene = scene.model_copy(deep=True)
    pano = scene.source.panorama
    if pano is not None:
        pano.image = _resolve(scene_dir, pano.image)
        if isinstance(pano.depth, Path):
            pano.depth = _resolve(scene_dir, pano.depth)
    for name in ("model", "depth_model"):
        value = getattr(scene.source, name)
        # A local folder is named by a path that exists relative to the scene; a hub id is left as is.
        if value and (scene_dir / value).exists():
            setattr(scene.source, name, str((scene_dir / value).resolve()))
    up = scene.source.upscale
    if up is not None and up.model and (scene_dir / up.model).exists():
        up.model = str((scene_dir / up.model).resolve())
    out_base = output_dir if output_dir is not None else scene_dir
    for out in scene.outputs:
        out.path = _resolve(out_base, out.path)
    scene._output_root = out_base.expanduser().resolve()
    return scene


def load_scene(
    path: str | Path, overrides: list[str] | None = None, output_dir: str | Path | None = None
) -> Scene:
    """Read, override, validate and resolve a scene file; SceneError (one line) on any problem."""
    path = Path(path)
    data = apply_overrides(read_scene_data(path), list(overrides or []))
    try:
        scene = Scene.model_validate(data)
    except ValidationError as exc:
        raise SceneError(format_validation_error(exc, str(path))) from None
    _check_finite(data, str(path))
    try:
        scene.camera.build_path()  # preset names and parameters, keyframe order
    except SceneError as exc:
        raise SceneError(f"{path}: {exc}") from None
    scene = resolve_paths(scene, path.resolve().parent, Path(output_dir) if output_dir else None)
    scene._origin = path.resolve()
    scene._label = str(path)
    return scene


def _check_finite(data: Any, origin: str, loc: str = "") -> None:
    """Reject .nan/.inf numbers anywhere (YAML allows them; no field means them)."""
    if isinstance(data, float) and not math.isfinite(data):
        raise SceneError(f"{origin}: {loc or 'scene'}: must be a finite number, got {data}")
    if isinstance(data, dict):
        for k, v in data.items():
            _check_finite(v, origin, f"{loc}.{k}" if loc else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _check_finite(v, origin, f"{loc}[{i}]")


def describe_fields(model: type[BaseModel] = Scene, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, type, description) of every field, nested, for `depthfusion keys`."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        rows.append((key, _type_name(ann), field.description or ""))
        for sub in _submodels(ann):
            rows.extend(describe_fields(sub, f"{key}." if sub is not None else key))
    return rows


def _submodels(ann: Any) -> list[type[BaseModel]]:
    import typing

    out: list[type[BaseModel]] = []
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    for arg in typing.get_args(ann):
        out.extend(_submodels(arg))
    return out


def _type_name(ann: Any) -> str:
    if isinstance(ann, type):
        return ann.__name__
    return (
        str(ann)
        .replace("typing.", "")
        .replace("pathlib.", "")
        .replace("depthfusion.scene.schema.", "")
    )


def resolve_scene_arg(value: str) -> Path:
    """A scene file path, or the name of a shipped example scene (``demo``)."""
    path = Path(value)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in value:
        return path
    shipped = scene_path(value)
    return shipped if shipped.exists() else path
