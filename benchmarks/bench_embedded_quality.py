"""How sharp and clean the embedded chain's panorama looks at 1024x512 (issue 26's measures).

The demo's caption at seeds 0-5 and held-out captions through the embedded model
(``source.model: embedded``, the demo's 25 steps and guidance 4), each panorama brought to
1024x512 as the chain shows it (bilinear, as the renderers sample the texture), against the
true procedural panoramas of the same family rendered at 1024x512:
:func:`depthfusion.prompt_following.image_quality` (sharpness, colour blotches, pixel noise;
grey levels, medians over the images).

    python benchmarks/bench_embedded_quality.py [--heldout 6]

Floors (issue 26): sharpness >= 20, blotches <= 1.0, noise <= 1.0.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from depthfusion.prompt_following import heldout_scenes, image_quality, true_panorama

DEMO = "360 view of a teal room with a wooden floor, a yellow sphere and a red box"
SIZE = (1024, 512)


def _row(name: str, images: list[np.ndarray]) -> str:
    qs = [image_quality(im) for im in images]
    med = [statistics.median(getattr(q, k) for q in qs) for k in ("sharpness", "blotches", "noise")]
    return f"| {name} | {len(images)} | {med[0]:.1f} | {med[1]:.2f} | {med[2]:.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heldout", type=int, default=6, help="held-out captions")
    args = ap.parse_args()
    from depthfusion.sources.ldm3d import resolve_model_name
    from ldm3d_core import load_pipeline

    pipe = load_pipeline(resolve_model_name("embedded"), progress=False)

    def generate(caption: str, seed: int) -> np.ndarray:
        out = pipe.txt2rgbd(
            caption, seed=seed, num_inference_steps=25, guidance_scale=4.0, panorama=True
        )
        return out.rgb[0]

    t = time.perf_counter()
    demo = [generate(DEMO, s) for s in range(6)]
    scenes = heldout_scenes(args.heldout)
    held = [generate(sc.caption, 1000 + i) for i, sc in enumerate(scenes)]
    native = f"{demo[0].shape[1]}x{demo[0].shape[0]}"
    print(
        f"generated {len(demo) + len(held)} panoramas ({native}) in {time.perf_counter() - t:.0f} s"
    )
    up = [cv2.resize(im, SIZE, interpolation=cv2.INTER_LINEAR) for im in demo + held]
    truth = [true_panorama(sc.preset, sc.seed, SIZE[0]).rgb for sc in scenes]
    print("| at 1024x512 | images | sharpness | blotches | noise |")
    print("| --- | --- | --- | --- | --- |")
    print(_row(f"embedded, demo caption, seeds 0-5 ({native} magnified)", up[:6]))
    print(_row(f"embedded, held-out captions ({native} magnified)", up[6:]))
    print(_row("truth: the held-out scenes, rendered at 1024x512", truth))
    print("| floors (issue 26) | | >= 20 | <= 1.0 | <= 1.0 |")


if __name__ == "__main__":
    main()
