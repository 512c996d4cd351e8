"""``ldm3d depth``: monocular depth of an image or a 360° panorama -> 16-bit PNG + preview.

    ldm3d depth photo.jpg -o photo_depth.png
    ldm3d depth pano.jpg -o pano_depth.png --panorama [--views 6] [--model Intel/dpt-large]

Registered on the ``ldm3d`` parser by :func:`register`. User errors end the command with a
single ``ldm3d: error: ...`` line and exit status 2 (``ldm3d_core.cli.run_command`` reports
the ``SystemExit`` raised here). The input must be a regular file whose header claims at most
``ldm3d_core.limits.max_pixels()`` pixels (``DEPTHFUSION_MAX_PIXELS``), checked before it is
decoded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .estimator import DEFAULT_MODEL, DepthModelNotFoundError
from .panorama import DEFAULT_VIEWS

#: Most perspective views a panorama may be split into (each is a model run).
MAX_VIEWS = 256


def _fail(message: str) -> SystemExit:
    return SystemExit(f"ldm3d: error: {message}")


def cmd_depth(args: argparse.Namespace) -> int:
    """Run ``ldm3d depth`` (see the module docstring)."""
    from ..errors import one_line
    from ..inputs import InputError
    from .io import read_image_rgb, write_depth_png

    # 1. Check inputs before loading anything heavy
    if args.output.suffix.lower() != ".png":
        raise _fail(f"{args.output}: depth is written as a 16-bit PNG; use a .png name")
    if args.panorama and not 6 <= args.views <= MAX_VIEWS:
        raise _fail(f"--views must be between 6 and {MAX_VIEWS}, got {args.views}")
    try:
        rgb = read_image_rgb(args.image)
    except FileNotFoundError:
        raise _fail(f"{args.image}: file not found") from None
    except InputError as exc:  # a FIFO or device, or more pixels than the limit
        raise _fail(str(exc)) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise _fail(f"{args.image}: cannot read image ({one_line(exc)})") from None
    height, width = rgb.shape[:2]
    if args.panorama:
        from .panorama import check_panorama_shape, panorama_views

        try:
            check_panorama_shape(height, width)
            views = panorama_views(args.views, width, args.fov)
        except ValueError as exc:
            raise _fail(f"{args.image}: {exc}") from None

    # 2. Load the model and estimate
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    from .estimator import get_estimator
    from .panorama import estimate_panorama

    try:
        estimator = get_estimator(args.model, args.device, args.dtype)
    except (DepthModelNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    runs = estimator.evaluations
    if args.panorama:
        depth = estimate_panorama(rgb, estimator, views=views).depth
    else:
        depth = estimator.estimate(rgb)

    # 3. Write depth and preview atomically
    try:
        written = write_depth_png(args.output, depth, preview=not args.no_preview)
    except OSError as exc:
        raise _fail(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    runs = estimator.evaluations - runs
    print(f"wrote {', '.join(str(p) for p in written)} ({width}x{height}, {runs} model runs)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``depth`` subcommand to the ``ldm3d`` parser's subparsers."""
    p = subparsers.add_parser(
        "depth",
        help="monocular depth (DPT) of an image or 360° panorama -> 16-bit depth PNG + preview",
        description=(
            "Estimate normalised disparity (1.0 nearest, the LDM3D convention) with a "
            "transformers depth model and write it as a 16-bit PNG plus a colour preview "
            "<stem>_preview.png. With --panorama the equirectangular image is split into "
            "overlapping perspective views that are estimated, aligned and blended back."
        ),
    )
    p.add_argument(
        "image",
        type=Path,
        help="input image (any format PIL reads; at most 16384x8192 pixels, env "
        "DEPTHFUSION_MAX_PIXELS)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="depth PNG to write")
    p.add_argument(
        "--panorama", action="store_true", help="the image is a 2:1 equirectangular panorama"
    )
    p.add_argument(
        "--model",
        default=None,
        help=f"hub id (from the local cache) or local model folder; default {DEFAULT_MODEL}",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, else CPU), cpu, cuda, ...")
    p.add_argument(
        "--dtype",
        default="auto",
        help="auto | fp32 | fp16 | bf16 [auto: fp16 on CUDA, fp32 elsewhere]",
    )
    p.add_argument(
        "--views",
        type=int,
        default=DEFAULT_VIEWS,
        help=f"perspective views per panorama, 6 to {MAX_VIEWS}: 6 = cube faces (default), "
        "more = smaller views",
    )
    p.add_argument(
        "--fov",
        type=float,
        default=None,
        help="field of view of each panorama view in degrees (default: coverage + 10° overlap)",
    )
    p.add_argument("--no-preview", action="store_true", help="skip the colour preview")
    p.set_defaults(func=cmd_depth)
    return p
