"""Training speed of both LDM3D fine-tuning stages (ldm3d_core.training), in steps/s.

Default: the shipped tiny configs (``autoencoder-tiny``, ``diffusion-tiny``: ldm3d_core's
tiny random LDM3D, 32 px procedural RGBD, batch 4) on the CPU — the figure that says
whether the training loop itself adds overhead. ``--full`` builds SD-1.x-sized components
in random weights (the UNet, RGBD VAE and CLIP-L text encoder of benchmarks/bench_ldm3d.py)
and trains at 512x512, batch 8, bf16: the GPU figure.

    python benchmarks/bench_training.py                          # tiny, CPU, both stages
    python benchmarks/bench_training.py --full                   # GPU: 512x512, batch 8, bf16
    python benchmarks/bench_training.py --full --stage diffusion --batch-size 16 --steps 30
    accelerate launch --multi_gpu --num_processes 8 benchmarks/bench_training.py --full

Timing excludes model loading, the first ``--warmup`` steps (allocator, autotuning) and
checkpoint writes: it is the ``seconds`` column of the run's log.csv between steps.
On a shared machine compare only numbers from one run; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def build_model(folder: Path, full: bool, channels: int) -> Path:
    """A random LDM3D folder: tiny (ldm3d_core.tiny) or SD-1.x-sized."""
    from ldm3d_core.tiny import make_tiny_model, save_components

    if not full:
        return make_tiny_model(folder, channels=channels)
    from bench_ldm3d import build
    from diffusers import DDIMScheduler

    unet, vae, text_encoder, tokenizer, scheduler_config = build(channels)
    components = {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": DDIMScheduler.from_config(scheduler_config),
    }
    return save_components(components, folder)


def run_stage(stage: str, model: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    from ldm3d_core.training import load_config, read_log, train_autoencoder, train_diffusion

    total = args.warmup + args.steps
    overrides = [
        f"model={model}",
        f"output_dir={out}",
        f"train.max_steps={total + 1000}",  # never the last step: no final save in the timing
        f"checkpoint.every={10**9}",
        "samples.every=0",
        "log.every=1",
        "log.tensorboard=false",
        f"log.progress={str(not args.quiet).lower()}",
        f"data.synthetic={args.samples}",
    ]
    if args.full:
        overrides += [
            f"data.resolution={args.resolution}",
            f"train.batch_size={args.batch_size}",
            f"train.mixed_precision={args.mixed_precision}",
            "data.num_workers=4",
            f"train.gradient_checkpointing={str(args.gradient_checkpointing).lower()}",
        ]
        if stage == "autoencoder":
            overrides += ["loss.adversarial.start_step=0"]  # time the full loss, discriminator on
    config = load_config(f"{stage}-tiny", stage, overrides)
    train = train_autoencoder if stage == "autoencoder" else train_diffusion
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = train(config, stop_after=total)
    rows = read_log(out / "log.csv")
    seconds = rows[total - 1]["seconds"] - rows[args.warmup - 1]["seconds"]
    per_process = config.train.batch_size * config.train.gradient_accumulation_steps
    return {
        "steps_per_s": args.steps / seconds,
        "samples_per_s_per_process": args.steps * per_process / seconds,
        "first_loss": result.history[0]["loss"],
        "last_loss": result.history[-1]["loss"],
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0,
        "resolution": config.data.resolution,
        "batch": config.train.batch_size,
        "precision": config.train.mixed_precision,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=("both", "autoencoder", "diffusion"), default="both")
    p.add_argument("--full", action="store_true", help="SD-1.x-sized random model (GPU)")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed first steps")
    p.add_argument("--resolution", type=int, default=512, help="--full: pixels")
    p.add_argument("--batch-size", type=int, default=8, help="--full: per process")
    p.add_argument("--mixed-precision", default="bf16", help="--full: no | fp16 | bf16")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--channels", type=int, choices=(4, 6), default=4)
    p.add_argument("--samples", type=int, default=64, help="procedural dataset size")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads [1 for the tiny model: more only add contention at this size]",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    threads = args.threads or (None if args.full else 1)
    if threads:
        torch.set_num_threads(threads)
    import diffusers.utils.logging
    import transformers.utils.logging

    for lib in (diffusers.utils.logging, transformers.utils.logging):
        lib.disable_progress_bar()
        lib.set_verbosity_error()

    from accelerate import PartialState

    state = PartialState()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    stages = ("autoencoder", "diffusion") if args.stage == "both" else (args.stage,)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if state.is_main_process:
            t0 = time.perf_counter()
            build_model(tmp / "model", args.full, args.channels)
            if not args.quiet:
                print(f"model written in {time.perf_counter() - t0:.1f} s")
        state.wait_for_everyone()
        results = {s: run_stage(s, tmp / "model", tmp / s, args) for s in stages}
    if not state.is_main_process:
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    what = "full-size (SD 1.x) random" if args.full else "tiny random"
    print(
        f"\n{what} LDM3D, {device}, {state.num_processes} process(es), "
        f"{torch.get_num_threads()} CPU threads, load average {load:.1f}"
    )
    print(
        "stage        size  batch  precision  steps/s  samples/s/process  peak GiB  loss first->last"
    )
    for s, r in results.items():
        print(
            f"{s:<12} {r['resolution']:>4}  {r['batch']:>5}  {r['precision']:>9}  "
            f"{r['steps_per_s']:>7.2f}  {r['samples_per_s_per_process']:>17.1f}  "
            f"{r['peak_gib']:>8.1f}  {r['first_loss']:.3f} -> {r['last_loss']:.3f}"
        )


if __name__ == "__main__":
    main()
