"""``ldm3d evaluate``: the paper's metrics for a model, a folder of generated images, or a VAE.

    ldm3d evaluate --model Intel/ldm3d-4c --reference coco/manifest.csv -o eval/
    ldm3d evaluate --generated out/gen/ --reference coco/manifest.csv -o eval/ --metrics fid,clip
    ldm3d evaluate --vae my-rgbd-vae/ --reference laion/manifest.csv -o eval/   # rFID, AbsRel

``--reference`` is a dataset source (a manifest or folder, see ``ldm3d_core.data``): its
captions are the prompts, its images FID's real set, and for ``--vae`` its RGBD pairs
are what is reconstructed. ``--model`` generates one image per caption (seed + i) into
``OUT/generated/`` (resumable) and evaluates those; ``--generated`` takes a folder in the
same layout (``name.png``, ``name_depth.png``, ``name.txt``, or a manifest).

Metrics: ``fid``, ``is``, ``clip`` (``ldm3d_core.evaluation.image``) and ``depth`` (AbsRel
and RMSE of the generated depth aligned to a reference depth model's estimate of the
generated image, ZoeDepth-N by default as in the paper, §4.3); for ``--vae``: ``rfid`` and
``depth``. The row goes into ``OUT/results.csv`` and ``OUT/results.md`` (one row per
``--name``, other rows kept).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: The paper's depth reference (§4.3): ZoeDepth trained on NYU (metric depth in metres).
DEFAULT_DEPTH_REFERENCE = "Intel/zoedepth-nyu"
GENERATION_METRICS = ("fid", "is", "clip", "depth")
VAE_METRICS = ("rfid", "depth")


def _fail(message: str) -> SystemExit:
    return SystemExit(f"ldm3d: error: {message}")


def _metric_list(text: str | None, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    if text is None:
        return allowed
    names = tuple(dict.fromkeys(m.strip().lower() for m in text.split(",") if m.strip()))
    bad = [m for m in names if m not in allowed]
    if bad or not names:
        raise _fail(
            f"--metrics: unknown metric(s) {', '.join(bad) or '(none)'} for {flag}; "
            f"choose from {','.join(allowed)}"
        )
    return names


def _generate(args: argparse.Namespace, samples: list, out: Path) -> Path:
    """Generate one RGBD image per reference caption into ``out`` (sidecar layout)."""
    import diffusers.utils.logging
    import transformers.utils.logging

    from ..codec import depth16_to_float
    from ..data.sources import Sample, write_manifest
    from ..depth.io import write_depth_png
    from ..loading import load_pipeline

    for lib in (diffusers.utils.logging, transformers.utils.logging):
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    out.mkdir(parents=True, exist_ok=True)
    made: list[Sample] = []
    pipe = None
    for i, sample in enumerate(samples):
        if not sample.caption:
            raise _fail(f"{sample.image}: reference item has no caption to generate from")
        rgb_path, depth_path = out / f"{i:05d}.png", out / f"{i:05d}_depth.png"
        if not (rgb_path.is_file() and depth_path.is_file()):
            if pipe is None:
                pipe = load_pipeline(
                    args.model, device=args.device, dtype=args.dtype, progress=False
                )
            result = pipe.txt2rgbd(
                sample.caption,
                num_inference_steps=args.steps,
                guidance_scale=args.guidance,
                scheduler=args.scheduler,
                seed=args.seed + i,
                height=args.height,
                width=args.width,
                panorama=args.panorama,
            )
            write_depth_png(depth_path, depth16_to_float(result.depth16[0]), preview=False)
            _write_rgb(rgb_path, result.rgb[0])
        (out / f"{i:05d}.txt").write_text(sample.caption + "\n", encoding="utf-8")
        made.append(Sample(rgb_path, depth_path, sample.caption))
    write_manifest(out / "manifest.csv", made)
    return out


def _write_rgb(path: Path, rgb) -> None:
    from PIL import Image

    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial.png")
    try:
        Image.fromarray(rgb).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _evaluate_images(args: argparse.Namespace, metrics: tuple[str, ...]) -> dict[str, float]:
    from ..data.sources import iter_samples, read_depth, read_rgb
    from ..depth import DepthModelNotFoundError, get_estimator
    from ..loading import resolve_device
    from .depth import DepthMetrics
    from .image import ImageMetrics

    reference = list(iter_samples(args.reference))[: args.limit]
    if not reference:
        raise _fail(f"{args.reference}: no reference items")
    image_metrics = tuple(m for m in metrics if m != "depth")
    scorer = (
        ImageMetrics(
            image_metrics,
            inception_weights=args.inception_weights,
            clip_model=args.clip_model,
            device=resolve_device(args.device),
        )
        if image_metrics
        else None
    )
    estimator = None
    if "depth" in metrics:
        try:
            estimator = get_estimator(args.depth_reference, args.device)
        except (DepthModelNotFoundError, ValueError) as exc:
            raise _fail(f"--depth-reference: {exc}") from None

    generated_dir = (
        _generate(args, reference, args.output / "generated") if args.model else args.generated
    )
    generated = list(iter_samples(generated_dir))[: args.limit]
    if not generated:
        raise _fail(f"{generated_dir}: no generated images")

    if scorer is not None and "fid" in image_metrics:
        if len(reference) < 2 or len(generated) < 2:
            raise _fail("FID needs at least 2 reference and 2 generated images")
        for sample in reference:
            scorer.update_real(read_rgb(sample.image))
    depth = DepthMetrics()
    for sample in generated:
        rgb = read_rgb(sample.image)
        if scorer is not None:
            if "clip" in image_metrics and not sample.caption:
                raise _fail(f"{sample.image}: no caption (CLIP similarity needs one)")
            scorer.update_generated(rgb, [sample.caption])
        if estimator is not None:
            if sample.depth is None:
                raise _fail(f"{sample.image}: no depth map (name_depth.png)")
            pred = read_depth(sample.depth)
            if pred.shape != rgb.shape[:2]:
                raise _fail(f"{sample.depth}: depth size differs from its image")
            depth.update(pred, estimator([rgb])[0])
    out: dict[str, float] = {"n": len(generated)}
    if scorer is not None:
        out.update(scorer.compute())
    if estimator is not None:
        out.update(depth.compute())
    return out


def _evaluate_vae(args: argparse.Namespace, metrics: tuple[str, ...]) -> dict[str, float]:
    import diffusers.utils.logging

    from ..data import RGBDDataset
    from ..loading import resolve_device
    from ..vae_surgery import load_source_vae
    from .autoencoder import autoencoder_metrics

    diffusers.utils.logging.set_verbosity_error()
    vae = load_source_vae(args.vae).to(resolve_device(args.device)).eval()
    channels = vae.config.in_channels
    if channels not in (4, 6):
        raise _fail(f"{args.vae}: VAE has {channels} input channels; an RGBD VAE has 4 or 6")
    resolution = args.resolution or int(vae.config.sample_size)
    dataset = RGBDDataset(
        args.reference, resolution, channels=channels, panorama=args.panorama, augment=False
    )
    return autoencoder_metrics(
        vae,
        dataset,
        metrics=metrics,
        limit=args.limit,
        inception_weights=args.inception_weights,
    )


def _check_bounds(args: argparse.Namespace) -> None:
    """Generation settings and --resolution against ``ldm3d_core.generation_limits``,
    before any model loads."""
    from ..generation_limits import GenerationLimitError, check_generation, limit

    try:
        if args.model:
            check_generation(
                width=args.width,
                height=args.height,
                steps=args.steps,
                guidance=args.guidance,
                seed=args.seed,
                panorama=args.panorama,
            )
        r = args.resolution
        if r is not None:
            if r <= 0 or r % 8:
                raise GenerationLimitError(
                    f"--resolution must be a positive multiple of 8, got {r}"
                )
            cap = limit("--height")
            if r > cap:
                raise GenerationLimitError(
                    f"--resolution {r}: above the limit of {cap} "
                    "(raise it with LDM3D_MAX_GENERATION_HEIGHT)"
                )
    except GenerationLimitError as exc:
        raise _fail(str(exc)) from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run ``ldm3d evaluate`` (see the module docstring)."""
    from ..errors import ModelNotFoundError
    from .report import write_results

    sources = [s for s in ("model", "generated", "vae") if getattr(args, s)]
    if len(sources) != 1:
        raise _fail("give exactly one of --model, --generated, --vae")
    if args.limit is not None and args.limit < 1:
        raise _fail(f"--limit must be at least 1, got {args.limit}")
    _check_bounds(args)
    name = args.name or Path(str(getattr(args, sources[0]))).name or str(getattr(args, sources[0]))
    try:
        if args.vae:
            metrics = _metric_list(args.metrics, VAE_METRICS, "--vae")
            row = _evaluate_vae(args, metrics)
        else:
            metrics = _metric_list(args.metrics, GENERATION_METRICS, f"--{sources[0]}")
            row = _evaluate_images(args, metrics)
        csv_path, md_path = write_results(args.output, {"model": name, **row})
    except (ModelNotFoundError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    print(md_path.read_text(encoding="utf-8"), end="")
    print(f"wrote {csv_path} and {md_path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to the ``ldm3d`` parser's subparsers."""
    from ..schedulers import SCHEDULER_NAMES

    p = subparsers.add_parser(
        "evaluate",
        help="FID, IS, CLIP and depth AbsRel/RMSE of a model (or rFID of a VAE) -> results table",
        description=(
            "Evaluate as the LDM3D paper does: FID / IS / CLIP similarity of generated images "
            "and AbsRel / RMSE of their depth against a reference depth model (ZoeDepth-N), or "
            "rFID and depth AbsRel of a VAE's reconstructions. Writes OUT/results.csv and "
            "OUT/results.md (one row per --name). Nothing is downloaded."
        ),
    )
    src = p.add_argument_group("what to evaluate (exactly one)")
    src.add_argument("--model", help="LDM3D hub id (local cache) or diffusers folder: generate")
    src.add_argument("--generated", type=Path, help="folder/manifest of generated RGB + depth")
    src.add_argument("--vae", help="RGBD VAE folder (or model folder with vae/): rFID")
    p.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="manifest or dataset folder: captions (prompts), real images, RGBD pairs",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="results folder")
    p.add_argument(
        "--metrics",
        help="comma list: fid,is,clip,depth [all]; with --vae: rfid,depth [both]",
    )
    p.add_argument("--name", help="row name in the results table [folder or model name]")
    p.add_argument("--limit", type=int, help="evaluate only the first N items")
    p.add_argument(
        "--depth-reference",
        default=DEFAULT_DEPTH_REFERENCE,
        help=f"depth model the generated depth is compared with [{DEFAULT_DEPTH_REFERENCE}]",
    )
    p.add_argument(
        "--clip-model",
        default="openai/clip-vit-large-patch14",
        help="CLIP folder or cached hub id [openai/clip-vit-large-patch14]",
    )
    p.add_argument(
        "--inception-weights",
        type=Path,
        help="torch-fidelity Inception-v3 weights file [torch hub cache]",
    )
    gen = p.add_argument_group("generation (with --model)")
    gen.add_argument("--steps", type=int, default=50, help="DDIM steps [50, as in Tab. 1]")
    gen.add_argument("--guidance", type=float, default=5.0, help="guidance scale [5]")
    gen.add_argument("--scheduler", choices=SCHEDULER_NAMES, default="ddim", help="[ddim]")
    gen.add_argument("--seed", type=int, default=0, help="item i gets seed + i [0]")
    gen.add_argument("--height", type=int, help="pixels [model's]")
    gen.add_argument("--width", type=int, help="pixels [model's]")
    gen.add_argument("--panorama", action="store_true", help="2:1 panoramas (also for --vae)")
    p.add_argument("--resolution", type=int, help="--vae: image size [the VAE's sample_size]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps [auto]")
    p.add_argument("--dtype", default="auto", help="auto | fp32 | fp16 | bf16 [auto]")
    p.set_defaults(func=cmd_evaluate)
    return p
