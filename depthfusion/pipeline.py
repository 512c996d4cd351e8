"""The whole job of ``depthfusion render``: scene -> source -> RGBD -> mesh -> outputs.

Output folders are checked before any expensive work, so a scene that cannot write its
results fails in a second, not after minutes of generation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import ensure_writable_dir
from .discontinuities import LayeredMesh, build_layered_mesh
from .errors import SceneError
from .mesh import SphereMesh, build_sphere_mesh
from .pose import Pose
from .rgbd import RGBDPanorama
from .scene import Scene
from .sources import load_source

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
        mesh = build_sphere_mesh(rgbd, sph.resolution, **geometry)
    else:
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
        len(mesh.vertices),
        len(mesh.faces),
    )
    return mesh


def check_output_settings(scene: Scene) -> None:
    """Fail when an output kind is unavailable or its settings cannot work (no side effects:
    ``depthfusion validate`` runs this too)."""
    from .outputs import WRITERS

    for index, out in enumerate(scene.outputs):
        if out.kind not in WRITERS:
            raise SceneError(
                f"outputs[{index}]: kind {out.kind!r} is not available in this version"
            )
        if out.kind == "vr360":
            from .outputs import vr360_spec
            from .vr360 import VR360Error, resolve_vr360

            if Path(out.path).suffix.lower() == ".mp4" and not out.follow_path and not out.duration:
                raise SceneError(
                    f"outputs[{index}].duration: a video with follow_path: false needs a duration"
                )
            try:
                resolve_vr360(vr360_spec(scene, out))
            except VR360Error as exc:
                raise SceneError(f"outputs[{index}]: {exc}") from None


def check_outputs(scene: Scene) -> None:
    """Fail early when an output cannot work or its folder cannot be written (creates the
    output folders)."""
    check_output_settings(scene)
    for out in scene.outputs:
        ensure_writable_dir(Path(out.path))


def render_scene(scene: Scene, *, quiet: bool = False) -> list[Path]:
    """Run every output of ``scene``; returns the paths written."""
    from .outputs import write_output

    check_outputs(scene)
    state = SceneState(scene=scene, rgbd=load_source(scene, quiet=quiet), quiet=quiet)
    written: list[Path] = []
    for index, out in enumerate(scene.outputs):
        written.extend(write_output(state, out, index))
    return written
