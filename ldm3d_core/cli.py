"""The ``ldm3d`` command: model-side tools (depth codec conversions; more as the model lands)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from . import __version__
from .codec import pack_depth16, unpack_depth16


def _read(path: Path) -> np.ndarray:
    try:
        return np.asarray(Image.open(path))
    except FileNotFoundError:
        raise SystemExit(f"ldm3d: error: {path}: file not found") from None
    except OSError as exc:
        raise SystemExit(f"ldm3d: error: {path}: cannot read image ({exc})") from None


def cmd_pack(args: argparse.Namespace) -> int:
    depth = _read(args.input)
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise SystemExit(
            f"ldm3d: error: {args.input}: expected a 16-bit grayscale PNG, got {depth.dtype} {depth.shape}"
        )
    Image.fromarray(pack_depth16(depth)).save(args.output)
    return 0


def cmd_unpack(args: argparse.Namespace) -> int:
    packed = _read(args.input)
    if packed.ndim != 3 or packed.shape[2] != 3 or packed.dtype != np.uint8:
        raise SystemExit(
            f"ldm3d: error: {args.input}: expected an 8-bit 3-channel packed depth PNG"
        )
    Image.fromarray(unpack_depth16(packed)).save(args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ldm3d", description="LDM3D model tools.")
    parser.add_argument("--version", action="version", version=f"ldm3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "pack-depth", help="16-bit depth PNG -> LDM3D packed 3-channel depth (0, hi, lo)"
    )
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=cmd_pack)
    p = sub.add_parser("unpack-depth", help="LDM3D packed 3-channel depth -> 16-bit depth PNG")
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=cmd_unpack)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
