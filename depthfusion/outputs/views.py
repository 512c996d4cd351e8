"""Views of the sphere mesh for the view outputs (still, video, frames): the scene's
MeshRenderer, shared by every view output, through each output's MSAA and anisotropy, and
the composed frame of one pose in the output's layout (render/layouts.py).

A view output's ``size`` is one eye's picture; ``left-right-files`` gives two pictures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..console import stage
from ..render.pose import Pose
from .state import SceneState

log = logging.getLogger("depthfusion")


def _is_software_gl(renderer_name: str) -> bool:
    return any(
        name in renderer_name.lower() for name in ("llvmpipe", "softpipe", "swrast", "software")
    )


def _renderer(state: SceneState, out, single_frame: bool = False) -> _Filtered:
    """The scene's MeshRenderer (mesh uploaded once, shared by every view output) with this
    output's filtering.

    Unset ``samples``/``anisotropy`` pick quality (4x MSAA, 16x anisotropy) on GPUs and for
    single frames (stills), and speed for videos on software GL, where each roughly doubles
    the time per frame.
    """
    from ..render.gl import get_context, gl_info

    ctx = get_context()
    info = gl_info(ctx)
    fast = _is_software_gl(info["renderer"]) and not single_frame
    samples = (
        out.samples if out.samples is not None else (0 if fast else min(4, info["max_samples"]))
    )
    aniso = out.anisotropy if out.anisotropy is not None else (1.0 if fast else 16.0)
    if "renderer" not in state.cache:
        from ..render.renderer import MeshRenderer

        with stage("upload"):
            state.cache["renderer"] = MeshRenderer.from_mesh(ctx, state.mesh, samples=samples)
    return _Filtered(state.cache["renderer"], samples, min(aniso, info["max_anisotropy"]))


class _Filtered:
    """A MeshRenderer seen through one output's MSAA and anisotropy (set before each view)."""

    def __init__(self, renderer, samples: int, anisotropy: float) -> None:
        self.renderer, self.samples, self.anisotropy = renderer, samples, anisotropy
        renderer.samples = samples  # an unsupported count fails here, before any file opens

    def _apply(self):
        self.renderer.samples = self.samples
        self.renderer.texture.anisotropy = self.anisotropy
        return self.renderer

    def render(self, *args, **kwargs):
        return self._apply().render(*args, **kwargs)

    def render_stereo(self, *args, **kwargs):
        return self._apply().render_stereo(*args, **kwargs)


def view_renderer(
    state: SceneState, out, size: tuple[int, int], single_frame: bool = False
) -> Callable[[Pose], Any]:
    """A function pose -> composed frame (or (left, right) for left-right-files)."""
    from ..render.layouts import render_frame

    renderer = _renderer(state, out, single_frame)
    cam, st = state.scene.camera, state.scene.stereo

    def render(pose: Pose):
        fov = pose.fov if pose.fov is not None else out.fov
        with stage("render"):
            return render_frame(
                renderer, out.layout, pose, size, fov, st.ipd, st.convergence, cam.near, cam.far
            )

    return render
