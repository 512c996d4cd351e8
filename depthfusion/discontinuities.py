"""Depth discontinuities: cut the rubber sheets, fill what a moving head uncovers.

A displaced sphere mesh (mesh.py) is one continuous surface, so wherever the depth jumps
(the silhouette of an object against the wall behind it) its triangles stretch from the
object back to the wall: from the centre they cover one pixel, from any other viewpoint
they become a smeared "rubber sheet" across the region the object hid from the camera.
This module

1. **detects** the jumps: a triangle of the lat-long grid is *cut* when its vertices'
   normalised disparities (the panorama's depth, 1 = near) differ by more than
   ``threshold``. The test runs on the seam-split grid's own triangles, so it is wrap-aware
   across ±180° (the seam column is a copy of column 0) and covers the pole fans (judged by
   the jump along their ring, not by the pole's averaged radius);
2. **cuts** those triangles out of the foreground layer (``fill: none`` stops here and
   leaves holes);
3. (``fill: inpaint``) adds a **skirt**: each cut triangle again, its far corners pulled
   forward to at most ``thickness`` metres behind its near corner. It stands for the
   occluder's unseen sides (a box's side face appears as the head moves) and, seen from the
   centre, covers the cut cell with the panorama's own colours exactly as before. Skirts are
   view-dependent (:func:`_skirt_across`): the pinhole renderer draws each as the stretched
   triangle it replaces when the view opens no gap across its edge (the centre, a move
   along the edge) and as the skirt from a gap of one pixel;
4. (``fill: inpaint``) builds a **background layer** behind the cuts: a band of the grid on
   the near side of every edge, grown through the occluder from its silhouette, whose
   vertices move back to the disparity of the far side (carried along as the band grows)
   and whose colour is inpainted (OpenCV Telea) from background pixels only (the far-side
   pixels included), then faded toward the local mean with distance from real background
   (the least-squares guess for what nobody saw). The band is as wide as the largest
   disocclusion a head move of ``reach`` metres opens,
   ``reach * (1/r_near - 1/r_far)`` radians over the largest jump. It shares the far-side
   vertices of the foreground exactly (no crack) and lies behind it everywhere else, so the
   depth test shows it only through the cuts;
5. **feathers** the silhouettes (``feather``, default 0.3): the skirt fades to alpha
   ``1 - feather`` at its back edge (MSAA alpha-to-coverage in
   :class:`~depthfusion.render.renderer.MeshRenderer`).

``fill: stretch`` is the naive continuous mesh (no cut). The result is a
:class:`LayeredMesh`: a list of :class:`MeshLayer` (each with its own texture) that also
behaves like one mesh (``vertices``, ``uvs``, ``faces``, ``texture``, ``alpha``): the layers
concatenated over a texture atlas, which ``MeshRenderer.from_mesh`` renders in one draw call
and export can write as one textured or vertex-coloured mesh
(:meth:`LayeredMesh.to_trimesh`) or as a scene with one node per layer
(:func:`layers_to_trimesh_scene`).

Where nothing is cut, the foreground layer is ``build_sphere_mesh``'s mesh, unchanged.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from .errors import SceneError
from .mesh import DisplacementMode, SphereMesh, _grid_depth, build_sphere_mesh, vertex_radii
from .rgbd import RGBDPanorama

FillMode = Literal["none", "stretch", "inpaint"]
FILL_MODES: tuple[str, ...] = ("none", "stretch", "inpaint")

#: Defaults (measured with benchmarks/bench_discontinuities.py).
DEFAULT_THRESHOLD = 0.05
DEFAULT_FILL: FillMode = "inpaint"
#: Largest head move (metres) whose disocclusions the background layer covers.
DEFAULT_REACH = 0.3
#: Depth (metres) of the skirt that extends a cut silhouette backward: the occluder's sides.
#: Its colours are the silhouette's own (a short rubber sheet): deeper skirts cover more of
#: the background fill. Measured with benchmarks/bench_discontinuities.py over 0-0.45 m with
#: view-dependent skirts (MSAA 4): 0.075 gives the best mean with no systematic loser (0.15,
#: best while skirts were fixed, now left room seed 2's floor behind its box 0.055 dB short).
DEFAULT_THICKNESS = 0.075
#: Soft silhouettes: the skirt fades to alpha 1 - feather at its back edge (MSAA alpha to
#: coverage). A little softness stands in for the anti-aliased mix of the silhouette pixels.
DEFAULT_FEATHER = 0.3
#: Telea inpainting radius in pixels of the (possibly shrunk) texture it works on.
INPAINT_RADIUS = 3
#: Telea's time grows with the masked area: it runs on the texture shrunk by an integer
#: factor (the fill scaled back up) above this width or this many masked pixels. Not
#: coarser: what a head move uncovers lies within a few pixels of the silhouette, and a
#: fill at half of 1024 px loses to the stretched mesh on detailed backgrounds (measured
#: with benchmarks/bench_discontinuities.py: up to -0.3 dB on the pillars scene).
INPAINT_MAX_WIDTH = 1024
INPAINT_MAX_PIXELS = 1_500_000
#: The fill fades to the local mean away from known background: a fill pixel d pixels from
#: the nearest one is blurred with sigma = FILL_BLUR * d (at most FILL_BLUR_MAX pixels).
FILL_BLUR = 1.0
FILL_BLUR_MAX = 16.0
#: Width of the background-disparity groups the band is inpainted in, in half-thresholds.
INPAINT_BIN = 2
#: Fill blurs this wide or wider run on a shrunk copy (see _gaussian).
SHRUNK_BLUR_SIGMA = 8.0
#: Widest background band, as a fraction of the panorama width (caps absurd reach values).
MAX_BAND_FRACTION = 0.125


# --- settings -----------------------------------------------------------------------------------


def check_settings(threshold: float, fill: str) -> None:
    """Raise a one-line :class:`SceneError` for a threshold <= 0 or an unknown fill mode."""
    if fill not in FILL_MODES:
        raise SceneError(
            f"sphere.discontinuities.fill: unknown mode {fill!r} (expected none, stretch or inpaint)"
        )
    try:
        ok = math.isfinite(float(threshold)) and float(threshold) > 0.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SceneError(
            f"sphere.discontinuities.threshold: must be a disparity step > 0, got {threshold!r}"
        )


# --- edges on the panorama ----------------------------------------------------------------------


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


def detect_edges(depth: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> DepthEdges:
    """Disparity jumps > ``threshold`` between 4-neighbours and the grid's triangle diagonal
    ((y + 1, x) - (y, x + 1)), wrapping across the ±180° seam (x = W - 1 meets x = 0).

    depth : (H, W) normalised disparity (1 = near), as in :class:`RGBDPanorama`.
    """
    check_settings(threshold, "none")
    d = np.asarray(depth, dtype=np.float32)
    near = np.zeros(d.shape, dtype=bool)
    far = np.zeros(d.shape, dtype=bool)
    right = np.roll(d, -1, axis=1)  # (y, x + 1), wrapping
    for a, b, ya, yb, xb in (
        (d, right, slice(None), slice(None), -1),  # horizontal
        (d[:-1], d[1:], slice(None, -1), slice(1, None), 0),  # vertical
        (d[1:], right[:-1], slice(1, None), slice(None, -1), -1),  # diagonal
    ):
        jump = b - a  # > 0: b is nearer
        b_near = jump > threshold
        a_near = jump < -threshold
        near[ya] |= a_near
        far[ya] |= b_near
        # b's pixels: rows yb, columns shifted by xb (roll back)
        near[yb] |= np.roll(b_near, -xb, axis=1)
        far[yb] |= np.roll(a_near, -xb, axis=1)
    return DepthEdges(near, far)


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
        """One trimesh of all layers: textured over the atlas (GLB/OBJ), or with per-vertex
        colours (PLY; unused vertices dropped, layers not welded to each other)."""
        import trimesh

        from .export import textured_trimesh

        if textured:
            c = self.combined()
            return textured_trimesh(c.vertices, c.faces, c.uvs, c.texture)
        parts = []
        for lay in self.layers:
            used = np.unique(lay.faces)
            remap = np.full(len(lay.vertices), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            rgba = np.full((len(used), 4), 255, dtype=np.uint8)
            rgba[:, :3] = _sample_nearest(lay.texture, lay.uvs[used])
            parts.append(
                trimesh.Trimesh(
                    lay.vertices[used],
                    remap[lay.faces].astype(np.int64),
                    vertex_colors=rgba,
                    process=False,
                )
            )
        return trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]


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


# --- building -----------------------------------------------------------------------------------


def _wrap_pad(a: np.ndarray, pad: int) -> np.ndarray:
    """Pad columns on both sides by wrapping (the panorama is periodic in longitude)."""
    if pad <= 0:
        return a
    if pad <= a.shape[1]:
        return np.concatenate([a[:, -pad:], a, a[:, :pad]], axis=1)
    reps = -(-pad // a.shape[1])  # pads wider than the image wrap more than once
    tiled = np.concatenate([a] * (2 * reps + 1), axis=1)
    start = reps * a.shape[1] - pad
    return tiled[:, start : start + a.shape[1] + 2 * pad]


def _inpaint_wrapped(
    rgb: np.ndarray, mask: np.ndarray, pad: int, radius: int, factor: int = 1
) -> np.ndarray:
    """cv2 Telea inpainting of ``mask`` pixels, periodic across the seam.

    factor > 1 inpaints a copy shrunk by that factor (a shrunk pixel is unknown when any of
    its pixels is) and scales the fill back up: Telea's cost grows with the masked area, and
    a fill that wide is smooth anyway.
    """
    h, w = mask.shape
    padded = _wrap_pad(rgb, pad)
    mpad = _wrap_pad(mask.astype(np.uint8), pad)
    if factor > 1:
        size = (max(1, padded.shape[1] // factor), max(1, h // factor))
        small = cv2.resize(padded, size, interpolation=cv2.INTER_AREA)
        msmall = (cv2.resize(mpad * np.uint8(255), size, interpolation=cv2.INTER_AREA) > 0).astype(
            np.uint8
        )
        out = cv2.inpaint(small, msmall, radius, cv2.INPAINT_TELEA)
        out = cv2.resize(out, (padded.shape[1], h), interpolation=cv2.INTER_LINEAR)
    else:
        out = cv2.inpaint(np.ascontiguousarray(padded), mpad, radius, cv2.INPAINT_TELEA)
    return out[:, pad : pad + w]


def _grow_band(
    depth: np.ndarray, edges: DepthEdges, band: int, half: float
) -> tuple[np.ndarray, np.ndarray]:
    """The band behind the cuts and its background disparity, (rows, cols) each.

    Seeds: near-side pixels (not ledges that are also a far side: those anchor another
    edge's background and must stay put), carrying the disparity of their farthest far-side
    neighbour. The band then grows into its neighbours, ``step`` cells at a time for
    ``band`` cells, taking every pixel clearly nearer (by ``half``) than the background it
    would inherit (the farthest among the band pixels within reach). Far-side pixels never
    join, so the background layer keeps the foreground's vertices along every far side: no
    crack. Growing through the occluder rather than taking each pixel's nearest edge also
    covers nested occluders (an object in front of a thin one in front of the wall), and
    never spreads over a background that merely slopes (a floor, a wall seen obliquely).
    """
    rows, cols = depth.shape
    big = np.float32(2.0)
    seeds = edges.near & ~edges.far
    d_seed = _min_filter_wrapped(np.where(edges.far, depth, big), 1)
    grown = seeds & (depth > d_seed + half)
    d_bg = np.where(grown, d_seed, big).astype(np.float32)
    step = max(1, math.ceil(band / 8))
    pad = band + step + 1
    # Grow on a wrap-padded copy: errors from the padding's outer edge travel at most `band`
    # cells, so the central columns are exact.
    grown_p, d_bg_p = _wrap_pad(grown, pad), _wrap_pad(d_bg, pad)
    depth_p, far_p = _wrap_pad(depth, pad), _wrap_pad(edges.far, pad)
    kernel = np.ones((2 * step + 1, 2 * step + 1), np.uint8)
    for _ in range(math.ceil(band / step)):
        d_prop = cv2.erode(d_bg_p, kernel, borderType=cv2.BORDER_REPLICATE)
        new = ~grown_p & ~far_p & (depth_p > d_prop + half)
        if not new.any():
            break
        d_bg_p[new] = d_prop[new]
        grown_p |= new
    grown = grown_p[:, pad : pad + cols]
    d_bg = d_bg_p[:, pad : pad + cols]
    # Pinholes (a pixel barely nearer than its neighbours' background): close them.
    holes = _close_wrapped(grown) & ~grown & ~edges.far
    if holes.any():
        d_hole = _min_filter_wrapped(d_bg, 1)
        d_bg[holes] = np.minimum(depth[holes], d_hole[holes])
        grown |= holes
    d_bg = np.where(grown, np.minimum(d_bg, depth), depth)
    return grown, d_bg


def _inpaint_band(
    tex: np.ndarray,
    depth: np.ndarray,
    band_mask: np.ndarray,
    d_bg: np.ndarray,
    band: int,
    half: float,
    radius: int,
) -> np.ndarray:
    """The background texture: ``tex`` with the band inpainted (OpenCV Telea) from sources at
    or behind the band's own background only.

    A band pixel's valid sources depend on its background: behind an object standing in
    front of a thin pillar in front of the wall, the band continues the pillar, while the
    pillar's own band continues the wall. So the band is split into groups by background
    disparity, in bins :data:`INPAINT_BIN` half-thresholds wide; each group is inpainted with
    everything clearly nearer than its background (within reach of it) masked out. The
    far-side pixels themselves stay sources: they are the background's only evidence right
    behind the silhouette, and their anti-aliased mix of occluder colour costs less than
    extrapolating from pixels further out (which lost to the stretched mesh on detailed
    backgrounds). Wider than :data:`INPAINT_MAX_WIDTH`, or with more than
    :data:`INPAINT_MAX_PIXELS` masked pixels, a group runs shrunk.
    """
    rows, cols = depth.shape
    th, tw = tex.shape[:2]
    out = tex.copy()
    level = np.floor(d_bg / (INPAINT_BIN * half)).astype(np.int64)
    reach = 2 * band + radius + 1
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)

    def fill_group(k: int):
        group = band_mask & (level == k)
        d_max = float(d_bg[group].max())
        near_zone = _wrap_pad(group.astype(np.uint8), reach)
        near_zone = cv2.dilate(near_zone, kernel)[:, reach : reach + cols] > 0
        mask = group | (near_zone & (depth > d_max + half))
        # Only the rows around the group matter (the mask wraps in longitude).
        ys = np.flatnonzero(group.any(axis=1))
        r0, r1 = max(0, ys[0] - reach), min(rows, ys[-1] + reach + 1)
        t0, t1 = r0 * th // rows, -(-r1 * th // rows)
        mask_t = _resize_mask(mask, (th, tw))[t0:t1]
        factor = max(
            math.ceil(tw / INPAINT_MAX_WIDTH),
            math.ceil(math.sqrt(np.count_nonzero(mask_t) / INPAINT_MAX_PIXELS)),
        )
        pad = int(min(tw, math.ceil(reach * tw / cols) + (radius + 2) * factor))
        filled = _inpaint_wrapped(tex[t0:t1], mask_t, pad, radius, factor)
        filled = _blur_with_distance(filled, mask_t, pad, FILL_BLUR)
        return t0, t1, _resize_mask(group, (th, tw))[t0:t1], filled

    # OpenCV releases the GIL: the groups inpaint in parallel on a few threads.
    groups = [int(k) for k in np.unique(level[band_mask])]
    workers = max(1, min(len(groups), 4, len(os.sched_getaffinity(0))))
    with ThreadPoolExecutor(workers) as pool:
        for t0, t1, group_t, filled in pool.map(fill_group, groups):
            out[t0:t1][group_t] = filled[group_t]
    return out


def _blur_with_distance(img: np.ndarray, mask: np.ndarray, pad: int, k: float) -> np.ndarray:
    """``img`` with each ``mask`` pixel blurred (Gaussian) by ``sigma = k * d``, d its distance
    in pixels to the nearest pixel outside ``mask``; periodic across the seam.

    What a head move uncovers is unknown: the further a fill pixel lies from real background,
    the less its exact colour can be trusted, and the local mean is the estimate with the
    least squared error. So the fill keeps Telea's detail next to the edge and fades to the
    local mean deeper in (sigma interpolated over a ladder of blurs, up to
    :data:`FILL_BLUR_MAX`).
    """
    if k <= 0.0 or not mask.any():
        return img
    w = mask.shape[1]
    mpad = _wrap_pad(mask.astype(np.uint8), pad)
    dist = cv2.distanceTransform(mpad, cv2.DIST_L2, 3)[:, pad : pad + w]
    sigma = np.minimum(k * dist, FILL_BLUR_MAX)
    top = float(sigma.max())
    if top <= 0.0:
        return img
    ladder = [0.0]
    while ladder[-1] < top:
        ladder.append(max(1.0, 2.0 * ladder[-1]))
    # Only the masked pixels change: the ladder is read and mixed there alone.
    ys, xs = np.nonzero(sigma > 0.0)
    s = sigma[ys, xs]
    padded = _wrap_pad(img, pad).astype(np.float32)
    lower = img[ys, xs].astype(np.float32)
    mixed = lower.copy()
    for lo, hi in zip(ladder[:-1], ladder[1:], strict=True):
        upper = _gaussian(padded, hi)[ys, xs + pad]
        sel = (s > lo) & (s <= hi)
        if sel.any():
            t = ((s[sel] - lo) / (hi - lo))[:, None]
            mixed[sel] = (1.0 - t) * lower[sel] + t * upper[sel]
        lower = upper
    out = img.copy()
    out[ys, xs] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``img``; from :data:`SHRUNK_BLUR_SIGMA` on, computed on a copy shrunk
    by ``sigma // 2`` (box-filtered down, blurred, bilinear back up, their variances taken
    off the blur's): within 1.5 levels of the exact blur (0.1 on average), at a small part
    of a wide kernel's cost (sigma 16 at 2048 wide: 4 ms instead of 90 ms a strip)."""
    if sigma < SHRUNK_BLUR_SIGMA:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    h, w = img.shape[:2]
    f = int(sigma // 2)
    size = (max(1, round(w / f)), max(1, round(h / f)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), math.sqrt(max(sigma**2 / f**2 - 0.25, 0.25)))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _min_filter_wrapped(a: np.ndarray, radius: int) -> np.ndarray:
    """Minimum over a (2 radius + 1)^2 window, periodic across the seam."""
    pad = min(radius, a.shape[1])
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    out = cv2.erode(_wrap_pad(a, pad), kernel, borderType=cv2.BORDER_REPLICATE)
    return out[:, pad : pad + a.shape[1]]


def _close_wrapped(mask: np.ndarray) -> np.ndarray:
    """3 x 3 morphological closing, periodic across the seam."""
    padded = _wrap_pad(mask.astype(np.uint8), 2)
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return closed[:, 2:-2] > 0


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    return (
        cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    )


def build_layered_mesh(
    rgbd: RGBDPanorama,
    resolution: int | None = None,
    *,
    radius: float = 5.0,
    mode: DisplacementMode = "linear",
    strength: float = 0.5,
    near: float | None = None,
    far: float | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    fill: FillMode | str = DEFAULT_FILL,
    thickness: float = DEFAULT_THICKNESS,
    reach: float = DEFAULT_REACH,
    feather: float = DEFAULT_FEATHER,
    inpaint_radius: int = INPAINT_RADIUS,
) -> LayeredMesh:
    """Mesh an RGBD panorama with its depth discontinuities handled.

    resolution, radius, mode, strength, near, far : as :func:`depthfusion.mesh.build_sphere_mesh`.
    threshold : normalised-disparity step between grid neighbours that counts as an edge (> 0).
    fill : ``stretch`` (one continuous mesh, no cut), ``none`` (cut only: holes behind the
        edges) or ``inpaint`` (cut + silhouette skirt + a background layer behind every cut).
    thickness : ``inpaint``: depth in metres of the skirt that extends each cut silhouette
        backward (the occluder's unseen sides; it stops at the background when the jump is
        smaller). 0 = no skirt.
    reach : ``inpaint``: head move in metres whose disocclusions the background layer must
        cover; sets the band width behind each edge.
    feather : ``inpaint``: soft silhouettes, in [0, 1]: the skirt fades to alpha
        ``1 - feather`` at its back edge (drawn with MSAA alpha-to-coverage). 0 = hard edges
        (and no alpha channel).
    inpaint_radius : Telea neighbourhood in texture pixels.
    """
    check_settings(threshold, fill)
    for name, value, ok in (
        ("thickness", thickness, lambda v: v >= 0.0),
        ("reach", reach, lambda v: v >= 0.0),
        ("feather", feather, lambda v: 0.0 <= v <= 1.0),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and ok(value)):
            bound = "in [0, 1]" if name == "feather" else ">= 0 metres"
            raise SceneError(f"sphere.discontinuities.{name}: must be {bound}, got {value!r}")
    base = build_sphere_mesh(
        rgbd, resolution, radius=radius, mode=mode, strength=strength, near=near, far=far
    )
    if fill == "stretch":
        fg = MeshLayer("foreground", base.vertices, base.uvs, base.faces, base.texture)
        return LayeredMesh([fg], base.rows, base.cols, float(threshold), fill)
    metric_range = (near, far) if near is not None and far is not None else rgbd.metric_range

    def depth_to_radius(d: np.ndarray) -> np.ndarray:
        return vertex_radii(d, mode, radius, strength, metric_range)

    return _cut_and_fill(
        base,
        rgbd,
        depth_to_radius,
        threshold=float(threshold),
        fill=fill,
        thickness=float(thickness),
        reach=float(reach),
        feather=float(feather),
        inpaint_radius=int(inpaint_radius),
    )


def _cut_and_fill(
    base: SphereMesh,
    rgbd: RGBDPanorama,
    depth_to_radius,
    *,
    threshold: float,
    fill: str,
    thickness: float,
    reach: float,
    feather: float,
    inpaint_radius: int,
) -> LayeredMesh:
    rows, cols = base.rows, base.cols
    stride = cols + 1
    n_grid = rows * stride
    depth = _grid_depth(rgbd.depth, cols).astype(np.float32, copy=False)

    # Disparity of every vertex of the seam-split layout (seam column = column 0). Pole copy j
    # takes ring vertex j's value: a fan triangle is cut only by a jump along its ring, not
    # by the ring's departure from the pole's mean (build_sphere_mesh's pole radius).
    d_vert = np.empty(len(base.vertices), dtype=np.float32)
    grid_d = d_vert[:n_grid].reshape(rows, stride)
    grid_d[:, :cols] = depth
    grid_d[:, cols] = depth[:, 0]
    d_vert[n_grid : n_grid + cols] = depth[0]
    d_vert[n_grid + cols :] = depth[-1]

    # Cut: triangles whose vertex disparities span more than the threshold.
    faces = base.faces
    fmax = _face_reduce(d_vert, rows, cols, np.maximum)
    fmin = _face_reduce(d_vert, rows, cols, np.minimum)
    cut = (fmax - fmin) > threshold
    cut_idx = np.flatnonzero(cut)

    # Near/far sides, per corner of each cut triangle: nearer (farther) than another corner
    # of the same triangle by more than the threshold. A corner can be both (a ledge).
    cf = faces[cut_idx]
    cfd = d_vert[cf]
    cmax = fmax[cut_idx, None]
    half = 0.5 * threshold
    pair = cfd[:, :, None] - cfd[:, None, :]  # [t, k, j] = d_k - d_j
    is_near = (pair > threshold).any(axis=2)
    is_far = (pair < -threshold).any(axis=2)
    near_v = np.zeros(len(d_vert), dtype=bool)
    far_v = np.zeros(len(d_vert), dtype=bool)
    near_v[cf[is_near]] = True
    far_v[cf[is_far]] = True
    edges = DepthEdges(_fold(near_v, rows, cols), _fold(far_v, rows, cols))

    fg = MeshLayer(
        "foreground", base.vertices, base.uvs, faces[~cut] if cut_idx.size else faces, base.texture
    )
    result = LayeredMesh([fg], rows, cols, threshold, fill, edges)
    if not cut_idx.size or fill == "none":
        return result

    # Skirt: each cut triangle again, its far corners pulled forward to at most `thickness`
    # behind the triangle's nearest corner (same directions and uvs, so from the centre it
    # covers exactly the cut cell, with the panorama's colours).
    if thickness > 0.0 or feather > 0.0:
        _add_skirt(fg, base, cf, cfd, cmax, is_near, thickness, feather, depth_to_radius)
        fg.across = _skirt_across(fg, base, depth, cf, cfd, cmax, is_near, depth_to_radius)

    # Band behind the cuts (see _grow_band), as wide as the largest disocclusion a move of
    # `reach` metres opens: angle = reach * (1/r_near - 1/r_far) over every cut triangle.
    inv_r = 1.0 / depth_to_radius(np.stack([cmax[:, 0], fmin[cut_idx]]))
    max_dinv = float((inv_r[0] - inv_r[1]).max())
    cell = 2.0 * math.pi / cols
    band = math.ceil(reach * max_dinv / cell) + 2
    band = int(min(band, max(2, MAX_BAND_FRACTION * cols)))
    band_mask, d_bg = _grow_band(depth, edges, band, half)
    in_band_v = _unfold(band_mask, rows, cols)
    in_bg_v = in_band_v | far_v
    in_bg_v[cf.ravel()] = True
    face_ok = _face_reduce(in_bg_v, rows, cols, np.logical_and)
    face_ok &= cut | _face_reduce(in_band_v, rows, cols, np.logical_or)
    bg_faces = faces[face_ok]
    used_mask = np.zeros(len(d_vert), dtype=bool)
    used_mask[bg_faces.ravel()] = True
    used = np.flatnonzero(used_mask)
    remap = np.zeros(len(d_vert), dtype=np.int64)
    remap[used] = np.arange(len(used))
    bg_vertices = base.vertices[used]
    moved = used[(used < n_grid) & in_band_v[used]]
    if moved.size:
        i, j = np.divmod(moved, stride)
        r_old = np.linalg.norm(base.vertices[moved], axis=1)
        r_new = depth_to_radius(d_bg[i, j % cols])
        scale = r_new / np.maximum(r_old, 1e-12)
        bg_vertices[remap[moved]] = base.vertices[moved] * scale[:, None]

    # Background layer: the cut triangles and every triangle touching the band, band
    # vertices moved back to their background disparity; far-side vertices stay shared.
    bg_tex = _inpaint_band(rgbd.rgb, depth, band_mask, d_bg, band, half, inpaint_radius)
    result.layers.append(
        MeshLayer(
            "background",
            bg_vertices,
            base.uvs[used],
            remap[bg_faces].astype(np.uint32),
            bg_tex,
        )
    )
    result.band = band
    return result


def _add_skirt(
    fg: MeshLayer,
    base: SphereMesh,
    cf: np.ndarray,
    cfd: np.ndarray,
    cmax: np.ndarray,
    is_near: np.ndarray,
    thickness: float,
    feather: float,
    depth_to_radius,
) -> None:
    """Append the skirt triangles (own vertices, three per cut triangle) to ``fg``.

    A skirt corner moved from radius r0 to r along its direction gets texq = r / r0: the
    renderer's perspective-correct interpolation of (u q, v q, q) then gives, seen from the
    centre, exactly the uvs of the stretched triangle it replaces (not those of a triangle
    with the skirt's corner depths), and from elsewhere the panorama projected from the
    centre onto the skirt."""
    vid = cf.ravel()
    near_corner = is_near.ravel()
    r_near = depth_to_radius(np.broadcast_to(cmax, cf.shape).ravel())
    r_far = depth_to_radius(cfd.ravel())
    r = np.minimum(r_far, r_near + thickness)
    v = base.vertices[vid]
    scale = r / np.maximum(np.linalg.norm(v, axis=1), 1e-12)
    # x 1.0 is exact: bit-identical with the foreground, no crack (near corners, and far
    # corners the thickness leaves where they were)
    scale[near_corner | (r_far <= r_near + thickness)] = 1.0
    pos = v * scale[:, None]
    n0 = len(fg.vertices)
    fg.vertices = np.concatenate([fg.vertices, pos.astype(np.float32)])
    fg.uvs = np.concatenate([fg.uvs, base.uvs[vid]])
    skirt_faces = (n0 + np.arange(len(vid), dtype=np.uint32)).reshape(-1, 3)
    fg.faces = np.concatenate([fg.faces, skirt_faces])
    texq = np.ones(len(fg.vertices), dtype=np.float32)
    texq[n0:] = scale
    fg.texq = texq
    fg.skirt_source = vid.astype(np.uint32)
    if feather > 0.0:
        alpha = np.ones(len(fg.vertices), dtype=np.float32)
        alpha[n0:][~near_corner] = 1.0 - feather
        fg.alpha = alpha


def _face_reduce(values: np.ndarray, rows: int, cols: int, ufunc) -> np.ndarray:
    """``ufunc`` over the three corners of every face of :func:`depthfusion.mesh.grid_faces`
    (same order), from per-vertex ``values`` of the seam-split layout; grid slices instead of
    a 3 x faces gather."""
    stride = cols + 1
    n_grid = rows * stride
    g = values[:n_grid].reshape(rows, stride)
    a, c, b, d = g[:-1, :-1], g[1:, :-1], g[:-1, 1:], g[1:, 1:]
    quads = np.empty((rows - 1, cols, 2), dtype=values.dtype)
    ufunc(ufunc(a, c), b, out=quads[..., 0])  # a-c-b
    ufunc(ufunc(b, c), d, out=quads[..., 1])  # b-c-d
    ring = np.arange(cols)
    north = ufunc(ufunc(values[n_grid + ring], g[0, ring]), g[0, ring + 1])
    south = ufunc(ufunc(values[n_grid + cols + ring], g[-1, ring + 1]), g[-1, ring])
    return np.concatenate([quads.ravel(), north, south])


def _fold(per_vertex: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Seam-split per-vertex flags -> (rows, cols) grid (seam copy ORed into column 0)."""
    g = per_vertex[: rows * (cols + 1)].reshape(rows, cols + 1)
    out = g[:, :cols].copy()
    out[:, 0] |= g[:, cols]
    return out


def _unfold(grid: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows, cols) grid flags -> seam-split per-vertex flags (pole copies False)."""
    out = np.zeros(rows * (cols + 1) + 2 * cols, dtype=bool)
    g = out[: rows * (cols + 1)].reshape(rows, cols + 1)
    g[:, :cols] = grid
    g[:, cols] = grid[:, 0]
    return out


def _skirt_across(
    fg: MeshLayer,
    base: SphereMesh,
    depth: np.ndarray,
    cf: np.ndarray,
    cfd: np.ndarray,
    cmax: np.ndarray,
    is_near: np.ndarray,
    depth_to_radius,
) -> np.ndarray:
    """Per-vertex ``across`` of ``fg`` (whose last ``3 len(cf)`` vertices are the skirt).

    A skirt stands for the occluder's unseen side, which only a head move *across* the edge
    reveals. Where the move runs along the edge (a vertical edge seen while rising) nothing
    opens, and the skirt's far corners, pulled forward to the occluder, would show the far
    side's colours at the wrong depth: the stretched triangle they replace keeps them at the
    far side's depth, where they belong. So the pinhole renderer (shaders/mesh.glsl) moves
    each far corner between the two by the parallax the view opens across the edge: whole
    skirt from a gap of one pixel, the stretched triangle at none (so from the centre the
    cell is drawn exactly as the panorama shows it). It needs, per far corner, the
    direction across the edge, from the gradient of the near side's mask around it (Sobel on
    the grid, periodic in longitude; a triangle's own corners would give diagonals, the
    disparity's own gradient tilts with a sloping background), as an angle from east toward
    north in the corner's tangent plane, and the inverse-distance step of its triangle.
    """
    rows, cols = depth.shape
    stride = cols + 1
    n_grid = rows * stride
    t = len(cf)
    n0 = len(fg.vertices) - 3 * t
    across = np.zeros((len(fg.vertices), 2), dtype=np.float32)
    vid = cf.ravel()
    # Every far corner on the grid (pole fans keep their skirt): those the thickness left in
    # place only lose their feather when the view opens no gap (opaque, as without cuts).
    pulled = ~is_near.ravel() & (vid < n_grid)
    if not pulled.any():
        return across
    i, j = np.divmod(vid[pulled].astype(np.int64), stride)
    j %= cols
    padded = _wrap_pad(depth, 1)
    padded = np.concatenate([padded[:1], padded, padded[-1:]], axis=0)
    # Sobel of the near side's mask (neighbours nearer than halfway to the triangle's
    # nearest corner), not of the disparity itself: a background that slopes (a floor behind
    # a pillar's foot) would tilt the direction off the edge's normal, and a vertical edge
    # would then keep part of its skirt when the head rises along it. Where the mask is
    # symmetric around the corner (a one-cell gap), the disparity's Sobel decides.
    d_near = np.broadcast_to(cmax, cf.shape).ravel()[pulled]  # the triangle's nearest corner
    mid = 0.5 * (depth[i, j] + d_near)
    win = {
        (di, dj): (padded[i + 1 + di, j + 1 + dj] > mid).astype(np.float32)
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
    }
    g_col = sum(w * (win[di, 1] - win[di, -1]) for di, w in ((-1, 1.0), (0, 2.0), (1, 1.0)))
    g_row = sum(w * (win[1, dj] - win[-1, dj]) for dj, w in ((-1, 1.0), (0, 2.0), (1, 1.0)))
    flat = (g_col == 0.0) & (g_row == 0.0)
    if flat.any():
        g_col[flat] = cv2.Sobel(padded, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1][i[flat], j[flat]]
        g_row[flat] = cv2.Sobel(padded, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1][i[flat], j[flat]]
    lat = (0.5 - (i + 0.5) / rows) * math.pi
    # Per radian: a column is 2 pi / cols of longitude (cos(lat) of arc), a row pi / rows of
    # latitude, rows running south.
    east = g_col / (2.0 * math.pi / cols) / np.cos(lat)
    north = -g_row / (math.pi / rows)
    angle = np.arctan2(north, east)  # toward the near side (the sign does not matter)
    r_near = depth_to_radius(d_near)
    r_far = depth_to_radius(cfd.ravel()[pulled])
    step = 1.0 / r_near - 1.0 / r_far
    rows_out = n0 + np.flatnonzero(pulled)
    across[rows_out, 0] = angle
    across[rows_out, 1] = np.maximum(step, 0.0)
    # Near corners take their triangle's first far corner's values: they never move, but
    # the whole triangle then agrees on when it is a stretched one (k = 0 at every corner:
    # sampled as plain uvs, bit-identical to the stretched mesh).
    tri = across[n0:].reshape(t, 3, 2)
    first_far = np.argmax(tri[:, :, 1] > 0.0, axis=1)
    src = tri[np.arange(t), first_far]
    near_rows = is_near & (tri[:, :, 1] <= 0.0) & (src[:, None, 1] > 0.0)
    tri[near_rows] = np.broadcast_to(src[:, None, :], tri.shape)[near_rows]
    return across
