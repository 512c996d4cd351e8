"""Depth discontinuities: cut the rubber sheets, fill what a moving head uncovers.

A displaced sphere mesh (sphere.py) is one continuous surface, so wherever the depth jumps
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
from typing import Literal

import cv2
import numpy as np

from ..errors import SceneError
from ..rgbd.panorama import RGBDPanorama
from .arrays import select_rows
from .inpaint import INPAINT_RADIUS, _grow_band, _inpaint_band, _wrap_pad
from .layers import DepthEdges, LayeredMesh, MeshLayer
from .sphere import DisplacementMode, SphereMesh, _grid_depth, build_sphere_mesh, vertex_radii

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
        fg.grid_cut = np.zeros(len(base.faces), dtype=bool)
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
        "foreground",
        base.vertices,
        base.uvs,
        select_rows(faces, ~cut) if cut_idx.size else faces,
        base.texture,
    )
    fg.grid_cut = cut
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
    bg_faces = select_rows(faces, face_ok)
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
