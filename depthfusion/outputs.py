"""Output kinds: one writer per ``kind`` of the scene's ``outputs`` list."""

from __future__ import annotations

import logging
from pathlib import Path

from .export import export_mesh
from .pipeline import SceneState
from .rgbd_io import save_rgbd

log = logging.getLogger("depthfusion")


def _mesh(state: SceneState, out, index: int) -> list[Path]:
    path = export_mesh(state.mesh, out.path)
    log.info("outputs[%d]: mesh -> %s", index, path)
    return [path]


def _rgbd(state: SceneState, out, index: int) -> list[Path]:
    path = Path(out.path)
    depth_path = path.with_name(f"{path.stem}_depth.png")
    preview_path = path.with_name(f"{path.stem}_depth_preview.png")
    save_rgbd(state.rgbd, path, depth_path, preview_path)
    log.info("outputs[%d]: rgbd -> %s, %s, %s", index, path, depth_path.name, preview_path.name)
    return [path, depth_path, preview_path]


WRITERS = {"mesh": _mesh, "rgbd": _rgbd}


def write_output(state: SceneState, out, index: int) -> list[Path]:
    """Write one output (pipeline.check_outputs has checked its kind is available)."""
    return WRITERS[out.kind](state, out, index)
