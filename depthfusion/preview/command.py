"""The ``depthfusion preview`` command: its arguments, the checks made before a window opens
(scene, screenshot path), and ``python -m depthfusion.preview``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import DepthFusionError
from .app import Preview
from .controls import DEFAULT_SIZE, MOVE_SPEED, PREVIEW_LAYOUTS
from .remesh import SceneFiles, rebuild
from .script import load_script
from .window import GlfwWindow, HeadlessWindow

log = logging.getLogger("depthfusion")

# --- entry points -------------------------------------------------------------------------------


def open_preview(
    window: GlfwWindow | HeadlessWindow,
    scene_path: str | Path,
    overrides: Sequence[str] = (),
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    vsync: bool = True,
    **options: Any,
) -> Preview:
    """Load and mesh a scene, open ``window`` (already ``init``-ed) and return the Preview on
    it; ``options`` are :class:`Preview`'s keyword arguments."""
    files = SceneFiles(scene_path, overrides)
    rgbd, mesh, seconds = rebuild(files.scene, None)
    log.info("preview: scene ready in %.1f s", seconds)
    window.open(tuple(int(s) for s in size), f"DepthFusion preview - {files.path.name}", vsync)
    return Preview(window, files, rgbd, mesh, **options)


def check_screenshot_path(path: Path) -> None:
    """A screenshot path that can be written without destroying anything: .png/.jpg, not a
    folder, and not an existing file that depthfusion did not write (unless --overwrite)."""
    from ..atomic import check_replaceable
    from ..outputs.writers import STILL_FORMATS

    if path.suffix.lower() not in STILL_FORMATS:
        raise DepthFusionError(f"--screenshot {path}: must end in .png or .jpg")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise DepthFusionError(f"--screenshot {path}: {parent} is a file, not a folder")
    try:
        check_replaceable(path)
    except DepthFusionError as exc:
        raise DepthFusionError(f"--screenshot {exc}") from None


def run_preview(
    scene_path: str | Path,
    overrides: Sequence[str] = (),
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    frames: int | None = None,
    screenshot: str | Path | None = None,
    script: str | Path | None = None,
    layout: str = "mono",
    samples: int | None = None,
    render_scale: float = 1.0,
    speed: float = MOVE_SPEED,
    show_help: bool | None = None,
    backend: Literal["window", "headless"] = "window",
    ctx: Any = None,
    out: IO[str] | None = None,
) -> int:
    """Open the preview on a scene file and run it; returns the number of frames drawn.

    The display is checked first, then the scene is loaded, meshed, and the window opened,
    so every user error (no display, bad scene, missing input) is one line before a window
    appears. With ``frames`` or a ``script`` the run is automated: fixed time step, meshes
    rebuilt synchronously, help hidden unless ``show_help``. ``backend="headless"`` draws
    offscreen on ``ctx`` (default the shared EGL context) instead of a window.
    """
    width, height = (int(s) for s in size)
    if width < 1 or height < 1:
        raise DepthFusionError(f"--size must be two positive integers, got {width} {height}")
    if frames is not None and frames < 1:
        raise DepthFusionError(f"--frames must be >= 1, got {frames}")
    if screenshot:
        check_screenshot_path(Path(screenshot))
    window = GlfwWindow() if backend == "window" else HeadlessWindow(ctx)
    window.init()  # fails fast without a display
    try:
        events = load_script(script, window.glfw) if script is not None else []
        automated = frames is not None or bool(events)
        preview = open_preview(
            window,
            scene_path,
            overrides,
            size=(width, height),
            vsync=not automated,
            layout=layout,
            samples=samples,
            render_scale=render_scale,
            speed=speed,
            show_help=(not automated) if show_help is None else show_help,
            sync=automated,
            screenshot=Path(screenshot) if screenshot else None,
            out=out,
        )
        restore = _close_on_sigterm(window)
        try:
            drawn = preview.run(frames, events)
        finally:
            restore()
            log.info("preview: %s", preview.timing_summary())
            error = preview.ctx.error
            if error != "GL_NO_ERROR":
                log.warning("preview: OpenGL error %s", error)
            preview.release()
        return drawn
    finally:
        window.close()


def _close_on_sigterm(window) -> Callable[[], None]:
    """SIGTERM closes the window like Esc (so automation can stop a preview cleanly)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: window.request_close())
    return lambda: signal.signal(signal.SIGTERM, previous)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


DESCRIPTION = (
    "Open a window on a scene: drag to look around, W A S D to move, H for all keys. Edits "
    "to the scene file or its input images show up live. Needs a display; without one, "
    "use `depthfusion render`."
)


def add_preview_arguments(p: argparse.ArgumentParser) -> None:
    """The preview command's arguments (shared by ``depthfusion preview`` and ``python -m``)."""
    p.add_argument("scene", help="scene file (YAML), or the name of a shipped scene such as 'demo'")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scene key, e.g. --set sphere.resolution=512",
    )
    p.add_argument(
        "--size",
        nargs=2,
        type=_positive_int,
        default=list(DEFAULT_SIZE),
        metavar=("W", "H"),
        help=f"window size in pixels (default {DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]})",
    )
    p.add_argument(
        "--layout", choices=PREVIEW_LAYOUTS, default="mono", help="starting layout (keys 1 2 3)"
    )
    p.add_argument(
        "--frames",
        type=_positive_int,
        metavar="N",
        help="draw N frames (fixed 1/30 s time step), then exit",
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="where F12 saves; with --frames the last frame is saved here",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="let --screenshot replace an existing file that depthfusion did not write",
    )
    p.add_argument(
        "--script",
        type=Path,
        metavar="FILE",
        help="YAML list of timed input events, e.g. '- {frame: 3, key: D, action: press}', "
        "'- {frame: 5, drag: [dx, dy]}', '- {frame: 6, scroll: -1}'",
    )
    p.add_argument(
        "--samples", type=int, metavar="N", help="MSAA samples (default 0 on software GL, else 4)"
    )
    p.add_argument(
        "--render-scale",
        type=float,
        default=1.0,
        metavar="S",
        help="render at this fraction of the window's pixels (faster on software GL)",
    )
    p.add_argument(
        "--speed", type=float, default=MOVE_SPEED, metavar="M/S", help="movement speed in m/s"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no info messages")
    p.add_argument("-v", "--verbose", action="store_true", help="more messages")


def add_preview_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``depthfusion preview`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "preview",
        help="interactive window: look around and move inside a scene",
        description=DESCRIPTION,
    )
    add_preview_arguments(p)
    p.set_defaults(func=cmd_preview)
    return p


def cmd_preview(args: argparse.Namespace) -> int:
    from ..atomic import allow_overwrite
    from ..scene import resolve_scene_arg

    with allow_overwrite(args.overwrite):
        _run_preview_args(args, resolve_scene_arg)
    return 0


def _run_preview_args(args: argparse.Namespace, resolve_scene_arg) -> None:
    run_preview(
        resolve_scene_arg(args.scene),
        args.set,
        size=tuple(args.size),
        frames=args.frames,
        screenshot=args.screenshot,
        script=args.script,
        layout=args.layout,
        samples=args.samples,
        render_scale=args.render_scale,
        speed=args.speed,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m depthfusion.preview``: the preview command on its own (same errors as the CLI)."""
    from ..console import run_command

    parser = argparse.ArgumentParser(prog="depthfusion preview", description=DESCRIPTION)
    add_preview_arguments(parser)
    args = parser.parse_args(argv)
    return run_command(cmd_preview, args)
