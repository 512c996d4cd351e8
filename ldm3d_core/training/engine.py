"""The training loop both stages share: devices, data order, checkpoints, logs.

Hugging Face ``accelerate`` supplies the device placement, DistributedDataParallel
(``accelerate launch`` on one or many GPUs or machines, or gloo between CPU processes) and
mixed precision. Checkpoints (models, optimisers, registered objects, every process's RNG
states) are written and read by :mod:`ldm3d_core.training.checkpoint` as data only
(safetensors, JSON, ``torch.load(weights_only=True)``): accelerate's ``load_state`` would
unpickle registered objects, so a tampered checkpoint could run code on ``--resume``.
What this module adds is what makes a resumed run *the same run*:

- the data order is a pure function of (seed, epoch): :class:`ShardedEpochSampler` draws
  one permutation per epoch, cuts it into global batches and gives process ``r`` the
  ``r``-th slice of each, so a resumed run skips exactly the batches already seen;
- all training noise (timesteps, Gaussian noise, caption dropout, posterior samples)
  comes from one CPU generator per process whose state is checkpointed;
- a step counter and the micro-batch position are stored with each checkpoint.

So on a CPU a run killed after step K and resumed reproduces the uninterrupted run's
losses and weights bit for bit (tested). Gradient accumulation is done here rather than
by ``accelerator.accumulate`` so that its boundaries never depend on epoch ends.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..panorama import horizontal_wrap
from .checkpoint import FORMAT as CHECKPOINT_FORMAT
from .checkpoint import CheckpointError, has_rng, load_state, save_state
from .config import AutoencoderConfig, DiffusionConfig, UpscaleConfig, dump_config

RunConfig = AutoencoderConfig | DiffusionConfig | UpscaleConfig
CHECKPOINT_PREFIX = "step-"
STATE_FILE = "train_state.json"


class TrainingError(ValueError):
    """A problem with the run's inputs (data, model, output folder), reported in one line."""


# -- data ---------------------------------------------------------------------------------


class ShardedEpochSampler(Sampler[int]):
    """Per-epoch shuffled indices, split into global batches and sharded across processes.

    Epoch ``e`` uses the permutation of ``torch.Generator().manual_seed(seed + e)``; it is
    cut into ``batches_per_epoch`` global batches of ``batch_size * num_replicas`` samples
    (the remainder is dropped so every process sees full, equal batches) and process
    ``rank`` takes slice ``rank`` of each. ``set_epoch(e, skip_batches=k)`` starts the epoch
    at its ``k``-th batch, which is how a resumed run continues mid-epoch.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.size = size
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.batches_per_epoch = size // (batch_size * num_replicas)
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def global_batches(self, epoch: int) -> torch.Tensor:
        """(batches, num_replicas, batch_size) sample indices of ``epoch``."""
        n = self.batches_per_epoch * self.batch_size * self.num_replicas
        if self.shuffle:
            order = torch.randperm(
                self.size, generator=torch.Generator().manual_seed(self.seed + epoch)
            )
        else:
            order = torch.arange(self.size)
        return order[:n].view(self.batches_per_epoch, self.num_replicas, self.batch_size)

    def __iter__(self) -> Iterator[int]:
        mine = self.global_batches(self.epoch)[self.skip_batches :, self.rank]
        return iter(mine.reshape(-1).tolist())

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.skip_batches) * self.batch_size


def build_dataset(config: RunConfig, channels: int) -> Dataset:
    """The config's dataset: procedural samples or ``ldm3d_core.data.RGBDDataset``."""
    data = config.data
    if data.synthetic is not None:
        from .synthetic import SyntheticRGBDDataset

        if data.crop is not None:
            raise TrainingError("data.crop applies to dataset sources, not synthetic data")

        return SyntheticRGBDDataset(
            data.synthetic, data.resolution, channels, data.panorama, seed=config.train.seed
        )
    try:
        from ..data import RGBDDataset
    except ImportError as exc:
        raise TrainingError(
            f"cannot load datasets: ldm3d_core.data is unavailable ({exc})"
        ) from None
    try:
        return RGBDDataset(
            data.source,
            data.resolution,
            channels=channels,
            panorama=data.panorama,
            augment=data.augment,
            seed=config.train.seed,
            crop=data.crop,
        )
    except (ValueError, OSError) as exc:  # no usable items, unreadable source: one line
        raise TrainingError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from None


def check_dataset(dataset: Dataset, batch_size: int, processes: int, channels: int) -> int:
    """Its length, after checking it can fill one step and yields the model's channels."""
    try:
        size = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise TrainingError("the dataset must have a length (a map-style Dataset)") from None
    if size == 0:
        raise TrainingError("the dataset is empty: no training samples found")
    need = batch_size * processes
    if size < need:
        raise TrainingError(
            f"the dataset has {size} samples but one step needs {need} "
            f"(train.batch_size {batch_size} x {processes} processes); lower the batch size"
        )
    item = dataset[0]
    if not isinstance(item, dict) or "pixel_values" not in item or "caption" not in item:
        raise TrainingError("dataset items must be dicts with 'pixel_values' and 'caption'")
    c = item["pixel_values"].shape[0]
    if c != channels:
        raise TrainingError(
            f"dataset items have {c} channels but the model's VAE takes {channels} "
            "(4: RGB + depth, 6: RGB + packed 16-bit depth)"
        )
    return size


def process_generator(seed: int, rank: int) -> torch.Generator:
    """The CPU generator of one process's training noise (different per process)."""
    state = np.random.SeedSequence([seed, rank, 0x1D3]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


# -- logs ---------------------------------------------------------------------------------


class RunLog:
    """Loss rows into ``log.csv`` (always) and TensorBoard (when installed and wanted)."""

    def __init__(self, folder: Path, tensorboard: bool, resume_step: int | None) -> None:
        self.path = folder / "log.csv"
        self.columns: list[str] | None = None
        if resume_step is not None and self.path.is_file():
            self._truncate(resume_step)
        elif self.path.exists():
            self.path.unlink()
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("note: TensorBoard logging is off (pip install tensorboard to turn it on)")
            else:
                self.writer = SummaryWriter(str(folder / "tensorboard"), purge_step=resume_step)

    def _truncate(self, step: int) -> None:
        """Drop rows past the checkpoint being resumed, so the log reads as one run."""
        with self.path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            return
        self.columns = list(rows[0])
        keep = [r for r in rows if int(r["step"]) <= step]
        self._rewrite(keep)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        assert self.columns is not None
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.path)

    def write(self, row: dict[str, float]) -> None:
        if self.columns is None:
            self.columns = list(row)
            self._rewrite([])
        elif set(row) - set(self.columns):  # a loss term that switched on (discriminator)
            with self.path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            self.columns += [k for k in row if k not in self.columns]
            self._rewrite(rows)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(
                {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        if self.writer is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k != "step":
                    self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_log(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """``log.csv`` rows as numbers (for tests and plots)."""
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


# -- the loop -----------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a call to ``train_*`` did."""

    output_dir: Path
    step: int
    """optimiser steps completed (over all sessions of the run)"""
    history: list[dict[str, float]] = field(default_factory=list)
    """this session's per-step losses, averaged over processes"""
    model_dir: Path | None = None
    """the final diffusers folder (None when stopped before ``max_steps``)"""
    checkpoint: Path | None = None
    """the newest checkpoint"""
    resumed_from: int | None = None
    """the step this session resumed at"""
    seconds: float = 0.0
    """wall time of the training steps of this session"""


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints of a run folder, oldest first."""
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.iterdir()
        if p.name.startswith(CHECKPOINT_PREFIX)
        and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
        and (p / STATE_FILE).is_file()
    ]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


class Trainer:
    """One training run; subclasses supply the models and the step (see the stages)."""

    stage = ""

    def __init__(
        self,
        config: RunConfig,
        dataset: Dataset | None = None,
        *,
        resume: bool | str | os.PathLike[str] = False,
        stop_after: int | None = None,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.resume = resume
        self.stop_after = stop_after
        self.output_dir = Path(config.output_dir)
        self.step = 0
        self.micro = 0

    # -- hooks the stages implement ---------------------------------------------------------

    def load_models(self, model_dir: Path) -> None:
        """Load and set up models, optimisers, LR schedules; prepare them with accelerate."""
        raise NotImplementedError

    def train_step(self, batches: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """One optimiser step over ``batches`` (micro-batches); scalar losses of this process."""
        raise NotImplementedError

    def write_samples(self, path: Path) -> None:
        """Write a PNG grid of RGB + depth showing the current model (main process)."""
        raise NotImplementedError

    def save_model(self, folder: Path) -> None:
        """Write the final diffusers folder (main process)."""
        raise NotImplementedError

    def wrapped_models(self) -> list[torch.nn.Module]:
        """Models whose convolutions wrap around the ±180° seam when training on whole
        panoramas (as the pipelines generate them)."""
        return []

    # -- helpers for the stages ---------------------------------------------------------

    def sync_context(self, model: torch.nn.Module, last: bool) -> contextlib.AbstractContextManager:
        """No gradient all-reduce on accumulation micro-batches but the last (DDP)."""
        if last or self.accelerator.num_processes == 1:
            return contextlib.nullcontext()
        return self.accelerator.no_sync(model)

    def make_optimizer(self, params: Any, lr: float | None = None) -> torch.optim.Optimizer:
        """Adam (AdamW with weight decay), the paper's optimiser for both stages."""
        t = self.config.train
        kw = {
            "lr": lr or t.learning_rate,
            "betas": (t.adam_beta1, t.adam_beta2),
            "eps": t.adam_epsilon,
        }
        if t.weight_decay > 0:
            return torch.optim.AdamW(params, weight_decay=t.weight_decay, **kw)
        return torch.optim.Adam(params, **kw)

    def make_lr_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        """Stepped once per optimiser step by the stages (not through accelerate, which
        would step it once per process)."""
        from diffusers.optimization import get_scheduler

        t = self.config.train
        sched = get_scheduler(
            t.lr_scheduler,
            optimizer,
            num_warmup_steps=t.lr_warmup_steps,
            num_training_steps=t.max_steps,
        )
        self.accelerator.register_for_checkpointing(sched)
        return sched

    def to_device(self, batch: dict[str, Any]) -> torch.Tensor:
        return batch["pixel_values"].to(self.accelerator.device, non_blocking=True)

    # -- the run --------------------------------------------------------------------------

    def _setup(self) -> None:
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        from ..loading import resolve_model_dir

        cfg = self.config
        t = cfg.train
        # 1. Processes, device, precision
        self.accelerator = Accelerator(mixed_precision=t.mixed_precision, cpu=t.cpu)
        acc = self.accelerator
        if t.allow_tf32 and torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        set_seed(t.seed)  # the same model init (discriminator) on every process
        self.rng = process_generator(t.seed, acc.process_index)

        # 2. Cheap checks before loading weights: model folder, output folder, data
        self.model_dir = resolve_model_dir(cfg.model)
        self.checkpoint_to_load = self._find_resume_checkpoint()
        if self.checkpoint_to_load is not None:
            self._read_state(self.checkpoint_to_load)  # a bad checkpoint fails before loading
        vae_config = json.loads((self.model_dir / "vae" / "config.json").read_text())
        channels = int(vae_config["in_channels"])
        if self.dataset is None:  # every process builds it; the sampler shards it
            self.dataset = build_dataset(cfg, channels)
        size = check_dataset(self.dataset, t.batch_size, acc.num_processes, channels)

        # 3. Models, optimisers, schedules (the stage's part)
        self.load_models(self.model_dir)

        # 4. Data order and loader
        self.sampler = ShardedEpochSampler(
            size, t.batch_size, acc.num_processes, acc.process_index, seed=t.seed
        )
        workers = cfg.data.num_workers
        self.loader = DataLoader(
            self.dataset,
            batch_size=t.batch_size,
            sampler=self.sampler,
            drop_last=True,
            num_workers=workers,
            # Fresh workers each epoch carry the dataset's current epoch (augmentation draws).
            persistent_workers=False,
            pin_memory=acc.device.type == "cuda",
            generator=torch.Generator(),
        )

    def _find_resume_checkpoint(self) -> Path | None:
        existing = list_checkpoints(self.output_dir)
        if self.resume not in (False, None, ""):
            if self.resume is True:
                if not existing:
                    self.print(f"note: {self.output_dir} has no checkpoint yet; starting the run")
                    return None
                return existing[-1]
            path = Path(self.resume)
            if not (path / STATE_FILE).is_file():
                raise TrainingError(f"{path}: not a checkpoint folder (no {STATE_FILE})")
            return path
        if existing:
            raise TrainingError(
                f"{self.output_dir} already holds a run (checkpoints/{existing[-1].name}); "
                "pass --resume to continue it or choose another output_dir"
            )
        return None

    def print(self, *args: Any) -> None:
        if self.accelerator.is_main_process:
            print(*args, flush=True)

    def _read_state(self, path: Path) -> dict[str, Any]:
        """A checkpoint's ``train_state.json``, checked; one-line TrainingError naming it."""
        from ..files import FileSafetyError, regular_file

        file = path / STATE_FILE
        try:
            state = json.loads(regular_file(file, "checkpoint file").read_bytes().decode("utf-8"))
        except FileSafetyError as exc:
            raise TrainingError(str(exc)) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TrainingError(
                f"{file}: cannot read this checkpoint file; it is truncated or corrupt ({exc})"
            ) from None
        keys = ("step", "micro_batches", "epoch", "processes")
        if not isinstance(state, dict) or not all(
            isinstance(state.get(k), int) and not isinstance(state.get(k), bool) and state[k] >= 0
            for k in keys
        ):
            raise TrainingError(
                f"{file}: not a valid checkpoint state (expected stage, {', '.join(keys)})"
            )
        fmt = state.setdefault("format", 1)  # 1: accelerate's save_state (earlier versions)
        if not isinstance(fmt, int) or isinstance(fmt, bool) or not 1 <= fmt <= CHECKPOINT_FORMAT:
            raise TrainingError(
                f"{file}: checkpoint format {fmt!r} is not one this version reads "
                f"(1 to {CHECKPOINT_FORMAT})"
            )
        if state.get("stage") != self.stage:
            raise TrainingError(f"{path}: a {state.get('stage')} checkpoint, not {self.stage}")
        return state

    def _load_checkpoint(self, path: Path) -> None:
        acc = self.accelerator
        state = self._read_state(path)
        same_processes = state["processes"] == acc.num_processes
        # A run resumed on more processes than wrote it: the new ranks keep fresh RNG states.
        rng = same_processes or has_rng(path, acc.process_index)
        legacy = state["format"] < CHECKPOINT_FORMAT
        try:
            load_state(acc, path, self.rng, legacy=legacy, rng=rng)
        except CheckpointError as exc:
            raise TrainingError(str(exc)) from None
        self.step = state["step"]
        self.micro = state["micro_batches"]
        if not same_processes:
            # Another process count: data order restarts at the next epoch boundary.
            self.print(
                f"note: checkpoint written by {state['processes']} processes, resuming "
                f"with {acc.num_processes}; the data order continues from the next epoch"
            )
            self.micro = (state["epoch"] + 1) * self.sampler.batches_per_epoch

    def _save_checkpoint(self) -> Path:
        acc = self.accelerator
        folder = self.output_dir / "checkpoints"
        final = folder / f"{CHECKPOINT_PREFIX}{self.step:07d}"
        tmp = folder / f"{final.name}.tmp"
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        save_state(acc, tmp, self.rng)
        acc.wait_for_everyone()
        if acc.is_main_process:
            state = {
                "format": CHECKPOINT_FORMAT,
                "stage": self.stage,
                "step": self.step,
                "micro_batches": self.micro,
                "epoch": self.micro // self.sampler.batches_per_epoch,
                "processes": acc.num_processes,
            }
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            keep = self.config.checkpoint.keep
            if keep is not None:
                for old in list_checkpoints(self.output_dir)[:-keep]:
                    shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def _stream(self) -> Iterator[dict[str, Any]]:
        """Micro-batches forever, from position ``self.micro`` of the data order."""
        bpe = self.sampler.batches_per_epoch
        while True:
            epoch, skip = divmod(self.micro, bpe)
            self.sampler.set_epoch(epoch, skip)
            if hasattr(self.dataset, "set_epoch"):  # RGBDDataset: augmentation of this epoch
                self.dataset.set_epoch(epoch)
            # Worker seeds (random augmentation) depend on the epoch, never on the history.
            self.loader.generator.manual_seed(self.config.train.seed * 7919 + epoch)
            for batch in self.loader:
                self.micro += 1
                yield batch

    def fit(self) -> TrainResult:
        """Run (or continue) training to ``train.max_steps`` (or ``stop_after``)."""
        from tqdm.auto import tqdm

        self._setup()
        acc, cfg = self.accelerator, self.config
        resumed_from = None
        if self.checkpoint_to_load is not None:
            self._load_checkpoint(self.checkpoint_to_load)
            resumed_from = self.step
            self.print(f"resumed {self.output_dir} at step {self.step}")
        log = None
        if acc.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "config.yaml").write_text(dump_config(cfg))
            log = RunLog(self.output_dir, cfg.log.tensorboard, resumed_from)
        acc.wait_for_everyone()

        max_steps = cfg.train.max_steps
        stop = min(max_steps, self.stop_after) if self.stop_after is not None else max_steps
        accum = cfg.train.gradient_accumulation_steps
        history: list[dict[str, float]] = []
        checkpoint = self.checkpoint_to_load
        bar = tqdm(
            total=max_steps,
            initial=self.step,
            desc=f"train {self.stage}",
            unit="step",
            disable=not (acc.is_main_process and cfg.log.progress),
            dynamic_ncols=True,
        )
        stream = self._stream()
        t0 = time.perf_counter()
        wrap = contextlib.ExitStack()
        try:
            panorama = cfg.data.panorama and cfg.data.crop is None
            wrap.enter_context(horizontal_wrap(*self.wrapped_models(), enabled=panorama))
            while self.step < stop:
                batches = [next(stream) for _ in range(accum)]
                losses = self.train_step(batches)
                self.step += 1
                names = list(losses)
                values = torch.stack([losses[k].detach().float() for k in names])
                values = acc.reduce(values, reduction="mean").cpu().tolist()
                row = {"step": self.step, **dict(zip(names, values, strict=True))}
                row["lr"] = float(self.lr)
                history.append(row)
                bar.update()
                bar.set_postfix(loss=f"{row['loss']:.4g}")
                if log is not None and (self.step % cfg.log.every == 0 or self.step == max_steps):
                    log.write({**row, "seconds": round(time.perf_counter() - t0, 3)})
                if self.step % cfg.checkpoint.every == 0 or self.step == max_steps:
                    checkpoint = self._save_checkpoint()
                every = cfg.samples.every
                if every and (self.step % every == 0 or self.step == max_steps):
                    if acc.is_main_process:
                        self.write_samples(
                            self.output_dir / "samples" / f"step-{self.step:07d}.png"
                        )
                    acc.wait_for_everyone()
            seconds = time.perf_counter() - t0
            model_dir = None
            if self.step >= max_steps:
                model_dir = self.output_dir / "model"
                if acc.is_main_process:
                    tmp = self.output_dir / "model.tmp"
                    shutil.rmtree(tmp, ignore_errors=True)
                    self.save_model(tmp)
                    shutil.rmtree(model_dir, ignore_errors=True)
                    os.replace(tmp, model_dir)
                acc.wait_for_everyone()
        finally:
            wrap.close()
            bar.close()
            if log is not None:
                log.close()
        acc.end_training()
        return TrainResult(
            output_dir=self.output_dir,
            step=self.step,
            history=history,
            model_dir=model_dir,
            checkpoint=checkpoint,
            resumed_from=resumed_from,
            seconds=seconds,
        )

    @property
    def lr(self) -> float:
        return self.lr_scheduler.get_last_lr()[0]


def copy_model_parts(source: Path, target: Path, skip: tuple[str, ...]) -> None:
    """Copy a diffusers folder's parts that training did not change (tokenizer, configs)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name in skip or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, target / entry.name)


def depth_tile(depth: np.ndarray) -> np.ndarray:
    """(H, W) float depth in [0, 1] -> (H, W, 3) uint8 grey, white nearest."""
    g = np.rint(np.clip(depth, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def save_grid(path: Path, rows: list[list[np.ndarray]], gap: int = 2) -> Path:
    """Tile rows of equal-size (H, W, 3) uint8 images into one PNG, written atomically."""
    from PIL import Image

    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    grid = np.full((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            grid[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(grid).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
