"""The ``still`` output kind: one pose, one picture (two for ``left-right-files``,
``<stem>_left<suffix>`` and ``<stem>_right<suffix>``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..console import stage
from ..render.pose import Pose
from .plan import side_paths
from .state import SceneState
from .views import view_renderer

log = logging.getLogger("depthfusion")


def write_still_output(state: SceneState, out, index: int) -> list[Path]:
    from .writers import write_still

    p = out.pose
    pose = Pose(tuple(p.position), p.yaw, p.pitch, p.roll)
    frame = view_renderer(state, out, tuple(out.size), single_frame=True)(pose)
    paths = side_paths(Path(out.path)) if out.layout == "left-right-files" else (Path(out.path),)
    frames = frame if out.layout == "left-right-files" else (frame,)
    for path, image in zip(paths, frames, strict=True):
        with stage("write"):
            write_still(path, image)
    log.info("outputs[%d]: still (%s) -> %s", index, out.layout, ", ".join(str(p) for p in paths))
    return list(paths)
