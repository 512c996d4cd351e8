"""``ldm3d train``: run a training stage from a YAML config.

    ldm3d train autoencoder --config autoencoder.yaml
    ldm3d train diffusion --config diffusion.yaml --set train.max_steps=20000 --resume
    accelerate launch -m ldm3d_core.training diffusion --config diffusion.yaml   # many GPUs

``--config`` takes a file or the name of a shipped example (``autoencoder``,
``diffusion``, ``autoencoder-tiny``, ``diffusion-tiny``). Registered on the ``ldm3d``
parser by :func:`register`; ``python -m ldm3d_core.training`` takes the same arguments.
User errors end the command with one line, ``ldm3d: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

STAGES = ("autoencoder", "diffusion", "upscale")


def _fail(message: str) -> SystemExit:
    print(f"ldm3d: error: {message}", file=sys.stderr)
    return SystemExit(2)


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``ldm3d train`` (see the module docstring)."""
    from ..errors import ModelNotFoundError, is_out_of_memory, one_line
    from ..files import FileSafetyError
    from .config import ConfigError, dump_config, load_config
    from .engine import TrainingError

    try:
        config = load_config(args.config, args.stage, args.set or [])
    except ConfigError as exc:
        raise _fail(one_line(exc)) from None
    if args.print_config:
        print(dump_config(config), end="")
        return 0

    import diffusers.utils.logging
    import transformers.utils.logging

    for lib in (diffusers.utils.logging, transformers.utils.logging):
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    if args.stage == "autoencoder":
        from .autoencoder import train_autoencoder as train
    elif args.stage == "upscale":
        from .upscale import train_upscale as train
    else:
        from .diffusion import train_diffusion as train
    resume = args.resume if args.resume in (True, False) else str(args.resume)
    try:
        result = train(config, resume=resume)
    except (ConfigError, TrainingError, ModelNotFoundError, FileSafetyError) as exc:
        raise _fail(one_line(exc)) from None
    except (ValueError, OSError) as exc:  # dataset and file problems from lower layers
        raise _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise _fail(
            f"{args.config}: out of memory while training; lower train.batch_size or "
            "data.resolution (or set train.gradient_checkpointing: true, train.mixed_precision)"
        ) from None
    from accelerate import PartialState

    if PartialState().is_main_process:
        done = f"model in {result.model_dir}" if result.model_dir else "stopped early"
        print(f"{args.stage}: {result.step} steps, {done}; logs in {result.output_dir / 'log.csv'}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``ldm3d train`` (shared with ``python -m ldm3d_core.training``)."""
    p.add_argument(
        "stage",
        choices=STAGES,
        help="autoencoder (stage 1), diffusion (stage 2) or upscale (an LDM3D-SR upscaler's UNet)",
    )
    p.add_argument(
        "--config",
        required=True,
        help="YAML config file, or a shipped example: autoencoder, diffusion, "
        "autoencoder-tiny, diffusion-tiny",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue the run in output_dir from its newest checkpoint (or from CHECKPOINT)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key, value parsed as YAML (train.max_steps=100); repeatable",
    )
    p.add_argument(
        "--print-config", action="store_true", help="print the validated config and exit"
    )
    p.set_defaults(func=cmd_train)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to the ``ldm3d`` parser's subparsers."""
    p = subparsers.add_parser(
        "train",
        help="fine-tune LDM3D: stage 1 autoencoder, stage 2 diffusion UNet (YAML config)",
        description=(
            "Two-stage LDM3D fine-tuning (paper §3.1.3) with Hugging Face accelerate: one "
            "CPU or GPU as is, several GPUs or machines under `accelerate launch -m "
            "ldm3d_core.training`. Checkpoints, sample grids, log.csv and the final "
            "diffusers folder (model/) go to the config's output_dir."
        ),
    )
    add_arguments(p)
    return p


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like the ldm3d command
        self.exit(2, f"ldm3d: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m ldm3d_core.training STAGE --config FILE ...`` (for ``accelerate launch``)."""
    from ..command import run_command

    parser = _Parser(prog=f"{Path(sys.executable).name} -m ldm3d_core.training")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_command(args.func, args)
