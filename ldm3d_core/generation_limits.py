"""Upper bounds on what one ``ldm3d`` generation may ask for, checked before a model loads.

A typo (``--width 40960``) or a hostile script should be a one-line error, not minutes of
model loading followed by an allocation the machine cannot make. Each bound can be moved by
an environment variable (never by a scene or config file):

====================  ========  ==============================
bound                 default   environment variable
====================  ========  ==============================
``--width``           4096      ``LDM3D_MAX_GENERATION_WIDTH``
``--height``          4096      ``LDM3D_MAX_GENERATION_HEIGHT``
``--steps``           1000      ``LDM3D_MAX_STEPS``
``--guidance``        100       ``LDM3D_MAX_GUIDANCE``
``--num-images``      64        ``LDM3D_MAX_NUM_IMAGES``
====================  ========  ==============================

Sizes must also be positive multiples of 8 (the VAE downsamples 8x); a panorama is 2:1, so
with ``--panorama`` and only ``--width`` the height is width / 2 and the width must be a
multiple of 16. The pipelines check the model-specific rules again once it is loaded.
"""

from __future__ import annotations

import math
import os

__all__ = [
    "MAX_GENERATION_HEIGHT",
    "MAX_GENERATION_WIDTH",
    "MAX_GUIDANCE",
    "MAX_NUM_IMAGES",
    "MAX_STEPS",
    "GenerationLimitError",
    "check_generation",
    "describe",
    "limit",
]

MAX_GENERATION_WIDTH = 4096
MAX_GENERATION_HEIGHT = 4096
MAX_STEPS = 1000
MAX_GUIDANCE = 100.0
MAX_NUM_IMAGES = 64

#: flag -> (default bound, environment variable)
LIMITS: dict[str, tuple[float, str]] = {
    "--width": (MAX_GENERATION_WIDTH, "LDM3D_MAX_GENERATION_WIDTH"),
    "--height": (MAX_GENERATION_HEIGHT, "LDM3D_MAX_GENERATION_HEIGHT"),
    "--steps": (MAX_STEPS, "LDM3D_MAX_STEPS"),
    "--guidance": (MAX_GUIDANCE, "LDM3D_MAX_GUIDANCE"),
    "--num-images": (MAX_NUM_IMAGES, "LDM3D_MAX_NUM_IMAGES"),
}
SEED_RANGE = (-(2**63), 2**63 - 1)


class GenerationLimitError(ValueError):
    """A generation request outside its bounds; one line naming the flag (and the limit)."""


def limit(flag: str) -> float:
    """The bound of ``flag`` now (its environment variable, else the default)."""
    default, env = LIMITS[flag]
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise GenerationLimitError(f"environment variable {env}={raw!r}: not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise GenerationLimitError(f"environment variable {env}={raw!r}: must be positive")
    return int(value) if isinstance(default, int) else value


def describe(flag: str) -> str:
    """``at most N (ENV_VAR)`` for a ``--help`` text."""
    default, env = LIMITS[flag]
    try:
        value = limit(flag)
    except GenerationLimitError:
        value = default
    return f"at most {_show(value)}, env {env}"


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _at_most(flag: str, value: float) -> None:
    cap = limit(flag)
    if value > cap:
        raise GenerationLimitError(
            f"{flag} {_show(value)}: above the limit of {_show(cap)} "
            f"(raise it with {LIMITS[flag][1]})"
        )


def check_generation(
    *,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    num_images: int | None = None,
    seed: int | None = None,
    panorama: bool = False,
) -> tuple[int | None, int | None]:
    """Check a request's values; returns (height, width) with a panorama's height filled in
    from its width (width / 2). GenerationLimitError names the first bad flag."""
    for flag, v in (("--width", width), ("--height", height)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise GenerationLimitError(f"{flag} must be a positive number of pixels, got {v!r}")
        if v % 8:
            raise GenerationLimitError(f"{flag} must be a multiple of 8, got {v}")
        _at_most(flag, v)
    if panorama and width is not None:
        if height is None:
            if width % 16:
                raise GenerationLimitError(
                    f"--width must be a multiple of 16 for a panorama (its height is width / 2 "
                    f"and a multiple of 8), got {width}"
                )
            height = width // 2
        elif width != 2 * height:
            raise GenerationLimitError(
                f"--panorama makes 2:1 images: --width must be 2 x --height, got {width}x{height}"
            )
        _at_most("--height", height)
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
            raise GenerationLimitError(f"--steps must be a positive integer, got {steps!r}")
        _at_most("--steps", steps)
    if guidance is not None:
        if not math.isfinite(guidance) or guidance < 0:
            raise GenerationLimitError(f"--guidance must be a number >= 0, got {guidance}")
        _at_most("--guidance", float(guidance))
    if num_images is not None:
        if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images <= 0:
            raise GenerationLimitError(f"--num-images must be positive, got {num_images!r}")
        _at_most("--num-images", num_images)
    if seed is not None and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise GenerationLimitError(f"--seed must be a 64-bit integer, got {seed}")
    return height, width
