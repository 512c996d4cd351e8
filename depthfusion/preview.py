"""The interactive preview: a window to look around and move inside a scene (``depthfusion preview``).

The window draws with the same :class:`~depthfusion.render.renderer.MeshRenderer` and the
same stereo layouts (:func:`~depthfusion.render.layouts.render_frame`) as the headless
outputs, on the window's own OpenGL context: each frame is rendered into the renderer's
framebuffer, read back, and shown as a textured quad (``shaders/preview_quad.glsl``),
pixel for pixel at render scale 1. Two backends give the context (moderngl-window's
pattern): :class:`GlfwWindow`, a real GLFW window, and :class:`HeadlessWindow`, an
offscreen framebuffer on the shared EGL context where input comes only from scripts.

Input (the key list is :data:`HELP`, shown on screen with H or F1):

- mouse drag looks around, grabbing the scene (the point under the cursor stays under it:
  ``fov / window width`` degrees per pixel; drag left to turn right); scroll changes the
  field of view;
- W A S D / arrows move along the camera's own axes, E / Q up and down, in metres per
  second (Shift: faster); J L / I K turn and look up/down in degrees per second;
- 1 2 3 (or Tab) pick mono, anaglyph or side-by-side; [ ] change the displacement
  strength (linear mode), - = the discontinuity threshold, F the fill mode, B the
  background layer: each re-meshes in a background thread and swaps the new mesh in;
- R resets the view, P prints the pose as a scene-file keyframe on stdout, F12 or Ctrl+S
  saves a screenshot (PNG, atomic), Esc quits.

Hot reload: the scene file and the panorama files it names are polled once per second
(mtime and size); a change re-reads the scene (a broken edit is reported and the last good
scene kept), reloads the source if it changed, and re-meshes if the sphere settings did.

Automation: ``--frames N`` draws N frames with a fixed time step of 1/30 s and exits,
``--screenshot`` saves the last one, and ``--script`` injects timed input events through
the same handlers the window's callbacks call (see :func:`load_script`). Screenshots are
read back from the window's framebuffer after the view is drawn and before the overlay.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal

from .errors import DepthFusionError, InputError

log = logging.getLogger("depthfusion")

#: Layouts the preview can show (keys 1, 2, 3).
PREVIEW_LAYOUTS = ("mono", "anaglyph", "sbs")
#: Fill modes cycled by F (sphere.discontinuities.fill).
FILL_MODES = ("stretch", "none", "inpaint")
DEFAULT_SIZE = (1280, 720)
#: Metres per second for W A S D / arrows / E Q; Shift multiplies by FAST.
MOVE_SPEED = 1.0
FAST = 4.0
#: Degrees per second for J L / I K.
TURN_SPEED = 90.0
#: Degrees of field of view per scroll step, and the range.
FOV_STEP = 5.0
FOV_RANGE = (10.0, 150.0)
PITCH_LIMIT = 89.0
STRENGTH_STEP = 0.05
STRENGTH_MAX = 0.95
THRESHOLD_FACTOR = 1.25
THRESHOLD_RANGE = (0.002, 1.0)
#: Seconds between checks of the scene and input files.
POLL_INTERVAL = 1.0
#: Time step of scripted / --frames runs (deterministic).
AUTOMATION_DT = 1.0 / 30.0
#: Seconds between pose lines printed by P (their ``t``), so successive prints form a path.
PRINT_STEP = 2.0
MESSAGE_SECONDS = 4.0

#: The on-screen key list: (keys, what they do).
HELP: tuple[tuple[str, str], ...] = (
    ("mouse drag", "look around"),
    ("scroll", "field of view"),
    ("W A S D, arrows", "move (Shift: faster)"),
    ("E / Q", "move up / down"),
    ("J L / I K", "turn / look up, down"),
    ("1 2 3, Tab", "mono / anaglyph / side-by-side"),
    ("[ ]", "displacement strength -/+"),
    ("- =", "discontinuity threshold -/+"),
    ("F", "fill: stretch / none / inpaint"),
    ("B", "background layer on / off"),
    ("R", "reset view"),
    ("P", "print pose (YAML keyframe)"),
    ("F12, Ctrl+S", "save screenshot"),
    ("H, F1", "help on / off"),
    ("Esc", "quit"),
)

_NO_DISPLAY = (
    "no display for the preview window ({reason}); render without a window with "
    "`depthfusion render SCENE`, or run the preview under xvfb-run"
)


class DisplayUnavailableError(DepthFusionError):
    """No display (or no OpenGL 3.3 on it) to open the preview window on."""


# --- display ------------------------------------------------------------------------------------


def import_glfw():
    """The ``glfw`` module, or a one-line error naming the package to install."""
    try:
        import glfw
    except ImportError as exc:
        detail = "" if "No module named" in str(exc) else f" ({' '.join(str(exc).split())})"
        raise DepthFusionError(
            f"the preview window needs the glfw package{detail}: pip install glfw"
        ) from None
    return glfw


def check_display(env: dict[str, str] | None = None) -> None:
    """DisplayUnavailableError unless DISPLAY or WAYLAND_DISPLAY is set in ``env``."""
    env = os.environ if env is None else env
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        raise DisplayUnavailableError(
            _NO_DISPLAY.format(reason="neither DISPLAY nor WAYLAND_DISPLAY is set")
        )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class GlfwWindow:
    """A GLFW window with an OpenGL 3.3 core context, wrapped by ``moderngl.create_context()``.

    ``init`` checks the display and initialises GLFW (cheap, so the command fails before
    loading the scene); ``open`` creates the window.
    """

    default_framebuffer = True  # ``screen`` is the window's framebuffer 0

    def __init__(self) -> None:
        self.glfw: Any = None
        self.ctx: Any = None
        self.screen: Any = None
        self._window: Any = None
        self._errors: list[str] = []

    def init(self) -> None:
        check_display()  # first: without a display, that is the error to report
        glfw = self.glfw = import_glfw()

        def on_error(code: int, description: bytes | str) -> None:
            text = (
                description.decode(errors="replace")
                if isinstance(description, bytes)
                else str(description)
            )
            self._errors.append(_one_line(text))
            log.debug("glfw error %d: %s", code, text)

        glfw.set_error_callback(on_error)
        if not glfw.init():
            reason = self._errors[-1] if self._errors else "glfw.init failed"
            raise DisplayUnavailableError(_NO_DISPLAY.format(reason=reason))

    def open(self, size: tuple[int, int], title: str, vsync: bool = True) -> None:
        import moderngl

        glfw = self.glfw
        glfw.default_window_hints()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.SAMPLES, 0)  # MSAA, if any, is the renderer's own
        window = glfw.create_window(int(size[0]), int(size[1]), title, None, None)
        if not window:
            reason = self._errors[-1] if self._errors else "glfw.create_window failed"
            glfw.terminate()
            raise DisplayUnavailableError(
                _NO_DISPLAY.format(reason=f"cannot open an OpenGL 3.3 window: {reason}")
            )
        self._window = window
        glfw.make_context_current(window)
        glfw.swap_interval(1 if vsync else 0)
        self.ctx = moderngl.create_context(require=330)
        self.screen = self.ctx.screen

    def bind(self, preview: Preview) -> None:
        """Route the window's callbacks to the preview's handlers."""
        glfw, win = self.glfw, self._window
        glfw.set_key_callback(
            win, lambda _w, key, _sc, action, mods: preview.on_key(key, action, mods)
        )
        glfw.set_mouse_button_callback(
            win, lambda _w, button, action, mods: preview.on_mouse_button(button, action, mods)
        )
        glfw.set_cursor_pos_callback(win, lambda _w, x, y: preview.on_cursor_pos(x, y))
        glfw.set_scroll_callback(win, lambda _w, dx, dy: preview.on_scroll(dx, dy))
        glfw.set_framebuffer_size_callback(win, lambda _w, _x, _y: preview.invalidate())
        glfw.set_window_refresh_callback(win, lambda _w: preview.invalidate())
        preview.cursor = tuple(glfw.get_cursor_pos(win))

    def framebuffer_size(self) -> tuple[int, int]:
        return tuple(self.glfw.get_framebuffer_size(self._window))

    def window_size(self) -> tuple[int, int]:
        return tuple(self.glfw.get_window_size(self._window))

    def should_close(self) -> bool:
        return bool(self.glfw.window_should_close(self._window))

    def request_close(self) -> None:
        self.glfw.set_window_should_close(self._window, True)

    def poll_events(self, wait: float | None = None) -> None:
        if wait:
            self.glfw.wait_events_timeout(wait)
        else:
            self.glfw.poll_events()

    def wake(self) -> None:
        """Interrupt a wait_events from another thread (a finished background build)."""
        self.glfw.post_empty_event()

    def swap(self) -> None:
        self.glfw.swap_buffers(self._window)

    def set_title(self, title: str) -> None:
        self.glfw.set_window_title(self._window, title)

    def close(self) -> None:
        if self._window is not None:
            self.ctx = None
            self.glfw.destroy_window(self._window)
            self._window = None
        if self.glfw is not None:
            self.glfw.terminate()


class HeadlessWindow:
    """The preview without a window: an RGBA8 framebuffer on a headless context.

    Same drawing code as :class:`GlfwWindow`; input comes only from scripts or direct calls
    of the preview's handlers (tests, automation on machines without a display).
    """

    default_framebuffer = False

    def __init__(self, ctx: Any = None) -> None:
        self.glfw = import_glfw()  # key codes only; glfw.init() is never called
        self.ctx = ctx
        self.screen: Any = None
        self._size = (0, 0)
        self._objects: list[Any] = []
        self._close = False

    def init(self) -> None:
        if self.ctx is None:
            from .render.gl import get_context

            self.ctx = get_context()

    def open(self, size: tuple[int, int], title: str = "", vsync: bool = False) -> None:
        self._size = (int(size[0]), int(size[1]))
        color = self.ctx.texture(self._size, 4)
        self.screen = self.ctx.framebuffer([color])
        self._objects = [self.screen, color]

    def bind(self, preview: Preview) -> None:
        preview.cursor = (self._size[0] / 2.0, self._size[1] / 2.0)

    def framebuffer_size(self) -> tuple[int, int]:
        return self._size

    def window_size(self) -> tuple[int, int]:
        return self._size

    def should_close(self) -> bool:
        return self._close

    def request_close(self) -> None:
        self._close = True

    def poll_events(self, wait: float | None = None) -> None:
        if wait:
            time.sleep(min(wait, 0.05))

    def wake(self) -> None:
        pass

    def swap(self) -> None:
        pass

    def set_title(self, title: str) -> None:
        pass

    def close(self) -> None:
        for obj in self._objects:
            obj.release()
        self._objects = []


# --- view and pose printout ---------------------------------------------------------------------


def _num(value: float, digits: int) -> str:
    """A number for a scene file: fixed decimals, trailing zeros dropped, no '-0'."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "", "-") else text


def _wrap_degrees(angle: float) -> float:
    """Angle in (-180, 180]."""
    wrapped = math.fmod(angle + 180.0, 360.0)
    if wrapped <= 0.0:
        wrapped += 360.0
    return wrapped - 180.0


@dataclass
class View:
    """The preview camera: position in metres, yaw/pitch/roll and horizontal fov in degrees."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    fov: float = 90.0

    def pose(self):
        from .pose import Pose

        return Pose(tuple(self.position), self.yaw, self.pitch, self.roll, self.fov)

    def keyframe_line(self, t: float = 0.0) -> str:
        """The view as one YAML keyframe for ``camera.keyframes`` in a scene file."""
        pos = ", ".join(_num(c, 3) for c in self.position)
        return (
            f"- {{t: {_num(t, 3)}, position: [{pos}], yaw: {_num(self.yaw, 2)}, "
            f"pitch: {_num(self.pitch, 2)}, roll: {_num(self.roll, 2)}, fov: {_num(self.fov, 2)}}}"
        )


def initial_view(scene) -> View:
    """Where the preview starts (and R returns): the camera path at t = 0; its fov, else the
    first view output's, else 90 degrees."""
    path, _fps, _duration = scene.camera.build_path()
    pose = path.pose_at(0.0)
    fov = pose.fov
    if fov is None:
        fov = next((o.fov for o in scene.outputs if hasattr(o, "fov")), 90.0)
    return View(tuple(float(c) for c in pose.position), pose.yaw, pose.pitch, pose.roll, fov)


# --- scene files and meshes ---------------------------------------------------------------------


def build_preview_mesh(scene, rgbd):
    """The scene's sphere (with its discontinuity handling) for ``rgbd``, always a LayeredMesh."""
    from .pipeline import build_mesh

    return build_mesh(scene, rgbd, layered=True)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class SceneFiles:
    """The scene file (with its ``--set`` overrides) and the input files it names, polled for
    changes by modification time and size."""

    def __init__(self, path: str | Path, overrides: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.overrides = list(overrides)
        self.scene = self.load()
        self._stamps = self._stat()

    def load(self):
        from .scene import load_scene

        return load_scene(self.path, self.overrides)

    def inputs(self, scene=None) -> list[Path]:
        """Input files of ``scene`` (default the current one): the panorama image and depth."""
        pano = (scene or self.scene).source.panorama
        if pano is None:
            return []
        return [Path(p) for p in (pano.image, pano.depth) if isinstance(p, Path)]

    def _stat(self) -> dict[Path, tuple[int, int] | None]:
        return {p: _stamp(p) for p in [self.path, *self.inputs()]}

    def poll(self) -> tuple[bool, bool]:
        """(scene file changed, an input file changed) since the last poll."""
        now = self._stat()
        changed = {p for p, s in now.items() if self._stamps.get(p, s) != s}
        self._stamps = now
        return self.path in changed, bool(changed - {self.path})

    def adopt(self, scene) -> None:
        """Make ``scene`` current and watch its input files."""
        self.scene = scene
        self._stamps = self._stat()


# --- scripts ------------------------------------------------------------------------------------

_KEY_ALIASES = {
    "[": "LEFT_BRACKET",
    "]": "RIGHT_BRACKET",
    "-": "MINUS",
    "=": "EQUAL",
    "ESC": "ESCAPE",
    "SHIFT": "LEFT_SHIFT",
    "CTRL": "LEFT_CONTROL",
}
_MODS = {"shift": "MOD_SHIFT", "control": "MOD_CONTROL", "ctrl": "MOD_CONTROL", "alt": "MOD_ALT"}


@dataclass(frozen=True)
class ScriptEvent:
    """One timed input event: applied before frame ``frame`` (0-based) is drawn."""

    frame: int
    key: str | None = None
    action: Literal["press", "release", "tap"] = "tap"
    mods: tuple[str, ...] = ()
    drag: tuple[float, float] | None = None
    scroll: float | None = None
    screenshot: Path | None = None
    overlay: bool = False


def _script_model():
    from pydantic import BaseModel, ConfigDict, Field, model_validator

    class _Event(BaseModel):
        model_config = ConfigDict(extra="forbid")
        frame: int = Field(ge=0)
        """Frame number (0-based) before which the event is applied."""
        key: str | int | None = None
        """GLFW key name without KEY_ (W, LEFT, F1, 1, LEFT_BRACKET or '[', ESCAPE ...)."""
        action: Literal["press", "release", "tap"] = "tap"
        """press, release, or tap (press and release)."""
        mods: list[Literal["shift", "control", "ctrl", "alt"]] = []
        """Modifier keys held with the key."""
        drag: tuple[float, float] | None = None
        """Drag with the left mouse button by [dx, dy] window pixels."""
        scroll: float | None = None
        """Scroll wheel steps (positive: up, narrower field of view)."""
        screenshot: Path | None = None
        """Save this frame's window contents to a PNG/JPEG."""
        overlay: bool = False
        """screenshot: include the help overlay and status line."""

        @model_validator(mode="after")
        def _one(self):
            given = [
                k for k in ("key", "drag", "scroll", "screenshot") if getattr(self, k) is not None
            ]
            if len(given) != 1:
                raise ValueError("give exactly one of key, drag, scroll or screenshot")
            return self

    return _Event


def key_code(glfw, name: str | int) -> int:
    """GLFW key code of a key name (``D``, ``LEFT``, ``F1``, ``1``, ``[`` ...)."""
    text = str(name).strip().upper()
    text = _KEY_ALIASES.get(text, text)
    code = getattr(glfw, f"KEY_{text}", None)
    if not isinstance(code, int):
        raise ValueError(f"unknown key {name!r}")
    return code


def load_script(path: str | Path, glfw=None) -> list[ScriptEvent]:
    """Read a YAML list of input events; InputError (one line) on any problem.

    Items: ``{frame: 3, key: D, action: press}`` (action press | release | tap, default tap;
    optional ``mods: [shift]``), ``{frame: 5, drag: [dx, dy]}`` (left button, window pixels),
    ``{frame: 6, scroll: -1}``, ``{frame: 9, screenshot: shot.png}`` (add ``overlay: true`` to
    keep the help overlay in it). Events of frame k run, in file order, before frame k is
    drawn; relative screenshot paths resolve against the script's folder.
    """
    import yaml
    from pydantic import ValidationError

    from .scene import format_validation_error

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: script file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read script ({_one_line(exc)})") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise InputError(f"{path}: a script must be a YAML list of events")
    model = _script_model()
    glfw = glfw or import_glfw()
    events = []
    for index, item in enumerate(data):
        try:
            ev = model.model_validate(item)
            if ev.key is not None:
                key_code(glfw, ev.key)
        except ValidationError as exc:
            raise InputError(format_validation_error(exc, f"{path}: [{index}]")) from None
        except ValueError as exc:
            raise InputError(f"{path}: [{index}].key: {exc}") from None
        shot = ev.screenshot
        if shot is not None and not shot.is_absolute():
            shot = path.resolve().parent / shot
        events.append(
            ScriptEvent(
                ev.frame,
                None if ev.key is None else str(ev.key),
                ev.action,
                tuple(ev.mods),
                ev.drag,
                ev.scroll,
                shot,
                ev.overlay,
            )
        )
    return events


# --- overlay text -------------------------------------------------------------------------------


def text_panel(
    rows: Sequence[tuple[str, str] | str],
    max_size: tuple[int, int] | None = None,
    scale: float = 0.5,
    background: int = 170,
):
    """An RGBA uint8 panel of text rows (straight alpha): a row is a string, or a
    (key, description) pair drawn in two aligned columns, keys highlighted. Shrinks the
    font to fit ``max_size`` (w, h) when given."""
    import cv2
    import numpy as np

    font, thick = cv2.FONT_HERSHEY_SIMPLEX, 1
    pairs = [r if isinstance(r, tuple) else (r, "") for r in rows]

    def measure(s: float):
        key_w = max((cv2.getTextSize(k, font, s, thick)[0][0] for k, d in pairs if d), default=0)
        gap = int(round(24 * s)) if key_w else 0
        widths = [
            (key_w + gap + cv2.getTextSize(d, font, s, thick)[0][0])
            if d
            else cv2.getTextSize(k or " ", font, s, thick)[0][0]
            for k, d in pairs
        ]
        (_, text_h), base = cv2.getTextSize("Ag", font, s, thick)
        line_h = text_h + base + int(round(8 * s))
        pad = int(round(14 * s))
        return key_w + gap, line_h, base, pad, max(widths, default=0) + 2 * pad

    for _ in range(8):
        col, line_h, base, pad, width = measure(scale)
        height = line_h * len(pairs) + 2 * pad
        if max_size is None or (width <= max_size[0] and height <= max_size[1]) or scale < 0.3:
            break
        scale *= max(0.5, min(max_size[0] / width, max_size[1] / height))
    image = np.zeros((height, width, 4), dtype=np.uint8)
    image[..., 3] = background
    for i, (key, desc) in enumerate(pairs):
        y = pad + (i + 1) * line_h - base - int(round(4 * scale))
        if desc:
            cv2.putText(image, key, (pad, y), font, scale, (255, 214, 110, 255), thick, cv2.LINE_AA)
            cv2.putText(
                image, desc, (pad + col, y), font, scale, (235, 235, 235, 255), thick, cv2.LINE_AA
            )
        else:
            cv2.putText(image, key, (pad, y), font, scale, (255, 255, 255, 255), thick, cv2.LINE_AA)
    return image


# --- drawing ------------------------------------------------------------------------------------


class _Presenter:
    """Shows images (top row first) as quads on the window: the frame and the overlays."""

    def __init__(self, ctx) -> None:
        from .render.gl import load_program

        self.ctx = ctx
        self.program = load_program(ctx, "preview_quad")
        self.program["image"] = 0
        self.vao = ctx.vertex_array(self.program, [])
        self._textures: dict[str, Any] = {}

    def _texture(self, name: str, image) -> Any:
        h, w, c = image.shape
        tex = self._textures.get(name)
        if tex is None or tex.size != (w, h) or tex.components != c:
            if tex is not None:
                tex.release()
            tex = self.ctx.texture((w, h), c, alignment=1)
            tex.repeat_x = tex.repeat_y = False
            self._textures[name] = tex
        tex.write(image)
        return tex

    def draw(self, name: str, image, viewport: tuple[int, int, int, int], blend: bool = False):
        import moderngl

        tex = self._texture(name, image)
        smooth = (viewport[2], viewport[3]) != (image.shape[1], image.shape[0])
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR) if smooth else (moderngl.NEAREST,) * 2
        ctx = self.ctx
        ctx.viewport = viewport
        ctx.enable_only(moderngl.BLEND if blend else moderngl.NOTHING)
        if blend:
            ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        tex.use(0)
        self.vao.render(moderngl.TRIANGLE_STRIP, vertices=4)
        ctx.enable_only(moderngl.NOTHING)

    def release(self) -> None:
        for tex in self._textures.values():
            tex.release()
        self._textures.clear()
        self.vao.release()
        self.program.release()


def _software_gl(ctx) -> bool:
    from .render.gl import gl_info

    name = gl_info(ctx)["renderer"].lower()
    return any(s in name for s in ("llvmpipe", "softpipe", "swrast", "software"))


# --- the preview --------------------------------------------------------------------------------


class Preview:
    """The preview's state, input handlers, hot reload and drawing (backend-independent).

    Parameters
    ----------
    window : GlfwWindow | HeadlessWindow, opened (it gives ``ctx``, ``screen``, sizes, swap).
    files : SceneFiles, the scene and its inputs.
    rgbd, mesh : the scene's panorama and mesh (built before the window opens).
    layout : one of :data:`PREVIEW_LAYOUTS`.
    samples : MSAA samples of the renderer; None = 0 on software GL, 4 on a GPU.
    render_scale : the view is rendered at this fraction of the window's pixels.
    speed : metres per second of the movement keys.
    sync : rebuild meshes in the calling thread (deterministic, for automation) instead of
        a background thread.
    show_help : start with the help overlay shown.
    screenshot : where F12 / Ctrl+S save (default: a timestamped PNG in the current folder).
    out : where P prints poses (stdout).
    """

    def __init__(
        self,
        window,
        files: SceneFiles,
        rgbd,
        mesh,
        *,
        layout: str = "mono",
        samples: int | None = None,
        render_scale: float = 1.0,
        speed: float = MOVE_SPEED,
        show_help: bool = True,
        sync: bool = False,
        screenshot: Path | None = None,
        out: IO[str] | None = None,
    ) -> None:
        from .render.gl import gl_info

        if layout not in PREVIEW_LAYOUTS:
            raise DepthFusionError(
                f"preview layout must be one of {', '.join(PREVIEW_LAYOUTS)}, got {layout!r}"
            )
        if not 0.05 <= render_scale <= 1.0:
            raise DepthFusionError(f"--render-scale must be in [0.05, 1], got {render_scale}")
        self.window = window
        self.glfw = window.glfw
        self.ctx = window.ctx
        self.files = files
        self.scene = files.scene.model_copy(deep=True)
        self.rgbd = rgbd
        self.mesh = mesh
        self.layout = layout
        self.render_scale = float(render_scale)
        self.speed = float(speed)
        self.sync = sync
        self.help_visible = show_help
        self.show_background = True
        self.screenshot_path = Path(screenshot) if screenshot else None
        self.out = out or sys.stdout
        self.home = initial_view(self.scene)
        self.view = View(**vars(self.home))
        self.cursor: tuple[float, float] = (0.0, 0.0)
        self.dragging = False
        self.held: set[int] = set()
        self.messages: list[tuple[float, str]] = []
        self.poses_printed = 0
        # (render s, whole frame s) of the latest frames; frames_drawn counts them all
        self.frame_times: deque[tuple[float, float]] = deque(maxlen=10_000)
        self.frames_drawn = 0
        # Screenshots of the next frame: (a file, or a list to append the image to; overlay?)
        self._captures: list[tuple[Path | list, bool]] = []
        self._dirty = True
        self._last_poll = time.monotonic()
        self._want: str | None = None
        self._future: Future | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._overlay_cache: dict[str, tuple[Any, Any]] = {}
        self._status_ms = 0.0
        self._status_at = 0.0
        self._title_at = 0.0

        software = _software_gl(self.ctx)
        max_samples = gl_info(self.ctx)["max_samples"]
        self.samples = (0 if software else min(4, max_samples)) if samples is None else samples
        self.anisotropy = 1.0 if software else 16.0
        self.renderer = None
        self.presenter = _Presenter(self.ctx)
        self._make_renderer()
        self._bind_keys()
        window.bind(self)

    # --- keys ------------------------------------------------------------------------------------

    def _bind_keys(self) -> None:
        g = self.glfw
        # Held keys: (right, up, forward) movement or (yaw, pitch) turning, applied in update().
        self.move_keys = {
            g.KEY_W: (0, 0, 1), g.KEY_UP: (0, 0, 1), g.KEY_S: (0, 0, -1), g.KEY_DOWN: (0, 0, -1),
            g.KEY_D: (1, 0, 0), g.KEY_RIGHT: (1, 0, 0), g.KEY_A: (-1, 0, 0), g.KEY_LEFT: (-1, 0, 0),
            g.KEY_E: (0, 1, 0), g.KEY_Q: (0, -1, 0),
        }  # fmt: skip
        self.turn_keys = {g.KEY_L: (1, 0), g.KEY_J: (-1, 0), g.KEY_I: (0, 1), g.KEY_K: (0, -1)}
        self.shift_keys = {g.KEY_LEFT_SHIFT, g.KEY_RIGHT_SHIFT}
        self.actions: dict[int, Callable[[], None]] = {
            g.KEY_1: lambda: self.set_layout("mono"),
            g.KEY_2: lambda: self.set_layout("anaglyph"),
            g.KEY_3: lambda: self.set_layout("sbs"),
            g.KEY_TAB: self.cycle_layout,
            g.KEY_LEFT_BRACKET: lambda: self.change_strength(-STRENGTH_STEP),
            g.KEY_RIGHT_BRACKET: lambda: self.change_strength(STRENGTH_STEP),
            g.KEY_MINUS: lambda: self.change_threshold(1.0 / THRESHOLD_FACTOR),
            g.KEY_EQUAL: lambda: self.change_threshold(THRESHOLD_FACTOR),
            g.KEY_F: self.cycle_fill,
            g.KEY_B: self.toggle_background,
            g.KEY_R: self.reset_view,
            g.KEY_P: self.print_pose,
            g.KEY_F12: self.save_screenshot,
            g.KEY_H: self.toggle_help,
            g.KEY_F1: self.toggle_help,
            g.KEY_ESCAPE: self.window.request_close,
        }
        self.repeatable = {g.KEY_LEFT_BRACKET, g.KEY_RIGHT_BRACKET, g.KEY_MINUS, g.KEY_EQUAL}

    # --- input handlers (the window's callbacks and scripts both call these) ---------------------

    def on_key(self, key: int, action: int, mods: int = 0) -> None:
        g = self.glfw
        if action == g.RELEASE:
            self.held.discard(key)
            return
        if key == g.KEY_S and mods & g.MOD_CONTROL:
            if action == g.PRESS:
                self.save_screenshot()
            return
        if key in self.move_keys or key in self.turn_keys or key in self.shift_keys:
            self.held.add(key)
            self._dirty = True
            return
        handler = self.actions.get(key)
        if handler is not None and (action == g.PRESS or key in self.repeatable):
            handler()
            self._dirty = True

    def on_mouse_button(self, button: int, action: int, mods: int = 0) -> None:
        if button == self.glfw.MOUSE_BUTTON_LEFT:
            self.dragging = action == self.glfw.PRESS

    def on_cursor_pos(self, x: float, y: float) -> None:
        if self.dragging:
            self.look(x - self.cursor[0], y - self.cursor[1])
        self.cursor = (float(x), float(y))

    def on_scroll(self, dx: float, dy: float) -> None:
        fov = min(max(self.view.fov - dy * FOV_STEP, FOV_RANGE[0]), FOV_RANGE[1])
        if fov != self.view.fov:
            self.view.fov = fov
            self._dirty = True

    def look(self, dx: float, dy: float) -> None:
        """Grab-the-scene look: a drag of the window's width turns by one field of view."""
        width = max(1, self.window.window_size()[0])
        per_px = self.view.fov / width
        self.view.yaw = _wrap_degrees(self.view.yaw - dx * per_px)
        self.view.pitch = min(max(self.view.pitch + dy * per_px, -PITCH_LIMIT), PITCH_LIMIT)
        self._dirty = True

    def apply_event(self, ev: ScriptEvent) -> None:
        """Inject one scripted event through the same handlers as the real callbacks."""
        g = self.glfw
        if ev.key is not None:
            code = key_code(g, ev.key)
            mods = 0
            for m in ev.mods:
                mods |= getattr(g, _MODS[m])
            if ev.action in ("press", "tap"):
                self.on_key(code, g.PRESS, mods)
            if ev.action in ("release", "tap"):
                self.on_key(code, g.RELEASE, mods)
        elif ev.drag is not None:
            x, y = self.cursor
            self.on_mouse_button(g.MOUSE_BUTTON_LEFT, g.PRESS, 0)
            self.on_cursor_pos(x + ev.drag[0], y + ev.drag[1])
            self.on_mouse_button(g.MOUSE_BUTTON_LEFT, g.RELEASE, 0)
        elif ev.scroll is not None:
            self.on_scroll(0.0, ev.scroll)
        elif ev.screenshot is not None:
            self._captures.append((ev.screenshot, ev.overlay))

    # --- actions ---------------------------------------------------------------------------------

    def message(self, text: str) -> None:
        log.info("preview: %s", text)
        self.messages.append((time.monotonic() + MESSAGE_SECONDS, text))
        self.messages = self.messages[-3:]
        self._dirty = True

    def set_layout(self, layout: str) -> None:
        self.layout = layout
        self.message(f"layout: {layout}")

    def cycle_layout(self) -> None:
        i = PREVIEW_LAYOUTS.index(self.layout)
        self.set_layout(PREVIEW_LAYOUTS[(i + 1) % len(PREVIEW_LAYOUTS)])

    def change_strength(self, step: float) -> None:
        disp = self.scene.sphere.displacement
        new = round(min(max(disp.strength + step, 0.0), STRENGTH_MAX), 4)
        note = "" if disp.mode == "linear" else f" (used in linear mode; this scene is {disp.mode})"
        if new != disp.strength:
            disp.strength = new
            if disp.mode == "linear":
                self.request_build("mesh")
        self.message(f"displacement strength {new:.2f}{note}")

    def change_threshold(self, factor: float) -> None:
        disc = self.scene.sphere.discontinuities
        new = round(min(max(disc.threshold * factor, THRESHOLD_RANGE[0]), THRESHOLD_RANGE[1]), 5)
        note = " (fill stretch ignores it; F cycles fill)" if disc.fill == "stretch" else ""
        if new != disc.threshold:
            disc.threshold = new
            if disc.fill != "stretch":
                self.request_build("mesh")
        self.message(f"discontinuity threshold {new:.4g}{note}")

    def cycle_fill(self) -> None:
        disc = self.scene.sphere.discontinuities
        disc.fill = FILL_MODES[(FILL_MODES.index(disc.fill) + 1) % len(FILL_MODES)]
        self.request_build("mesh")
        self.message(f"fill: {disc.fill}")

    def toggle_background(self) -> None:
        self.show_background = not self.show_background
        disc = self.scene.sphere.discontinuities
        if self.show_background and disc.fill != "inpaint":
            disc.fill = "inpaint"  # only inpaint builds a background layer
            self.request_build("mesh")
            self.message("background layer on (fill: inpaint)")
            return
        has_layers = hasattr(self.mesh, "layer")
        if not has_layers:
            note = " (no layered meshes in this version)"
        elif self.mesh.layer("background") is None:
            note = f" (fill {disc.fill} has none)"
        else:
            note = ""
        self._make_renderer()
        self.message(f"background layer {'on' if self.show_background else 'off'}{note}")

    def reset_view(self) -> None:
        self.view = View(**vars(self.home))
        self.message("view reset")

    def toggle_help(self) -> None:
        self.help_visible = not self.help_visible

    def print_pose(self) -> str:
        line = self.view.keyframe_line(t=self.poses_printed * PRINT_STEP)
        self.poses_printed += 1
        print(line, file=self.out, flush=True)
        self.message("pose printed (paste under camera.keyframes)")
        return line

    def save_screenshot(self, path: Path | None = None) -> None:
        """Save the next drawn frame (the window's view, no overlay)."""
        self._captures.append((path or self._default_screenshot_path(), False))
        self._dirty = True

    def _default_screenshot_path(self) -> Path:
        if self.screenshot_path is not None:
            return self.screenshot_path
        stem = f"preview_{self.files.path.stem}_{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = Path(f"{stem}.png"), 1
        while path.exists() or any(p == path for p, _ in self._captures):
            n += 1
            path = Path(f"{stem}_{n}.png")
        return path

    def invalidate(self) -> None:
        self._dirty = True

    # --- time step -------------------------------------------------------------------------------

    def update(self, dt: float) -> None:
        """Apply held movement and turning keys over ``dt`` seconds."""
        import numpy as np

        move = np.zeros(3)
        for key in self.held:
            if key in self.move_keys:
                move += self.move_keys[key]
        turn = np.zeros(2)
        for key in self.held:
            if key in self.turn_keys:
                turn += self.turn_keys[key]
        if move.any():
            speed = self.speed * (FAST if self.held & self.shift_keys else 1.0)
            step = move / np.linalg.norm(move) * speed * dt
            pose = self.view.pose().offset(right=step[0], up=step[1], forward=step[2])
            self.view.position = pose.position
            self._dirty = True
        if turn.any():
            self.view.yaw = _wrap_degrees(self.view.yaw + turn[0] * TURN_SPEED * dt)
            pitch = self.view.pitch + turn[1] * TURN_SPEED * dt
            self.view.pitch = min(max(pitch, -PITCH_LIMIT), PITCH_LIMIT)
            self._dirty = True

    def needs_redraw(self) -> bool:
        return self._dirty or bool(self.held) or bool(self._captures)

    # --- hot reload and rebuilds -----------------------------------------------------------------

    def check_files(self, force: bool = False) -> bool:
        """Poll the scene and input files (at most once per POLL_INTERVAL unless ``force``);
        returns whether anything was reloaded or queued for rebuilding."""
        now = time.monotonic()
        if not force and now - self._last_poll < POLL_INTERVAL:
            return False
        self._last_poll = now
        scene_changed, inputs_changed = self.files.poll()
        if not (scene_changed or inputs_changed):
            return False
        if not scene_changed:
            self.message("input files changed: reloading the source")
            self.request_build("source")
            return True
        try:
            new = self.files.load()
        except DepthFusionError as exc:
            self.message(f"scene not reloaded: {exc}")
            return False
        old, self.scene = self.scene, new.model_copy(deep=True)
        self.files.adopt(new)
        if inputs_changed or new.source != old.source:
            self.request_build("source")
        elif new.sphere != old.sphere:
            self.request_build("mesh")
        self.home = initial_view(new)
        self.message(f"reloaded {self.files.path.name}")
        return True

    def request_build(self, what: Literal["source", "mesh"]) -> None:
        self._want = "source" if "source" in (what, self._want) else "mesh"
        self._dirty = True

    def service_builds(self) -> None:
        """Start a queued rebuild, and install a finished one (GL work stays on this thread)."""
        if self._future is not None and self._future.done():
            future, self._future = self._future, None
            self._finish(future)
        if self._future is None and self._want is not None:
            want, self._want = self._want, None
            scene = self.scene.model_copy(deep=True)
            rgbd = None if want == "source" else self.rgbd
            if self.sync:
                future: Future = Future()
                try:
                    future.set_result(_build(scene, rgbd))
                except BaseException as exc:  # noqa: BLE001 - reported by _finish
                    future.set_exception(exc)
                self._finish(future)
            else:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="preview-build")
                self.message("re-meshing..." if want == "mesh" else "reloading the source...")
                self._future = self._executor.submit(_build, scene, rgbd)
                self._future.add_done_callback(lambda _f: self.window.wake())

    def _finish(self, future: Future) -> None:
        try:
            rgbd, mesh, seconds = future.result()
        except DepthFusionError as exc:
            self.message(f"not rebuilt: {exc}")
            return
        except Exception as exc:
            log.debug("preview rebuild failed", exc_info=True)
            self.message(f"not rebuilt: {type(exc).__name__}: {_one_line(exc)}")
            return
        self.rgbd, self.mesh = rgbd, mesh
        self._make_renderer()
        counts = getattr(mesh, "triangle_counts", None) or {"mesh": len(mesh.faces)}
        detail = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.message(f"rebuilt in {seconds:.2f} s ({detail} triangles)")

    def _make_renderer(self) -> None:
        from .render.renderer import MeshRenderer

        target = self.mesh
        if not self.show_background and hasattr(target, "layer"):
            target = target.layer("foreground") or target
        renderer = MeshRenderer.from_mesh(self.ctx, target, samples=self.samples)
        renderer.texture.anisotropy = min(self.anisotropy, self.ctx.max_anisotropy)
        old, self.renderer = self.renderer, renderer
        if old is not None:
            old.release()
        self._dirty = True

    # --- drawing ---------------------------------------------------------------------------------

    def frame_size(self, fb_size: tuple[int, int]) -> tuple[int, int]:
        """Per-eye render size for the current layout and window framebuffer size."""
        w = max(1, round(fb_size[0] * self.render_scale))
        h = max(1, round(fb_size[1] * self.render_scale))
        if self.layout == "sbs":
            w = max(1, w // 2)
        return w, h

    def render_view(self, fb_size: tuple[int, int]):
        """The composed (h, w, 3) uint8 frame of the current view and layout."""
        from .render.layouts import render_frame

        st, cam = self.scene.stereo, self.scene.camera
        return render_frame(
            self.renderer,
            self.layout,
            self.view.pose(),
            self.frame_size(fb_size),
            self.view.fov,
            st.ipd,
            st.convergence,
            cam.near,
            cam.far,
        )

    def draw(self) -> bool:
        """Draw one frame into the window (and save requested screenshots); False when the
        window has no pixels (minimised)."""
        from .writers import write_still

        fb_w, fb_h = self.window.framebuffer_size()
        if fb_w < 1 or fb_h < 1:
            return False
        start = time.perf_counter()
        frame = self.render_view((fb_w, fb_h))
        rendered = time.perf_counter()

        screen = self.window.screen
        screen.use()
        self.ctx.viewport = (0, 0, fb_w, fb_h)
        self.ctx.clear(0.08, 0.08, 0.08, 1.0, viewport=(0, 0, fb_w, fb_h))
        h, w = frame.shape[:2]
        if self.render_scale == 1.0:
            rect = ((fb_w - w) // 2, (fb_h - h) // 2, w, h)
        else:  # fit the frame's aspect into the window, scaled up
            s = min(fb_w / w, fb_h / h)
            rw, rh = max(1, round(w * s)), max(1, round(h * s))
            rect = ((fb_w - rw) // 2, (fb_h - rh) // 2, rw, rh)
        self.presenter.draw("frame", frame, rect)

        captures, self._captures = self._captures, []
        plain = [target for target, overlay in captures if not overlay]
        if plain:
            image = self._read_screen(rect)
            for target in plain:
                self._write_capture(write_still, target, image)
        self._draw_overlay(fb_w, fb_h)
        full = [target for target, overlay in captures if overlay]
        if full:
            image = self._read_screen((0, 0, fb_w, fb_h))
            for target in full:
                self._write_capture(write_still, target, image)
        self.window.swap()
        self._dirty = False
        end = time.perf_counter()
        self.frame_times.append((rendered - start, end - start))
        self.frames_drawn += 1
        return True

    def grab(self, overlay: bool = False):
        """Draw one frame and return the window's pixels as a screenshot saves them:
        (h, w, 3) uint8 RGB of the view, or of the whole window with ``overlay``."""
        sink: list = []
        self._captures.append((sink, overlay))
        if not self.draw():
            self._captures.clear()
            raise DepthFusionError("the preview window has no pixels (minimised?)")
        return sink[0]

    def _read_screen(self, rect: tuple[int, int, int, int]):
        import numpy as np

        ctx = self.ctx
        pending = ctx.error  # reading clears it: report it rather than lose it
        if pending != "GL_NO_ERROR":
            log.warning("preview: OpenGL error before the screenshot: %s", pending)
        data = self.window.screen.read(viewport=rect, components=3, alignment=1)
        if self.window.default_framebuffer:
            # moderngl's read selects GL_COLOR_ATTACHMENT0, which the default framebuffer
            # rejects (GL_INVALID_OPERATION) leaving its read buffer at GL_BACK, the frame
            # just drawn: the pixels are right, so drop that one error.
            ctx.error  # noqa: B018
        image = np.frombuffer(data, dtype=np.uint8).reshape(rect[3], rect[2], 3)
        return np.ascontiguousarray(image[::-1])  # GL rows run bottom-up

    def _write_capture(self, write_still, path: Path | list, image) -> None:
        if isinstance(path, list):
            path.append(image)
            return
        try:
            write_still(path, image)
        except DepthFusionError as exc:
            if self.sync:  # an automated run (--frames/--script) fails with the reason
                raise
            self.message(f"screenshot not saved: {exc}")
            return
        self.message(f"screenshot saved: {path}")

    def status_lines(self) -> list[str]:
        v, sph = self.view, self.scene.sphere
        disp, disc = sph.displacement, sph.discontinuities
        now = time.monotonic()
        if self.frame_times and now - self._status_at > 0.5:
            recent = self._recent_times(30)
            self._status_ms = 1000.0 * sum(t for _, t in recent) / len(recent)
            self._status_at = now
        pos = ", ".join(f"{c:.2f}" for c in v.position)
        strength = f"strength {disp.strength:.2f}" if disp.mode == "linear" else "metric"
        lines = [
            f"{self.layout} | fov {v.fov:.0f} | pos [{pos}] | yaw {v.yaw:.1f} pitch {v.pitch:.1f}",
            f"{strength} | threshold {disc.threshold:.4g} | fill {disc.fill} | "
            f"background {'on' if self.show_background else 'off'} | {self._status_ms:.1f} ms",
        ]
        if self._future is not None:
            lines.append("re-meshing...")
        self.messages = [(t, m) for t, m in self.messages if t > now]
        lines.extend(m for _, m in self.messages)
        return lines

    def _overlay(self, name: str, rows: list, max_size: tuple[int, int]):
        key = repr((rows, max_size))
        cached = self._overlay_cache.get(name)
        if cached is None or cached[0] != key:
            cached = (key, text_panel(rows, max_size))
            self._overlay_cache[name] = cached
        return cached[1]

    def _draw_overlay(self, fb_w: int, fb_h: int) -> None:
        margin = 8
        box = (max(1, fb_w - 2 * margin), max(1, fb_h - 2 * margin))
        status = self.status_lines()
        if self.help_visible:
            rows = ["DepthFusion preview - keys", *HELP, "", *status]
            panel = self._overlay("help", rows, box)
            ph, pw = panel.shape[:2]
            self.presenter.draw("help", panel, (margin, fb_h - margin - ph, pw, ph), blend=True)
        else:
            panel = self._overlay("status", ["H: help", *status], box)
            ph, pw = panel.shape[:2]
            self.presenter.draw("status", panel, (margin, margin, pw, ph), blend=True)

    # --- lifetime --------------------------------------------------------------------------------

    def _recent_times(self, n: int) -> list[tuple[float, float]]:
        return list(islice(reversed(self.frame_times), n))

    def timing_summary(self) -> str:
        if not self.frame_times:
            return "no frames drawn"
        import numpy as np

        times = list(self.frame_times)
        if len(times) > 1 and len(times) == self.frames_drawn:
            times = times[1:]  # the first frame warms up (shader compile, first upload)
        times = np.array(times) * 1000.0
        return (
            f"{self.frames_drawn} frames, frame {np.mean(times[:, 1]):.1f} ms mean "
            f"({np.median(times[:, 1]):.1f} median), of which render {np.mean(times[:, 0]):.1f} ms"
        )

    def release(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self.renderer is not None:
            self.renderer.release()
            self.renderer = None
        self.presenter.release()

    def run(self, frames: int | None = None, script: Iterable[ScriptEvent] = ()) -> int:
        """The event loop. ``frames``: draw exactly that many frames (fixed time step) and
        return; None: until the window closes. Returns the number of frames drawn."""
        by_frame: dict[int, list[ScriptEvent]] = {}
        for ev in script:
            by_frame.setdefault(ev.frame, []).append(ev)
        automated = frames is not None or bool(by_frame)
        last_event = max(by_frame, default=-1)
        drawn, last = 0, time.perf_counter()
        while not self.window.should_close():
            if frames is not None and drawn >= frames:
                break
            self.window.poll_events()
            for ev in by_frame.get(drawn, ()):
                self.apply_event(ev)
            now = time.perf_counter()
            dt = AUTOMATION_DT if automated else min(now - last, 0.1)
            last = now
            self.check_files()
            self.service_builds()
            self.update(dt)
            if frames is not None and drawn == frames - 1 and self.screenshot_path is not None:
                self._captures.append((self.screenshot_path, False))
            continuous = frames is not None or drawn <= last_event
            if (continuous or self.needs_redraw()) and self.draw():
                drawn += 1
                self._update_title()
                if drawn == 1:
                    log.info("preview: window ready (%dx%d)", *self.window.framebuffer_size())
                continue
            self.window.poll_events(wait=0.25)
        return drawn

    def _update_title(self) -> None:
        now = time.monotonic()
        if now - self._title_at < 1.0:
            return
        self._title_at = now
        recent = self._recent_times(30)
        ms = 1000.0 * sum(t for _, t in recent) / max(1, len(recent))
        self.window.set_title(f"DepthFusion preview - {self.files.path.name} ({ms:.0f} ms/frame)")


def _build(scene, rgbd):
    """Background job: (re)load the source when ``rgbd`` is None, then mesh it."""
    start = time.perf_counter()
    if rgbd is None:
        from .sources import load_source

        rgbd = load_source(scene)
    mesh = build_preview_mesh(scene, rgbd)
    return rgbd, mesh, time.perf_counter() - start


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
    rgbd, mesh, seconds = _build(files.scene, None)
    log.info("preview: scene ready in %.1f s", seconds)
    window.open(tuple(int(s) for s in size), f"DepthFusion preview - {files.path.name}", vsync)
    return Preview(window, files, rgbd, mesh, **options)


def check_screenshot_path(path: Path) -> None:
    """A screenshot path that can be written without destroying anything: .png/.jpg, not a
    folder, and not an existing file that depthfusion did not write (unless --overwrite)."""
    from .atomic import check_replaceable
    from .writers import STILL_FORMATS

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
    from .atomic import allow_overwrite
    from .cli import resolve_scene_arg

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
    from .cli import _cli_logging

    parser = argparse.ArgumentParser(prog="depthfusion preview", description=DESCRIPTION)
    add_preview_arguments(parser)
    args = parser.parse_args(argv)
    try:
        with _cli_logging(args.quiet, args.verbose):
            return cmd_preview(args)
    except DepthFusionError as exc:
        print(f"depthfusion: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("depthfusion: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
