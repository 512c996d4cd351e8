"""Scripted input for automation and tests (``--script events.yaml``): timed key, mouse and
scroll events, validated, injected through the same handlers the window's callbacks call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import InputError
from .window import import_glfw, one_line

log = logging.getLogger("depthfusion")

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
MODIFIERS = {
    "shift": "MOD_SHIFT",
    "control": "MOD_CONTROL",
    "ctrl": "MOD_CONTROL",
    "alt": "MOD_ALT",
}


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

    from ..scene import format_validation_error

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: script file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read script ({one_line(exc)})") from None
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
