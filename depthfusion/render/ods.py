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
on a CPU (llvmpipe) costs about one microsecond per triangle, so
:func:`~depthfusion.render.ods_mesh.simplify_for_ods` first builds a crack-free adaptive mesh with big triangles wherever the *projected* image of
the mesh is linear to within a fraction of an output pixel for the viewpoints that will be
rendered (and full resolution at depth edges), which is where the speed comes from.

:func:`ods_project` and :func:`ods_rays` are the same projection in numpy: the first maps
points to (lon, lat, distance) as the shader does, the second gives each output pixel's ray
(for ray-cast ground truth).
"""

from __future__ import annotations

from collections.abc import Sequence

import moderngl
import numpy as np

from ..conventions import DEFAULT_IPD, camera_rotation, lonlat_to_direction, panorama_lonlat
from ..errors import DepthFusionError
from .gl import GL_FRAMEBUFFER_SRGB, load_program
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
        when it has one): a SphereMesh, LayeredMesh or :class:`~depthfusion.render.ods_mesh.ODSMesh`."""
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
        texture = self._plain_texture or self.use_texture()
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
