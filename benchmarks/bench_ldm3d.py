"""Speed of ldm3d_core's txt2rgbd vs. diffusers' deprecated StableDiffusionLDM3DPipeline.

Both run the same full-size SD-1.x-shaped UNet, RGBD VAE and CLIP text encoder (random
weights; the tokenizer is the tiny byte-level one, which does not change the cost) with
the same prompt, seed, size, steps, guidance and DDIM, in the same process. Prints
seconds per denoising step, VAE decode seconds and seconds per image, and our time as a
fraction of diffusers'. The machine's load average is printed too: on a shared box,
compare only numbers from one run.

    python benchmarks/bench_ldm3d.py                      # 512x512 and 1024x512, 10 steps
    python benchmarks/bench_ldm3d.py --steps 2 --sizes 512x512
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

SD1_UNET = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ],
}
SD1_VAE = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
CLIP_L_TEXT = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "max_position_embeddings": 77,
    "vocab_size": 49408,
    "hidden_act": "quick_gelu",
}


def build(channels: int):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from ldm3d_core.tiny import SCHEDULER_CONFIG, tiny_vocab, write_tiny_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD1_UNET).eval()
    vae = AutoencoderKL(in_channels=channels, out_channels=channels, **SD1_VAE).eval()
    vocab, _ = tiny_vocab()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            **CLIP_L_TEXT,
        )
    ).eval()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(write_tiny_tokenizer(tmp))
    return unet, vae, text_encoder, tokenizer, dict(SCHEDULER_CONFIG)


class StepTimer:
    def __init__(self) -> None:
        self.times: list[float] = []

    def reset(self) -> None:
        self.times = [time.perf_counter()]

    def tick(self) -> None:
        self.times.append(time.perf_counter())

    @property
    def steps(self) -> list[float]:
        return list(np.diff(self.times))


def run_ours(pipe, timer, prompt, h, w, steps, guidance, panorama=False):
    timer.reset()
    t0 = time.perf_counter()
    out = pipe(
        prompt,
        height=h,
        width=w,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(0),
        callback=lambda i, t, z: timer.tick(),
        panorama=panorama,
    )
    return time.perf_counter() - t0, out


def run_reference(ref, timer, prompt, h, w, steps, guidance):
    def on_step(p, i, t, kw):
        timer.tick()
        return {}

    timer.reset()
    t0 = time.perf_counter()
    out = ref(
        prompt,
        height=h,
        width=w,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        callback_on_step_end=on_step,
    )
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="denoising steps per image")
    ap.add_argument("--sizes", default="512x512,1024x512", help="WxH list, comma-separated")
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--channels", type=int, default=4, choices=(4, 6), help="VAE RGBD channels")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--no-reference", action="store_true", help="skip the diffusers pipeline")
    ap.add_argument("--repeat", type=int, default=1, help="runs per pipeline (order alternates)")
    ap.add_argument(
        "--wrap", action="store_true", help="also time ours with panorama wrap at 2:1 sizes"
    )
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)

    from diffusers import DDIMScheduler
    from diffusers.pipelines.deprecated.stable_diffusion_ldm3d import (
        StableDiffusionLDM3DPipeline,
    )

    from ldm3d_core.loading import prepare_modules
    from ldm3d_core.pipelines import LDM3DComponents, LDM3DTxt2RGBDPipeline

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)"
    )
    t0 = time.perf_counter()
    unet, vae, text_encoder, tokenizer, sched_cfg = build(args.channels)
    print(f"built SD-1.x-shaped random model in {time.perf_counter() - t0:.1f} s")
    components = LDM3DComponents(unet, vae, text_encoder, tokenizer, sched_cfg, name="bench")
    ours = LDM3DTxt2RGBDPipeline(components, progress=False)
    ref = StableDiffusionLDM3DPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler.from_config(sched_cfg),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    ref.set_progress_bar_config(disable=True)
    prompt = "360 view of a mountain lake at dawn"
    timer = StepTimer()

    def as_ours() -> None:  # what load_pipeline does on the CPU: NHWC VAE, fused QKV, SDPA
        prepare_modules(components, "cpu")

    def as_reference() -> None:  # diffusers' defaults: NCHW weights, unfused SDPA
        prepare_modules(components, "cpu", channels_last=False, fuse_qkv=False)

    def ref_run(h: int, w: int) -> float:
        as_reference()
        return run_reference(ref, timer, prompt, h, w, args.steps, args.guidance)[0]

    def ours_run(h: int, w: int) -> float:
        as_ours()
        return run_ours(ours, timer, prompt, h, w, args.steps, args.guidance)[0]

    def wrap_run(h: int, w: int) -> float:
        as_ours()
        return run_ours(ours, timer, prompt, h, w, args.steps, args.guidance, panorama=True)[0]

    # Warm-up (oneDNN primitive creation) for both, small and cheap.
    as_reference()
    if not args.no_reference:
        run_reference(ref, timer, prompt, 256, 256, 1, args.guidance)
    as_ours()
    run_ours(ours, timer, prompt, 256, 256, 1, args.guidance)

    rows = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        totals: dict[str, list[float]] = {}
        steps: dict[str, list[float]] = {}
        runs = [("diffusers", ref_run), ("ldm3d_core", ours_run)]
        if args.no_reference:
            runs = runs[1:]
        if args.wrap and w == 2 * h:
            runs.append(("ours+wrap", wrap_run))
        for r in range(args.repeat):
            for name, fn in runs if r % 2 == 0 else runs[::-1]:
                total = fn(h, w)
                totals.setdefault(name, []).append(total)
                steps.setdefault(name, []).append(float(np.mean(timer.steps)))
                print(
                    f"{w}x{h} {name:10s}  {steps[name][-1]:7.2f} s/step  "
                    f"{total:7.2f} s/image  (load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
        for name in totals:
            best = int(np.argmin(totals[name]))
            step, total = steps[name][best], totals[name][best]
            rows.append((f"{w}x{h}", name, step, total - args.steps * step, total))
        if "diffusers" in totals:
            ratio = min(totals["ldm3d_core"]) / min(totals["diffusers"])
            step_ratio = min(steps["ldm3d_core"]) / min(steps["diffusers"])
            print(f"{w}x{h} ours / diffusers: {ratio:.2f} per image, {step_ratio:.2f} per step")

    print("\nbest of runs:\nsize       pipeline     s/step   decode+rest   s/image")
    for size, name, step, rest, total in rows:
        print(f"{size:10s} {name:10s}  {step:8.2f}   {rest:10.2f}   {total:8.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
