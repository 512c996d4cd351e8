"""``ldm3d build-dataset``: a folder of captioned images -> LDM3D training triples.

    ldm3d build-dataset photos/ -o data/ [--depth-model Intel/dpt-large] [--panorama]

Runs a monocular depth model (DPT-Large by default, the model the paper made its training
depth with, §3.1.2) on every image under ``IMAGES_DIR`` (recursively) and writes::

    OUT_DIR/depth/<path of the image relative to IMAGES_DIR, extension .png>
                             normalised disparity, 16-bit PNG, 65535 nearest
    OUT_DIR/manifest.csv     image, depth, caption (paths relative to OUT_DIR)

Captions come from the images' sidecars (``name.txt``; none -> empty caption). Images are
not copied: the manifest points at them. ``--panorama`` estimates 2:1 equirectangular
images through overlapping perspective views (``ldm3d_core.depth.panorama``) and skips
images that are not 2:1.

Resumable: each depth map is written under a temporary name and renamed when complete, and
an image whose depth map exists is not estimated again, so a killed run restarts where it
stopped. Unreadable images are skipped with a logged reason. The manifest is rewritten
(atomically) at the end from every image that has a depth map.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from .sources import DEPTH_DIR, MANIFEST, Sample, list_images, read_caption, write_manifest

log = logging.getLogger("ldm3d_core.data")


@dataclass
class BuildReport:
    """What a build did: the manifest's samples, how many depth maps are new, what was skipped."""

    manifest: Path
    samples: list[Sample] = field(default_factory=list)
    new: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def depth_path_for(images_dir: Path, out_dir: Path, image: Path) -> Path:
    """Where the depth map of ``image`` goes: ``OUT_DIR/depth/<relative path>.png``."""
    return out_dir / DEPTH_DIR / image.relative_to(images_dir).with_suffix(".png")


def build_dataset(
    images_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    depth_model: str | os.PathLike[str] | object | None = None,
    panorama: bool = False,
    device: str = "auto",
    dtype: str | None = None,
    progress: bool = False,
) -> BuildReport:
    """Estimate depth for every image of ``images_dir`` into ``out_dir`` (module docstring).

    depth_model : hub id, local folder or loaded ``DepthEstimator`` (default DPT-Large);
        loaded only when some image still needs depth
    Raises FileNotFoundError / ValueError (one line) for a missing folder, a folder without
    images, or a depth model that cannot be loaded.
    """
    from ..depth import estimate_panorama_depth, get_estimator
    from ..depth.io import read_image_rgb, write_depth_png
    from ..depth.panorama import check_panorama_shape

    src, out = Path(images_dir), Path(out_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: folder not found")
    out.mkdir(parents=True, exist_ok=True)
    inside = out.resolve() != src.resolve() and out.resolve().is_relative_to(src.resolve())
    images = [
        p for p in list_images(src) if not (inside and p.resolve().is_relative_to(out.resolve()))
    ]
    if not images:
        raise ValueError(f"{src}: no images found (.jpg, .jpeg, .png, .webp, .bmp, .tif)")

    report = BuildReport(manifest=out / MANIFEST)
    estimator = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(images), unit="img", desc="depth")
    for image in images:
        target = depth_path_for(src, out, image)
        if not target.is_file():
            try:
                rgb = read_image_rgb(image)
                if panorama:
                    check_panorama_shape(*rgb.shape[:2])
            except (OSError, ValueError, SyntaxError) as exc:
                report.skipped.append((image, f"cannot use image ({exc})"))
                log.warning("%s: skipped: cannot use image (%s)", image, exc)
                if bar is not None:
                    bar.update()
                continue
            if estimator is None:
                estimator = get_estimator(depth_model, device, dtype)
            estimate = estimate_panorama_depth if panorama else _estimate_image
            depth = estimate(rgb, estimator)
            write_depth_png(target, depth, preview=False)
            report.new += 1
        report.samples.append(Sample(image, target, read_caption(image)))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    write_manifest(report.manifest, report.samples)
    log.info(
        "%s: %d items (%d new), %d skipped",
        out,
        len(report.samples),
        report.new,
        len(report.skipped),
    )
    return report


def _estimate_image(rgb, estimator):
    return estimator.estimate(rgb)


# -- CLI ----------------------------------------------------------------------------------


def cmd_build_dataset(args: argparse.Namespace) -> int:
    """Run ``ldm3d build-dataset`` (see the module docstring)."""
    import transformers

    from ..depth import DepthModelNotFoundError

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.basicConfig(format="ldm3d: %(message)s", level=logging.WARNING)
    try:
        report = build_dataset(
            args.images,
            args.output,
            depth_model=args.depth_model,
            panorama=args.panorama,
            device=args.device,
            dtype=args.dtype,
            progress=not args.quiet,
        )
    except (DepthModelNotFoundError, OSError, ValueError) as exc:
        raise SystemExit(f"ldm3d: error: {exc}") from None
    print(
        f"{report.manifest}: {len(report.samples)} items ({report.new} new depth maps, "
        f"{len(report.skipped)} images skipped)"
    )
    if not report.samples:
        raise SystemExit(f"ldm3d: error: {args.images}: no usable images")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``build-dataset`` subcommand to the ``ldm3d`` parser's subparsers."""
    p = subparsers.add_parser(
        "build-dataset",
        help="captioned images -> 16-bit depth maps + manifest.csv (training data; resumable)",
        description=(
            "Estimate depth (DPT) for every image under IMAGES_DIR and write OUT_DIR/depth/*.png "
            "(16-bit, 65535 nearest) and OUT_DIR/manifest.csv (image, depth, caption; captions "
            "from name.txt sidecars). Images with a depth map already are skipped, so an "
            "interrupted run resumes."
        ),
    )
    p.add_argument("images", type=Path, help="folder of images (searched recursively)")
    p.add_argument("-o", "--output", type=Path, required=True, help="dataset folder to write")
    p.add_argument(
        "--depth-model",
        default=None,
        help="hub id (from the local cache) or local model folder [Intel/dpt-large]",
    )
    p.add_argument(
        "--panorama", action="store_true", help="2:1 equirectangular images (others skipped)"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps [auto]")
    p.add_argument("--dtype", default=None, help="auto | fp32 | fp16 | bf16 [auto]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_build_dataset)
    return p
