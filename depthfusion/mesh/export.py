"""Mesh export (output kind ``mesh``) through trimesh: GLB (textured), PLY (vertex colours), OBJ.

- GLB (:mod:`.gltf`): unlit (``KHR_materials_unlit``) textured layers as named nodes
  (``foreground``, ``background``), only referenced vertices; a plain sphere has
  rows*(cols+1) + 2*cols.
- PLY: the welded, watertight mesh (rows*cols + 2 vertices) with per-vertex colours.
- OBJ: textured, written with its .mtl (the texture as is: Kd 1, Ks 0) and texture PNG beside it.
Every file is written to a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..atomic import atomic_path, atomic_paths
from ..errors import OutputError
from .sphere import SphereMesh

if TYPE_CHECKING:
    import trimesh


def obj_paths(path: Path) -> tuple[Path, Path, Path]:
    """An OBJ export's three files: the .obj, its .mtl and its texture PNG."""
    return path, path.with_suffix(".mtl"), path.with_suffix(".png")


def textured_trimesh(
    vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, texture: np.ndarray
) -> trimesh.Trimesh:
    """A trimesh with the panorama as its base-colour texture (double-sided, unlit-looking)."""
    import trimesh  # here, not at the top: a second of imports a 360 still does not need

    # trimesh/glTF put v = 0 at the image's bottom; ours counts from the top row.
    uv = np.column_stack([uvs[:, 0], 1.0 - uvs[:, 1]])
    material = trimesh.visual.material.PBRMaterial(
        name="panorama",
        baseColorTexture=Image.fromarray(texture),
        metallicFactor=0.0,
        roughnessFactor=1.0,
        doubleSided=True,
    )
    visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return trimesh.Trimesh(vertices, faces, visual=visual, process=False)


def to_trimesh(mesh: SphereMesh, textured: bool = True) -> trimesh.Trimesh:
    """A trimesh of the sphere: textured (seam-split) or welded with vertex colours.

    A LayeredMesh (layers.py) exports all its layers in one mesh over its atlas.
    """
    import trimesh  # here, not at the top: a second of imports a 360 still does not need

    if hasattr(mesh, "layers"):
        return mesh.to_trimesh(textured)
    if textured:
        return textured_trimesh(mesh.vertices, mesh.faces, mesh.uvs, mesh.texture)
    vertices, faces = mesh.closed()
    n_grid = mesh.rows * (mesh.cols + 1)
    colors = mesh.vertex_colors()
    keep = np.concatenate(
        [
            np.arange(n_grid).reshape(mesh.rows, mesh.cols + 1)[:, : mesh.cols].ravel(),
            [n_grid, n_grid + mesh.cols],
        ]
    )
    rgba = np.concatenate([colors[keep], np.full((len(keep), 1), 255, np.uint8)], axis=1)
    # Pole colours: the mean of their ring, not one pixel of the top/bottom row.
    rgba[-2, :3] = mesh.texture[0].mean(axis=0)
    rgba[-1, :3] = mesh.texture[-1].mean(axis=0)
    return trimesh.Trimesh(vertices, faces, vertex_colors=rgba, process=False)


def export_mesh(mesh: SphereMesh, path: str | os.PathLike) -> Path:
    """Write ``mesh`` to ``path``; the format follows the extension (.glb, .ply, .obj)."""
    import trimesh  # here, not at the top: a second of imports a 360 still does not need

    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".glb":
        from .gltf import glb_bytes

        with atomic_path(path) as tmp:
            tmp.write_bytes(glb_bytes(mesh))
    elif ext == ".ply":
        with atomic_path(path) as tmp:
            tmp.write_bytes(
                trimesh.exchange.ply.export_ply(to_trimesh(mesh, textured=False), encoding="binary")
            )
    elif ext == ".obj":
        _export_obj(mesh, path)
    else:
        raise OutputError(f"{path}: unsupported mesh format '{ext}' (use .glb, .ply or .obj)")
    return path


#: The OBJ's material: the texture as it is (Kd 1, no ambient or specular term, no lighting
#: model beyond colour), so viewers show the panorama's colours, not trimesh's 40 % grey.
_MTL = """# DepthFusion: the panorama texture shown as is (unlit)
newmtl {name}
Ka 0.000000 0.000000 0.000000
Kd 1.000000 1.000000 1.000000
Ks 0.000000 0.000000 0.000000
Ns 0.000000
d 1.000000
illum 0
map_Kd {texture}
"""


def _export_obj(mesh: SphereMesh, path: Path) -> None:
    """OBJ + MTL + PNG (:func:`obj_paths`), published together when all are complete."""
    import trimesh  # here, not at the top: a second of imports a 360 still does not need

    obj_path, mtl_path, png_path = obj_paths(path)
    tm = to_trimesh(mesh, textured=True)
    name = "panorama"
    tm.visual.material.name = name
    text, _files = trimesh.exchange.obj.export_obj(
        tm, return_texture=True, mtl_name=mtl_path.name, include_normals=False
    )
    texture = tm.visual.material.baseColorTexture
    lines = [ln for ln in text.splitlines() if not ln.startswith(("mtllib", "usemtl"))]
    header = [f"mtllib {mtl_path.name}", f"usemtl {name}"]
    first_face = next((i for i, ln in enumerate(lines) if ln.startswith("f ")), len(lines))
    body = lines[:first_face] + header[1:] + lines[first_face:]
    with atomic_paths([obj_path, mtl_path, png_path]) as (t_obj, t_mtl, t_png):
        texture.save(t_png, format="PNG")
        t_mtl.write_text(_MTL.format(name=name, texture=png_path.name), encoding="utf-8")
        t_obj.write_text("\n".join([header[0], *body]) + "\n", encoding="utf-8")
