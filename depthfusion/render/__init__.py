"""Headless OpenGL rendering of the textured panorama mesh: mono and stereo views, layouts.

- :mod:`.gl` -- the EGL context (one per process), GL limits, the shader loader;
- :mod:`.camera` -- pinhole projection and off-axis stereo frusta (matrices, disparity);
- :mod:`.renderer` -- :class:`MeshRenderer`: upload a mesh once, render many frames;
- :mod:`.layouts` -- sbs / sbs-half / tb / anaglyph / mono / left-right-files packing.
"""

from .camera import (
    expected_disparity_px,
    eye_matrices,
    perspective,
    project_to_pixels,
    stereo_matrices,
)
from .gl import GLUnavailableError, RenderError, get_context, gl_info, load_program
from .layouts import LAYOUTS, anaglyph, compose, eye_aspect, eye_size, output_size, render_frame
from .renderer import MeshRenderer

__all__ = [
    "LAYOUTS",
    "GLUnavailableError",
    "MeshRenderer",
    "RenderError",
    "anaglyph",
    "compose",
    "expected_disparity_px",
    "eye_aspect",
    "eye_matrices",
    "eye_size",
    "get_context",
    "gl_info",
    "load_program",
    "output_size",
    "perspective",
    "project_to_pixels",
    "render_frame",
    "stereo_matrices",
]
