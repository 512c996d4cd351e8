"""Monocular depth for 360° panoramas from a perspective depth model (360MonoDepth-style).

A perspective model (DPT) cannot see an equirectangular image as it is: straight lines are
bent and the poles are smeared over whole rows. So the panorama is

1. projected to overlapping square perspective views (a cube with 10° extra on every side
   by default, or ``n`` views spread evenly over the sphere),
2. each view is estimated on its own,
3. the views are brought to one common disparity by a scale and a shift per view, solved
   jointly by least squares over every overlap (Huber-reweighted against mixed pixels at
   depth edges; the view with the most depth structure anchors the global scale),
4. and blended back to equirectangular with weights that fall smoothly to zero at each
   view's border, so no view starts or ends with a step (seam and poles included: every
   panorama pixel is handled by its direction, never by its column). Resampling is
   bilinear except across depth edges, where it takes the nearest view pixel.

What is consistent across views: a perspective depth model predicts inverse *planar*
depth 1/z (z along the view axis; MiDaS/DPT were trained on such maps) up to a scale and a
shift. Planar depth depends on the view: a point at distance r seen at angle theta off the
axis has z = r cos theta. Inverse *radial* distance 1/r does not, so the views are merged in
it: 1/r = cos(theta) * (scale_k * v_k + shift_k) for view k's prediction v_k. Note what this
leaves free: one global scale only -- a global shift of 1/r is not of the form
cos(theta) * shift_k, so every view's shift, the anchor's included, is solved for (the
cosine's variation across each overlap determines it). The result is linear in 1/r,
normalised to [0, 1] (1.0 nearest): the LDM3D convention of disparity, from radial distance
as the rest of the project computes it (``metres_to_disparity``). ``view_depth="radial"``
instead treats predictions as affine in 1/r (for models that predict along the ray); then
the anchor's shift is fixed too.

The overlap fit is :func:`~ldm3d_core.depth.align.fit_scale_shift`'s least squares,
extended to many views at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..conventions import camera_rotation, panorama_directions, perspective_ray_directions
from .estimator import as_rgb_uint8, get_estimator, normalize_disparity
from .geometry import fibonacci_sphere, sample_equirect

if TYPE_CHECKING:
    from .estimator import DepthEstimator

#: images (list of (S, S, 3) uint8) -> relative disparity per image ((S, S) float, larger nearer).
ViewEstimator = Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]]

#: Views used by default: the six faces of a cube.
DEFAULT_VIEWS = 6
#: Degrees each view reaches past the region it must cover (cube: 90° + 2 x 10° = 110° fov).
DEFAULT_OVERLAP = 10.0
#: Views sample the panorama this much finer than its own pixels at their centre, so that
#: resampling back to equirectangular blurs no depth edge over more than a pixel.
VIEW_OVERSAMPLING = 1.5
#: Limits on a view's side in pixels (the model resizes to its own input size anyway).
MIN_VIEW_SIZE, MAX_VIEW_SIZE = 64, 2048
#: Directions drawn (evenly over the sphere) to fit the views to each other.
ALIGN_SAMPLES = 40_000
#: Neighbouring view pixels whose aligned disparities differ by more than this fraction of
#: the smaller one (above EDGE_FLOOR of the view's 98th percentile) are on two surfaces.
EDGE_RATIO, EDGE_FLOOR = 0.5, 0.02
#: Weight of the pull of each view's fit toward (1, 0), relative to the data.
REGULARISATION = 1e-6
#: Least residual scale of the Huber reweighting (unit-normalised disparity): exact data
#: must not turn every sample with a small residual into an outlier.
HUBER_FLOOR = 1e-3
#: Panorama pixels blended per block (bounds temporary memory to ~30 MB; lets blocks skip
#: the views that cannot see their rows).
BLEND_PIXELS = 1 << 18
#: Largest field of view accepted: wider perspective views are too stretched to be useful.
MAX_FOV = 150.0
#: Panorama aspect ratios within this fraction of 2:1 are accepted.
ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class PerspectiveView:
    """A square pinhole view from the panorama's centre.

    yaw, pitch : degrees (conventions: yaw right toward larger u, pitch up), roll 0
    fov : field of view in degrees (horizontal = vertical)
    size : side in pixels
    """

    yaw: float
    pitch: float
    fov: float
    size: int

    def rotation(self) -> np.ndarray:
        """Camera-to-world rotation (3, 3)."""
        return camera_rotation(self.yaw, self.pitch, 0.0)

    def ray_directions(self) -> np.ndarray:
        """World direction of each pixel centre, (size, size, 3) float64."""
        return perspective_ray_directions(self.size, self.size, self.fov) @ self.rotation().T

    def latitude_range(self) -> tuple[float, float]:
        """Latitudes (degrees) between which every direction this view sees lies."""
        corner = np.degrees(np.arctan(np.sqrt(2.0) * np.tan(np.radians(self.fov) / 2.0)))
        return max(-90.0, self.pitch - corner), min(90.0, self.pitch + corner)

    def project(self, directions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Where unit world directions (n, 3) land in this view, for those it sees.

        Returns (index, col, row, cos_theta, weight) for the directions strictly inside the
        view: their indices into ``directions``, pixel coordinates (pixel centres at
        integers), the cosine of the angle to the view axis, and the blend weight
        ((1 - s^2)(1 - t^2))^2 of the normalised image coordinates s, t in (-1, 1): 1 at
        the centre, falling smoothly (C1) to 0 at the border.
        """
        tan_half = np.tan(np.radians(self.fov) / 2.0)
        # Cheap cull first: nothing beyond the corners' angle off the axis is inside.
        axis = -self.rotation()[:, 2].astype(directions.dtype)
        index = np.flatnonzero(directions @ axis > np.cos(np.arctan(np.sqrt(2.0) * tan_half)))
        cam = directions[index] @ self.rotation().astype(directions.dtype)
        z = -cam[:, 2]
        s = cam[:, 0] / (z * tan_half)
        t = cam[:, 1] / (z * tan_half)
        inside = (np.abs(s) < 1.0) & (np.abs(t) < 1.0)
        index, s, t, z = index[inside], s[inside], t[inside], z[inside]
        weight = ((1.0 - s * s) * (1.0 - t * t)) ** 2
        col = (s + 1.0) * (self.size / 2.0) - 0.5
        row = (1.0 - t) * (self.size / 2.0) - 0.5
        return index, col, row, z, weight


@dataclass
class PanoramaDepth:
    """The result of :func:`estimate_panorama`.

    depth : (H, W) float32 normalised disparity in [0, 1], 1.0 nearest
    inverse_distance : (H, W) float32, the merged inverse radial distance before
        normalisation (relative: an unknown global scale, and shift for "radial" views)
    views : the perspective views used
    scale, shift : (n_views,) per-view affine map of the raw prediction v to inverse planar
        depth, scale * v + shift (inverse radial distance for ``view_depth="radial"``)
    evaluations : images the depth model ran on
    """

    depth: np.ndarray
    inverse_distance: np.ndarray
    views: list[PerspectiveView]
    scale: np.ndarray
    shift: np.ndarray
    evaluations: int


def check_panorama_shape(height: int, width: int) -> None:
    """ValueError unless W x H is (within 1%) the 2:1 of an equirectangular panorama."""
    if height < 2 or abs(width - 2 * height) > ASPECT_TOLERANCE * width:
        raise ValueError(
            f"a panorama must be equirectangular with width = 2 x height, got {width}x{height}"
        )


def view_centres(count: int) -> np.ndarray:
    """(count, 2) yaw, pitch in degrees: cube faces for 6, else a Fibonacci sphere."""
    if count < 6:
        raise ValueError(f"a panorama needs at least 6 views, got {count}")
    if count == 6:
        return np.array([[0, 0], [90, 0], [180, 0], [-90, 0], [0, 90], [0, -90]], dtype=float)
    d = fibonacci_sphere(count)
    yaw = np.degrees(np.arctan2(d[:, 0], -d[:, 2]))
    pitch = np.degrees(np.arcsin(np.clip(d[:, 1], -1.0, 1.0)))
    return np.stack([yaw, pitch], axis=1)


def covering_half_fov(centres: np.ndarray, samples: int = 20_000) -> float:
    """Smallest half field of view (degrees) for which square views at ``centres`` cover the sphere."""
    dirs = fibonacci_sphere(samples)
    best = np.full(samples, np.inf)
    for yaw, pitch in centres:
        cam = dirs @ camera_rotation(yaw, pitch, 0.0)
        z = -cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ang = np.degrees(np.arctan(np.maximum(np.abs(cam[:, 0]), np.abs(cam[:, 1])) / z))
        best = np.minimum(best, np.where(z > 1e-9, ang, np.inf))
    return float(best.max())


def panorama_views(
    count: int = DEFAULT_VIEWS,
    width: int = 1024,
    fov: float | None = None,
    overlap: float = DEFAULT_OVERLAP,
    size: int | None = None,
) -> list[PerspectiveView]:
    """The perspective views that together cover a panorama ``width`` pixels wide.

    count : 6 gives the cube faces (yaw 0, 90, 180, -90 and straight up and down); more
        gives views spread evenly over the sphere (Fibonacci spiral), each smaller
    fov : field of view in degrees; default: just enough to cover the sphere, plus
        ``overlap`` degrees on every side (cube: 110°)
    size : side of each view in pixels; default: 1.5 x the panorama's own angular
        resolution at the view centre (``width`` / 2 pi pixels per radian), within [64, 2048]
    """
    centres = view_centres(int(count))
    need = covering_half_fov(centres)
    if fov is None:
        fov = 2.0 * (need + overlap)
    if not 0.0 < fov <= MAX_FOV:
        raise ValueError(f"view field of view must be in (0, {MAX_FOV:g}] degrees, got {fov:g}")
    if fov / 2.0 <= need:
        raise ValueError(
            f"{count} views of {fov:g}° do not cover the sphere (need more than {2 * need:.1f}°)"
        )
    if size is None:
        px_per_radian = VIEW_OVERSAMPLING * width / (2.0 * np.pi)
        size = round(2.0 * np.tan(np.radians(fov) / 2.0) * px_per_radian)
        size = int(np.clip(size, MIN_VIEW_SIZE, MAX_VIEW_SIZE))
    return [PerspectiveView(float(y), float(p), float(fov), int(size)) for y, p in centres]


def render_views(rgb: np.ndarray, views: Sequence[PerspectiveView]) -> list[np.ndarray]:
    """Sample each perspective view from an equirectangular image (bilinear; seam and poles wrap)."""
    return [sample_equirect(rgb, v.ray_directions().astype(np.float32)) for v in views]


def _gather(
    image: np.ndarray, col: np.ndarray, row: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear and nearest samples of a 2-D map at pixel coordinates, and the least and
    greatest of the four pixels around each sample (edges replicated); all float64."""
    h, w = image.shape
    x0, y0 = np.floor(col), np.floor(row)
    fx, fy = col - x0, row - y0
    xa, xb = np.clip(x0, 0, w - 1).astype(np.intp), np.clip(x0 + 1, 0, w - 1).astype(np.intp)
    ya, yb = np.clip(y0, 0, h - 1).astype(np.intp), np.clip(y0 + 1, 0, h - 1).astype(np.intp)
    img = image.astype(np.float64, copy=False)
    v00, v01, v10, v11 = img[ya, xa], img[ya, xb], img[yb, xa], img[yb, xb]
    top = v00 + (v01 - v00) * fx
    bottom = v10 + (v11 - v10) * fx
    bilinear = top + (bottom - top) * fy
    near_top = np.where(fx < 0.5, v00, v01)
    near_bottom = np.where(fx < 0.5, v10, v11)
    nearest = np.where(fy < 0.5, near_top, near_bottom)
    lo = np.minimum(np.minimum(v00, v01), np.minimum(v10, v11))
    hi = np.maximum(np.maximum(v00, v01), np.maximum(v10, v11))
    return bilinear, nearest, lo, hi


def _robust_range(v: np.ndarray) -> tuple[float, float]:
    """2nd and 98th percentiles (of a subsample: plenty for a range)."""
    step = max(1, v.shape[0] // 256)
    lo, hi = np.percentile(v[::step, ::step], [2.0, 98.0])
    return float(lo), float(hi)


def _solve_alignment(
    values: list[np.ndarray],
    cosines: list[np.ndarray],
    weights: list[np.ndarray],
    ref: int,
    fix_shift: bool,
    iterations: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-view (a, b) with c_k (a_k v_k + b_k) agreeing on every overlap (weighted, robust).

    values, cosines, weights : per view, at the same sample directions (weight 0 = unseen)
    fix_shift : also fix the reference view's shift. The only freedom the planar model
        leaves is one global scale (a global shift of 1/r is not of the form c_k b_k), so
        there b_ref is solved for; the radial model (c = 1) leaves scale and shift free.

    Returns a, b (n,), with a_ref = 1 (and b_ref = 0 with ``fix_shift``). A faint pull of
    the others toward (1, 0) settles what the data leaves open -- the scale of a view of a
    featureless wall or sky -- without biasing the rest.
    """
    n = len(values)
    blocks = []
    for k in range(n):
        for m in range(k + 1, n):
            both = (weights[k] > 0) & (weights[m] > 0)
            if both.sum() < 8:
                continue
            w = np.sqrt(np.minimum(weights[k][both], weights[m][both]))
            rows = np.zeros((w.size, 2 * n))
            rows[:, 2 * k] = cosines[k][both] * values[k][both]
            rows[:, 2 * k + 1] = cosines[k][both]
            rows[:, 2 * m] = -cosines[m][both] * values[m][both]
            rows[:, 2 * m + 1] = -cosines[m][both]
            blocks.append((rows, w))
    if not blocks:
        raise ValueError("the views do not overlap; use a wider field of view")
    a_mat = np.concatenate([r for r, _ in blocks])
    w_row = np.concatenate([w for _, w in blocks])
    fixed = [2 * ref, 2 * ref + 1] if fix_shift else [2 * ref]
    free = [j for j in range(2 * n) if j not in fixed]
    # a_ref = 1 (and b_ref = 0) move to the right-hand side.
    rhs = -a_mat[:, 2 * ref]
    a_free = a_mat[:, free]
    lam = REGULARISATION * float(np.sum(w_row**2)) / n
    prior = np.array([1.0 if j % 2 == 0 else 0.0 for j in free])
    robust = np.ones_like(w_row)
    for _ in range(iterations):
        sw2 = (w_row * robust) ** 2
        # Normal equations: a handful of unknowns, many rows.
        lhs = (a_free * sw2[:, None]).T @ a_free + lam * np.eye(len(free))
        y = (a_free * sw2[:, None]).T @ rhs + lam * prior
        x = np.linalg.solve(lhs, y)
        resid = np.abs(a_free @ x - rhs)
        sigma = max(1.4826 * float(np.median(resid)), HUBER_FLOOR)
        # Huber weights: samples across depth edges (mixed pixels) lose their pull.
        robust = np.minimum(1.0, 1.345 * sigma / np.maximum(resid, 1e-30))
    params = np.zeros(2 * n)
    params[2 * ref] = 1.0
    params[free] = x
    return params[0::2], params[1::2]


def merge_views(
    disparities: Sequence[np.ndarray],
    views: Sequence[PerspectiveView],
    height: int,
    width: int,
    *,
    view_depth: Literal["planar", "radial"] = "planar",
    samples: int = ALIGN_SAMPLES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Align per-view relative disparities to each other and blend them to equirectangular.

    disparities : per view, (size, size) relative disparity (any scale and shift per view)
    views : the views they were estimated on
    height, width : the panorama's size
    view_depth : "planar" (a perspective model: affine in 1/z) or "radial" (affine in 1/r)

    Returns (inverse_distance (H, W) float32, scale (n,), shift (n,)): the blended inverse
    radial distance (up to a global scale, and a global shift with "radial") and, per
    view, the map ``scale * v + shift`` of its raw prediction to inverse planar (or
    radial) depth.
    """
    if view_depth not in ("planar", "radial"):
        raise ValueError(f"view_depth must be 'planar' or 'radial', got {view_depth!r}")
    if len(disparities) != len(views):
        raise ValueError(f"{len(disparities)} disparity maps for {len(views)} views")
    maps = []
    for d, v in zip(disparities, views, strict=True):
        d = np.asarray(d, dtype=np.float32)
        if d.shape != (v.size, v.size):
            raise ValueError(f"view disparity has shape {d.shape}, expected {(v.size, v.size)}")
        maps.append(d)

    # 1. Normalise for a well-conditioned fit: each view's 2nd percentile to 0, one scale
    # for all (the median view's 2-98 % range; a per-view range would blow up the noise of
    # a featureless view). The view with the most depth structure anchors the scale.
    ranges = [_robust_range(d) for d in maps]
    lows = np.array([lo for lo, _ in ranges])
    spans = np.array([hi - lo for lo, hi in ranges])
    common = max(float(np.median(spans)), 1e-12)
    unit = [(d - lo) / common for d, lo in zip(maps, lows, strict=True)]
    ref = int(np.argmax(spans))

    # 2. Sample every view at directions spread evenly over the sphere, fit (a, b) per view.
    dirs = fibonacci_sphere(samples).astype(np.float32)
    values, cosines, weights = [], [], []
    for d, v in zip(unit, views, strict=True):
        idx, col, row, cos, w = v.project(dirs)
        val, c, wt = np.zeros(samples), np.ones(samples), np.zeros(samples)
        val[idx] = _gather(d, col, row)[0]
        if view_depth == "planar":
            c[idx] = cos
        wt[idx] = w
        values.append(val)
        cosines.append(c)
        weights.append(wt)
    a, b = _solve_alignment(values, cosines, weights, ref, fix_shift=view_depth == "radial")

    # 3. Blend: the weighted mean of cos(theta) * (a v + b) over the views seeing each pixel.
    # Interpolation is bilinear except across depth edges (neighbouring view pixels more
    # than EDGE_RATIO apart in aligned disparity), where the nearest pixel is taken: a blend
    # there would put a "flying pixel" at a depth that neither surface has.
    aligned = [ak * d + bk for d, ak, bk in zip(unit, a, b, strict=True)]
    floors = [EDGE_FLOOR * max(_robust_range(al)[1], 1e-12) for al in aligned]
    inverse = np.empty((height, width), dtype=np.float32)
    pano_dirs = panorama_directions(width, height)
    step = max(1, BLEND_PIXELS // width)
    for r0 in range(0, height, step):  # blocks of rows bound the temporary memory
        r1 = min(height, r0 + step)
        dirs = pano_dirs[r0:r1].reshape(-1, 3)
        num = np.zeros(dirs.shape[0])
        den = np.zeros(dirs.shape[0])
        # Latitudes of the block's rows: views that cannot reach them are skipped.
        lat_hi = 90.0 - 180.0 * r0 / height
        lat_lo = 90.0 - 180.0 * r1 / height
        for al, floor, v in zip(aligned, floors, views, strict=True):
            v_lo, v_hi = v.latitude_range()
            if v_lo > lat_hi or v_hi < lat_lo:
                continue
            idx, col, row, cos, w = v.project(dirs)
            bilinear, nearest, lo, hi = _gather(al, col, row)
            val = np.where(hi - lo > EDGE_RATIO * np.maximum(lo, floor), nearest, bilinear)
            num[idx] += w * (cos * val if view_depth == "planar" else val)
            den[idx] += w
        if not np.all(den > 0):
            raise ValueError("the views do not cover the whole panorama; use a wider field of view")
        inverse[r0:r1] = (num / den).reshape(r1 - r0, width)

    # Per-view maps in the raw prediction's units: a (v - lo) / common + b.
    return inverse, a / common, b - a * lows / common


def estimate_panorama(
    rgb: np.ndarray,
    model: str | os.PathLike | DepthEstimator | None = None,
    device: str = "auto",
    *,
    dtype: str | None = None,
    views: int | Sequence[PerspectiveView] = DEFAULT_VIEWS,
    fov: float | None = None,
    estimator: ViewEstimator | None = None,
    view_depth: Literal["planar", "radial"] = "planar",
) -> PanoramaDepth:
    """Depth of an equirectangular panorama, with the views and per-view fits (see module doc).

    rgb : (H, W, 3) uint8 equirectangular panorama, W = 2 H (grayscale, RGBA, uint16 and
        float images are converted)
    model : hub id or local folder (default ``Intel/dpt-large``), or a loaded DepthEstimator
    device, dtype : where and how the model runs (``"auto"``: CUDA, MPS, else CPU)
    views : number of views (6 = cube, default) or explicit :class:`PerspectiveView` s
    fov : field of view of each view in degrees, with ``views`` a count (default:
        coverage + 10° overlap)
    estimator : any callable images -> relative disparities, used instead of ``model``
    view_depth : what the estimator's disparity inverts, "planar" z (DPT) or "radial"
    """
    # 1. Check inputs
    image = as_rgb_uint8(rgb)
    height, width = image.shape[:2]
    check_panorama_shape(height, width)
    if isinstance(views, int):
        views = panorama_views(views, width, fov)
    views = list(views)

    # 2. Project to perspective views and estimate each
    if estimator is None:
        estimator = get_estimator(model, device, dtype)
    predictions = [np.asarray(p, dtype=np.float32) for p in estimator(render_views(image, views))]

    # 3. Align the views over their overlaps and blend them back to equirectangular
    inverse, scale, shift = merge_views(predictions, views, height, width, view_depth=view_depth)
    return PanoramaDepth(
        depth=normalize_disparity(inverse),
        inverse_distance=inverse,
        views=views,
        scale=scale,
        shift=shift,
        evaluations=len(views),
    )


def estimate_panorama_depth(
    rgb: np.ndarray,
    model: str | os.PathLike | DepthEstimator | None = None,
    device: str = "auto",
    **kwargs,
) -> np.ndarray:
    """Depth of an equirectangular panorama: (H, W) float32 in [0, 1], 1.0 nearest.

    See :func:`estimate_panorama` for the arguments (``dtype``, ``views``, ``fov``,
    ``estimator``, ``view_depth``).
    """
    return estimate_panorama(rgb, model, device, **kwargs).depth
