"""The ``ldm3d`` command: LDM3D generation (text -> RGBD, panoramas, RGBD img2img) and tools.

    ldm3d generate "a cozy cabin" -o out/
    ldm3d generate "360 view of a snowy village" --panorama -o out/
    ldm3d img2img --image pano.png --depth pano_depth.png "at night" --strength 0.6 --panorama -o out/
    ldm3d make-tiny-model tiny/ --channels 4
    ldm3d pack-depth depth16.png -o packed.png

Each image is written as ``NAME_rgb.png`` (8-bit RGB) and ``NAME_depth.png`` (16-bit
grayscale, 65535 nearest) in the output folder. User errors print one line,
``ldm3d: error: ...``, and exit with status 2, in every subcommand (:func:`run_command`):
missing or unreadable files, FIFOs and devices given as inputs, images whose header claims
more pixels than the limit (``ldm3d_core.inputs``), sizes, steps and guidance outside their
documented bounds (``ldm3d_core.generation_limits``, checked before a model loads), and an
allocation that fails anyway (one line naming the flag that asked for it).
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from . import __version__
from .codec import pack_depth16, unpack_depth16
from .command import run_command
from .errors import UserError, is_out_of_memory, one_line
from .files import atomic_path, check_replaceable
from .generation_limits import GenerationLimitError, check_generation, describe
from .inputs import InputError, npy_shape, open_image
from .limits import check_pixels

__all__ = ["UserError", "build_parser", "main", "run_command"]


def _read(path: Path, convert: str | None = None) -> np.ndarray:
    """An input image's pixels, after the file and its header passed the input checks."""
    try:
        with open_image(path) as im:
            return np.asarray(im.convert(convert) if convert else im)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except InputError as exc:
        raise UserError(str(exc)) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path}: cannot read image ({one_line(exc)})") from None


def _write_png(array: np.ndarray, path: Path) -> None:
    """Write a PNG atomically (``ldm3d_core.files``: a temporary name, renamed when complete;
    an existing file is replaced only when the project wrote it, or with --overwrite)."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


# -- depth codec tools --------------------------------------------------------------------


def cmd_pack(args: argparse.Namespace) -> int:
    depth = _read(args.input)
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise UserError(
            f"{args.input}: expected a 16-bit grayscale PNG, got {depth.dtype} {depth.shape}"
        )
    _write_png(pack_depth16(depth), args.output)
    return 0


def cmd_unpack(args: argparse.Namespace) -> int:
    packed = _read(args.input)
    if packed.ndim != 3 or packed.shape[2] != 3 or packed.dtype != np.uint8:
        raise UserError(f"{args.input}: expected an 8-bit 3-channel packed depth PNG")
    _write_png(unpack_depth16(packed), args.output)
    return 0


# -- generation ---------------------------------------------------------------------------


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return s or "ldm3d"


def _stems(args: argparse.Namespace, prompts: list[str], seeds: list[int] | None) -> list[str]:
    n = len(prompts)
    if args.name:
        return [args.name] if n == 1 else [f"{args.name}_{i:02d}" for i in range(n)]
    seeds = seeds or list(range(n))
    stems = [f"{_slug(p)}_s{s}" for p, s in zip(prompts, seeds, strict=True)]
    if len(set(stems)) < n:
        stems = [f"{s}_{i:02d}" for i, s in enumerate(stems)]
    return stems


def _write_outputs(args: argparse.Namespace, out) -> None:
    args.output.mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(_stems(args, out.prompts, out.seeds)):
        rgb_path = args.output / f"{stem}_rgb.png"
        depth_path = args.output / f"{stem}_depth.png"
        _write_png(out.rgb[i], rgb_path)
        _write_png(out.depth16[i], depth_path)
        print(rgb_path)
        print(depth_path)


def _precheck(args: argparse.Namespace) -> None:
    """Cheap checks before the (slow) model load; the pipelines check everything again.

    Sizes, steps, guidance and the image count against ``ldm3d_core.generation_limits``
    (a panorama's height becomes width / 2 when only ``--width`` is given).
    """
    try:
        args.height, args.width = check_generation(
            width=args.width,
            height=args.height,
            steps=args.steps,
            guidance=args.guidance,
            num_images=args.num_images,
            seed=args.seed,
            panorama=args.panorama,
        )
    except GenerationLimitError as exc:
        raise UserError(str(exc)) from None
    strength = getattr(args, "strength", None)
    if strength is not None and not 0.0 <= strength <= 1.0:  # (also refuses nan)
        raise UserError(f"--strength must be in [0, 1], got {strength}")


def _memory_error(args: argparse.Namespace, size: tuple[int, int] | None = None) -> UserError:
    """The one line for an allocation that failed: it names the flag that asked for it."""
    if args.width is not None:
        return UserError(f"--width {args.width}: out of memory; try a smaller --width")
    if args.height is not None:
        return UserError(f"--height {args.height}: out of memory; try a smaller --height")
    if args.num_images > 1:
        return UserError(
            f"--num-images {args.num_images}: out of memory; try a smaller --num-images"
        )
    if size is not None:  # img2img at the input's own size
        w, h = size
        return UserError(
            f"--image {args.image} ({w}x{h}): out of memory at that size; "
            "pass a smaller --width and --height to resize it"
        )
    return UserError(
        "out of memory at the model's default size; try a smaller --width (and --height)"
    )


def _run_pipeline(args: argparse.Namespace, call, size: tuple[int, int] | None = None):
    """``call()`` with allocation failures turned into one line naming the flag."""
    try:
        return call()
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise _memory_error(args, size) from None


def _load(args: argparse.Namespace):
    import diffusers.utils.logging
    import transformers.utils.logging

    from .loading import DEFAULT_MODEL, DEFAULT_PANORAMA_MODEL, load_pipeline

    # Loading bars and library chatter would bury the one-line errors; keep the step bar.
    for lib in (diffusers.utils.logging, transformers.utils.logging):
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    model = args.model or (DEFAULT_PANORAMA_MODEL if args.panorama else DEFAULT_MODEL)
    try:
        return load_pipeline(model, device=args.device, dtype=args.dtype, progress=not args.quiet)
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise UserError(
            f"--model {model}: out of memory loading it; try --dtype fp16 or --device cpu"
        ) from None


def _generation_options(args: argparse.Namespace) -> dict:
    return {
        "negative_prompt": args.negative_prompt,
        "height": args.height,
        "width": args.width,
        "num_inference_steps": args.steps,
        "guidance_scale": args.guidance,
        "scheduler": args.scheduler,
        "seed": args.seed if args.seed is not None else secrets.randbelow(2**31),
        "num_images_per_prompt": args.num_images,
        "panorama": args.panorama,
        "wrap": False if args.no_wrap else None,
    }


def cmd_generate(args: argparse.Namespace) -> int:
    _precheck(args)
    pipe = _load(args)
    out = _run_pipeline(args, lambda: pipe.txt2rgbd(args.prompt, **_generation_options(args)))
    _write_outputs(args, out)
    return 0


def _read_depth(path: Path) -> np.ndarray:
    """A depth file as something img2img accepts (see ``depth_to_float``)."""
    if path.suffix.lower() == ".npy":
        try:
            npy_shape(path)  # a regular file within the pixel limit, before loading it
            d = np.load(path)
        except FileNotFoundError:
            raise UserError(f"{path}: file not found") from None
        except InputError as exc:
            raise UserError(str(exc)) from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read depth ({one_line(exc)})") from None
        return d.astype(np.float32) if np.issubdtype(d.dtype, np.floating) else d
    d = _read(path)
    if d.dtype == np.int32 and d.ndim == 2 and d.min() >= 0 and d.max() <= 65535:
        d = d.astype(np.uint16)  # some 16-bit PNGs open in PIL's 32-bit "I" mode
    if d.ndim == 3 and d.shape[2] == 3 and d.dtype == np.uint8 and d[..., 0].any():
        raise UserError(
            f"{path}: an RGB image that is not LDM3D's packed depth (its first channel must be 0); "
            "give a 16-bit grayscale PNG"
        )
    return d


def _estimate_depth(args: argparse.Namespace, rgb: np.ndarray) -> np.ndarray:
    from . import depth as depth_models

    try:
        if args.panorama:
            return depth_models.estimate_panorama_depth(rgb, args.depth_model, args.device)
        return depth_models.estimate_depth(rgb, args.depth_model, args.device)
    except depth_models.DepthModelNotFoundError as exc:
        raise UserError(f"{exc} (or pass --depth)") from None


def _read_rgb(path: Path) -> np.ndarray:
    return _read(path, convert="RGB")


def _check_input_size(args: argparse.Namespace, rgb: np.ndarray) -> None:
    """img2img without --width/--height generates at the input's size: the same bounds."""
    if args.width is not None or args.height is not None:
        return
    h, w = rgb.shape[:2]
    try:
        check_generation(width=w, height=h)
    except GenerationLimitError as exc:
        raise UserError(
            f"--image {args.image} is {w}x{h}, the size img2img would generate at "
            f"({exc}); pass --width and --height to resize it"
        ) from None


def cmd_img2img(args: argparse.Namespace) -> int:
    from .pipelines.img2img import depth_to_float

    _precheck(args)
    rgb = _read_rgb(args.image)
    _check_input_size(args, rgb)
    if args.depth:
        raw = _read_depth(args.depth)
        try:
            depth = depth_to_float(raw)
        except ValueError as exc:  # dtype, shape, values outside [0, 1]
            raise UserError(f"{args.depth}: {one_line(exc)}") from None
    else:
        depth = _estimate_depth(args, rgb)
    if depth.shape != rgb.shape[:2]:
        raise UserError(
            f"{args.image} is {rgb.shape[1]}x{rgb.shape[0]} but {args.depth} is "
            f"{depth.shape[1]}x{depth.shape[0]}"
        )
    pipe = _load(args)
    size = (rgb.shape[1], rgb.shape[0])
    out = _run_pipeline(
        args,
        lambda: pipe.img2img(
            rgb, depth, args.prompt, strength=args.strength, **_generation_options(args)
        ),
        size,
    )
    _write_outputs(args, out)
    return 0


# -- super-resolution ------------------------------------------------------------------------


def _parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (W, H)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 4096x2048, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _upscale_target(args: argparse.Namespace, rgb: np.ndarray) -> tuple[int, int]:
    """(width, height) of the upscaled image, checked before the model loads."""
    h, w = rgb.shape[:2]
    if args.size is not None:
        width, height = args.size
        where = f"--size {width}x{height}"
    else:
        if not (np.isfinite(args.scale) and args.scale >= 1):
            raise UserError(f"--scale must be >= 1, got {args.scale}")
        width, height = round(w * args.scale), round(h * args.scale)
        where = f"--scale {args.scale:g} ({w}x{h} -> {width}x{height})"
    if width % 8 or height % 8 or width <= 0 or height <= 0:
        raise UserError(f"{where}: the target must be a positive multiple of 8 on both sides")
    if width < w or height < h:
        raise UserError(f"{where}: smaller than the input {w}x{h}")
    if args.panorama and width != 2 * height:
        raise UserError(f"{where}: --panorama needs a 2:1 target")
    try:
        check_pixels(width, height, where)
        check_generation(steps=args.steps, guidance=args.guidance, seed=args.seed)
    except (GenerationLimitError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if args.tile < 64 or args.tile % 8:
        raise UserError(f"--tile must be a multiple of 8 and >= 64, got {args.tile}")
    if not 0 <= args.noise_level <= 350:
        raise UserError(
            f"--noise-level must be in [0, 350] for Intel/ldm3d-sr, got {args.noise_level}"
        )
    return width, height


def cmd_upscale(args: argparse.Namespace) -> int:
    import diffusers.utils.logging
    import transformers.utils.logging

    from .loading import DEFAULT_UPSCALE_MODEL, load_upscaler
    from .pipelines.upscale import depth_to_uint16

    rgb = _read_rgb(args.image)
    raw = _read_depth(args.depth)
    if raw.ndim == 3 and raw.shape[2] == 3 and raw.dtype == np.uint8:
        raw = unpack_depth16(raw)  # LDM3D's packed 3-channel depth
    try:
        depth16 = depth_to_uint16(raw)
    except ValueError as exc:
        raise UserError(f"{args.depth}: {one_line(exc)}") from None
    if depth16.shape != rgb.shape[:2]:
        raise UserError(
            f"{args.image} is {rgb.shape[1]}x{rgb.shape[0]} but {args.depth} is "
            f"{depth16.shape[1]}x{depth16.shape[0]}"
        )
    if args.panorama and rgb.shape[1] != 2 * rgb.shape[0]:
        raise UserError(
            f"{args.image}: --panorama needs a 2:1 image, got {rgb.shape[1]}x{rgb.shape[0]}"
        )
    width, height = _upscale_target(args, rgb)
    stem = args.name or f"{args.image.stem}_{width}x{height}"
    paths = (args.output / f"{stem}_rgb.png", args.output / f"{stem}_depth.png")
    for path in paths:
        check_replaceable(path)  # before minutes of work, not after

    for lib in (diffusers.utils.logging, transformers.utils.logging):
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    model = args.model or DEFAULT_UPSCALE_MODEL
    pipe = _run_pipeline(
        args,
        lambda: load_upscaler(model, device=args.device, dtype=args.dtype, progress=not args.quiet),
    )
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    out = _run_pipeline(
        args,
        lambda: pipe(
            rgb,
            depth16,
            args.prompt,
            negative_prompt=args.negative_prompt,
            size=(width, height),
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            noise_level=args.noise_level,
            scheduler=args.scheduler,
            seed=seed,
            panorama=args.panorama,
            wrap=False if args.no_wrap else None,
            tile=args.tile,
            resample=args.resample,
        ),
        (width, height),
    )
    args.output.mkdir(parents=True, exist_ok=True)
    _write_png(out.rgb[0], paths[0])
    _write_png(out.depth16[0], paths[1])
    for path in paths:
        print(path)
    return 0


def cmd_make_tiny(args: argparse.Namespace) -> int:
    from .tiny import make_tiny_model

    if args.output.exists() and any(args.output.iterdir()):
        raise UserError(f"{args.output}: folder exists and is not empty")
    captions = None
    if args.tokenizer_from is not None:
        from .data import iter_samples

        try:
            captions = [s.caption for s in iter_samples(args.tokenizer_from)]
        except (OSError, ValueError) as exc:
            raise UserError(f"--tokenizer-from: {exc}") from None
        if not any(captions):
            raise UserError(f"--tokenizer-from {args.tokenizer_from}: no captions found")
    make_tiny_model(
        args.output, channels=args.channels, seed=args.seed, arch=args.arch, captions=captions
    )
    print(args.output)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_model

    print(export_model(args.model, args.output, args.dtype))
    return 0


# -- parser -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, ``ldm3d: error: ...``, exit 2 (subcommands inherit this)."""

    def error(self, message: str):
        self.exit(2, f"ldm3d: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def _add_generation_options(p: argparse.ArgumentParser) -> None:
    from .schedulers import SCHEDULER_NAMES

    p.add_argument("prompt", nargs="+", help="text prompt(s); several make a batch")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument(
        "--model",
        help="hub id (from the local Hugging Face cache) or local diffusers folder "
        "[default: Intel/ldm3d-4c, Intel/ldm3d-pano with --panorama]",
    )
    p.add_argument(
        "--steps",
        type=_positive_int,
        default=50,
        help=f"denoising steps, {describe('--steps')} [50]",
    )
    p.add_argument("--seed", type=int, help="random seed (image i gets seed + i) [random]")
    p.add_argument(
        "--height",
        type=_positive_int,
        help=f"pixels, a multiple of 8, {describe('--height')} [model's, 512; pano: width/2]",
    )
    p.add_argument(
        "--width",
        type=_positive_int,
        help=f"pixels, a multiple of 8 (16 with --panorama), {describe('--width')} "
        "[height, 2x pano]",
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=5.0,
        help=f"guidance scale >= 0, {describe('--guidance')} [5, the paper's]",
    )
    p.add_argument("--scheduler", choices=SCHEDULER_NAMES, default="ddim", help="sampler [ddim]")
    p.add_argument("--negative-prompt", help="what to steer away from")
    p.add_argument(
        "--num-images",
        type=_positive_int,
        default=1,
        help=f"images per prompt, {describe('--num-images')} [1]",
    )
    p.add_argument("--panorama", action="store_true", help="2:1 equirectangular, seamless at ±180°")
    p.add_argument("--no-wrap", action="store_true", help="panorama without the seamless wrap")
    p.add_argument("--name", help="output file stem [from the prompt and seed]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps [auto]")
    p.add_argument("--dtype", default="auto", help="auto | fp32 | fp16 | bf16 [auto]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_upscale_parser(sub) -> None:
    from .pipelines.upscale import (
        DEFAULT_NOISE_LEVEL,
        DEFAULT_TILE,
        DEFAULT_UPSCALE_GUIDANCE,
        DEFAULT_UPSCALE_STEPS,
    )
    from .schedulers import SCHEDULER_NAMES

    p = sub.add_parser(
        "upscale",
        help="RGB + depth -> RGB + depth at x4 (LDM3D-VR super-resolution, Intel/ldm3d-sr)",
    )
    p.add_argument("--image", type=Path, required=True, help="RGB image")
    p.add_argument(
        "--depth",
        type=Path,
        required=True,
        help="depth: 16-bit PNG, 8-bit gray (read as value/255), packed LDM3D PNG or .npy in "
        "[0, 1]; 1 nearest",
    )
    p.add_argument("--prompt", default="", help="what the image shows (guides the detail) ['']")
    p.add_argument("--negative-prompt", help="what to steer away from")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, default=4.0, help="target = scale x input [4]")
    size.add_argument("--size", type=_parse_size, help="target WIDTHxHEIGHT instead of --scale")
    p.add_argument("--panorama", action="store_true", help="2:1 equirectangular: wraps round ±180°")
    p.add_argument("--no-wrap", action="store_true", help="panorama without the wrap-around")
    p.add_argument(
        "--tile",
        type=int,
        default=DEFAULT_TILE,
        help=f"largest side computed in one piece; larger targets are tiled [{DEFAULT_TILE}]",
    )
    p.add_argument(
        "--steps", type=_positive_int, default=DEFAULT_UPSCALE_STEPS, help="denoising steps [50]"
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=DEFAULT_UPSCALE_GUIDANCE,
        help=f"classifier-free guidance [{DEFAULT_UPSCALE_GUIDANCE:g}]",
    )
    p.add_argument(
        "--noise-level",
        type=int,
        default=DEFAULT_NOISE_LEVEL,
        help=f"the low-res conditioning's noise level, 0..350 [{DEFAULT_NOISE_LEVEL}]",
    )
    p.add_argument("--seed", type=int, help="random seed [random, printed in the name]")
    p.add_argument("--scheduler", choices=SCHEDULER_NAMES, default="ddim", help="sampler [ddim]")
    p.add_argument(
        "--resample",
        choices=("lanczos", "bilinear"),
        default="lanczos",
        help="filter of the initial resize (lanczos: what the diffusers reference computes)",
    )
    p.add_argument("--model", help="[Intel/ldm3d-sr] hub id (from the cache) or local folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--name", help="output file stem [<image>_<W>x<H>]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps [auto]")
    p.add_argument("--dtype", default="auto", help="auto | fp32 | fp16 | bf16 [auto]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_upscale)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ldm3d", description="LDM3D: text -> RGB + depth, and model tools.")
    parser.add_argument("--version", action="version", version=f"ldm3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("generate", help="text -> RGB + depth (panoramas with --panorama)")
    _add_generation_options(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("img2img", help="RGB + depth + text -> RGB + depth")
    p.add_argument("--image", type=Path, required=True, help="RGB image")
    p.add_argument(
        "--depth",
        type=Path,
        help="depth: 16-bit PNG, 8-bit gray, packed LDM3D PNG or .npy in [0, 1], 1 nearest "
        "[estimated with --depth-model]",
    )
    p.add_argument("--depth-model", help="monocular depth model when --depth is absent [DPT]")
    p.add_argument("--strength", type=float, default=0.6, help="0 keeps the input, 1 ignores it")
    _add_generation_options(p)
    p.set_defaults(func=cmd_img2img)

    _add_upscale_parser(sub)

    p = sub.add_parser("make-tiny-model", help="write a tiny random LDM3D (tests, trials)")
    p.add_argument("output", type=Path, help="folder to create")
    p.add_argument("--channels", type=int, choices=(4, 6), default=4, help="VAE RGBD channels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--arch",
        choices=("test", "pano", "sr", "sr-pano"),
        default="test",
        help="test: diffusers' test sizes (64 px); pano: the embedded model's (256x128); "
        "sr: an RGBD x4 upscaler in Intel/ldm3d-sr's format; sr-pano: the embedded "
        "upscaler's (256x128 -> 1024x512) [test]",
    )
    p.add_argument(
        "--tokenizer-from",
        type=Path,
        metavar="DATASET",
        help="train the tokenizer's BPE on this dataset's captions (folder or manifest)",
    )
    p.set_defaults(func=cmd_make_tiny)

    p = sub.add_parser(
        "export", help="copy a model folder with its weights in another precision (fp16 to ship)"
    )
    p.add_argument("model", help="diffusers folder (e.g. a training run's model/) or cached hub id")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to create")
    p.add_argument("--dtype", default="fp16", help="fp16, bf16 or fp32 [fp16]")
    p.set_defaults(func=cmd_export)

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

    from .data.build import register as register_build_dataset
    from .depth.cli import register as register_depth
    from .evaluation.cli import register as register_evaluate
    from .training.cli import register as register_train
    from .vae_surgery import register as register_convert_vae

    register_depth(sub)
    register_convert_vae(sub)
    register_build_dataset(sub)
    register_evaluate(sub)
    register_train(sub)
    _add_overwrite(parser)
    return parser


def _add_overwrite(parser: argparse.ArgumentParser) -> None:
    """``--overwrite`` on every command that runs (the leaves of the subcommand tree)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        if "--overwrite" not in parser._option_string_actions:
            parser.add_argument(
                "--overwrite",
                action="store_true",
                help="let outputs replace existing files that this project did not write",
            )
        return
    for child in {id(p): p for p in subs[0].choices.values()}.values():
        _add_overwrite(child)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
