"""Layered meshes: the discontinuity stage's result.

A :class:`LayeredMesh` is a list of :class:`MeshLayer` (foreground, skirt, background; each
with its own texture) that also behaves like one mesh (``vertices``, ``uvs``, ``faces``,
``texture``, ``alpha``): the layers concatenated over a texture atlas, which
``MeshRenderer.from_mesh`` renders in one draw call and export writes as one textured or
vertex-coloured mesh (:meth:`LayeredMesh.to_trimesh`) or as a scene with one node per layer
(:func:`layers_to_trimesh_scene`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class DepthEdges:
    """Pixels on either side of a disparity jump of a panorama (or mesh grid).

    near : (H, W) bool, the nearer pixel of a jumping pair (the occluder's silhouette)
    far : (H, W) bool, the farther pixel (the background right behind the silhouette)
    """

    near: np.ndarray
    far: np.ndarray

    @property
    def any(self) -> np.ndarray:
        return self.near | self.far


# --- layers -------------------------------------------------------------------------------------


@dataclass
class MeshLayer:
    """One textured triangle layer.

    vertices (n, 3) float32 metres; uvs (n, 2) float32 (u right, v down from the texture's top
    row, u may exceed 1 at the seam copy); faces (m, 3) uint32; texture (H, W, 3) uint8;
    alpha (n,) float32 in [0, 1] or None (opaque).
    texq (n,) float32 > 0 or None (all 1): projective texture coordinate q; the pinhole
    renderer interpolates (u q, v q, q) and samples at their ratio (see :func:`_add_skirt`).
    across (n, 2) float32 or None (all 0): view-dependent skirts (see :func:`_skirt_across`):
    for each skirt corner on the grid, the direction across its edge (radians from east toward
    north) and its triangle's ``1/r_near - 1/r_far`` (1/m); 0, 0 elsewhere (pole fans too).
    skirt_source (k,) uint32 or None: the last k vertices (the skirt) are copies of these
    vertices of the layer, moved (``render_vertices`` puts the view-dependent ones back).
    grid_cut (f,) bool or None: set when ``faces`` are the lat-long grid's own
    (:func:`~depthfusion.mesh.sphere.grid_faces`, f of them) less those marked True, in
    order, followed only by faces on vertices past the grid layout (the skirt): the 360
    simplification then reads each cell's state from it instead of from millions of faces.
    Exports and the 360 renderer ignore texq and across.
    """

    name: str
    vertices: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    texture: np.ndarray
    alpha: np.ndarray | None = None
    texq: np.ndarray | None = None
    across: np.ndarray | None = None
    skirt_source: np.ndarray | None = None
    grid_cut: np.ndarray | None = None

    @property
    def render_vertices(self) -> np.ndarray:
        """``vertices`` with every view-dependent skirt corner (``across`` step > 0) back at
        the position it had before the skirt moved it: what the pinhole renderer takes (it
        moves them per view; exactly the stretched mesh's vertex when a view opens no gap)."""
        if self.across is None or self.skirt_source is None:
            return self.vertices
        out = self.vertices.copy()
        n0 = len(self.vertices) - len(self.skirt_source)
        rows = np.flatnonzero(self.across[n0:, 1] > 0.0)
        out[n0 + rows] = self.vertices[self.skirt_source[rows]]
        return out


@dataclass
class _Combined:
    vertices: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    texture: np.ndarray
    alpha: np.ndarray | None
    texq: np.ndarray | None
    across: np.ndarray | None


@dataclass
class LayeredMesh:
    """Layers of a displaced sphere, foreground first; also usable as one mesh.

    layers : non-empty layers, foreground first ("foreground", then "background" if any)
    rows, cols : the grid size of the sphere they come from
    threshold, fill : the settings that made them
    edges : the detected jumps on the mesh grid (rows x cols), or None for ``stretch``
    band : width in grid cells of the background band behind the edges (0 = no background)

    ``vertices``/``uvs``/``faces``/``texture``/``alpha`` are the layers combined over a
    texture atlas (see :meth:`combined`): ``MeshRenderer.from_mesh(ctx, layered)`` draws all
    layers in one call, with the depth test sorting them.
    """

    layers: list[MeshLayer]
    rows: int
    cols: int
    threshold: float
    fill: str
    edges: DepthEdges | None = None
    band: int = 0
    _combined: _Combined | None = field(default=None, init=False, repr=False)

    def layer(self, name: str) -> MeshLayer | None:
        return next((lay for lay in self.layers if lay.name == name), None)

    @property
    def render_vertices(self) -> np.ndarray:
        """The combined ``vertices`` as the pinhole renderer takes them (see
        :attr:`MeshLayer.render_vertices`: only the foreground has skirts)."""
        c = self.combined()
        fg = self.layers[0]
        if c.across is None or fg.skirt_source is None:
            return c.vertices
        out = c.vertices.copy()
        out[: len(fg.vertices)] = fg.render_vertices
        return out

    @property
    def background_vertex(self) -> int | None:
        """Index of the first vertex behind the foreground in the combined arrays (None with
        one layer): the renderer draws those a hair deeper, so that where a layer meets the
        foreground at equal depth (the far side of every cut) the foreground wins."""
        return len(self.layers[0].vertices) if len(self.layers) > 1 else None

    @property
    def triangle_counts(self) -> dict[str, int]:
        return {lay.name: int(len(lay.faces)) for lay in self.layers}

    @property
    def vertex_count(self) -> int:
        """All layers' vertices (without building the combined mesh)."""
        return sum(len(lay.vertices) for lay in self.layers)

    @property
    def triangle_count(self) -> int:
        """All layers' triangles (without building the combined mesh)."""
        return sum(len(lay.faces) for lay in self.layers)

    def combined(self) -> _Combined:
        """All layers as one mesh over a vertical texture atlas (cached).

        The layer textures are stacked top to bottom, every second one upside down, so that
        neighbouring layers meet at the same pole: the foreground's bottom (south pole) rows
        touch the background's bottom rows, which outside the band are the same pixels. Mipmaps
        and filtering across the join therefore see no foreign colours, at any level. Each
        layer's v coordinates are mapped into its rows (flipped for the flipped ones); layers
        of another width are resized to the first layer's width.
        """
        if self._combined is not None:
            return self._combined
        width = self.layers[0].texture.shape[1]
        texs = []
        for lay in self.layers:
            tex = lay.texture
            if tex.shape[1] != width:
                h = max(1, round(tex.shape[0] * width / tex.shape[1]))
                tex = cv2.resize(tex, (width, h), interpolation=cv2.INTER_AREA)
            texs.append(tex)
        total = sum(t.shape[0] for t in texs)
        atlas = np.empty((total, width, 3), dtype=np.uint8)
        verts, uvs, faces, alphas, texqs, acrosses = [], [], [], [], [], []
        y0, base = 0, 0
        for k, (lay, tex) in enumerate(zip(self.layers, texs, strict=True)):
            h = tex.shape[0]
            flip = k % 2 == 1
            atlas[y0 : y0 + h] = tex[::-1] if flip else tex
            uv = lay.uvs.astype(np.float32, copy=True)
            v = 1.0 - uv[:, 1] if flip else uv[:, 1]
            uv[:, 1] = (y0 + v * h) / total
            verts.append(lay.vertices)
            uvs.append(uv)
            faces.append(lay.faces.astype(np.uint32) + np.uint32(base))
            n = len(lay.vertices)
            alphas.append(np.ones(n, np.float32) if lay.alpha is None else lay.alpha)
            texqs.append(np.ones(n, np.float32) if lay.texq is None else lay.texq)
            acrosses.append(np.zeros((n, 2), np.float32) if lay.across is None else lay.across)
            base += n
            y0 += h
        any_alpha = any(lay.alpha is not None for lay in self.layers)
        any_texq = any(lay.texq is not None for lay in self.layers)
        any_across = any(lay.across is not None for lay in self.layers)
        self._combined = _Combined(
            vertices=np.concatenate(verts).astype(np.float32, copy=False),
            uvs=np.concatenate(uvs),
            faces=np.concatenate(faces),
            texture=atlas,
            alpha=np.concatenate(alphas).astype(np.float32) if any_alpha else None,
            texq=np.concatenate(texqs).astype(np.float32) if any_texq else None,
            across=np.concatenate(acrosses).astype(np.float32) if any_across else None,
        )
        return self._combined

    # One-mesh view (what MeshRenderer.from_mesh and textured export read).
    @property
    def vertices(self) -> np.ndarray:
        return self.combined().vertices

    @property
    def uvs(self) -> np.ndarray:
        return self.combined().uvs

    @property
    def faces(self) -> np.ndarray:
        return self.combined().faces

    @property
    def texture(self) -> np.ndarray:
        return self.combined().texture

    @property
    def alpha(self) -> np.ndarray | None:
        return self.combined().alpha

    @property
    def texq(self) -> np.ndarray | None:
        return self.combined().texq

    @property
    def across(self) -> np.ndarray | None:
        return self.combined().across

    def to_trimesh(self, textured: bool = True):
        """One trimesh: textured, all layers over the atlas (OBJ), or the foreground layer
        (with its skirts) welded, with per-vertex colours (PLY): seam and pole copies merged,
        unused vertices dropped. Watertight where nothing is cut (``fill: stretch`` or no depth
        edge); the background layer is in the GLB, as its own node."""
        import trimesh

        from .export import textured_trimesh
        from .gltf import weld

        if textured:
            c = self.combined()
            return textured_trimesh(c.vertices, c.faces, c.uvs, c.texture)
        fg = self.layers[0]
        keep, faces = weld(fg.vertices, fg.faces)
        positions = fg.vertices[keep]
        faces = faces[
            (faces[:, 0] != faces[:, 1])
            & (faces[:, 1] != faces[:, 2])
            & (faces[:, 0] != faces[:, 2])
        ]
        rgba = np.full((len(positions), 4), 255, dtype=np.uint8)
        rgba[:, :3] = _sample_nearest(fg.texture, fg.uvs[keep])
        # Poles (on the y axis): the mean colour of their ring, not one pixel of the top row.
        on_axis = np.abs(positions[:, 0]) + np.abs(positions[:, 2]) < 1e-4 * np.abs(positions[:, 1])
        rgba[on_axis & (positions[:, 1] > 0), :3] = fg.texture[0].mean(axis=0)
        rgba[on_axis & (positions[:, 1] < 0), :3] = fg.texture[-1].mean(axis=0)
        return trimesh.Trimesh(positions, faces, vertex_colors=rgba, process=False)


def layers_to_trimesh_scene(layered: LayeredMesh):
    """A trimesh.Scene with one textured, double-sided geometry per layer, named after it."""
    import trimesh
    from PIL import Image

    scene = trimesh.Scene()
    for lay in layered.layers:
        uv = np.column_stack([lay.uvs[:, 0], 1.0 - lay.uvs[:, 1]])
        material = trimesh.visual.material.PBRMaterial(
            name=lay.name,
            baseColorTexture=Image.fromarray(lay.texture),
            metallicFactor=0.0,
            roughnessFactor=1.0,
            doubleSided=True,
        )
        visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
        mesh = trimesh.Trimesh(lay.vertices, lay.faces, visual=visual, process=False)
        scene.add_geometry(mesh, node_name=lay.name, geom_name=lay.name)
    return scene


def _sample_nearest(texture: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    h, w = texture.shape[:2]
    x = np.clip((uvs[:, 0] % 1.0 * w).astype(np.int64), 0, w - 1)
    y = np.clip((uvs[:, 1] * h).astype(np.int64), 0, h - 1)
    return texture[y, x]
