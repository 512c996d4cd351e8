"""360-degree equirectangular rendering of the panorama mesh: omnidirectional stereo (ODS) and mono.

ODS (DESIGN.md, "360 stereo"): every column of an eye's equirectangular image is seen from its
own point on a horizontal circle of radius ipd/2 around the viewpoint, looking along the
tangent, so that any direction a viewer turns to has the right stereo baseline. The ray of
pixel (lon, lat) (conventions.py) for eye radius ``e`` (signed: -ipd/2 = left eye) starts at

    e(lat) * (cos lon, 0, sin lon)        (the camera's right axis at yaw = lon)

in the 360 frame and runs along ``lonlat_to_direction(lon, lat)``. The eye radius tapers to
0 toward the zenith and nadir (``e(lat) = e * (1 - smoothstep(start, end, |lat|))``), so the
poles are seen from the centre by both eyes and stay comfortable. A point at horizontal
distance ``rho`` then has longitude ``azimuth - asin(e / rho)``: the left eye sees it further
right (larger u) by ``2 asin(ipd / 2 / rho)`` in total, the ODS disparity. ``e = 0`` is a mono
equirectangular image from the viewpoint; from the sphere's centre it is the input panorama.

The 360 frame: origin at the viewpoint, axes world-aligned (horizon level) and turned by a
yaw (degrees, conventions.py) so that the centre column looks along that yaw.

:class:`ODSRenderer` projects per vertex in ``shaders/ods.glsl`` and fixes up triangles that
straddle +-180 degrees or touch the view axis in a geometry shader. Rasterising a dense mesh
on a CPU (llvmpipe) costs about one microsecond per triangle, so :func:`simplify_for_ods`
first builds a crack-free adaptive mesh with big triangles wherever the *projected* image of
the mesh is linear to within a fraction of an output pixel for the viewpoints that will be
rendered (and full resolution at depth edges), which is where the speed comes from.

:func:`ods_project` and :func:`ods_rays` are the same projection in numpy: the first maps
points to (lon, lat, distance) as the shader does, the second gives each output pixel's ray
(for ray-cast ground truth).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moderngl
import numpy as np

from ..conventions import DEFAULT_IPD, camera_rotation, lonlat_to_direction, panorama_lonlat
from ..errors import DepthFusionError
from .gl import GL_FRAMEBUFFER_SRGB, RenderError, load_program
from .pose import Pose
from .renderer import MeshRenderer

#: Default pole taper (degrees of |latitude|): full eye separation below the first value,
#: none at the second, smoothstep in between.
DEFAULT_TAPER = (60.0, 90.0)
#: Depth range of the ODS depth buffer (metres from the eye).
FAR = 2000.0
#: GL_SAMPLE_ALPHA_TO_COVERAGE (moderngl has no name for it).
GL_SAMPLE_ALPHA_TO_COVERAGE = 0x809E


class ODSError(DepthFusionError):
    """An invalid 360 rendering request (eye size, ipd, taper)."""


# --- the projection in numpy (reference for tests and the mesh simplifier) ---------------------


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _taper_radians(taper: tuple[float, float]) -> tuple[float, float]:
    start, end = (float(t) for t in taper)
    if not 0.0 <= start < end <= 90.0 + 1e-9:
        raise ODSError(f"ODS pole taper must satisfy 0 <= start < end <= 90 degrees, got {taper}")
    return float(np.radians(start)), float(np.radians(end))


def eye_radius(eye: float, lat: np.ndarray, taper: tuple[float, float] = DEFAULT_TAPER):
    """Signed eye-circle radius at latitude(s) ``lat`` (radians) for full radius ``eye``."""
    t0, t1 = _taper_radians(taper)
    return eye * (1.0 - _smoothstep(t0, t1, np.abs(np.asarray(lat, dtype=np.float64))))


def frame_matrix(position: Sequence[float] = (0.0, 0.0, 0.0), yaw: float = 0.0) -> np.ndarray:
    """World -> 360 frame 4x4 (column vectors): translate the viewpoint to the origin, undo yaw."""
    rot = camera_rotation(yaw, 0.0, 0.0)
    m = np.eye(4)
    m[:3, :3] = rot.T
    m[:3, 3] = -rot.T @ np.asarray(position, dtype=np.float64)
    return m


def ods_project(
    points: np.ndarray,
    eye: float = 0.0,
    position: Sequence[float] = (0.0, 0.0, 0.0),
    yaw: float = 0.0,
    taper: tuple[float, float] = DEFAULT_TAPER,
    iterations: int = 3,
):
    """Project world points (..., 3) as the shader does: (lon, lat, distance from the eye).

    ``eye`` is the signed eye radius in metres (-ipd/2 left, +ipd/2 right, 0 mono). Points on
    the view axis get lon 0 here (the shader uses their texture's u).
    """
    m = frame_matrix(position, yaw)
    p = np.asarray(points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    rho = np.hypot(x, z)
    lat = np.arctan2(y, rho)
    lon = np.arctan2(x, -z)
    along = rho
    if eye != 0.0:
        r = np.zeros_like(rho)
        for _ in range(iterations):
            r = np.clip(eye_radius(eye, lat, taper), -0.999 * rho, 0.999 * rho)
            along = np.sqrt(rho * rho - r * r)
            lat = np.arctan2(y, along)
        with np.errstate(invalid="ignore", divide="ignore"):
            lon = lon - np.where(rho > 1e-6, np.arcsin(r / np.maximum(rho, 1e-300)), 0.0)
    return np.arctan2(np.sin(lon), np.cos(lon)), lat, np.hypot(along, y)


def ods_rays(
    width: int,
    eye: float = 0.0,
    position: Sequence[float] = (0.0, 0.0, 0.0),
    yaw: float = 0.0,
    taper: tuple[float, float] = DEFAULT_TAPER,
) -> tuple[np.ndarray, np.ndarray]:
    """World-space ray origins and unit directions, each (H, W, 3), of one eye's pixels."""
    height = width // 2
    lon, lat = panorama_lonlat(width, height)
    lon2, lat2 = np.meshgrid(lon, lat)
    rot = camera_rotation(yaw, 0.0, 0.0)
    r = eye_radius(eye, lat2, taper)
    origins = np.stack([r * np.cos(lon2), np.zeros_like(r), r * np.sin(lon2)], axis=-1)
    origins = origins @ rot.T + np.asarray(position, dtype=np.float64)
    dirs = lonlat_to_direction(lon2, lat2) @ rot.T
    return origins, dirs


def ods_disparity(ipd: float, distance: np.ndarray | float) -> np.ndarray:
    """Longitude disparity (radians, left minus right) of a point at horizontal ``distance``
    on the horizon: ``2 asin(ipd / 2 / distance)``."""
    return 2.0 * np.arcsin(ipd / 2.0 / np.asarray(distance, dtype=np.float64))


# --- renderer ----------------------------------------------------------------------------------


def check_eye_size(width: int, height: int | None = None) -> tuple[int, int]:
    """(width, height) of one eye's equirect image: 2:1, both sides >= 2."""
    width = int(width)
    height = width // 2 if height is None else int(height)
    if width < 4 or width != 2 * height:
        raise ODSError(
            f"360 eye resolution must be 2:1 equirectangular (width = 2 x height), got "
            f"{width}x{height}"
        )
    return width, height


class ODSRenderer(MeshRenderer):
    """Renders a textured mesh as 360-degree equirectangular images (ODS stereo or mono).

    Uploads the mesh and texture once (:class:`MeshRenderer`; its pinhole :meth:`render` still
    works) and adds the ODS program. Pass a mesh from :func:`simplify_for_ods` for speed; any
    triangle mesh works (a dense :class:`~depthfusion.mesh.SphereMesh` gives the same image,
    much slower).

    samples : MSAA (0 = off, the default: equirect pixels map about 1:1 to texels and the
        adaptive mesh's edges are depth edges, where MSAA costs much on a CPU for little).
    taper : pole taper in degrees (see :func:`eye_radius`).
    linear_light : filter in linear light through the sRGB texture and framebuffer, as
        :class:`MeshRenderer` does. False (the default) filters the sRGB values as stored:
        identical wherever a texel maps to a pixel 1:1 (the centre view), within a level or
        two at sharp edges when magnifying, and about 40% faster on llvmpipe, whose sRGB
        decode and encode dominate the cost of an ODS frame.

    alpha : (n,) per-vertex coverage (feathered silhouettes of a LayeredMesh), as for
        :class:`MeshRenderer`: alpha-to-coverage with MSAA, else a hard edge at 0.5.
    texq : (n,) projective texture coordinate, used by the pinhole :meth:`render` only: ODS
        triangles are interpolated linearly in longitude and latitude, where a skirt corner
        moved along its ray from the centre keeps its place, so the plain uvs are right.
        ODS draws skirts as they are, not view-dependent like the pinhole renderer's: tried
        with each column's eye sliding the skirts it sees, stereo frames matched the ray-cast
        ODS truth slightly worse (inpaint - stretch +0.246 against +0.262 dB over 15 frames),
        and a mono frame from the centre is exact either way. An ODSMesh has no ``across``.

    Anisotropic filtering is off for ODS draws: it buys nothing for an equirect-to-equirect
    warp and llvmpipe's implementation blurs even a 1:1 mapping.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        vertices: np.ndarray,
        uvs: np.ndarray,
        faces: np.ndarray,
        texture: np.ndarray,
        samples: int = 0,
        taper: tuple[float, float] = DEFAULT_TAPER,
        linear_light: bool = False,
        alpha: np.ndarray | None = None,
        texq: np.ndarray | None = None,
    ) -> None:
        # ODS frames see every direction: no frustum culling (and no tiling cost).
        super().__init__(
            ctx, vertices, uvs, faces, texture, samples=samples, alpha=alpha, texq=texq, cull=False
        )
        self._ods_alpha = alpha is not None
        self.taper = tuple(float(t) for t in taper)
        taper_rad = _taper_radians(self.taper)
        self.linear_light = bool(linear_light)
        self._plain_texture: moderngl.Texture | None = None
        if not self.linear_light:
            tex = np.ascontiguousarray(texture, dtype=np.uint8)
            plain = ctx.texture((tex.shape[1], tex.shape[0]), 3, data=tex, alignment=1)
            plain.repeat_x, plain.repeat_y = True, False
            plain.build_mipmaps()
            self._plain_texture = plain
        self.ods_program = load_program(ctx, "ods", {"WITH_ALPHA": 1} if self._ods_alpha else None)
        self.ods_program["texture0"] = 0
        self.ods_program["taper"].value = taper_rad
        self.ods_program["inv_far"].value = 1.0 / FAR
        self._u_local = self.ods_program["m_local"]
        self._u_eye = self.ods_program["eye"]
        content = [(self._vbo_pos, "3f", "in_position"), (self._vbo_uv, "2f", "in_texcoord_0")]
        if self._ods_alpha:
            content.append((self._vbo_alpha, "1f", "in_alpha"))
            self.ods_program["alpha_to_coverage"] = bool(self.samples)
        self.ods_vao = ctx.vertex_array(
            self.ods_program, content, index_buffer=self._ibo, index_element_size=4
        )

    @classmethod
    def from_mesh(
        cls,
        ctx: moderngl.Context,
        mesh,
        samples: int = 0,
        taper: tuple[float, float] = DEFAULT_TAPER,
        linear_light: bool = False,
    ) -> ODSRenderer:
        """From any object with ``vertices``, ``uvs``, ``faces`` and ``texture`` (and ``alpha``
        when it has one): a SphereMesh, LayeredMesh or :class:`ODSMesh`."""
        alpha, texq = getattr(mesh, "alpha", None), getattr(mesh, "texq", None)
        return cls(
            ctx, mesh.vertices, mesh.uvs, mesh.faces, mesh.texture, samples, taper, linear_light,
            alpha, texq,
        )  # fmt: skip

    def render_equirect(
        self,
        width: int,
        eyes: Sequence[float] = (0.0,),
        position: Sequence[float] = (0.0, 0.0, 0.0),
        yaw: float = 0.0,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Equirect images of the given signed eye radii stacked top to bottom, (n H, W, 3) uint8.

        ``eyes=(-ipd/2, ipd/2)`` is a top-bottom ODS frame (left eye on top); ``(0.0,)`` a mono
        one. ``position``/``yaw`` place the 360 frame (see the module docstring). ``out``: an
        optional C-contiguous uint8 array of the right shape to fill.
        """
        width, height = check_eye_size(width)
        n = len(eyes)
        if n < 1:
            raise ODSError("render_equirect needs at least one eye")
        width, full_h = self._check_size((width, height * n))
        if out is None:
            out = np.empty((full_h, width, 3), dtype=np.uint8)
        elif out.shape != (full_h, width, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous ({full_h}, {width}, 3) uint8 array")
        ctx = self.ctx
        prev_fbo, prev_viewport = self._caller_framebuffer(), ctx.viewport
        targets = self._targets_for(width, full_h)
        self._u_local.write(frame_matrix(position, yaw).T.astype(np.float32).tobytes())
        texture = self._plain_texture or self.texture
        anisotropy = texture.anisotropy
        coverage = self._ods_alpha and self.samples > 0
        try:
            targets.draw.use()
            targets.draw.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
            ctx.enable_only(moderngl.DEPTH_TEST)
            if self.linear_light:
                ctx.enable_direct(GL_FRAMEBUFFER_SRGB)
            if coverage:
                ctx.enable_direct(GL_SAMPLE_ALPHA_TO_COVERAGE)
            try:
                texture.anisotropy = 1.0
                texture.use(0)
                for i, eye in enumerate(eyes):
                    # GL row 0 is read back first (image top): eye i fills rows i*H .. (i+1)*H.
                    ctx.viewport = (0, i * height, width, height)
                    self._u_eye.value = float(eye)
                    self.ods_vao.render(moderngl.TRIANGLES)
                if targets.read is not targets.draw:
                    ctx.copy_framebuffer(targets.read, targets.draw)
            finally:
                texture.anisotropy = anisotropy
                if coverage:
                    ctx.disable_direct(GL_SAMPLE_ALPHA_TO_COVERAGE)
                if self.linear_light:
                    ctx.disable_direct(GL_FRAMEBUFFER_SRGB)
        finally:
            prev_fbo.use()
            if prev_viewport is not None:
                ctx.viewport = prev_viewport
        targets.read.read_into(out, components=3, alignment=1)
        return out

    def render_vr360(
        self,
        width: int,
        *,
        stereo: bool = True,
        ipd: float = DEFAULT_IPD,
        pose: Pose | None = None,
        yaw: float | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """One 360 frame: top-bottom ODS (left eye on top, (W, W, 3)) or mono ((W/2, W, 3)).

        pose : the viewpoint (its position; its yaw only when ``yaw`` is None). None = the
            sphere's centre, facing yaw 0.
        yaw : heading of the frame's centre column in degrees (overrides ``pose.yaw``).
        """
        if not ipd >= 0.0:
            raise ODSError(f"ipd must be >= 0 metres, got {ipd}")
        position = (0.0, 0.0, 0.0) if pose is None else pose.position
        if yaw is None:
            yaw = 0.0 if pose is None else pose.yaw
        eyes = (-ipd / 2.0, ipd / 2.0) if stereo else (0.0,)
        return self.render_equirect(width, eyes, position, yaw, out=out)

    def release(self) -> None:
        self.ods_vao.release()
        self.ods_program.release()
        if self._plain_texture is not None:
            self._plain_texture.release()
        super().release()


# --- adaptive mesh -----------------------------------------------------------------------------


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
    g = grid.astype(np.float32)
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
    """
    fields: list[np.ndarray] = []
    g32 = grid.astype(np.float32)
    lon_m32, lat_m32 = lon_m.astype(np.float32)[None, :], lat_m.astype(np.float32)[:, None]
    t0, t1 = _taper_radians(taper)
    scale = np.float32(px_per_rad)
    for p in views:
        centred = float(np.abs(p).max()) < 1e-9
        if centred and radius == 0.0:
            continue  # the identity: exact for any triangulation
        x, y, z = (g32[..., k] - np.float32(p[k]) for k in range(3))
        rho = np.hypot(x, z)
        azimuth = np.arctan2(x, -z)
        lat0 = np.arctan2(y, rho)
        safe_rho = np.maximum(rho, np.float32(1e-12))
        eyes = (-radius,) if centred else ((-radius, radius) if radius else (0.0,))
        for e in eyes:  # centred: the right eye mirrors the left exactly
            lat, r = lat0, np.zeros_like(rho)
            if e:  # one step of the shader's iteration: the rest moves lat smoothly, by < 1e-6
                ramp = np.minimum(np.maximum((np.abs(lat0) - t0) / (t1 - t0), 0.0), 1.0)
                r = e * (1.0 - ramp * ramp * (3.0 - 2.0 * ramp))
                r = np.minimum(np.maximum(r, -0.999 * rho), 0.999 * rho)
                lat = np.arctan2(y, np.sqrt(rho * rho - r * r))
            dlon = azimuth - np.arcsin(r / safe_rho) - lon_m32
            dlon -= np.float32(2.0 * np.pi) * np.round(dlon * np.float32(0.5 / np.pi))
            fields.append(dlon * np.cos(lat) * scale)
            fields.append((lat - lat_m32) * scale)
    return fields


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
) -> _Simplified:
    """The quadtree simplification of one layer in the seam-split grid layout (mesh/sphere.py).

    The layer's first ``rows * (cols + 1) + 2 cols`` vertices must be that layout; its faces
    may be the full grid's or a subset (cells that lost a triangle, e.g. cut at a depth edge,
    keep their remaining triangles as they are and join no block), and faces on vertices past
    the layout (skirts) are carried over unchanged.
    """
    stride = cols + 1
    n_grid = rows * stride
    n_layout = n_grid + 2 * cols
    if len(vertices) < n_layout or len(uvs) != len(vertices):
        raise RenderError("simplify_for_ods: the mesh is not in the lat-long grid layout")
    grid = np.asarray(vertices[:n_grid], dtype=np.float64).reshape(rows, stride, 3)
    faces = np.asarray(faces, dtype=np.int64)
    if max_block is None:
        max_block = max(2, cols // 32)
    top = 1
    while top * 2 <= min(max_block, rows - 1, cols):
        top *= 2

    # Which faces are the grid's own (two per cell), which cap the poles, which are extra.
    # (Corner-wise minimum/maximum: numpy's axis=1 reductions of length 3 are several times
    # slower on millions of faces.)
    largest = np.maximum(np.maximum(faces[:, 0], faces[:, 1]), faces[:, 2])
    on_grid = largest < n_grid
    extra = largest >= n_layout
    grid_faces, other_faces = faces[on_grid], faces[~on_grid]
    row, col = np.divmod(grid_faces, stride)
    cell = np.minimum(np.minimum(row[:, 0], row[:, 1]), row[:, 2]) * cols + np.minimum(
        np.minimum(col[:, 0], col[:, 1]), col[:, 2]
    )
    per_cell = np.bincount(cell, minlength=(rows - 1) * cols).reshape(rows - 1, cols)
    broken = per_cell != 2  # a triangle cut away (or unexpected topology): keep as it is

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
    s = top
    while s >= 2:
        nbi, nbj = n_rows // s, n_cols // s
        if nbi and nbj:
            ok = ~covered[: nbi * s : s, : nbj * s : s]
            blocked = broken if s <= axis_block else broken | near_c
            ok &= ~blocked[: nbi * s, : nbj * s].reshape(nbi, s, nbj, s).any(axis=(1, 3))
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
    out_faces.append(grid_faces[broken.ravel()[cell]])
    out_faces.append(other_faces)  # pole caps and extra (skirt) triangles, as they are
    all_faces = np.concatenate(out_faces)

    keep_mask = np.zeros(len(vertices), dtype=bool)
    keep_mask[:n_grid] = used_flat
    keep_mask[n_grid:n_layout] = True
    keep_mask[np.unique(faces[extra])] = True
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
        max_views=max_views,
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
    simple = _simplify_grid_layer(fg.vertices, fg.uvs, fg.faces, rows, cols, **options)
    keep = simple.keep
    layer = MeshLayer(
        fg.name, fg.vertices[keep], fg.uvs[keep], simple.faces, fg.texture,
        None if fg.alpha is None else fg.alpha[keep],
        None if fg.texq is None else fg.texq[keep],
    )  # fmt: skip
    out = LayeredMesh([layer, *others], rows, cols, threshold, fill)
    out.leaves = simple.leaves
    return out
