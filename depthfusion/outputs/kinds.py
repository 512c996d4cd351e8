"""Output kinds: one writer per ``kind`` of the scene's ``outputs`` list, each in its own module.

To add a kind: a model in scene/schema.py (its ``kind`` literal), a module here with
``write_<kind>_output(state, out, index) -> list[Path]``, its paths in plan.py, and a row below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .mesh import write_mesh_output
from .rgbd import write_rgbd_output
from .state import SceneState
from .still import write_still_output
from .video import write_frames_output, write_video_output
from .vr360 import write_vr180_output, write_vr360_output
from .webxr import write_webxr_output

WRITERS: dict[str, Callable[[SceneState, Any, int], list[Path]]] = {
    "mesh": write_mesh_output,
    "rgbd": write_rgbd_output,
    "still": write_still_output,
    "video": write_video_output,
    "frames": write_frames_output,
    "vr360": write_vr360_output,
    "vr180": write_vr180_output,
    "webxr": write_webxr_output,
}


def write_output(state: SceneState, out, index: int) -> list[Path]:
    """Write one output (pipeline.check_output_settings has checked its kind is available)."""
    return WRITERS[out.kind](state, out, index)
