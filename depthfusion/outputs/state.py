"""What the outputs read: :class:`SceneState`, the scene and its RGBD panorama as the pipeline
hands them over, with the sphere mesh and the camera path's poses built on first use (and
once), so a scene whose outputs need no mesh never builds one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..console import stage
from ..errors import SceneError
from ..mesh.discontinuities import build_layered_mesh
from ..mesh.layers import LayeredMesh
from ..mesh.sphere import SphereMesh, build_sphere_mesh
from ..render.pose import Pose
from ..rgbd.panorama import RGBDPanorama
from ..scene import Scene

log = logging.getLogger("depthfusion")


@dataclass
class SceneState:
    """What the stages have produced so far; outputs read from it."""

    scene: Scene
    rgbd: RGBDPanorama
    quiet: bool = False
    _mesh: SphereMesh | LayeredMesh | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def poses(self) -> tuple[list[Pose], float]:
        """The camera path's poses (one per frame) and its frame rate, computed once."""
        if "poses" not in self.cache:
            self.cache["poses"] = camera_poses(self.scene)
        return self.cache["poses"]

    @property
    def mesh(self) -> SphereMesh | LayeredMesh:
        """The displaced sphere, built on first use."""
        if self._mesh is None:
            self._mesh = build_mesh(self.scene, self.rgbd)
        return self._mesh


def camera_poses(scene: Scene) -> tuple[list[Pose], float]:
    """One pose per frame along the scene's camera path, and the frame rate."""
    path, fps, duration = scene.camera.build_path()
    poses = path.poses(fps, duration)
    if not poses:
        raise SceneError(f"camera: a path of {duration:g} s at {fps:g} fps has no frames")
    return poses, fps


def build_mesh(scene: Scene, rgbd: RGBDPanorama, layered: bool = False) -> SphereMesh | LayeredMesh:
    """The scene's sphere settings applied to ``rgbd``.

    ``fill: stretch`` gives a plain SphereMesh unless ``layered`` asks for a LayeredMesh
    always (the preview toggles layers on it).
    """
    sph = scene.sphere
    disp = sph.displacement
    disc = sph.discontinuities
    geometry = dict(
        radius=sph.radius, mode=disp.mode, strength=disp.strength, near=disp.near, far=disp.far
    )
    if disc.fill == "stretch" and not layered:
        with stage("mesh"):
            mesh = build_sphere_mesh(rgbd, sph.resolution, **geometry)
    else:
        with stage("layers"):  # (the sphere mesh inside included)
            mesh = build_layered_mesh(
                rgbd,
                sph.resolution,
                **geometry,
                threshold=disc.threshold,
                fill=disc.fill,
                thickness=disc.thickness,
                reach=disc.reach,
                feather=disc.feather,
            )
    log.info(
        "mesh: %dx%d grid, %d vertices, %d triangles",
        mesh.cols,
        mesh.rows,
        mesh.vertex_count,  # (counted per layer: a LayeredMesh is not combined for this)
        mesh.triangle_count,
    )
    return mesh
