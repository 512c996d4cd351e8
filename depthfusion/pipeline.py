"""The whole job of ``depthfusion render``: scene -> source -> RGBD -> mesh -> outputs.

Everything that can be checked without the source is checked before any expensive work
(:func:`check_scene`, which ``depthfusion validate`` runs too): output settings, sizes and
frame counts against the documented limits and this OpenGL's, the input files' headers, and
every file the outputs will write (``outputs/plan.py``), so a scene that cannot write its results,
or would overwrite something the project did not write, fails in a second.
When memory runs out anyway, the error names the field that asked for it.

The stages it runs, each a package: ``sources/`` (scene -> RGBDPanorama), ``mesh/`` (the
displaced sphere and its discontinuity layers, built lazily by ``outputs/state.py``),
``render/`` and ``outputs/`` (one module per output kind).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ldm3d_core import limits
from ldm3d_core.errors import is_out_of_memory

from .console import format_stages, timed_stages
from .console import stage as timed
from .errors import DepthFusionError, InputError, SceneError
from .outputs.plan import PlannedPath, plan_outputs
from .outputs.state import SceneState
from .scene import Scene
from .sources.load import load_source

log = logging.getLogger("depthfusion")


def check_output_settings(scene: Scene) -> None:
    """Fail when an output kind is unavailable or its settings cannot work (no side effects:
    ``depthfusion validate`` runs this too)."""
    from .outputs.kinds import WRITERS

    for index, out in enumerate(scene.outputs):
        if out.kind not in WRITERS:
            raise SceneError(
                f"outputs[{index}]: kind {out.kind!r} is not available in this version"
            )
        if out.kind in ("vr360", "vr180"):
            from .outputs.vr360 import VR360Error, resolve_vr360, vr360_spec

            if Path(out.path).suffix.lower() == ".mp4" and not out.follow_path and not out.duration:
                raise SceneError(
                    f"outputs[{index}].duration: a video with follow_path: false needs a duration"
                )
            try:
                resolve_vr360(vr360_spec(scene, out))
            except VR360Error as exc:
                raise SceneError(f"outputs[{index}]: {exc}") from None


def _check_frame_counts(scene: Scene) -> None:
    """Videos and frame sequences stay within :func:`ldm3d_core.limits.max_frames`."""
    cap = limits.max_frames()
    path, fps, duration = scene.camera.build_path()
    where = "camera.keyframes" if scene.camera.keyframes is not None else "camera.path"
    for index, out in enumerate(scene.outputs):
        if out.kind in ("video", "frames"):
            seconds, rate, field = duration, fps, f"{where}.duration"
        elif out.kind in ("vr360", "vr180") and Path(out.path).suffix.lower() == ".mp4":
            seconds = out.duration or duration
            rate = out.fps or fps
            field = f"outputs[{index}].duration" if out.duration else f"{where}.duration"
        else:
            continue
        frames = round(seconds * rate)
        if frames > cap:
            raise SceneError(
                f"{field}: {seconds:g} s at {rate:g} fps is {frames} frames for outputs[{index}], "
                f"above the limit of {cap} (raise it with DEPTHFUSION_MAX_FRAMES)"
            )


def _check_gl_sizes(scene: Scene) -> None:
    """View and 360 sizes within this OpenGL's largest framebuffer (when GL is available)."""
    from .outputs.vr360 import resolve_vr360

    sizes: list[tuple[int, str, int]] = []
    for index, out in enumerate(scene.outputs):
        if out.kind in ("still", "video", "frames"):
            sizes.append((index, "size", max(out.size)))
        elif out.kind in ("vr360", "vr180"):
            from .outputs.vr360 import vr360_spec

            sizes.append((index, "resolution", resolve_vr360(vr360_spec(scene, out)).render_width))
    if not sizes:
        return
    try:
        from .render.gl import get_context, gl_info, max_render_size

        ctx = get_context()
        largest, renderer = max_render_size(ctx), gl_info(ctx)["renderer"]
    except Exception:  # no GL here: render reports that itself
        return
    for index, key, side in sizes:
        if side > largest:
            raise SceneError(
                f"outputs[{index}].{key}: {side} pixels a side is above this OpenGL's limit "
                f"of {largest} ({renderer})"
            )


def check_inputs(scene: Scene) -> None:
    """The panorama's files exist, are regular files, and their headers are within the
    pixel limit (read without decoding: a decompression bomb costs nothing)."""
    pano = scene.source.panorama
    if pano is None:
        return
    from ldm3d_core import files

    named = [("source.panorama.image", pano.image)]
    if isinstance(pano.depth, Path):
        named.append(("source.panorama.depth", pano.depth))
    for key, path in named:
        try:
            files.regular_file(path, "file")
            size = limits.image_size(path)
            if size is not None:
                limits.check_pixels(*size, f"{path}")
        except (files.FileSafetyError, limits.LimitError) as exc:
            raise InputError(f"{key}: {exc}") from None
        except OSError as exc:
            raise InputError(f"{key}: {path}: cannot read file ({exc.strerror})") from None


def check_scene(scene: Scene, *, allow_outside: bool = False) -> list[PlannedPath]:
    """Every check that needs no source: settings, limits, inputs, and the output plan.
    Creates nothing; returns the planned output paths. Errors start with the scene file's
    name (when it came from a file) and name the field."""
    try:
        check_output_settings(scene)
        _check_frame_counts(scene)
        _check_gl_sizes(scene)
        check_inputs(scene)
        return plan_outputs(scene, allow_outside=allow_outside)
    except DepthFusionError as exc:
        label = getattr(scene, "label", None)
        if not label or str(exc).startswith(f"{label}:"):
            raise
        raise type(exc)(f"{label}: {exc}") from None


def check_outputs(scene: Scene, *, allow_outside: bool = False) -> list[PlannedPath]:
    """Alias of :func:`check_scene` (kept for callers of earlier versions)."""
    return check_scene(scene, allow_outside=allow_outside)


class ResourceError(DepthFusionError):
    """Memory ran out; the message names the field that asked for it."""


def _source_field(scene: Scene) -> str:
    src = scene.source
    if src.procedural is not None:
        return "source.procedural.width"
    if src.prompt is not None:
        return "source.generation.width"
    return "source.panorama.image"


def _output_field(out) -> str:
    return (
        "resolution"
        if out.kind in ("vr360", "vr180")
        else "size"
        if hasattr(out, "size")
        else "path"
    )


def render_scene(scene: Scene, *, quiet: bool = False, allow_outside: bool = False) -> list[Path]:
    """Run every output of ``scene``; returns the paths written.

    ``allow_outside``: outputs may leave the output folder (the CLI's
    ``--allow-outside-output``; never a scene key).
    """
    from .outputs.kinds import write_output

    check_scene(scene, allow_outside=allow_outside)
    field = _source_field(scene)
    with timed_stages() as times:
        try:
            with timed("load"):
                rgbd = load_source(scene, quiet=quiet)
            state = SceneState(scene=scene, rgbd=rgbd, quiet=quiet)
            field = "sphere.resolution"
            if any(out.kind != "rgbd" for out in scene.outputs):
                state.mesh  # noqa: B018 - built here so that running out of memory names its field
            written: list[Path] = []
            for index, out in enumerate(scene.outputs):
                field = f"outputs[{index}].{_output_field(out)}"
                written.extend(write_output(state, out, index))
        except (MemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            raise ResourceError(
                f"{field}: out of memory while working on it; try a smaller value"
            ) from None
    log.debug("stages: %s", format_stages(times))
    return written
