"""The ``webxr`` output kind: a folder that opens the scene in a browser or a headset.

One flat folder, published whole (staged under a temporary name, renamed when complete):

- ``index.html`` and ``viewer.js`` (``assets/webxr/``): desktop (drag, W A S D, wheel),
  phone (device orientation) and headset (``immersive-vr``, 6-DoF head motion inside the
  layered mesh, fading out beyond a comfort radius); ``#pose=x,y,z,yaw,pitch,fov`` and
  ``&ui=0`` in the URL; ``window.depthfusionReady`` once a frame with the mesh is drawn;
- three.js, vendored unmodified from its pinned npm package (``assets/webxr/three/``);
- ``scene.glb``: the layered mesh (unlit, ``foreground`` and ``background`` nodes), the
  foreground simplified where depth is smooth (:func:`~depthfusion.render.ods_mesh.simplify_layers`)
  until it fits ``max_triangles``, textures at most ``texture_width`` wide;
- ``scene.json``: start pose, ipd, radius, comfort radius, triangle counts, source facts.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2

from .. import __version__
from ..atomic import atomic_path
from ..console import stage
from ..errors import OutputError
from ..mesh.gltf import glb_bytes
from ..mesh.layers import LayeredMesh, MeshLayer
from ..resources import asset_path
from .state import SceneState

log = logging.getLogger("depthfusion")

VIEWER_FILES = ("index.html", "viewer.js")
THREE_FILES = (
    "three.module.min.js",
    "three.core.min.js",
    "GLTFLoader.js",
    "BufferGeometryUtils.js",
    "VRButton.js",
)


def _downscaled(layer: MeshLayer, width: int) -> MeshLayer:
    """The layer with its texture at most ``width`` wide (texture coordinates are relative)."""
    tex = layer.texture
    if tex.shape[1] <= width:
        return layer
    height = max(1, round(tex.shape[0] * width / tex.shape[1]))
    small = cv2.resize(tex, (width, height), interpolation=cv2.INTER_AREA)
    return MeshLayer(layer.name, layer.vertices, layer.uvs, layer.faces, small)


def viewer_mesh(mesh, max_triangles: int, texture_width: int, comfort_radius: float):
    """The mesh the viewer draws: simplified until it fits ``max_triangles`` (the tolerance
    doubles from half a pixel at 4096-wide eyes, for eyes anywhere within the comfort
    radius), textures downscaled to ``texture_width``."""
    from ..render.ods_mesh import simplify_layers

    r = comfort_radius
    positions = [(0.0, 0.0, 0.0), (r, 0.0, 0.0), (-r, 0.0, 0.0), (0.0, 0.0, r), (0.0, 0.0, -r)]
    tolerance = 0.5
    while True:
        with stage("simplify"):
            simple = simplify_layers(mesh, 4096, ipd=0.0, positions=positions, tolerance=tolerance)
        count = sum(len(layer.faces) for layer in simple.layers)
        if count <= max_triangles or tolerance > 64:
            break
        tolerance *= 2
    if count > max_triangles:
        raise OutputError(
            f"webxr: the mesh has {count} triangles after simplification, above max_triangles "
            f"{max_triangles}; lower sphere.resolution or raise max_triangles"
        )
    layers = [_downscaled(layer, texture_width) for layer in simple.layers]
    return LayeredMesh(layers, simple.rows, simple.cols, simple.threshold, simple.fill), tolerance


def write_webxr_output(state: SceneState, out, index: int) -> list[Path]:
    scene = state.scene
    mesh, tolerance = viewer_mesh(
        state.mesh, out.max_triangles, out.texture_width, out.comfort_radius
    )
    if out.start is not None:
        start = out.start
        position, yaw, pitch = tuple(start.position), start.yaw, start.pitch
    else:
        first = scene.camera.build_path()[0].pose_at(0.0)
        position, yaw, pitch = tuple(first.position), first.yaw, first.pitch
    counts = {layer.name: int(len(layer.faces)) for layer in mesh.layers}
    info = {
        "format": "depthfusion-webxr",
        "version": 1,
        "generator": f"DepthFusion {__version__}",
        "start": {"position": [float(v) for v in position], "yaw": float(yaw),
                  "pitch": float(pitch), "fov": float(out.fov)},
        "ipd": float(scene.stereo.ipd),
        "radius": float(scene.sphere.radius),
        "comfort_radius": float(out.comfort_radius),
        "triangles": counts,
        "simplification_tolerance_px": tolerance,
        "source": {"kind": scene.source.kind, "name": state.rgbd.name,
                   "size": [state.rgbd.width, state.rgbd.height]},
        "conventions": "+Y up, forward -Z, yaw turns right, fov horizontal; metres, degrees",
    }  # fmt: skip
    path = Path(out.path)
    with atomic_path(path, directory=True) as tmp:
        for name in VIEWER_FILES:
            shutil.copyfile(asset_path(f"webxr/{name}"), tmp / name)
        for name in THREE_FILES:
            shutil.copyfile(asset_path(f"webxr/three/{name}"), tmp / name)
        shutil.copyfile(asset_path("webxr/three/LICENSE"), tmp / "three-LICENSE.txt")
        with stage("write"):
            (tmp / "scene.glb").write_bytes(glb_bytes(mesh))
        (tmp / "scene.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    total = sum(f.stat().st_size for f in path.iterdir())
    log.info(
        "outputs[%d]: webxr -> %s/ (%s triangles, %.1f MB)",
        index,
        path,
        " + ".join(f"{n} {c}" for n, c in counts.items()),
        total / 1e6,
    )
    return [path]
