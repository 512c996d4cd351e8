"""The OpenGL context (headless EGL, one per process) and the shader loader.

Everything GL goes through here so that the rest of the renderer never asks which
backend it runs on: on CPU machines EGL gives Mesa llvmpipe, on NVIDIA machines the same
code runs on the GPU. A window (the interactive preview) can pass its own context to the
renderers instead; they only need a ``moderngl.Context``.

Shader files follow moderngl-window: one program per file in ``shaders/``, a ``#version``
line, then ``#if defined VERTEX_SHADER ... #elif defined FRAGMENT_SHADER ... #endif``. The
loader inserts the stage's ``#define`` (and any extra defines) after the ``#version`` line
and a ``#line`` directive so that compiler messages keep the file's line numbers.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import moderngl

from ..errors import DepthFusionError
from ..resources import shader_path

#: Debian/Ubuntu packages that provide headless OpenGL through EGL.
GL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"

#: GL enums moderngl has no name for.
GL_FRAMEBUFFER_SRGB = 0x8DB9
GL_SRGB8 = 0x8C41
GL_SRGB8_ALPHA8 = 0x8C43

_STAGES = (
    ("vertex_shader", "VERTEX_SHADER"),
    ("geometry_shader", "GEOMETRY_SHADER"),
    ("fragment_shader", "FRAGMENT_SHADER"),
)

_lock = threading.Lock()
_context: moderngl.Context | None = None


class RenderError(DepthFusionError):
    """A rendering request this OpenGL cannot serve (size over its limits, bad mesh)."""


class GLUnavailableError(RenderError):
    """No usable OpenGL (EGL) on this machine."""


def create_context() -> moderngl.Context:
    """A new headless OpenGL >= 3.3 core context through EGL (not cached)."""
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as exc:  # moderngl/glcontext raise plain Exceptions of several kinds
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise GLUnavailableError(
            f"no headless OpenGL 3.3 via EGL ({reason}); install {GL_PACKAGES} "
            "(apt-get install) or run on a machine with a GPU driver"
        ) from None
    return ctx


def get_context() -> moderngl.Context:
    """The process's shared headless context, created on first use."""
    global _context
    with _lock:
        if _context is None:
            _context = create_context()
        return _context


def gl_info(ctx: moderngl.Context | None = None) -> dict[str, Any]:
    """Renderer, version and the limits the renderers check (of ``ctx`` or the shared one)."""
    ctx = ctx or get_context()
    info = ctx.info
    viewport = info.get("GL_MAX_VIEWPORT_DIMS", (0, 0))
    return {
        "vendor": info.get("GL_VENDOR", ""),
        "renderer": info.get("GL_RENDERER", ""),
        "version": info.get("GL_VERSION", ""),
        "version_code": ctx.version_code,
        "max_texture_size": int(info["GL_MAX_TEXTURE_SIZE"]),
        "max_renderbuffer_size": int(info["GL_MAX_RENDERBUFFER_SIZE"]),
        "max_viewport_dims": (int(viewport[0]), int(viewport[1])),
        "max_samples": int(info["GL_MAX_SAMPLES"]),
        "max_anisotropy": float(ctx.max_anisotropy),
    }


def max_render_size(ctx: moderngl.Context) -> int:
    """Largest width or height of a framebuffer this context can render into and read back."""
    info = gl_info(ctx)
    return min(
        info["max_texture_size"],
        info["max_renderbuffer_size"],
        *info["max_viewport_dims"],
    )


# --- shaders -----------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _read_shader(name: str) -> str:
    return shader_path(name).read_text(encoding="utf-8")


def shader_stages(name: str) -> tuple[str, ...]:
    """The stages (moderngl keyword names) that shader file ``name`` defines."""
    source = _read_shader(name)
    return tuple(kw for kw, define in _STAGES if f"defined {define}" in source)


def shader_source(name: str, stage: str, defines: dict[str, Any] | None = None) -> str:
    """Source of one stage (``VERTEX_SHADER``, ``FRAGMENT_SHADER``, ...) of shader file ``name``."""
    source = _read_shader(name)
    first, sep, rest = source.partition("\n")
    if not first.startswith("#version"):
        raise ValueError(f"{shader_path(name)}: the first line must be a #version directive")
    lines = [f"#define {stage} 1"]
    for key, value in (defines or {}).items():
        lines.append(f"#define {key} {value}")
    # #line N: the line after it is numbered N, so messages keep the file's numbering.
    return "\n".join([first, *lines, "#line 2", rest])


def load_program(
    ctx: moderngl.Context, name: str, defines: dict[str, Any] | None = None
) -> moderngl.Program:
    """Compile and link shader file ``name`` (one program a file) with optional extra defines."""
    stages = shader_stages(name)
    if "vertex_shader" not in stages:
        raise ValueError(f"{shader_path(name)}: no '#if defined VERTEX_SHADER' section")
    sources = {kw: shader_source(name, define, defines) for kw, define in _STAGES if kw in stages}
    try:
        return ctx.program(**sources)
    except moderngl.Error as exc:
        raise RuntimeError(f"{shader_path(name)}: {exc}") from exc
