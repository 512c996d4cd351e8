"""Exceptions of ldm3d_core, importable without torch or diffusers."""

from __future__ import annotations


class ModelNotFoundError(FileNotFoundError):
    """A model (hub id or local folder) is not available locally and cannot be fetched.

    The message is one line: it names the model and says how to get it
    (``huggingface-cli download …``) or how to point at a local folder instead.
    """

    def __init__(self, message: str, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model

    def __str__(self) -> str:
        return str(self.args[0])
