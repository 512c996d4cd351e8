"""One-line messages for pydantic validation errors (scene files, training configs)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from pydantic import ValidationError

#: Messages for error types whose pydantic wording is not what a file's author needs.
_MESSAGES = {"extra_forbidden": "unknown key", "missing": "required key is missing"}


def format_loc(loc: tuple[Any, ...], skip_tags: Collection[str] = ()) -> str:
    """``("outputs", 0, "video", "fps")`` -> ``outputs[0].fps`` with ``"video"`` in
    ``skip_tags`` (the discriminator tag pydantic inserts after a list index)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in skip_tags and out.endswith("]"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def format_validation_error(
    exc: ValidationError,
    origin: str,
    *,
    root: str | None = None,
    skip_tags: Collection[str] = (),
    message: Callable[[dict[str, Any]], str | None] | None = None,
) -> str:
    """One line: ``origin: key.path: message (and N more problems)``.

    root : the name for an error at the top level (no key path); None leaves the path out.
    skip_tags : union discriminator tags to drop from key paths (see :func:`format_loc`).
    message : optional hook giving a message for the first error (None = the default one).
    """
    errors = exc.errors()
    first = errors[0]
    msg = (message(first) if message else None) or _MESSAGES.get(
        first["type"], first["msg"].removeprefix("Value error, ")
    )
    more = len(errors) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    where = format_loc(first["loc"], skip_tags) or root
    return f"{origin}: {where + ': ' if where else ''}{msg}{tail}"
