"""The adaptive mesh of 360 renders: a crack-free quadtree simplification of a sphere mesh.

:class:`~depthfusion.render.ods.ODSRenderer` rasterises on a CPU (llvmpipe) at about one
microsecond per triangle, so :func:`simplify_for_ods` first covers the lat-long grid with big
triangles wherever the *projected* image of the mesh is linear to within a fraction of an
output pixel for the viewpoints that will be rendered (full resolution at depth edges).
:func:`simplify_layers` does the same for a layered mesh with its layers kept apart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..conventions import DEFAULT_IPD
from ..mesh.arrays import select_rows
from ..mesh.sphere import quad_corners
from .gl import RenderError
from .ods import DEFAULT_TAPER, _taper_radians


@dataclass
class ODSMesh:
    """A textured triangle mesh ready for :class:`ODSRenderer` (what :func:`simplify_for_ods`
    returns). Same fields and meaning as :class:`~depthfusion.mesh.SphereMesh`'s arrays.

    vertices : (n, 3) float32;  uvs : (n, 2) float32;  faces : (m, 3) uint32
    texture : (H, W, 3) uint8;  alpha : (n,) float32 or None (opaque)
    leaves : quadtree leaf count per block size in cells (statistics; 1 = single cells)
    texq : (n,) float32 or None: projective texture coordinate (pinhole renders only)
    """

    vertices: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    texture: np.ndarray
    leaves: dict[int, int]
    alpha: np.ndarray | None = None
    texq: np.ndarray | None = None

    @property
    def triangle_count(self) -> int:
        return int(len(self.faces))


def _unique_positions(positions: Sequence[Sequence[float]] | None) -> np.ndarray:
    """Distinct positions (k, 3), in their order along the path; the centre when None."""
    if positions is None or len(positions) == 0:
        return np.zeros((1, 3))
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    _, first = np.unique(np.round(pos, 6), axis=0, return_index=True)
    return pos[np.sort(first)]


def _representative(pos: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` positions that bound the set: the extremes per axis and the farthest
    from the centre (projection errors grow with the offset from the mesh's centre)."""
    if len(pos) <= limit:
        return pos
    norms = np.linalg.norm(pos, axis=1)
    picks = {int(np.argmax(norms)), int(np.argmin(norms))}
    for k in range(3):
        picks.update((int(np.argmin(pos[:, k])), int(np.argmax(pos[:, k]))))
    return pos[sorted(picks)[:limit]]


def _fan_weights(s: int) -> np.ndarray:
    """(5, (s+1)^2) weights of corners 00, 01, 10, 11 and the centre in a block's coarsest
    triangulation: four triangles from the centre vertex to the block's edges (more boundary
    vertices, added where neighbours are finer, only refine it)."""
    a = (np.arange(s + 1) / s)[:, None] * np.ones((1, s + 1))
    b = a.T
    w = np.zeros((5, s + 1, s + 1))
    top, right = (a <= b) & (a + b <= 1.0), (a <= b) & (a + b > 1.0)
    left, bottom = (a > b) & (a + b <= 1.0), (a > b) & (a + b > 1.0)
    w[0] = np.where(top | left, 1 - a - b, 0.0)
    w[1] = np.where(top, b - a, 0.0) + np.where(right, b - a, 0.0)
    w[2] = np.where(left, a - b, 0.0) + np.where(bottom, a - b, 0.0)
    w[3] = np.where(right | bottom, a + b - 1, 0.0)
    w[4] = np.where(top, 2 * a, 0.0) + np.where(bottom, 2 * (1 - a), 0.0)
    w[4] += np.where(left, 2 * b, 0.0) + np.where(right, 2 * (1 - b), 0.0)
    return w.reshape(5, -1).astype(np.float32)


def _fan_errors(field: np.ndarray, s: int, bi: np.ndarray, bj: np.ndarray) -> np.ndarray:
    """Max |field - its fan interpolation| over the s x s blocks at (bi, bj) (block indices).

    ``field`` is per grid vertex, (rows, cols + 1) float32; a block spans s + 1 vertices a side.
    """
    rs, cs = field.strides
    nbi, nbj = (field.shape[0] - 1) // s, (field.shape[1] - 1) // s
    windows = np.lib.stride_tricks.as_strided(
        field, shape=(nbi, nbj, s + 1, s + 1), strides=(s * rs, s * cs, rs, cs), writeable=False
    )
    win = windows[bi, bj].reshape(len(bi), -1)
    h = s // 2
    keys = win[:, [0, s, s * (s + 1), (s + 1) ** 2 - 1, h * (s + 1) + h]]
    err = np.abs(win - keys @ _fan_weights(s)).max(axis=1)
    err[~np.isfinite(err)] = np.inf
    return err


def _near_view_axis(grid: np.ndarray, path: np.ndarray, angle: float) -> np.ndarray:
    """Grid vertices within ``angle`` (seen from the path) of the vertical axis through any
    point of the viewpoint path (a polyline through ``path`` (k, 3)): (rows, cols + 1) bool."""
    out = np.zeros(grid.shape[:2], dtype=bool)
    if not len(path) or np.hypot(path[:, 0], path[:, 2]).max() <= 1e-6:
        return out  # the axis is the mesh's own: its pole caps are drawn exactly
    if len(path) > 64:  # the path is smooth: 64 chords follow it to well under a cell
        path = path[np.unique(np.linspace(0, len(path) - 1, 64).round().astype(int))]
    tan_a = np.tan(angle)
    g = grid.astype(np.float32, copy=False)
    x, y, z = g[..., 0], g[..., 1], g[..., 2]
    reach = np.hypot(path[:, 0], path[:, 2]).max()
    dy = np.maximum(np.abs(y - path[:, 1].min()), np.abs(y - path[:, 1].max()))
    cand = np.flatnonzero(np.hypot(x, z) <= reach + dy * tan_a + 1e-3)
    if not len(cand):
        return out
    px, py, pz = x.ravel()[cand], y.ravel()[cand], z.ravel()[cand]
    a, b = (path, path) if len(path) == 1 else (path[:-1], path[1:])
    near = np.zeros(len(cand), dtype=bool)
    for p0, p1 in zip(a, b, strict=True):
        d = p1 - p0
        dd = d[0] ** 2 + d[2] ** 2
        t = 0.0 if dd < 1e-18 else np.clip(((px - p0[0]) * d[0] + (pz - p0[2]) * d[2]) / dd, 0, 1)
        horiz = np.hypot(px - (p0[0] + t * d[0]), pz - (p0[2] + t * d[2]))
        near |= horiz <= np.abs(py - (p0[1] + t * d[1])) * tan_a + 1e-6
    out.ravel()[cand[near]] = True
    return out


def _error_fields(grid, lon_m, lat_m, views, radius, taper, px_per_rad) -> list[np.ndarray]:
    """Projected minus mesh angles of every grid vertex, in output pixels, per view and eye.

    x is scaled by the cosine of the projected latitude: angle on the sphere, as the eye sees
    it (against ray-cast truth this is as good as the dense mesh, also next to the poles).
    Computed in bands of rows on a few threads (numpy releases the GIL in its loops; every
    value is elementwise, so the bands give the same numbers as one pass).
    """
    g32 = grid.astype(np.float32, copy=False)
    lon_m32, lat_m32 = lon_m.astype(np.float32)[None, :], lat_m.astype(np.float32)[:, None]
    plan = []  # (view, its eyes): a pair of fields (x, y) per eye
    for p in views:
        centred = float(np.abs(p).max()) < 1e-9
        if centred and radius == 0.0:
            continue  # the identity: exact for any triangulation
        # centred: the right eye mirrors the left exactly
        plan.append((p, (-radius,) if centred else ((-radius, radius) if radius else (0.0,))))
    n_fields = 2 * sum(len(eyes) for _, eyes in plan)
    fields = [np.empty(g32.shape[:2], dtype=np.float32) for _ in range(n_fields)]
    if not plan:
        return fields

    def band(r0: int, r1: int) -> None:
        _error_band(g32[r0:r1], lon_m32, lat_m32[r0:r1], plan, taper, px_per_rad,
                    [f[r0:r1] for f in fields])  # fmt: skip

    rows = g32.shape[0]
    workers = max(1, min(4, len(os.sched_getaffinity(0)), rows // 64))
    cuts = np.linspace(0, rows, workers + 1).round().astype(int)
    if workers == 1:
        band(0, rows)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(band, cuts[:-1], cuts[1:]))  # list() re-raises a worker's error
    return fields


def _error_band(g32, lon_m32, lat_m32, plan, taper, px_per_rad, out) -> None:
    """:func:`_error_fields` for one band of rows, into ``out`` (views of the fields)."""
    t0, t1 = _taper_radians(taper)
    scale = np.float32(px_per_rad)
    k = 0
    for p, eyes in plan:
        x, y, z = (g32[..., i] - np.float32(p[i]) for i in range(3))
        rho = np.hypot(x, z)
        azimuth = np.arctan2(x, -z)
        lat0 = np.arctan2(y, rho)
        safe_rho = np.maximum(rho, np.float32(1e-12))
        for e in eyes:
            lat, r = lat0, np.zeros_like(rho)
            if e:  # one step of the shader's iteration: the rest moves lat smoothly, by < 1e-6
                ramp = np.minimum(np.maximum((np.abs(lat0) - t0) / (t1 - t0), 0.0), 1.0)
                r = e * (1.0 - ramp * ramp * (3.0 - 2.0 * ramp))
                r = np.minimum(np.maximum(r, -0.999 * rho), 0.999 * rho)
                lat = np.arctan2(y, np.sqrt(rho * rho - r * r))
            dlon = azimuth - np.arcsin(r / safe_rho) - lon_m32
            dlon -= np.float32(2.0 * np.pi) * np.round(dlon * np.float32(0.5 / np.pi))
            np.multiply(dlon * np.cos(lat), scale, out=out[k])
            np.multiply(lat - lat_m32, scale, out=out[k + 1])
            k += 2


def _classify_faces(
    faces: np.ndarray, rows: int, cols: int, grid_cut: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(broken cells (rows - 1, cols) bool, the faces of broken cells, the faces that are not
    the grid's own (pole caps, skirts), the vertices past the layout those use).

    A cell is broken when it does not have exactly its two grid triangles (one was cut at a
    depth edge, or unexpected topology): it is kept as it is and joins no block.
    """
    stride = cols + 1
    n_grid = rows * stride
    n_layout = n_grid + 2 * cols
    nq = 2 * (rows - 1) * cols
    if grid_cut is not None and len(grid_cut) == nq + 2 * cols:
        # The layer says which grid faces it dropped (mesh/layers.py, MeshLayer.grid_cut):
        # its kept grid triangles come first, in grid order. Spot-checked, not trusted.
        cut_q = grid_cut[:nq]
        pairs = cut_q.reshape(rows - 1, cols, 2)
        broken = pairs[..., 0] | pairs[..., 1]
        kept = np.flatnonzero(~cut_q)
        n_kept = len(kept)
        if len(faces) >= n_kept:
            probe = np.unique(np.linspace(0, n_kept - 1, min(n_kept, 257)).astype(np.int64))
            if np.array_equal(faces[probe], _cell_faces(kept[probe], cols)):
                broken_faces = select_rows(faces[:n_kept], broken.ravel()[kept // 2])
                other = faces[n_kept:]
                extra = other[other.max(axis=1) >= n_layout] if len(other) else other
                return broken, broken_faces, other, np.unique(extra)
    faces = np.asarray(faces, dtype=np.int64)
    # Which faces are the grid's own (two per cell), which cap the poles, which are extra.
    # (Corner-wise minimum/maximum: numpy's axis=1 reductions of length 3 are several times
    # slower on millions of faces.)
    largest = np.maximum(np.maximum(faces[:, 0], faces[:, 1]), faces[:, 2])
    on_grid = largest < n_grid
    grid_faces, other_faces = select_rows(faces, on_grid), select_rows(faces, ~on_grid)
    row, col = np.divmod(grid_faces, stride)
    cell = np.minimum(np.minimum(row[:, 0], row[:, 1]), row[:, 2]) * cols + np.minimum(
        np.minimum(col[:, 0], col[:, 1]), col[:, 2]
    )
    per_cell = np.bincount(cell, minlength=(rows - 1) * cols).reshape(rows - 1, cols)
    broken = per_cell != 2
    extra = np.unique(faces[largest >= n_layout])
    return broken, select_rows(grid_faces, broken.ravel()[cell]), other_faces, extra


def _any_pyramid(cells: np.ndarray, top: int) -> dict[int, np.ndarray]:
    """{s: whether any cell of each s x s block is set} for s = 2, 4, .. top, each level the
    OR of 2 x 2 blocks of the one below (blocks that do not fit are left out)."""
    out, level, s = {}, cells, 2
    while s <= top:
        r, c = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
        q = level[:r, :c]
        level = q[0::2, 0::2] | q[0::2, 1::2] | q[1::2, 0::2] | q[1::2, 1::2]
        out[s] = level
        s *= 2
    return out


def _cell_faces(index: np.ndarray, cols: int) -> np.ndarray:
    """Faces ``index`` of :func:`~depthfusion.mesh.sphere.grid_faces` (grid quads only)."""
    stride = cols + 1
    i, j = np.divmod(index // 2, cols)
    return (i * stride + j)[:, None] + quad_corners(stride).astype(np.int64)[index % 2]


@dataclass
class _Simplified:
    keep: np.ndarray  # indices of the input vertices kept, in output order
    faces: np.ndarray  # (m, 3) indices into ``keep``
    leaves: dict[int, int]


def _simplify_grid_layer(
    vertices: np.ndarray,
    uvs: np.ndarray,
    faces: np.ndarray,
    rows: int,
    cols: int,
    eye_width: int,
    ipd: float,
    positions,
    taper: tuple[float, float],
    tolerance: float,
    max_block: int | None,
    max_views: int,
    grid_cut: np.ndarray | None = None,
) -> _Simplified:
    """The quadtree simplification of one layer in the seam-split grid layout (mesh/sphere.py).

    The layer's first ``rows * (cols + 1) + 2 cols`` vertices must be that layout; its faces
    may be the full grid's or a subset (cells that lost a triangle, e.g. cut at a depth edge,
    keep their remaining triangles as they are and join no block), and faces on vertices past
    the layout (skirts) are carried over unchanged. ``grid_cut``: the layer's
    :attr:`~depthfusion.mesh.layers.MeshLayer.grid_cut`, when it has one.
    """
    stride = cols + 1
    n_grid = rows * stride
    n_layout = n_grid + 2 * cols
    if len(vertices) < n_layout or len(uvs) != len(vertices):
        raise RenderError("simplify_for_ods: the mesh is not in the lat-long grid layout")
    # float32, as the error fields compute (a float32 mesh's own array, no copy)
    grid = np.asarray(vertices[:n_grid]).astype(np.float32, copy=False).reshape(rows, stride, 3)
    if max_block is None:
        max_block = max(2, cols // 32)
    top = 1
    while top * 2 <= min(max_block, rows - 1, cols):
        top *= 2

    broken, broken_faces, other_faces, extra_vertices = _classify_faces(faces, rows, cols, grid_cut)

    pos_all = _unique_positions(positions)
    views = _representative(pos_all, max_views)
    lon_m = (np.asarray(uvs[:stride, 0], dtype=np.float64) - 0.5) * (2.0 * np.pi)
    lat_m = np.pi * (0.5 - np.asarray(uvs[:n_grid:stride, 1], dtype=np.float64))
    px_per_rad = eye_width / (2.0 * np.pi)
    fields = _error_fields(grid, lon_m, lat_m, views, abs(float(ipd)) / 2.0, taper, px_per_rad)

    # Blocks next to a displaced viewpoint's vertical axis stay small (<= 1.5 degrees): the
    # shader caps the triangle that surrounds the axis with its mean colour.
    n_rows, n_cols = rows - 1, cols
    axis_block = 1
    while axis_block * 2 * 360.0 / cols <= 1.5:
        axis_block *= 2
    near_v = _near_view_axis(grid, pos_all, 3.0 * 2.0 * np.pi / cols)
    near_c = near_v[:-1, :-1] | near_v[1:, :-1] | near_v[:-1, 1:] | near_v[1:, 1:]

    covered = np.zeros((n_rows, n_cols), dtype=bool)
    leaves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    pyramids = (_any_pyramid(broken, top), _any_pyramid(broken | near_c, top))
    s = top
    while s >= 2:
        nbi, nbj = n_rows // s, n_cols // s
        if nbi and nbj:
            ok = ~covered[: nbi * s : s, : nbj * s : s]
            ok &= ~pyramids[s > axis_block][s][:nbi, :nbj]
            bi, bj = np.nonzero(ok)
            for f in fields:
                if not len(bi):
                    break
                good = _fan_errors(f[: nbi * s + 1, : nbj * s + 1], s, bi, bj) <= tolerance
                bi, bj = bi[good], bj[good]
            if len(bi):
                leaves[s] = (bi * s, bj * s)
                view = covered[: nbi * s, : nbj * s].reshape(nbi, s, nbj, s)
                view[bi, :, bj, :] = True
        s //= 2
    ci, cj = np.nonzero(~covered & ~broken)

    # Vertices in use: leaf corners and centres, single cells' corners, the pole-cap rings,
    # the corners of broken cells.
    used = np.zeros((rows, stride), dtype=bool)
    used[0] = used[-1] = True
    bi_, bj_ = np.nonzero(broken)
    for i, j in ((ci, cj), (bi_, bj_)):
        used[i, j] = used[i + 1, j] = used[i, j + 1] = used[i + 1, j + 1] = True
    for s, (i0, j0) in leaves.items():
        for di, dj in ((0, 0), (s, 0), (0, s), (s, s), (s // 2, s // 2)):
            used[i0 + di, j0 + dj] = True
    seam = used[:, 0] | used[:, cols]  # the seam column is a copy of column 0: same vertices
    used[:, 0] = used[:, cols] = seam
    used_flat = used.ravel()

    out_faces: list[np.ndarray] = []
    a = (ci * stride + cj).astype(np.int64)
    quads = np.stack([a, a + stride, a + 1, a + 1, a + stride, a + stride + 1], axis=1)
    out_faces.append(quads.reshape(-1, 3))
    for s, (i0, j0) in leaves.items():
        k = np.arange(s)
        # Boundary walk: down the left edge, right along the bottom, up the right edge, left
        # along the top: the winding of mesh/sphere.py's triangles (counter-clockwise from inside).
        di = np.concatenate([k, np.full(s, s), s - k, np.zeros(s, dtype=k.dtype)])
        dj = np.concatenate([np.zeros(s, dtype=k.dtype), k, np.full(s, s), s - k])
        vid = (i0[:, None] + di[None, :]) * stride + (j0[:, None] + dj[None, :])
        flat = np.flatnonzero(used_flat[vid].ravel())
        leaf = flat // (4 * s)
        first = np.searchsorted(leaf, leaf, side="left")  # leaf ids are sorted
        nxt = np.roll(flat, -1)
        last = np.append(leaf[1:] != leaf[:-1], True)
        nxt[last] = flat[first[last]]
        vflat = vid.ravel()
        centre = (i0 + s // 2) * stride + (j0 + s // 2)
        out_faces.append(np.stack([centre[leaf], vflat[flat], vflat[nxt]], axis=1))
    out_faces.append(broken_faces)
    out_faces.append(other_faces)  # pole caps and extra (skirt) triangles, as they are
    all_faces = np.concatenate(out_faces)

    keep_mask = np.zeros(len(vertices), dtype=bool)
    keep_mask[:n_grid] = used_flat
    keep_mask[n_grid:n_layout] = True
    keep_mask[extra_vertices] = True
    keep = np.flatnonzero(keep_mask)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    new_faces = remap[all_faces]
    if (new_faces < 0).any():  # a face on a vertex not marked used: a bug, never expected
        raise RenderError("simplify_for_ods: internal error (face uses a dropped vertex)")
    stats = {s: len(v[0]) for s, v in leaves.items()}
    stats[1] = int(len(ci) + broken.sum())
    return _Simplified(keep, new_faces.astype(np.uint32), stats)


def simplify_for_ods(
    mesh,
    eye_width: int,
    *,
    ipd: float = DEFAULT_IPD,
    positions: Sequence[Sequence[float]] | None = None,
    taper: tuple[float, float] = DEFAULT_TAPER,
    tolerance: float = 0.5,
    max_block: int | None = None,
    max_views: int = 8,
) -> ODSMesh:
    """An adaptive, crack-free version of a sphere mesh for 360 renders.

    mesh : a :class:`~depthfusion.mesh.SphereMesh`, or a
        :class:`~depthfusion.discontinuities.LayeredMesh` (its foreground layer is simplified;
        triangles cut at depth edges, skirts and the background layer stay as they are).

    The lat-long grid is covered by a quadtree of square blocks of grid cells. A block is kept
    whole when, for every viewpoint in ``positions`` (metres; None = the centre) and both eyes
    of ``ipd``, the projected positions of all its grid vertices lie within ``tolerance``
    output pixels (at the equator's scale, for eyes ``eye_width`` wide) of where its coarse
    triangulation puts them; otherwise it is split, down to single cells at depth edges. Each
    kept block is a fan from its centre vertex to every vertex used on its boundary
    (including those of finer neighbours), so there are no T-junctions and no cracks; the pole
    caps and the seam copies stay as in the input. Vertices keep their exact positions and
    texture coordinates, so from the centre with ipd 0 the result is exact at any size.

    Blocks within a few cells of a displaced viewpoint's vertical axis span at most 1.5
    degrees (the shader caps a triangle that surrounds the view axis; that keeps the cap small).
    ``max_block``: largest block in cells (default: cols / 32, so blocks span <= 11.25 deg).
    """
    from ..mesh.layers import LayeredMesh

    if isinstance(mesh, LayeredMesh):
        layered = simplify_layers(mesh, eye_width, ipd=ipd, positions=positions, taper=taper,
                                  tolerance=tolerance, max_block=max_block, max_views=max_views)  # fmt: skip
        c = layered.combined()
        return ODSMesh(c.vertices, c.uvs, c.faces, c.texture, layered.leaves, c.alpha, c.texq)
    rows, cols = int(mesh.rows), int(mesh.cols)
    simple = _simplify_grid_layer(
        mesh.vertices, mesh.uvs, mesh.faces, rows, cols, eye_width=eye_width, ipd=ipd,
        positions=positions, taper=taper, tolerance=tolerance, max_block=max_block,
        max_views=max_views, grid_cut=np.zeros(len(mesh.faces), dtype=bool),
    )  # fmt: skip
    return ODSMesh(
        vertices=np.ascontiguousarray(mesh.vertices[simple.keep], dtype=np.float32),
        uvs=np.ascontiguousarray(mesh.uvs[simple.keep], dtype=np.float32),
        faces=simple.faces,
        texture=mesh.texture,
        leaves=simple.leaves,
    )


def simplify_layers(
    mesh,
    eye_width: int,
    *,
    ipd: float = DEFAULT_IPD,
    positions: Sequence[Sequence[float]] | None = None,
    taper: tuple[float, float] = DEFAULT_TAPER,
    tolerance: float = 0.5,
    max_block: int | None = None,
    max_views: int = 8,
):
    """:func:`simplify_for_ods`'s adaptive foreground, with the layers kept apart: a
    :class:`~depthfusion.mesh.layers.LayeredMesh` (a plain sphere becomes its one
    ``foreground`` layer) whose ``leaves`` attribute holds the quadtree statistics."""
    from ..mesh.layers import LayeredMesh, MeshLayer

    options = dict(
        eye_width=eye_width, ipd=ipd, positions=positions, taper=taper, tolerance=tolerance,
        max_block=max_block, max_views=max_views,
    )  # fmt: skip
    rows, cols = int(mesh.rows), int(mesh.cols)
    if isinstance(mesh, LayeredMesh):
        fg = mesh.layer("foreground") or mesh.layers[0]
        others = [lay for lay in mesh.layers if lay is not fg]
        threshold, fill = mesh.threshold, mesh.fill
    else:
        fg = MeshLayer("foreground", mesh.vertices, mesh.uvs, mesh.faces, mesh.texture)
        others, threshold, fill = [], 0.0, "stretch"
    simple = _simplify_grid_layer(
        fg.vertices, fg.uvs, fg.faces, rows, cols, grid_cut=fg.grid_cut, **options
    )
    keep = simple.keep
    layer = MeshLayer(
        fg.name, fg.vertices[keep], fg.uvs[keep], simple.faces, fg.texture,
        None if fg.alpha is None else fg.alpha[keep],
        None if fg.texq is None else fg.texq[keep],
    )  # fmt: skip
    out = LayeredMesh([layer, *others], rows, cols, threshold, fill)
    out.leaves = simple.leaves
    return out
