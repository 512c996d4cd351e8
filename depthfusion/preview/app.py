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

import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import DepthFusionError
from .controls import (
    AUTOMATION_DT,
    FAST,
    FILL_MODES,
    FOV_RANGE,
    FOV_STEP,
    HELP,
    MESSAGE_SECONDS,
    MOVE_SPEED,
    PITCH_LIMIT,
    POLL_INTERVAL,
    PREVIEW_LAYOUTS,
    PRINT_STEP,
    STRENGTH_MAX,
    STRENGTH_STEP,
    THRESHOLD_FACTOR,
    THRESHOLD_RANGE,
    TURN_SPEED,
    View,
    initial_view,
    wrap_degrees,
)
from .overlay import Presenter, is_software_gl, text_panel
from .remesh import SceneFiles, rebuild
from .script import MODIFIERS, ScriptEvent, key_code
from .window import one_line

log = logging.getLogger("depthfusion")

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
        from ..render.gl import gl_info

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

        software = is_software_gl(self.ctx)
        max_samples = gl_info(self.ctx)["max_samples"]
        self.samples = (0 if software else min(4, max_samples)) if samples is None else samples
        self.anisotropy = 1.0 if software else 16.0
        self.renderer = None
        self.presenter = Presenter(self.ctx)
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
        self.view.yaw = wrap_degrees(self.view.yaw - dx * per_px)
        self.view.pitch = min(max(self.view.pitch + dy * per_px, -PITCH_LIMIT), PITCH_LIMIT)
        self._dirty = True

    def apply_event(self, ev: ScriptEvent) -> None:
        """Inject one scripted event through the same handlers as the real callbacks."""
        g = self.glfw
        if ev.key is not None:
            code = key_code(g, ev.key)
            mods = 0
            for m in ev.mods:
                mods |= getattr(g, MODIFIERS[m])
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
            self.view.yaw = wrap_degrees(self.view.yaw + turn[0] * TURN_SPEED * dt)
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
                    future.set_result(rebuild(scene, rgbd))
                except BaseException as exc:  # noqa: BLE001 - reported by _finish
                    future.set_exception(exc)
                self._finish(future)
            else:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="preview-build")
                self.message("re-meshing..." if want == "mesh" else "reloading the source...")
                self._future = self._executor.submit(rebuild, scene, rgbd)
                self._future.add_done_callback(lambda _f: self.window.wake())

    def _finish(self, future: Future) -> None:
        try:
            rgbd, mesh, seconds = future.result()
        except DepthFusionError as exc:
            self.message(f"not rebuilt: {exc}")
            return
        except Exception as exc:
            log.debug("preview rebuild failed", exc_info=True)
            self.message(f"not rebuilt: {type(exc).__name__}: {one_line(exc)}")
            return
        self.rgbd, self.mesh = rgbd, mesh
        self._make_renderer()
        counts = getattr(mesh, "triangle_counts", None) or {"mesh": len(mesh.faces)}
        detail = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.message(f"rebuilt in {seconds:.2f} s ({detail} triangles)")

    def _make_renderer(self) -> None:
        from ..render.renderer import MeshRenderer

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
        from ..render.layouts import render_frame

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
        from ..outputs.writers import write_still

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
