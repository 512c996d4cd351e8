"""Speed and peak memory of LDM3D-VR super-resolution, 1024x512 -> 4096x2048 (tiled).

The model has Intel/ldm3d-sr's shapes with random weights: an SD-1.x UNet with
``in_channels = 8`` and noise-level class embeddings, the SD VAE with 4 RGBD channels, a
CLIP-L text encoder (tiny tokenizer: same cost). The target runs in tiles of ``--tile``
pixels (default 1024: 128x128 latents, a quarter of overlap): 3 x 6 = 18 tiles round the
panorama for the UNet and for each VAE pass.

    python benchmarks/bench_upscale.py                 # one tile of each kind, extrapolated
    python benchmarks/bench_upscale.py --full --steps 50 --device cuda --dtype fp16

``--full`` runs the whole pipeline (what a user runs); without it, one UNet call on one tile
(batch 2: classifier-free guidance), one VAE encode and one VAE decode of one tile are timed
(after a warm-up call each) and the per-step and per-image times are the tile counts times
those. Peak memory: the process's peak RSS on the CPU, ``torch.cuda.max_memory_allocated``
on a GPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ldm3d import CLIP_L_TEXT, SD1_UNET, SD1_VAE  # noqa: E402


def build(device: str, dtype: torch.dtype):
    import tempfile

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from ldm3d_core.loading import prepare_modules
    from ldm3d_core.pipelines.upscale import LDM3DUpscalePipeline, UpscaleComponents
    from ldm3d_core.tiny import SCHEDULER_CONFIG, tiny_vocab, write_tiny_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**{**SD1_UNET, "in_channels": 8, "num_class_embeds": 1000})
    vae = AutoencoderKL(in_channels=4, out_channels=4, **SD1_VAE)
    vocab, _ = tiny_vocab()
    text = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
            **CLIP_L_TEXT,
        )
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(write_tiny_tokenizer(tmp))
    parts = UpscaleComponents(
        unet=unet.to(dtype), vae=vae.to(dtype), text_encoder=text.to(dtype), tokenizer=tokenizer,
        scheduler_config=dict(SCHEDULER_CONFIG), name="ldm3d-sr-shaped (random)",
    )  # fmt: skip
    prepare_modules(parts, device)
    return LDM3DUpscalePipeline(parts, progress=True)


def peak_memory_gib(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed(fn, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "fp16", "bf16"))
    ap.add_argument("--size", default="1024x512", help="input WxH (the target is 4x)")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--full", action="store_true", help="run the whole pipeline")
    args = ap.parse_args()
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    w, h = (int(v) for v in args.size.split("x"))
    W, H = 4 * w, 4 * h

    from ldm3d_core.pipelines.upscale import TILE_OVERLAP
    from ldm3d_core.tiling import plan_tiles

    pipe = build(args.device, dtype)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {os.cpu_count()} cores"
    tl = args.tile // 8
    tiles = plan_tiles(H // 8, W // 8, tl, round(tl * TILE_OVERLAP), wrap_x=True)
    print(f"{name}; {args.dtype}; {w}x{h} -> {W}x{H}; tile {args.tile} px: {tiles.count} tiles")
    print(f"load avg {os.getloadavg()[0]:.2f}")

    if args.full:
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        depth = rng.integers(0, 65536, (h, w), dtype=np.uint16)
        steps: list[float] = []
        t_last = [time.perf_counter()]

        def on_step(i, t, z):
            now = time.perf_counter()
            steps.append(now - t_last[0])
            t_last[0] = now

        total = timed(
            lambda: pipe(rgb, depth, "360 view of a room", scale=4, num_inference_steps=args.steps,
                         seed=0, panorama=True, tile=args.tile, callback=on_step),
            args.device,
        )  # fmt: skip
        print(f"per step {np.median(steps[1:] or steps):.2f} s; per image {total:.1f} s "
              f"({args.steps} steps); peak memory {peak_memory_gib(args.device):.2f} GiB")  # fmt: skip
        return

    dev = pipe.unet.device
    g = torch.Generator("cpu").manual_seed(0)
    z = torch.randn((2, 8, tl, tl), generator=g).to(dev, dtype)
    emb = torch.randn((2, 77, 768), generator=g).to(dev, dtype)
    levels = torch.full((2,), 20, device=dev)
    img = torch.rand((1, 4, args.tile, args.tile), generator=g).to(dev, dtype) * 2 - 1
    lat = torch.randn((1, 4, tl, tl), generator=g).to(dev, dtype)
    with torch.inference_mode():
        unet = lambda: pipe.unet(z, 500, encoder_hidden_states=emb, class_labels=levels)  # noqa: E731
        enc = lambda: pipe.vae.encode(img).latent_dist.mean  # noqa: E731
        dec = lambda: pipe.vae.decode(lat)  # noqa: E731
        results = {}
        for label, fn in (("unet", unet), ("encode", enc), ("decode", dec)):
            timed(fn, args.device)  # warm-up
            results[label] = timed(fn, args.device)
            print(f"one tile: {label} {results[label]:.2f} s", flush=True)
    per_step = tiles.count * results["unet"]
    per_image = args.steps * per_step + tiles.count * (results["encode"] + results["decode"])
    print(f"per step {per_step:.1f} s ({tiles.count} tiles x {results['unet']:.2f} s); "
          f"per image {per_image:.0f} s ({args.steps} steps + VAE); "
          f"peak memory {peak_memory_gib(args.device):.2f} GiB (one tile at a time)")  # fmt: skip


if __name__ == "__main__":
    main()
