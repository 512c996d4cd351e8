"""Locate the shipped data folders (`shaders/`, `scenes/`, `assets/`).

In a checkout or editable install they sit next to the package; a wheel carries them inside
the package as ``depthfusion/_data/<name>`` (pyproject's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_NAMES = ("shaders", "scenes", "assets")


def data_dir(name: str) -> Path:
    """Folder of the shipped data set ``name`` (one of shaders, scenes, assets)."""
    if name not in _NAMES:
        raise ValueError(f"unknown data folder {name!r}; expected one of {_NAMES}")
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the installed depthfusion package has no '{name}' folder")


def shader_path(name: str) -> Path:
    """Path of shader program ``name`` (with or without the .glsl suffix)."""
    return data_dir("shaders") / (name if name.endswith(".glsl") else f"{name}.glsl")


def scene_path(name: str) -> Path:
    """Path of a shipped example scene (``demo`` or ``demo.yaml``)."""
    return data_dir("scenes") / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")


def asset_path(name: str) -> Path:
    """Path of a shipped asset file."""
    return data_dir("assets") / name
