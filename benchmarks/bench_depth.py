"""Panorama depth speed: model evaluations and seconds per panorama with a full-size DPT-Large.

The model has DPT-Large's architecture (ViT-L/16 backbone, 24 layers, hidden size 1024,
384 x 384 input, the ``Intel/dpt-large`` config) with random weights: the time is the real
one, the depth is noise. (``DPTConfig()``'s own defaults are a ViT-Base-sized DPT, so the
config is spelled out here.) Nothing is downloaded.

    python benchmarks/bench_depth.py [--sizes 1024 2048] [--views 6] [--batch-size 4]

Prints, per panorama size: model evaluations, seconds in each stage (project to views,
model, align + blend) and in total, and the machine's load average before and after (the
dev box is shared: compare runs only at similar load).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

# ViT-L/16 DPT as in Intel/dpt-large's config.json.
DPT_LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    backbone_out_indices=[5, 11, 17, 23],
    neck_hidden_sizes=[256, 512, 1024, 1024],
    fusion_hidden_size=256,
    image_size=384,
    patch_size=16,
    reassemble_factors=[4, 2, 1, 0.5],
    readout_type="project",
    use_auxiliary_head=False,  # the depth head alone, as DPTForDepthEstimation runs it
)


def build_estimator(device: str, batch_size: int):
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation
    from transformers.models.dpt import DPTImageProcessorPil

    from ldm3d_core.depth import DepthEstimator
    from ldm3d_core.devices import resolve_device

    torch.manual_seed(0)
    model = DPTForDepthEstimation(DPTConfig(**DPT_LARGE)).eval().to(resolve_device(device))
    processor = DPTImageProcessorPil(
        size={"height": 384, "width": 384},
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
        keep_aspect_ratio=False,
    )
    return DepthEstimator(model, processor, "random-dpt-large", batch_size=batch_size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="panorama widths")
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    import torch

    from ldm3d_core.depth.panorama import merge_views, panorama_views, render_views

    load_before = os.getloadavg()
    t = time.perf_counter()
    est = build_estimator(args.device, args.batch_size)
    params = sum(p.numel() for p in est.model.parameters()) / 1e6
    print(
        f"model: random DPT-Large, {params:.0f} M parameters, built in "
        f"{time.perf_counter() - t:.1f} s on {est.device} ({torch.get_num_threads()} threads)"
    )
    rng = np.random.default_rng(0)
    header = f"{'panorama':>10} {'views':>5} {'view px':>7} {'evals':>5} {'project':>8} {'model':>8} {'per eval':>8} {'merge':>7} {'total':>8}"
    print(header)
    for width in args.sizes:
        height = width // 2
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        views = panorama_views(args.views, width)
        before = est.evaluations
        t0 = time.perf_counter()
        images = render_views(rgb, views)
        t1 = time.perf_counter()
        predictions = est(images)
        t2 = time.perf_counter()
        merge_views(predictions, views, height, width)
        t3 = time.perf_counter()
        evals = est.evaluations - before
        print(
            f"{width}x{height:<5} {len(views):>5} {views[0].size:>7} {evals:>5} {t1 - t0:>7.1f}s "
            f"{t2 - t1:>7.1f}s {(t2 - t1) / evals:>7.2f}s {t3 - t2:>6.1f}s {t3 - t0:>7.1f}s"
        )
    load_after = os.getloadavg()
    print(
        f"load average (1/5/15 min) before: {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after: {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}"
        f" on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
