"""What every ``depthfusion`` command shares on the console: its log messages and progress bars
on stderr, and the rule that a user error ends as one line ``depthfusion: error: ...`` with
exit status 2, no traceback.

Used by :mod:`depthfusion.cli` and by ``python -m depthfusion.preview``; kept apart from both so
that neither imports the other.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

from ldm3d_core.files import FileSafetyError
from ldm3d_core.limits import LimitError

from .errors import DepthFusionError

log = logging.getLogger("depthfusion")


@contextmanager
def cli_logging(quiet: bool, verbose: bool) -> Iterator[None]:
    """Messages as ``depthfusion: ...`` on stderr while the command runs; restored afterwards
    so that in-process callers (tests, notebooks) keep their own logging set-up."""
    saved = (log.handlers[:], log.level, log.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("depthfusion: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.handlers[:], log.level, log.propagate = saved


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``func(args)`` with the command's logging; user errors become one line and a status."""
    try:
        with cli_logging(getattr(args, "quiet", False), getattr(args, "verbose", False)):
            return func(args)
    except DepthFusionError as exc:
        print(f"depthfusion: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileSafetyError, LimitError) as exc:  # raised below the CLI's own error types
        print(f"depthfusion: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("depthfusion: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `depthfusion keys | head`
        sys.stderr.close()
        return 0
    except MemoryError:
        print(
            "depthfusion: error: out of memory (try a smaller sphere.resolution or output size)",
            file=sys.stderr,
        )
        return 2


def progress(total: int, desc: str = "frames", quiet: bool = False, **kwargs) -> tqdm:
    """A tqdm bar (stderr) counting frames, with frames/s and ETA; disabled when ``quiet``.

    Use as ``with progress(n, "video") as bar: ... bar.update()``.
    """
    options = {"unit": "frame", "dynamic_ncols": True, "smoothing": 0.1, "leave": True}
    options.update(kwargs)
    return tqdm(total=total, desc=desc, disable=quiet, **options)


# --- stage timings ---------------------------------------------------------------------------

_STAGES: ContextVar[dict[str, list[float]] | None] = ContextVar("depthfusion_stages", default=None)


@contextmanager
def timed_stages() -> Iterator[dict[str, list[float]]]:
    """Collect :func:`stage` timings while the block runs: name -> [seconds, calls]."""
    times: dict[str, list[float]] = {}
    token = _STAGES.set(times)
    try:
        yield times
    finally:
        _STAGES.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as part of stage ``name`` (a no-op outside :func:`timed_stages`)."""
    times = _STAGES.get()
    if times is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        entry = times.setdefault(name, [0.0, 0])
        entry[0] += time.perf_counter() - start
        entry[1] += 1


def format_stages(times: dict[str, list[float]]) -> str:
    """``load 0.80 s, mesh 0.41 s, render 0.21 s (20x), ...`` in the order stages ran."""
    return ", ".join(
        f"{name} {secs:.2f} s" + (f" ({int(n)}x)" if n > 1 else "")
        for name, (secs, n) in times.items()
    )
