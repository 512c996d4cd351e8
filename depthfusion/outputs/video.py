"""The ``video`` and ``frames`` output kinds: the camera path rendered frame by frame into a
video file or a numbered image sequence (two of either for ``left-right-files``). Odd eye
sizes of a video are rounded up to even (4:2:0 chroma needs even frames) with a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .plan import side_paths
from .state import SceneState
from .views import view_renderer

log = logging.getLogger("depthfusion")


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
    from ..console import progress, stage

    poses, fps = state.poses()
    paths = (
        list(side_paths(Path(out.path))) if out.layout == "left-right-files" else [Path(out.path)]
    )
    render = view_renderer(state, out, size)
    with ExitStack() as stack:
        writers = [open_writer(p, stack) for p in paths]
        bar = stack.enter_context(progress(len(poses), f"outputs[{index}] {out.kind}", state.quiet))
        for pose in poses:
            frame = render(pose)
            for writer, image in zip(
                writers, frame if len(writers) == 2 else (frame,), strict=True
            ):
                with stage("encode"):
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


def write_video_output(state: SceneState, out, index: int) -> list[Path]:
    from .writers import VideoWriter

    _, fps = state.poses()
    size = _even_eye_size(out, index)

    def open_writer(path: Path, stack: ExitStack):
        return stack.enter_context(
            VideoWriter(path, fps, crf=out.crf, preset=out.preset, bitrate=out.bitrate)
        )

    return _sequence(state, out, index, open_writer, size)


def write_frames_output(state: SceneState, out, index: int) -> list[Path]:
    from .writers import FramesWriter

    def open_writer(path: Path, stack: ExitStack):
        return stack.enter_context(FramesWriter(path))

    return _sequence(state, out, index, open_writer, tuple(out.size))
