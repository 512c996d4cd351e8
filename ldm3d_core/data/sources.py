"""Where training triples (caption, RGB image, depth map) come from, and how files are read.

Two layouts are understood (paths in a manifest are relative to the manifest's folder, or
absolute):

**Folder with sidecars** (``ldm3d build-dataset`` and ``depthfusion dataset`` write this)::

    root/name.jpg              RGB image (.jpg .jpeg .png .webp .bmp .tif .tiff), any subfolder
    root/name.txt              caption (UTF-8; missing -> empty caption, i.e. unconditional)
    root/name_depth.png        depth beside the image, or
    root/depth/name.png        depth in a depth/ subfolder mirroring the image's path

**Manifest**: a CSV file (or a folder holding ``manifest.csv``) with the columns ``image``,
``depth`` and ``caption``; other columns are ignored. A ``.parquet`` manifest works when
pandas (with pyarrow) is installed.

Depth files hold normalised disparity (1.0 nearest): a 16-bit grayscale PNG (65535
nearest), an 8-bit grayscale image, LDM3D's packed RGB-like PNG (0, hi, lo), or a ``.npy``
of floats in [0, 1] (see :func:`ldm3d_core.pipelines.img2img.depth_to_float`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Extensions taken as RGB images in a folder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: The manifest a dataset folder may hold (and ``ldm3d build-dataset`` writes).
MANIFEST = "manifest.csv"
#: Subfolder of a dataset folder that may hold the depth maps.
DEPTH_DIR = "depth"
#: Suffixes of files that are not RGB images: depth maps and their colour previews.
_NOT_IMAGE_SUFFIXES = ("_depth", "_depth_preview", "_preview")
MANIFEST_COLUMNS = ("image", "depth", "caption")


@dataclass(frozen=True)
class Sample:
    """One (caption, RGB, depth) triple on disk; ``depth`` is None when none was found."""

    image: Path
    depth: Path | None
    caption: str


def is_image_file(path: Path) -> bool:
    """An RGB image by its name: a known extension, and not a depth map or preview."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.stem.endswith(_NOT_IMAGE_SUFFIXES)


def list_images(root: Path) -> list[Path]:
    """Every RGB image under ``root`` (recursive, sorted), skipping ``root/depth/`` and hidden
    files (temporary files of interrupted writes start with a dot)."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == DEPTH_DIR or any(p.startswith(".") for p in rel.parts):
            continue
        if path.is_file() and is_image_file(path):
            out.append(path)
    return out


def read_caption(image: Path) -> str:
    """The caption sidecar ``name.txt`` of ``name.jpg`` (stripped), or "" when there is none."""
    path = image.with_suffix(".txt")
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def find_depth(root: Path, image: Path) -> Path | None:
    """The depth map of ``image``: ``name_depth.png`` beside it, else ``root/depth/<rel>.png``
    (also ``.npy``; and ``name_depth.png`` for ``ldm3d generate``'s ``name_rgb.png``); None
    when there is none."""
    rel = image.relative_to(root).with_suffix("")
    generated = image.stem.removesuffix("_rgb") if image.stem.endswith("_rgb") else None
    for candidate in (
        *([image.with_name(f"{generated}_depth.png")] if generated else []),
        image.with_name(f"{image.stem}_depth.png"),
        image.with_name(f"{image.stem}_depth.npy"),
        root / DEPTH_DIR / rel.with_suffix(".png"),
        root / DEPTH_DIR / rel.with_suffix(".npy"),
    ):
        if candidate.is_file():
            return candidate
    return None


def _read_table(path: Path) -> list[dict[str, str]]:
    if path.suffix.lower() == ".parquet":
        try:
            import pandas as pd
        except ImportError:
            raise ValueError(
                f"{path}: reading Parquet manifests needs pandas and pyarrow "
                "(pip install pandas pyarrow), or give a CSV manifest"
            ) from None
        frame = pd.read_parquet(path)
        return [
            {k: "" if v is None or v != v else str(v) for k, v in row.items()}
            for row in frame.to_dict("records")
        ]
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_manifest(path: Path) -> list[Sample]:
    """The samples a CSV/Parquet manifest lists (paths resolved against its folder)."""
    rows = _read_table(path)
    if rows:
        missing = [c for c in ("image", "depth") if c not in rows[0]]
        if missing:
            raise ValueError(
                f"{path}: manifest lacks the column(s) {', '.join(missing)} "
                f"(expected {', '.join(MANIFEST_COLUMNS)})"
            )
    base = path.parent
    samples = []
    for row in rows:
        depth = (row.get("depth") or "").strip()
        samples.append(
            Sample(
                image=base / (row.get("image") or "").strip(),
                depth=base / depth if depth else None,
                caption=(row.get("caption") or "").strip(),
            )
        )
    return samples


def iter_samples(source: str | os.PathLike[str]) -> Iterator[Sample]:
    """The samples of a dataset source: a manifest file, a folder with ``manifest.csv``, or
    a folder in the sidecar layout (see the module docstring). A manifest must be a regular
    file (``ldm3d_core.inputs.InputError`` for a FIFO or device: it would block or never end).
    """
    from ..inputs import input_file

    src = Path(source)
    if src.is_file():
        yield from read_manifest(src)
    elif src.is_dir() and os.path.lexists(src / MANIFEST):
        yield from read_manifest(input_file(src / MANIFEST, "manifest"))
    elif os.path.exists(src) and not src.is_dir():
        input_file(src, "dataset source")  # a FIFO, device or socket: one line, not read
    elif src.is_dir():
        for image in list_images(src):
            yield Sample(image, find_depth(src, image), read_caption(image))
    else:
        raise FileNotFoundError(f"{src}: dataset source not found")


def write_manifest(path: Path, samples: list[Sample]) -> None:
    """Write a CSV manifest (image, depth, caption; paths relative to its folder) atomically."""
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(MANIFEST_COLUMNS)
    for s in samples:
        writer.writerow(
            [
                os.path.relpath(s.image, path.parent),
                os.path.relpath(s.depth, path.parent) if s.depth else "",
                s.caption,
            ]
        )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# -- reading files ------------------------------------------------------------------------

_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as :func:`read_rgb` returns it, from its header only
    (``ldm3d_core.inputs.InputError`` for a FIFO or device, or above the pixel limit)."""
    from ..inputs import open_image

    with open_image(path) as im:
        w, h = im.size
        if im.getexif().get(0x0112) in _TRANSPOSING_ORIENTATIONS:
            w, h = h, w
    return w, h


def depth_size(path: Path) -> tuple[int, int]:
    """(width, height) of a depth file, from its header only (checked as :func:`image_size`)."""
    from ..inputs import npy_shape, open_image

    if path.suffix.lower() == ".npy":
        shape = npy_shape(path)
        if len(shape) != 2:
            raise ValueError(f"depth .npy must be (H, W), got shape {shape}")
        return shape[1], shape[0]
    with open_image(path, "depth file") as im:
        return im.size


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, upright (the depth package's reader)."""
    from ..depth.io import read_image_rgb

    return read_image_rgb(path)


def read_depth(path: Path) -> np.ndarray:
    """(H, W) float32 normalised disparity in [0, 1], 1.0 nearest, from any depth file."""
    from ..inputs import npy_shape, open_image
    from ..pipelines.img2img import depth_to_float

    if path.suffix.lower() == ".npy":
        npy_shape(path)  # a regular file within the pixel limit, before loading it
        d = np.load(path)
        if np.issubdtype(d.dtype, np.floating):
            d = d.astype(np.float32)
    else:
        with open_image(path, "depth file") as im:
            d = np.asarray(im)
        if d.dtype == np.int32 and d.ndim == 2 and d.min() >= 0 and d.max() <= 65535:
            d = d.astype(np.uint16)  # some 16-bit PNGs open in PIL's 32-bit "I" mode
    return depth_to_float(d)
