"""Exceptions of ldm3d_core (and the one-line form the commands print), importable
without torch or diffusers."""

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


class UserError(Exception):
    """A mistake in the command line or its inputs: ``ldm3d`` reports it in one line,
    ``ldm3d: error: ...``, and exits with status 2."""


def one_line(text: object, limit: int = 400) -> str:
    """``text`` as one line for an error report: lines joined, whitespace collapsed, long
    messages cut (library errors can run to pages)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (MemoryError, or torch's CPU/CUDA/MPS one)."""
    if isinstance(exc, MemoryError):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc).lower()
    return any(
        s in text
        for s in (
            "out of memory",
            "can't allocate memory",
            "cannot allocate memory",
            "not enough memory",
        )
    )


class ModelLoadError(ValueError):
    """A model folder that is there but cannot be loaded (a truncated weights file, broken
    JSON, a corrupt tokenizer); the one-line message names the part."""
