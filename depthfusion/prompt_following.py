"""Does a text-to-RGBD panorama model follow the procedural caption grammar?

The embedded model is trained on ``depthfusion dataset --holdout F`` data, which leaves out
a fraction of the grammar's combinations (see :mod:`depthfusion.dataset`). Here the model
generates a panorama for the captions of held-out scenes, and two things are measured
against the procedural scene the caption came from:

- **colour**: the colour the caption names for what fills the view — a room's or hall's
  walls (their palette name: the commonest palette colour, after shading is divided out,
  in the band ±25° about the horizon), a courtyard's sky (clear, sunset or overcast: the
  kind most pixels above 20° elevation are nearest to) — must be the one found in the
  generated image;
- **depth**: Spearman's rank correlation between the generated depth and the scene's
  true depth, pixel by pixel.

The same measurements on the true panoramas give the metric's own ceiling (``--truth``).
``python -m depthfusion.prompt_following MODEL -n 50 -o report.md`` writes the table of
the model card.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rgbd.panorama import RGBDPanorama
from .sources.dataset import is_held_out
from .sources.procedural import (
    PALETTE,
    PRESETS,
    SKIES,
    ProceduralScene,
    build_scene,
    generate_panorama,
)

#: Colours a room's / hall's walls can have (the generator's choices).
WALL_COLOURS: dict[str, tuple[str, ...]] = {
    "room": ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink")
    + ("white", "beige", "grey"),
    "pillars": ("white", "beige", "grey", "yellow", "pink"),
}
# Latitude bands (degrees) measured: the walls about the horizon, the sky overhead.
_WALL_BAND, _SKY_FROM = 25.0, 20.0
#: The band below the horizon where the first named object's colour is looked for
#: (objects stand on the floor; the floor right below is left out), and the share of its
#: pixels that colour must have to count as found.
OBJECT_BAND, OBJECT_MIN_SHARE = 60.0, 0.01


@dataclass(frozen=True)
class PromptResult:
    """One held-out caption: what it names, what the generated panorama shows."""

    caption: str
    preset: str
    seed: int
    named: str
    found: str
    spearman: float
    object_colour: str | None = None
    """the first named object's colour (None: the caption names none)"""
    object_share: float = 0.0
    """its share of the pixels below the horizon"""

    @property
    def match(self) -> bool:
        return self.named == self.found

    @property
    def object_found(self) -> bool | None:
        """Whether the first named object's colour is found below the horizon."""
        if self.object_colour is None:
            return None
        return self.object_share >= OBJECT_MIN_SHARE


def heldout_scenes(
    count: int, fraction: float = 0.1, first_seed: int = 100_000, presets: Sequence[str] = PRESETS
) -> list[ProceduralScene]:
    """``count`` scenes whose combinations a dataset with ``--holdout fraction`` left out
    (presets in turn, seeds counting up from ``first_seed``: past the training seeds)."""
    scenes: list[ProceduralScene] = []
    seeds = dict.fromkeys(presets, first_seed)
    while len(scenes) < count:
        preset = presets[len(scenes) % len(presets)]
        while not is_held_out((scene := build_scene(preset, seeds[preset])).params, fraction):
            seeds[preset] += 1
        seeds[preset] += 1
        scenes.append(scene)
    return scenes


def named_colour(scene: ProceduralScene) -> str:
    """The colour word the caption uses for the walls (room, hall) or the sky (courtyard)."""
    p = scene.params
    return str(p["sky"] if scene.preset == "courtyard" else p["wall_colour"])


def _band(rgb: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Pixels (N, 3) float in [0, 1] between latitudes ``lo`` and ``hi`` (degrees)."""
    h = rgb.shape[0]
    lat = 90.0 - (np.arange(h) + 0.5) / h * 180.0
    rows = (lat >= lo) & (lat <= hi)
    return rgb[rows].reshape(-1, 3).astype(np.float64) / 255.0


def dominant_colour(rgb: np.ndarray, preset: str) -> str:
    """The colour the panorama shows where its caption names one (see the module doc)."""
    if preset == "courtyard":
        # Each sky pixel votes for the kind whose gradient colour at its elevation is
        # nearest (the dome's mix of horizon and zenith colour by sqrt(sin elevation)).
        h = rgb.shape[0]
        lat = 90.0 - (np.arange(h) + 0.5) / h * 180.0
        rows = lat >= _SKY_FROM
        px = rgb[rows].astype(np.float64) / 255.0
        t = np.sqrt(np.sin(np.radians(lat[rows])))[:, None, None]
        kinds = list(SKIES)
        dist = [
            np.sum((px - (np.array(hz) + (np.array(zn) - np.array(hz)) * t)) ** 2, axis=-1)
            for hz, zn in (SKIES[k] for k in kinds)
        ]
        votes = np.bincount(np.argmin(np.stack(dist), axis=0).ravel(), minlength=len(kinds))
        return kinds[int(np.argmax(votes))]
    names = list(PALETTE)
    votes = _palette_votes(_band(rgb, -_WALL_BAND, _WALL_BAND))
    # Every pixel votes for its nearest palette colour; the commonest wall colour wins
    # (pillars, doors and objects vote for colours walls never have, or lose on count).
    walls = [i for i, n in enumerate(names) if n in WALL_COLOURS[preset]]
    return names[max(walls, key=lambda i: votes[i])]


def _palette_votes(px: np.ndarray) -> np.ndarray:
    """How many of the pixels ``px`` (N, 3) in [0, 1] are nearest to each PALETTE colour.

    Shading scales albedo by about 0.78..1.0: chromaticity (the unit RGB direction) and log
    brightness are compared separately, brightness with a tolerant weight."""
    pal = np.array([PALETTE[n] for n in PALETTE])
    pc, pb = _chroma_brightness(pal)
    xc, xb = _chroma_brightness(px)
    d = (
        np.sum((xc[:, None, :] - pc[None]) ** 2, axis=-1)
        + 0.05 * (np.log(np.maximum(xb, 1e-3))[:, None] - np.log(0.85 * pb)[None]) ** 2
    )
    return np.bincount(np.argmin(d, axis=1), minlength=len(pal))


def named_object(scene: ProceduralScene) -> tuple[str, str] | None:
    """(what, colour) of the first object the caption names: a room's first object ("an
    orange box"), a hall's pillars, a courtyard's first-named buildings; None when the
    caption names no coloured object."""
    p = scene.params
    if scene.preset == "room":
        objects = p.get("objects") or []
        return (str(objects[0]["kind"]), str(objects[0]["colour"])) if objects else None
    if scene.preset == "pillars":
        return "pillars", str(p["pillar_colour"])
    if scene.preset == "courtyard":
        words = scene.caption.split(" with ", 1)[-1].replace(",", " ").split()
        first = next((w for w in words if w in PALETTE), None)
        return ("buildings", first) if first else None
    return None


def object_colour_share(rgb: np.ndarray, colour: str) -> float:
    """Fraction of the pixels below the horizon (down to -:data:`OBJECT_BAND` degrees) whose
    nearest palette colour is ``colour``."""
    votes = _palette_votes(_band(rgb, -OBJECT_BAND, 0.0))
    return float(votes[list(PALETTE).index(colour)] / max(1, votes.sum()))


def _chroma_brightness(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.linalg.norm(c, axis=-1, keepdims=True)
    return c / np.maximum(norm, 1e-6), norm[..., 0]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equal-size arrays (ties broken by order)."""
    ra = np.empty(a.size)
    rb = np.empty(b.size)
    ra[np.argsort(a.ravel(), kind="stable")] = np.arange(a.size)
    rb[np.argsort(b.ravel(), kind="stable")] = np.arange(b.size)
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class ImageQuality:
    """What the eye sees of an RGB panorama at its size (grey levels, 8-bit luma/chroma).

    sharpness: 99th percentile of |horizontal luma step| (edges exist and are crisp);
    blotches: the larger of the Cr and Cb channels' median |G(4 px) - G(16 px)| (colour
    patches at a latent's scale, where nothing in the scene is); noise: the luma's finest
    diagonal Haar band, median |HH| / 0.6745 (a robust sigma of pixel-scale noise).
    """

    sharpness: float
    blotches: float
    noise: float


def image_quality(rgb: np.ndarray) -> ImageQuality:
    """:class:`ImageQuality` of an (H, W, 3) uint8 RGB image (OpenCV's YCrCb, BT.601)."""
    import cv2

    ycc = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb).astype(np.float64)
    y = ycc[..., 0]
    sharp = float(np.percentile(np.abs(np.diff(y, axis=1)), 99))
    blot = max(
        float(
            np.median(np.abs(cv2.GaussianBlur(c, (0, 0), 4.0) - cv2.GaussianBlur(c, (0, 0), 16.0)))
        )
        for c in (ycc[..., 1], ycc[..., 2])
    )
    h, w = y.shape
    q = y[: h // 2 * 2, : w // 2 * 2]
    hh = (q[0::2, 0::2] - q[0::2, 1::2] - q[1::2, 0::2] + q[1::2, 1::2]) / 2.0
    return ImageQuality(sharp, blot, float(np.median(np.abs(hh)) / 0.6745))


Generator = Callable[[ProceduralScene, int], tuple[np.ndarray, np.ndarray]]
"""scene, seed -> (RGB (H, W, 3) uint8, depth (H, W) normalised disparity); a model sees
only ``scene.caption``"""


def evaluate(
    generate: Generator, scenes: Sequence[ProceduralScene], seed: int = 0
) -> list[PromptResult]:
    """Generate each scene's caption and measure colour and depth against the scene."""
    results = []
    for i, scene in enumerate(scenes):
        rgb, depth = generate(scene, seed + i)
        truth = true_panorama(scene.preset, scene.seed, depth.shape[1])
        found = dominant_colour(rgb, scene.preset)
        rho = spearman(depth, truth.depth)
        obj = named_object(scene)
        share = object_colour_share(rgb, obj[1]) if obj else 0.0
        results.append(
            PromptResult(
                scene.caption,
                scene.preset,
                scene.seed,
                named_colour(scene),
                found,
                rho,
                obj[1] if obj else None,
                share,
            )  # fmt: skip
        )
    return results


@functools.lru_cache(maxsize=8)
def true_panorama(preset: str, seed: int, width: int) -> RGBDPanorama:
    """A held-out scene's ray-cast panorama (cached: the truth generator and the
    comparison ask for the same one)."""
    return generate_panorama(build_scene(preset, seed), width=width, supersample=2)


def truth_generator(width: int = 256) -> Generator:
    """The procedural scene itself: the metric's ceiling."""

    def generate(scene: ProceduralScene, seed: int) -> tuple[np.ndarray, np.ndarray]:
        pano = true_panorama(scene.preset, scene.seed, width)
        return pano.rgb, pano.depth

    return generate


def model_generator(
    model: str, steps: int = 25, guidance: float = 5.0, width: int | None = None
) -> Generator:
    """An LDM3D model (folder or hub id) through the panorama pipeline."""
    from ldm3d_core import load_pipeline

    pipe = load_pipeline(model)

    def generate(scene: ProceduralScene, seed: int) -> tuple[np.ndarray, np.ndarray]:
        kw = {"width": width, "height": width // 2} if width else {}
        out = pipe.txt2rgbd(
            scene.caption,
            seed=seed,
            num_inference_steps=steps,
            guidance_scale=guidance,
            panorama=True,
            **kw,
        )
        return out.rgb[0], out.depth[0]

    return generate


def summary(results: Sequence[PromptResult]) -> dict[str, float]:
    """Colour match rate and mean Spearman ρ, overall and per preset."""
    objects = [r.object_found for r in results if r.object_found is not None]
    out: dict[str, float] = {
        "colour_match": float(np.mean([r.match for r in results])),
        "spearman": float(np.mean([r.spearman for r in results])),
        "object_found": float(np.mean(objects)) if objects else float("nan"),
    }
    for preset in sorted({r.preset for r in results}):
        rs = [r for r in results if r.preset == preset]
        out[f"{preset}_colour_match"] = float(np.mean([r.match for r in rs]))
        out[f"{preset}_spearman"] = float(np.mean([r.spearman for r in rs]))
        objs = [r.object_found for r in rs if r.object_found is not None]
        out[f"{preset}_object_found"] = float(np.mean(objs)) if objs else float("nan")
    return out


def report(results: Sequence[PromptResult], title: str) -> str:
    """Markdown: the summary, then one row per caption."""
    s = summary(results)
    lines = [
        f"### {title}",
        "",
        f"{len(results)} held-out captions: colour named = colour found in "
        f"{s['colour_match']:.0%}; mean Spearman ρ (depth) {s['spearman']:.2f}; first named "
        f"object's colour found below the horizon in {s['object_found']:.0%}.",
        "",
        "| preset | colour match | mean ρ | object colour found |",
        "| --- | --- | --- | --- |",
    ]
    for preset in sorted({r.preset for r in results}):
        lines.append(
            f"| {preset} | {s[f'{preset}_colour_match']:.0%} | {s[f'{preset}_spearman']:.2f} "
            f"| {s[f'{preset}_object_found']:.0%} |"
        )
    lines += [
        "",
        "| caption | named | found | ρ | object colour (share below the horizon) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        obj = "—" if r.object_colour is None else f"{r.object_colour} ({r.object_share:.1%})"
        lines.append(f"| {r.caption} | {r.named} | {r.found} | {r.spearman:.2f} | {obj} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m depthfusion.prompt_following",
        description="prompt following of a text-to-RGBD panorama model on held-out captions",
    )
    ap.add_argument("model", help="model folder or hub id; 'truth' measures the scenes themselves")
    ap.add_argument("-n", "--count", type=int, default=50, help="held-out captions [50]")
    ap.add_argument("--holdout", type=float, default=0.1, help="the dataset's --holdout [0.1]")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, help="write the Markdown report here")
    args = ap.parse_args(argv)
    scenes = heldout_scenes(args.count, args.holdout)
    if args.model == "truth":
        generate = truth_generator()
    else:
        generate = model_generator(args.model, args.steps, args.guidance)
    results = evaluate(generate, scenes, args.seed)
    text = report(results, f"{args.model}: {args.steps} steps, guidance {args.guidance}")
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
