"""Training data from the procedural scenes: (caption, RGB panorama, 16-bit depth) triples.

``depthfusion dataset OUT --count N`` renders N procedural panoramas (presets in turn, seeds
counting up) with their captions — generated from the scene parameters ("360 view of a red
room with a checkered floor, a blue sphere and ...") — in the folder layout ldm3d's dataset
reader takes:

    OUT/room_000000.png         RGB, 8-bit
    OUT/room_000000_depth.png   normalised disparity, 16-bit, 65535 nearest (per image, as DPT)
    OUT/room_000000.txt         caption
    OUT/manifest.csv            image, depth, caption, preset, seed (one row per item)

Each item is written atomically and an existing one is kept, so an interrupted run resumes
where it stopped; the manifest is rewritten at the end (atomically) from all items.

``holdout`` keeps a fraction of the caption grammar's *combinations* (room: wall colour,
floor style and first object's colour; hall: wall, pillar and floor colours; courtyard:
facade colours and sky) out of the data, chosen by a stable hash of the combination, so
a model trained on it can be tested on prompts it never saw (``depthfusion.prompt_following``).
"""

from __future__ import annotations

import csv
import io
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ldm3d_core import limits

from ..atomic import atomic_path, check_replaceable, ensure_writable_dir
from ..errors import InputError
from ..rgbd.io import write_depth16, write_rgb
from .procedural import PRESETS, build_scene, generate_panorama

log = logging.getLogger("depthfusion")

MANIFEST = "manifest.csv"
#: The most panoramas one run writes (a typo such as --count 10000000000 must not start).
MAX_COUNT = 1_000_000


@dataclass(frozen=True)
class DatasetItem:
    """One triple of the dataset (paths relative to the dataset folder)."""

    image: str
    depth: str
    caption: str
    preset: str
    seed: int


def combination(params: dict) -> str:
    """The caption grammar's combination a procedural scene shows (see the module docstring)."""
    preset = params["preset"]
    if preset == "room":
        objects = params.get("objects") or [{"colour": "none"}]
        return f"room/{params['wall_colour']}/{params['floor_style']}/{objects[0]['colour']}"
    if preset == "pillars":
        return f"pillars/{params['wall_colour']}/{params['pillar_colour']}/" + "+".join(
            params["floor_colours"]
        )
    if preset == "courtyard":
        facades = "+".join(sorted(set(params["building_colours"])))
        return f"courtyard/{facades}/{params['sky']}"
    raise ValueError(f"no caption combination defined for preset {preset!r}")


def is_held_out(params: dict, fraction: float) -> bool:
    """Whether the scene's combination falls in the held-out ``fraction`` (a stable hash)."""
    return zlib.crc32(combination(params).encode()) / 2**32 < fraction


def plan_items(
    count: int, presets: Sequence[str] = PRESETS, first_seed: int = 0, holdout: float = 0.0
) -> list[tuple[str, int]]:
    """(preset, seed) of each item: the presets in turn, each with seeds counting up
    (skipping seeds whose combination is held out)."""
    unknown = [p for p in presets if p not in PRESETS]
    if unknown or not presets:
        raise InputError(
            f"--presets: unknown preset(s) {', '.join(unknown) or '(none given)'}; "
            f"valid: {', '.join(PRESETS)}"
        )
    if not 0.0 <= holdout < 1.0:
        raise InputError(f"--holdout: must be in [0, 1), got {holdout}")
    seeds = dict.fromkeys(presets, first_seed)
    plan = []
    for i in range(count):
        preset = presets[i % len(presets)]
        while holdout > 0 and is_held_out(build_scene(preset, seeds[preset]).params, holdout):
            seeds[preset] += 1
        plan.append((preset, seeds[preset]))
        seeds[preset] += 1
    return plan


def write_dataset(
    out_dir: str | Path,
    count: int,
    *,
    width: int = 256,
    supersample: int = 2,
    presets: Sequence[str] = PRESETS,
    first_seed: int = 0,
    holdout: float = 0.0,
    quiet: bool = False,
) -> list[DatasetItem]:
    """Render ``count`` captioned RGBD panoramas into ``out_dir`` (see the module docstring)."""
    from ..console import progress

    if count < 1:
        raise InputError(f"--count: must be at least 1, got {count}")
    if count > MAX_COUNT:
        raise InputError(f"--count: at most {MAX_COUNT} panoramas a run, got {count}")
    if width < 8 or width % 2:
        raise InputError(f"--width: must be an even number >= 8, got {width}")
    try:
        limits.check_pixels(width, width // 2, f"--width {width}")
    except limits.LimitError as exc:
        raise InputError(str(exc)) from None
    out = Path(out_dir)
    ensure_writable_dir(out / MANIFEST)
    plan = plan_items(count, presets, first_seed, holdout)
    # Before any work: every file this run may write is absent, or the project's own.
    check_replaceable(out / MANIFEST)
    for preset, seed in plan:
        names = _item_names(preset, seed)
        if not all((out / n).exists() for n in names):
            for name in names:
                check_replaceable(out / name)
    items: list[DatasetItem] = []
    made = 0
    with progress(len(plan), "dataset", quiet=quiet, unit="pano") as bar:
        for preset, seed in plan:
            made += _write_item(out, preset, seed, width, supersample, items)
            bar.update()
    write_manifest(out / MANIFEST, items)
    log.info("dataset: %d items (%d new) in %s", len(items), made, out)
    return items


def _item_names(preset: str, seed: int) -> tuple[str, str, str]:
    """An item's image, depth and caption file names."""
    stem = f"{preset}_{seed:06d}"
    return f"{stem}.png", f"{stem}_depth.png", f"{stem}.txt"


def _write_item(
    out: Path, preset: str, seed: int, width: int, supersample: int, items: list[DatasetItem]
) -> int:
    """Write one item unless it is complete already; append it to ``items``; 1 if written."""
    image, depth, caption = _item_names(preset, seed)
    caption_path = out / caption
    done = all((out / name).exists() for name in (image, depth, caption_path.name))
    if not done:
        scene = build_scene(preset, seed)
        pano = generate_panorama(scene, width=width, supersample=supersample)
        write_rgb(out / image, pano.rgb)
        write_depth16(out / depth, pano.depth)
        with atomic_path(caption_path) as tmp:  # last: its presence marks the item complete
            tmp.write_text(scene.caption + "\n", encoding="utf-8")
    caption = caption_path.read_text(encoding="utf-8").strip()
    items.append(DatasetItem(image, depth, caption, preset, seed))
    return 0 if done else 1


def write_manifest(path: Path, items: Sequence[DatasetItem]) -> None:
    """The CSV manifest (image, depth, caption, preset, seed), written atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["image", "depth", "caption", "preset", "seed"])
    for it in items:
        writer.writerow([it.image, it.depth, it.caption, it.preset, it.seed])
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
