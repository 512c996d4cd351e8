"""Render a textured mesh (the displaced panorama sphere) to uint8 images, mono or stereo.

The mesh and its texture go to the GPU once; each frame only uploads one matrix, draws, and
reads the pixels back. Framebuffers are cached per size.

Colour space: the panorama is sRGB uint8. The texture uses the sRGB internal format
(GL_SRGB8) and the framebuffer is sRGB (GL_SRGB8_ALPHA8, drawn with GL_FRAMEBUFFER_SRGB
enabled), so filtering (mipmaps, trilinear, anisotropic, MSAA resolve) averages linear
light and the output is sRGB again: one decode, one encode, no double gamma. A flat
colour round-trips exactly (tested for every 8-bit level).

Texture sampling: u wraps (REPEAT; the seam column has u slightly above 1), v clamps;
mipmapped trilinear with the context's maximum anisotropy. No face culling (the sphere is
seen from inside), depth test on.

Readback: the projection is mirrored vertically before drawing, so GL's bottom-up row order
stores the image's top row first and ``glReadPixels`` writes straight into the caller's
(h, w, 3) array with no flip or copy (the winding flip is harmless: no culling).

GL state: each draw sets what it needs (``enable_only(DEPTH_TEST)``, GL_FRAMEBUFFER_SRGB on
for the draw and resolve, off again after) and rebinds the caller's framebuffer and
viewport, so a window (preview) can share the context.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import moderngl
import numpy as np

from .camera import eye_matrices, eye_pose
from .culling import draw_runs, tile_faces, visible_tiles
from .gl import (
    GL_FRAMEBUFFER_SRGB,
    GL_SRGB8,
    GL_SRGB8_ALPHA8,
    RenderError,
    gl_info,
    load_program,
    max_render_size,
)
from .pose import Pose

#: GL_SAMPLE_ALPHA_TO_COVERAGE: fragment alpha -> fraction of covered MSAA samples.
GL_SAMPLE_ALPHA_TO_COVERAGE = 0x809E
# Mirrors clip-space y: GL then stores the top image row first (see module docstring).
_FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0])
_MAX_CACHED_SIZES = 4


@dataclass
class _Targets:
    """Framebuffers of one size: ``draw`` (multisampled or not) and ``read`` (single-sample)."""

    draw: moderngl.Framebuffer
    read: moderngl.Framebuffer
    objects: list[Any]

    def release(self) -> None:
        for obj in self.objects:
            obj.release()


class MeshRenderer:
    """Draws one textured triangle mesh from any pose into uint8 RGB images.

    Parameters
    ----------
    ctx : moderngl.Context
        From :func:`depthfusion.render.gl.get_context` (headless) or a window.
    vertices : (n, 3) float32
        World positions in metres.
    uvs : (n, 2) float32
        Texture coordinates, u right, v down from the image's top row (v = (y + 0.5) / H);
        u may exceed 1 at a duplicated seam column (u wraps).
    faces : (m, 3) uint32
        Triangle vertex indices (any winding).
    texture : (H, W, 3) uint8
        sRGB image, top row first.
    samples : int
        MSAA samples per pixel: 0 (off), 2, 4, ... up to the context's GL_MAX_SAMPLES.
    alpha : (n,) float32 in [0, 1], optional
        Per-vertex coverage for soft (feathered) silhouettes, e.g. the foreground layer of a
        :class:`~depthfusion.discontinuities.LayeredMesh`. With MSAA it is drawn with
        alpha-to-coverage (order-independent: what lies behind shows through in proportion,
        no sorting); without MSAA fragments below 0.5 are discarded. None = opaque, and the
        plain program runs exactly as before.
    texq : (n,) float32 > 0, optional
        Per-vertex projective texture coordinate q: (u q, v q, q) is interpolated and the
        texture sampled at the ratio (the skirts of a LayeredMesh, whose corners moved along
        their rays from the centre, keep their original mapping). Triangles whose corners all
        have q = 1 sample plain uvs, exactly as without texq. None = plain uvs.
    across : (n, 2) float32, optional (needs texq)
        View-dependent skirts (:func:`depthfusion.discontinuities._skirt_across`): per corner
        the direction across its depth edge (radians from east toward north) and the
        inverse-distance step ``1/r_near - 1/r_far``. A corner with a step > 0 is given at its
        stretched position (``LayeredMesh.render_vertices``) and its skirt radius is that
        radius times q; each view places it between the two by the parallax its eye opens
        across the edge (whole skirt from :data:`SKIRT_GAP_PIXELS`).
    background_vertex : int, optional
        Vertices from this index on (a LayeredMesh's background layers) are drawn a hair
        deeper (:data:`BACKGROUND_DEPTH_BIAS`), so the foreground wins wherever the two meet
        at equal depth. None = no bias.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        vertices: np.ndarray,
        uvs: np.ndarray,
        faces: np.ndarray,
        texture: np.ndarray,
        samples: int = 4,
        *,
        alpha: np.ndarray | None = None,
        texq: np.ndarray | None = None,
        across: np.ndarray | None = None,
        background_vertex: int | None = None,
        cull: bool = True,
    ) -> None:
        self.ctx = ctx
        info = gl_info(ctx)
        self.max_size = max_render_size(ctx)
        vertices = np.ascontiguousarray(vertices, dtype=np.float32)
        uvs = np.ascontiguousarray(uvs, dtype=np.float32)
        faces = np.ascontiguousarray(faces, dtype=np.uint32)
        texture = np.ascontiguousarray(texture, dtype=np.uint8)
        _check_mesh(vertices, uvs, faces, texture)
        self._samples = self._check_samples(samples)
        tex_h, tex_w = texture.shape[:2]
        if max(tex_w, tex_h) > info["max_texture_size"]:
            raise RenderError(
                f"panorama texture {tex_w}x{tex_h} exceeds this OpenGL's texture limit of "
                f"{info['max_texture_size']} pixels per side ({info['renderer']}); "
                "use a smaller panorama"
            )

        alpha = _per_vertex(alpha, len(vertices), "alpha")
        self.has_alpha = alpha is not None
        texq = _per_vertex(texq, len(vertices), "texq")
        if across is not None:
            across = np.ascontiguousarray(across, dtype=np.float32)
            if texq is None or across.shape != (len(vertices), 2):
                raise RenderError(f"mesh across must be ({len(vertices)}, 2) with texq")
            if not (across[:, 1] > 0.0).any():
                across = None
        self.has_across = across is not None
        defines = {"WITH_ALPHA": 1} if self.has_alpha else {}
        if texq is not None:
            defines["WITH_TEXQ"] = 1
        if self.has_across:
            defines["WITH_ACROSS"] = 1
        if background_vertex is not None and background_vertex < len(vertices):
            defines["WITH_BACKGROUND"] = 1
        self.program = load_program(ctx, "mesh", defines or None)
        self._mvp = self.program["m_mvp"]
        self.program["texture0"] = 0
        self.program["uv_margin"] = tuple(UV_MARGIN * _uv_extent(uvs, faces))
        if "WITH_BACKGROUND" in defines:
            self.program["first_background_vertex"] = int(background_vertex)
            self.program["background_bias"] = BACKGROUND_DEPTH_BIAS
        # Culling: faces sorted by direction tile once, so each view draws only the runs of
        # tiles in its frustum (a 90-degree view sees about a tenth of the sphere; on llvmpipe
        # every submitted triangle costs, seen or not).
        self._tiles = tile_faces(vertices, faces) if cull else None
        if self._tiles is not None:
            faces = self._tiles.faces
        self._vbo_pos = ctx.buffer(vertices)
        self._vbo_uv = ctx.buffer(uvs)
        self._ibo = ctx.buffer(faces)
        content = [(self._vbo_pos, "3f", "in_position"), (self._vbo_uv, "2f", "in_texcoord_0")]
        self._vbo_alpha = self._vbo_texq = self._vbo_across = None
        if self.has_alpha:
            self._vbo_alpha = ctx.buffer(alpha)
            content.append((self._vbo_alpha, "1f", "in_alpha"))
        if texq is not None:
            self._vbo_texq = ctx.buffer(_flag_projective(texq, faces))
            content.append((self._vbo_texq, "1f", "in_texq"))
        if self.has_across:
            self._vbo_across = ctx.buffer(across)
            content.append((self._vbo_across, "2f", "in_across"))
        self.vao = ctx.vertex_array(
            self.program, content, index_buffer=self._ibo, index_element_size=4
        )
        self.triangle_count = int(faces.shape[0])
        self.last_drawn = 0  # triangles submitted by the last view (after culling)

        self.texture = ctx.texture(
            (tex_w, tex_h), 3, data=texture, alignment=1, internal_format=GL_SRGB8
        )
        self.texture.repeat_x = True
        self.texture.repeat_y = False
        # Mipmaps on the first draw that samples this texture (an ODS renderer draws from its
        # own plain copy and may never need them: 0.1 s of llvmpipe time at 2048 px).
        self._mipmaps_built = False
        self.texture.anisotropy = min(16.0, info["max_anisotropy"])
        self._targets: OrderedDict[tuple[int, int, int], _Targets] = OrderedDict()
        self._default_fbo: moderngl.Framebuffer | None = None

    @property
    def samples(self) -> int:
        """MSAA samples of the views drawn from now on (0 = off); settable, so one renderer
        (one upload of the mesh) serves outputs with different settings: each sample count
        keeps its own framebuffers."""
        return self._samples

    @samples.setter
    def samples(self, samples: int) -> None:
        self._samples = self._check_samples(samples)

    def _check_samples(self, samples: int) -> int:
        samples, info = int(samples), gl_info(self.ctx)
        if samples < 0 or (
            samples not in (0, 1) and (samples & (samples - 1) or samples > info["max_samples"])
        ):
            raise RenderError(
                f"MSAA samples={samples} unsupported: use 0 or a power of two up to "
                f"{info['max_samples']} ({info['renderer']})"
            )
        return 0 if samples == 1 else samples

    @classmethod
    def from_mesh(
        cls,
        ctx: moderngl.Context,
        mesh: Any,
        samples: int = 4,
        *,
        texture: np.ndarray | None = None,
    ) -> MeshRenderer:
        """From any object with ``vertices``, ``uvs``, ``faces`` and ``texture`` (a SphereMesh),
        and ``alpha``/``texq``/``across``/``render_vertices``/``background_vertex`` when it has
        them (a LayeredMesh with skirts). ``texture`` replaces the mesh's (same layout: e.g.
        all white, to see which pixels the mesh covers)."""
        alpha, texq = getattr(mesh, "alpha", None), getattr(mesh, "texq", None)
        across = getattr(mesh, "across", None)
        background_vertex = getattr(mesh, "background_vertex", None)
        vertices = (
            getattr(mesh, "render_vertices", mesh.vertices) if across is not None else mesh.vertices
        )
        return cls(
            ctx, vertices, mesh.uvs, mesh.faces, mesh.texture if texture is None else texture,
            samples,
            alpha=alpha, texq=texq, across=across, background_vertex=background_vertex,
        )  # fmt: skip

    # --- frames --------------------------------------------------------------------------------

    def render(
        self,
        pose: Pose,
        size: tuple[int, int],
        fov: float,
        eye: float = 0.0,
        convergence: float | None = None,
        near: float = 0.05,
        far: float = 1000.0,
        *,
        aspect: float | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """One view as (h, w, 3) uint8 RGB, top row first.

        pose : the camera (its ``fov`` is not read: resolve it into ``fov`` first).
        size : (width, height) in pixels.
        fov : horizontal field of view in degrees.
        eye : offset along the camera's right axis in metres (-ipd/2 = left eye).
        convergence : zero-disparity distance in metres; None = parallel frusta.
        aspect : display aspect w/h if not width/height (anamorphic sbs-half eyes).
        out : optional (h, w, 3) uint8 C-contiguous array to fill (no allocation).
        """
        width, height = self._check_size(size)
        if out is None:
            out = np.empty((height, width, 3), dtype=np.uint8)
        elif out.shape != (height, width, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous ({height}, {width}, 3) uint8 array")
        view, proj = eye_matrices(pose, eye, convergence, fov, (width, height), near, far, aspect)
        if self.has_across:
            # The eye in mesh coordinates, and the parallax (radians) of one pixel at the
            # view's centre: a skirt is whole once its edge opens that gap times
            # SKIRT_GAP_PIXELS.
            self.program["eye_position"] = tuple(float(x) for x in eye_pose(pose, eye).position)
            pixel = 2.0 * math.tan(math.radians(fov) / 2.0) / width
            self.program["skirt_gap"] = SKIRT_GAP_PIXELS * pixel
        # moderngl rebinds the context's current framebuffer after creating or reading one;
        # remember the caller's (never a released one) and hand it back after drawing.
        prev_fbo, prev_viewport = self._caller_framebuffer(), self.ctx.viewport
        targets = self._targets_for(width, height)
        try:
            self._draw(targets, _FLIP_Y @ proj @ view)
        finally:
            prev_fbo.use()
            if prev_viewport is not None:
                self.ctx.viewport = prev_viewport
        targets.read.read_into(out, components=3, alignment=1)
        return out

    def render_stereo(
        self,
        pose: Pose,
        size: tuple[int, int],
        fov: float,
        ipd: float,
        convergence: float | None,
        near: float = 0.05,
        far: float = 1000.0,
        *,
        aspect: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(left, right) views: eyes at -ipd/2 and +ipd/2 along the camera's right axis,
        parallel axes, off-axis frusta converging at ``convergence`` metres (camera.py)."""
        kwargs = dict(near=near, far=far, aspect=aspect)
        left = self.render(pose, size, fov, -ipd / 2.0, convergence, **kwargs)
        right = self.render(pose, size, fov, ipd / 2.0, convergence, **kwargs)
        return left, right

    def _draw(self, targets: _Targets, mvp: np.ndarray) -> None:
        ctx = self.ctx
        self._mvp.write(mvp.T.astype(np.float32).tobytes())  # GL is column-major
        targets.draw.use()
        targets.draw.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
        ctx.enable_only(moderngl.DEPTH_TEST)  # no culling: the sphere is seen from inside
        ctx.enable_direct(GL_FRAMEBUFFER_SRGB)
        coverage = self.has_alpha and self.samples > 0
        if self.has_alpha:  # without MSAA the shader discards alpha < 0.5 instead
            self.program["alpha_to_coverage"] = coverage
        if coverage:
            ctx.enable_direct(GL_SAMPLE_ALPHA_TO_COVERAGE)
        try:
            self.use_texture()
            if self._tiles is None:
                self.vao.render(moderngl.TRIANGLES)
                self.last_drawn = self.triangle_count
            else:
                runs = draw_runs(self._tiles, visible_tiles(self._tiles, mvp))
                for first, count in runs:
                    self.vao.render(moderngl.TRIANGLES, vertices=3 * count, first=3 * first)
                self.last_drawn = sum(count for _, count in runs)
            if coverage:
                ctx.disable_direct(GL_SAMPLE_ALPHA_TO_COVERAGE)
                coverage = False
            if targets.read is not targets.draw:
                ctx.copy_framebuffer(targets.read, targets.draw)  # MSAA resolve, linear light
        finally:
            if coverage:
                ctx.disable_direct(GL_SAMPLE_ALPHA_TO_COVERAGE)
            ctx.disable_direct(GL_FRAMEBUFFER_SRGB)  # leave shared state as we found it

    def _caller_framebuffer(self) -> moderngl.Framebuffer:
        fbo = self.ctx.fbo
        if fbo is not None and not isinstance(fbo.mglo, moderngl.InvalidObject):
            return fbo
        # A standalone context starts on framebuffer 0; a released one must not stay bound
        # (moderngl would rebind its deleted name: GL_INVALID_OPERATION).
        if self._default_fbo is None:
            self._default_fbo = self.ctx.detect_framebuffer(0)
        if fbo is not None:
            self._default_fbo.use()
        return self._default_fbo

    # --- framebuffers --------------------------------------------------------------------------

    def _check_size(self, size: tuple[int, int]) -> tuple[int, int]:
        width, height = (int(s) for s in size)
        if width < 1 or height < 1:
            raise RenderError(f"render size {width}x{height}: both sides must be >= 1 pixel")
        if max(width, height) > self.max_size:
            raise RenderError(
                f"render size {width}x{height} exceeds this OpenGL's limit of {self.max_size} "
                f"pixels per side ({gl_info(self.ctx)['renderer']})"
            )
        return width, height

    def _targets_for(self, width: int, height: int) -> _Targets:
        key = (width, height, self.samples)
        targets = self._targets.get(key)
        if targets is not None:
            self._targets.move_to_end(key)
            return targets
        ctx, size = self.ctx, (width, height)
        color = ctx.texture(size, 4, internal_format=GL_SRGB8_ALPHA8)
        if self.samples:
            ms_color = ctx.texture(size, 4, samples=self.samples, internal_format=GL_SRGB8_ALPHA8)
            ms_depth = ctx.depth_renderbuffer(size, samples=self.samples)
            draw = ctx.framebuffer([ms_color], ms_depth)
            read = ctx.framebuffer([color])
            targets = _Targets(draw, read, [draw, read, ms_color, ms_depth, color])
        else:
            depth = ctx.depth_renderbuffer(size)
            draw = read = ctx.framebuffer([color], depth)
            targets = _Targets(draw, read, [draw, color, depth])
        self._targets[key] = targets
        while len(self._targets) > _MAX_CACHED_SIZES:
            self._targets.popitem(last=False)[1].release()
        return targets

    # --- lifetime ------------------------------------------------------------------------------

    def use_texture(self) -> moderngl.Texture:
        """Bind the mesh texture to unit 0, its mipmaps built first if not yet (which also
        sets its filter to LINEAR_MIPMAP_LINEAR / LINEAR)."""
        if not self._mipmaps_built:
            self.texture.build_mipmaps()
            self._mipmaps_built = True
        self.texture.use(0)
        return self.texture

    def release(self) -> None:
        """Free the GPU objects (the context itself stays)."""
        for targets in self._targets.values():
            targets.release()
        self._targets.clear()
        for obj in (self.vao, self._vbo_pos, self._vbo_uv, self._ibo, self.texture, self.program):
            obj.release()
        for vbo in (self._vbo_alpha, self._vbo_texq, self._vbo_across):
            if vbo is not None:
                vbo.release()

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: Parallax across a depth edge, in pixels at the view's centre, from which the edge's skirt
#: is drawn whole; less opens less of it, none draws the stretched triangle (mesh.glsl).
#: Measured with benchmarks/bench_discontinuities.py (0.075 m skirts, MSAA 4): 2 px and 3 px
#: lower the mean gain from +0.47 to +0.40 and +0.33 dB (0.5 px, with 0.15 m skirts: two more
#: losers).
SKIRT_GAP_PIXELS = 1.0

#: Depth bias of background-layer vertices, in normalised device depth (x w): ~80 steps of
#: a 24-bit depth buffer, 2.5 mm at 5 m and 0.6 m at 80 m (near plane 0.05 m): enough to
#: settle the foreground/background tie along every cut's far side, never enough to bring
#: the background in front of anything.
BACKGROUND_DEPTH_BIAS = 1e-5

#: How far a fragment's texture coordinate may stray from its triangle's last corner before
#: it is clamped, in widest-triangle extents per axis (shaders/mesh.glsl: extrapolated uvs on
#: slivers). 16 grid cells: 2.8 degrees on a 2048-column sphere, wider than a pixel of any
#: view 32 pixels or more across at 90 degrees. Relative, so that the layered mesh's texture
#: atlas (v scaled per layer) clamps exactly as each layer alone would.
UV_MARGIN = 16.0


def _uv_extent(uvs: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(2,) float: the largest difference in u, and in v, between corners of one triangle."""
    extent = np.zeros(2, dtype=np.float64)
    for k in range(2):
        a, b, c = (uvs[faces[:, j], k] for j in range(3))
        hi = np.maximum(np.maximum(a, b), c)
        lo = np.minimum(np.minimum(a, b), c)
        extent[k] = float((hi - lo).max())
    return extent


def _per_vertex(values: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    """An optional per-vertex float attribute as a contiguous (n,) float32 array."""
    if values is None:
        return None
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    if values.shape != (n,):
        raise RenderError(f"mesh {name} must be ({n},), got {values.shape}")
    return values


def _check_mesh(vertices: np.ndarray, uvs: np.ndarray, faces: np.ndarray, texture: np.ndarray):
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise RenderError(f"mesh vertices must be (n, 3), got {vertices.shape}")
    if uvs.shape != (len(vertices), 2):
        raise RenderError(f"mesh uvs must be ({len(vertices)}, 2), got {uvs.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise RenderError(f"mesh faces must be (m, 3), got {faces.shape}")
    if int(faces.max()) >= len(vertices):
        raise RenderError(f"mesh face index {int(faces.max())} >= vertex count {len(vertices)}")
    if texture.ndim != 3 or texture.shape[2] != 3:
        raise RenderError(f"texture must be (H, W, 3) uint8, got {texture.shape}")


def _flag_projective(texq: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """texq with the corners of every triangle that has a corner q != 1 negated: the shader
    divides by q only there (the sign is its flag), so every other triangle samples exactly
    as without texq (the division rounds, and near the poles shifts a level or two)."""
    projective_face = (texq[faces] != 1.0).any(axis=1)
    flag = np.zeros(len(texq), dtype=bool)
    flag[faces[projective_face].ravel()] = True
    return np.where(flag, -texq, texq).astype(np.float32)
