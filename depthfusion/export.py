"""Mesh export (output kind ``mesh``) through trimesh: GLB (textured), PLY (vertex colours), OBJ.

- GLB: the seam-split mesh with the panorama as base-colour texture, double-sided, fully rough
  and non-metallic so viewers show the photo's colours; vertex count = rows*(cols+1) + 2*cols.
- PLY: the welded, watertight mesh (rows*cols + 2 vertices) with per-vertex colours.
- OBJ: textured, written with its .mtl and texture PNG beside it.
Every file is written to a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from .atomic import atomic_path, ensure_writable_dir
from .errors import OutputError
from .mesh import SphereMesh


def textured_trimesh(
    vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, texture: np.ndarray
) -> trimesh.Trimesh:
    """A trimesh with the panorama as its base-colour texture (double-sided, unlit-looking)."""
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

    A LayeredMesh (discontinuities.py) exports all its layers in one mesh over its atlas.
    """
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
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".glb":
        with atomic_path(path) as tmp:
            tmp.write_bytes(trimesh.exchange.gltf.export_glb(to_trimesh(mesh, textured=True)))
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


def _export_obj(mesh: SphereMesh, path: Path) -> None:
    """OBJ + MTL + PNG: all written in a temporary folder, then moved in (the .obj last)."""
    ensure_writable_dir(path)
    stem = path.stem
    tm = to_trimesh(mesh, textured=True)
    tm.visual.material.name = stem  # names the texture file <stem>.png beside the .obj
    text, files = trimesh.exchange.obj.export_obj(
        tm, return_texture=True, mtl_name=f"{stem}.mtl", include_normals=False
    )
    with tempfile.TemporaryDirectory(prefix=f".{stem}.", dir=path.parent) as tmpdir:
        staged: list[tuple[Path, Path]] = []
        for name, data in files.items():
            tmp = Path(tmpdir) / name
            tmp.write_bytes(data)
            staged.append((tmp, path.parent / name))
        tmp_obj = Path(tmpdir) / path.name
        tmp_obj.write_text(text)
        for src, dst in staged:
            os.replace(src, dst)
        os.replace(tmp_obj, path)
