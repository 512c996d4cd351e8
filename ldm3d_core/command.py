"""How every ``ldm3d`` command ends: a user error is one line ``ldm3d: error: ...`` and exit
status 2, never a traceback. Used by :mod:`.cli` and by ``python -m ldm3d_core.training``
(:mod:`.training.cli`), kept apart from both so that neither imports the other.
"""

from __future__ import annotations

import argparse
import sys

from .errors import ModelNotFoundError, UserError, is_out_of_memory, one_line
from .files import FileSafetyError, allow_overwrite


def _report(message: object) -> int:
    print(f"ldm3d: error: {one_line(message)}", file=sys.stderr)
    return 2


def run_command(func, args: argparse.Namespace) -> int:
    """Run a subcommand's ``func(args)``; every user error ends as one line,
    ``ldm3d: error: ...``, and exit status 2 (``python -m ldm3d_core.training`` too).

    User errors are the project's one-line exceptions (UserError, ModelNotFoundError,
    FileSafetyError, ValueError: config, training, input and limit errors), OSErrors (files),
    the ``SystemExit("ldm3d: error: ...")`` that subcommands raise (a bare SystemExit would
    exit with status 1), and allocation failures (MemoryError, torch's out-of-memory errors).
    """
    try:
        with allow_overwrite(getattr(args, "overwrite", False)):
            return func(args)
    except (UserError, ModelNotFoundError, FileSafetyError, ValueError, OSError) as exc:
        return _report(exc)
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a subcommand's one-line error
            return _report(exc.code.removeprefix("ldm3d: error: "))
        raise
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        return _report(f"out of memory ({one_line(exc, 160)})")
    except KeyboardInterrupt:
        print("ldm3d: interrupted", file=sys.stderr)
        return 130
