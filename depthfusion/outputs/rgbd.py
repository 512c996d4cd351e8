"""The ``rgbd`` output kind: the panorama, its 16-bit depth and a depth preview, published
as a set (:mod:`depthfusion.rgbd.io`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..atomic import atomic_paths
from ..rgbd.io import save_rgbd
from .plan import rgbd_paths
from .state import SceneState

log = logging.getLogger("depthfusion")


def write_rgbd_output(state: SceneState, out, index: int) -> list[Path]:
    paths = rgbd_paths(Path(out.path))
    with atomic_paths(paths) as temps:  # the three files are published as a set
        save_rgbd(state.rgbd, *temps, where=paths[1])
    path, depth_path, preview_path = paths
    log.info("outputs[%d]: rgbd -> %s, %s, %s", index, path, depth_path.name, preview_path.name)
    return list(paths)
