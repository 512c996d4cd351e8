"""User-facing errors: one line that names the file or field, caught by the CLI (exit code 2)."""

from __future__ import annotations


class DepthFusionError(Exception):
    """An error caused by the user's input; its message is shown as one line, no traceback."""

    exit_code = 2


class InputError(DepthFusionError):
    """A missing, unreadable or malformed input file."""


class SceneError(DepthFusionError):
    """An invalid scene file or override."""


class OutputError(DepthFusionError):
    """An output that cannot be written."""
