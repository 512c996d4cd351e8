"""Output kinds: one writer per ``kind`` of the scene's ``outputs`` list.

View outputs (still, video, frames) render the sphere mesh with the headless renderer. Their
``size`` is one eye's picture; the composed frame follows the layout (render/layouts.py). For
video, odd eye sizes are rounded up to even (4:2:0 chroma needs even frames) with a notice.
``left-right-files`` writes two outputs, ``<stem>_left<suffix>`` and ``<stem>_right<suffix>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .atomic import atomic_paths
from .export import export_mesh
from .output_plan import rgbd_paths, side_paths
from .pipeline import SceneState
from .pose import Pose
from .rgbd_io import save_rgbd

log = logging.getLogger("depthfusion")


def _mesh(state: SceneState, out, index: int) -> list[Path]:
    path = export_mesh(state.mesh, out.path)
    log.info("outputs[%d]: mesh -> %s", index, path)
    return [path]


def _rgbd(state: SceneState, out, index: int) -> list[Path]:
    paths = rgbd_paths(Path(out.path))
    with atomic_paths(paths) as temps:  # the three files are published as a set
        save_rgbd(state.rgbd, *temps, where=paths[1])
    path, depth_path, preview_path = paths
    log.info("outputs[%d]: rgbd -> %s, %s, %s", index, path, depth_path.name, preview_path.name)
    return list(paths)


# --- view outputs -----------------------------------------------------------------------------


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
    from .render.gl import get_context, gl_info

    ctx = get_context()
    info = gl_info(ctx)
    fast = _is_software_gl(info["renderer"]) and not single_frame
    samples = (
        out.samples if out.samples is not None else (0 if fast else min(4, info["max_samples"]))
    )
    aniso = out.anisotropy if out.anisotropy is not None else (1.0 if fast else 16.0)
    if "renderer" not in state.cache:
        from .render.renderer import MeshRenderer

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


def _view_renderer(
    state: SceneState, out, size: tuple[int, int], single_frame: bool = False
) -> Callable[[Pose], Any]:
    """A function pose -> composed frame (or (left, right) for left-right-files)."""
    from .render.layouts import render_frame

    renderer = _renderer(state, out, single_frame)
    cam, st = state.scene.camera, state.scene.stereo

    def render(pose: Pose):
        fov = pose.fov if pose.fov is not None else out.fov
        return render_frame(
            renderer, out.layout, pose, size, fov, st.ipd, st.convergence, cam.near, cam.far
        )

    return render


def _still(state: SceneState, out, index: int) -> list[Path]:
    from .writers import write_still

    p = out.pose
    pose = Pose(tuple(p.position), p.yaw, p.pitch, p.roll)
    frame = _view_renderer(state, out, tuple(out.size), single_frame=True)(pose)
    paths = side_paths(Path(out.path)) if out.layout == "left-right-files" else (Path(out.path),)
    frames = frame if out.layout == "left-right-files" else (frame,)
    for path, image in zip(paths, frames, strict=True):
        write_still(path, image)
    log.info("outputs[%d]: still (%s) -> %s", index, out.layout, ", ".join(str(p) for p in paths))
    return list(paths)


def _even_eye_size(out, index: int) -> tuple[int, int]:
    from .writers import even_size

    size = even_size(*out.size)
    if size != tuple(out.size):
        log.info(
            "outputs[%d].size: %dx%d rounded up to %dx%d (video frames must be even)",
            index,
            *out.size,
            *size,
        )
    return size


def _sequence(
    state: SceneState, out, index: int, open_writer: Callable[[Path, ExitStack], Any], size
) -> list[Path]:
    """Render the camera path through one or two writers (two for left-right-files)."""
    from .writers import progress

    poses, fps = state.poses()
    paths = (
        list(side_paths(Path(out.path))) if out.layout == "left-right-files" else [Path(out.path)]
    )
    render = _view_renderer(state, out, size)
    with ExitStack() as stack:
        writers = [open_writer(p, stack) for p in paths]
        bar = stack.enter_context(progress(len(poses), f"outputs[{index}] {out.kind}", state.quiet))
        for pose in poses:
            frame = render(pose)
            for writer, image in zip(
                writers, frame if len(writers) == 2 else (frame,), strict=True
            ):
                writer.write(image)
            bar.update(1)
    log.info(
        "outputs[%d]: %s (%s, %d frames at %g fps) -> %s",
        index,
        out.kind,
        out.layout,
        len(poses),
        fps,
        ", ".join(map(str, paths)),
    )
    return paths


def _video(state: SceneState, out, index: int) -> list[Path]:
    from .writers import VideoWriter

    _, fps = state.poses()
    size = _even_eye_size(out, index)

    def open_writer(path: Path, stack: ExitStack):
        return stack.enter_context(
            VideoWriter(path, fps, crf=out.crf, preset=out.preset, bitrate=out.bitrate)
        )

    return _sequence(state, out, index, open_writer, size)


def _frames(state: SceneState, out, index: int) -> list[Path]:
    from .writers import FramesWriter

    def open_writer(path: Path, stack: ExitStack):
        return stack.enter_context(FramesWriter(path))

    return _sequence(state, out, index, open_writer, tuple(out.size))


def vr360_spec(scene, out, path_fps: float | None = None):
    """The scene's ``vr360`` output as a :class:`~depthfusion.vr360.VR360Spec`
    (``path_fps``: the camera path's frame rate, when the caller has built the path)."""
    from .vr360 import VR360Spec

    if out.fps is not None:
        fps = out.fps
    else:
        fps = path_fps if path_fps is not None else scene.camera.build_path()[1]
    return VR360Spec(
        path=Path(out.path),
        preset=out.preset,
        stereo=out.stereo,
        resolution=out.resolution,
        codec=out.codec,
        fps=fps,
        duration=out.duration,
        yaw=out.yaw,
        follow_yaw=out.follow_yaw,
        crf=out.crf,
        bitrate=out.bitrate,
        encoder_preset=out.encoder_preset,
        samples=out.samples,
        quality=out.quality,
    )


def _vr360(state: SceneState, out, index: int) -> list[Path]:
    from .vr360 import write_vr360

    path, path_fps, duration = state.scene.camera.build_path()
    spec = vr360_spec(state.scene, out, path_fps)
    fixed = Pose(position=tuple(out.position))
    if Path(out.path).suffix.lower() == ".mp4" and out.follow_path:
        poses = path.poses(spec.fps, out.duration or duration)
    elif Path(out.path).suffix.lower() == ".mp4":
        poses = [fixed] * max(1, round(out.duration * spec.fps))
    else:
        poses = [fixed]
    return write_vr360(spec, state.mesh, poses, ipd=state.scene.stereo.ipd, quiet=state.quiet)


WRITERS: dict[str, Callable[[SceneState, Any, int], list[Path]]] = {
    "mesh": _mesh,
    "rgbd": _rgbd,
    "still": _still,
    "video": _video,
    "frames": _frames,
    "vr360": _vr360,
}


def write_output(state: SceneState, out, index: int) -> list[Path]:
    """Write one output (pipeline.check_outputs has checked its kind is available)."""
    return WRITERS[out.kind](state, out, index)
