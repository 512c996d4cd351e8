"""The ``mesh`` output kind: the sphere mesh (both layers) as GLB, PLY or OBJ
(:mod:`depthfusion.mesh.export`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..console import stage
from ..mesh.export import export_mesh
from .state import SceneState

log = logging.getLogger("depthfusion")


def write_mesh_output(state: SceneState, out, index: int) -> list[Path]:
    with stage("write"):
        path = export_mesh(state.mesh, out.path)
    log.info("outputs[%d]: mesh -> %s", index, path)
    return [path]
