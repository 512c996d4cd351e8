"""The preview's two window backends (moderngl-window's pattern): :class:`GlfwWindow`, a real
GLFW window, and :class:`HeadlessWindow`, an offscreen framebuffer on the shared EGL context
where input comes only from scripts. Both have the same small interface.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Protocol

from ..errors import DepthFusionError


class InputHandler(Protocol):
    """What a window delivers its input to (the app's :class:`~.app.Preview`)."""

    cursor: tuple[float, float]

    def on_key(self, key: int, action: int, mods: int = 0) -> None: ...
    def on_mouse_button(self, button: int, action: int, mods: int = 0) -> None: ...
    def on_cursor_pos(self, x: float, y: float) -> None: ...
    def on_scroll(self, dx: float, dy: float) -> None: ...
    def invalidate(self) -> None: ...


log = logging.getLogger("depthfusion")

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


def one_line(text: str) -> str:
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
            self._errors.append(one_line(text))
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

    def bind(self, preview: InputHandler) -> None:
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
            from ..render.gl import get_context

            self.ctx = get_context()

    def open(self, size: tuple[int, int], title: str = "", vsync: bool = False) -> None:
        self._size = (int(size[0]), int(size[1]))
        color = self.ctx.texture(self._size, 4)
        self.screen = self.ctx.framebuffer([color])
        self._objects = [self.screen, color]

    def bind(self, preview: InputHandler) -> None:
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
