"""Training checkpoints that hold data only: resuming from a tampered checkpoint runs no code.

accelerate's ``load_state`` unpickles the objects registered for checkpointing (the LR
schedule, the EMA) with ``weights_only=False``, so a replaced ``custom_checkpoint_0.pkl``
would run whatever it likes on ``--resume``. Checkpoints are therefore written and read
here, every file as data:

==============================  ===================================================  ===========
file                            what                                                 format
==============================  ===================================================  ===========
``model.safetensors``,          weights of each prepared model (unwrapped, so any    safetensors
``model_1.safetensors``, ...    process count reads them)
``optimizer.bin``, ...          optimiser states                                     torch [1]_
``scheduler.bin``, ...          schedulers handed to ``accelerator.prepare``         torch [1]_
``custom_checkpoint_0.pkl``,    objects registered for checkpointing (LR schedule,   torch [1]_
...                             EMA)
``scaler.pt``                   the fp16 gradient scaler                             torch [1]_
``rng_<rank>.json``             Python ``random`` and NumPy states of process rank   JSON
``rng_<rank>.safetensors``      torch CPU (and CUDA/MPS) states, the run's noise     safetensors
                                generator
==============================  ===================================================  ===========

.. [1] ``torch.save`` files read with ``torch.load(weights_only=True)``: tensors, numbers,
   strings and containers only; any other object in the pickle is refused before it is
   built.

The names are accelerate's ``save_state`` names, so checkpoints written by earlier versions
(accelerate's ``save_state`` plus ``rng_<rank>.pt``) resume too; their RNG pickle
``random_states_<rank>.pkl`` is read with ``weights_only=True`` as well, NumPy arrays of
numbers being the one extra type allowed. A missing, truncated, corrupt or refused file is a
one-line :class:`CheckpointError` that names it.
"""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: ``train_state.json``'s ``format`` for checkpoints written by this module (absent: older).
FORMAT = 2
RNG_JSON = "rng_{rank}.json"
RNG_TENSORS = "rng_{rank}.safetensors"
LEGACY_RNG_PICKLE = "random_states_{rank}.pkl"
LEGACY_GENERATOR = "rng_{rank}.pt"


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or not plain data (one line, names it)."""


def _indexed(stem: str, index: int, suffix: str) -> str:
    return f"{stem}{suffix}" if index == 0 else f"{stem}_{index}{suffix}"


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """The gist of ``exc``: its first line, cut after the first sentence when long."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    if len(line) > limit and ". " in line[:limit]:
        line = line[: line.index(". ") + 1]
    return line


def _present(path: Path) -> Path:
    """``path`` when it is a regular file of the checkpoint, else a CheckpointError."""
    from ..files import FileSafetyError, regular_file

    try:
        return regular_file(path, "checkpoint file")
    except FileSafetyError as exc:
        if not os.path.lexists(path):
            raise CheckpointError(
                f"{path}: missing from the checkpoint (incomplete or not written by this version)"
            ) from None
        raise CheckpointError(str(exc)) from None


def _corrupt(path: Path, exc: BaseException) -> CheckpointError:
    return CheckpointError(
        f"{path}: cannot read this checkpoint file; it is truncated or corrupt ({_first_line(exc)})"
    )


def load_data(path: Path, map_location: Any = "cpu", allow_numpy: bool = False) -> Any:
    """A ``torch.save`` file read as data only (``weights_only=True``), or a CheckpointError.

    ``allow_numpy`` also lets NumPy arrays through (the RNG pickles of older checkpoints).
    """
    _present(path)
    try:
        if allow_numpy:
            with torch.serialization.safe_globals(_numpy_globals()):
                return torch.load(path, map_location=map_location, weights_only=True)
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise CheckpointError(
                f"{path}: refused: the file holds Python objects other than tensors and plain "
                "data, and checkpoint files are never unpickled (was it replaced?)"
            ) from None
        raise _corrupt(path, exc) from None
    except Exception as exc:  # truncated zip, EOF, bad storage: torch raises many kinds
        raise _corrupt(path, exc) from None


def _numpy_globals() -> list[Any]:
    """What a pickled NumPy array of numbers needs (accelerate's RNG files hold one)."""
    core = getattr(np, "_core", None) or np.core
    names = [core.multiarray._reconstruct, np.ndarray, np.dtype]
    names += [type(np.dtype(t)) for t in (np.uint32, np.float64, np.int64)]
    return names


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file on the CPU, or a CheckpointError naming it."""
    from safetensors.torch import load_file

    _present(path)
    try:
        return load_file(path, device="cpu")
    except Exception as exc:  # SafetensorError (header, size), OSError
        raise _corrupt(path, exc) from None


def _apply(path: Path, what: str, load: Any) -> None:
    """Run ``load()`` (a ``load_state_dict``); a state that does not fit names the file."""
    try:
        load()
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(
            f"{path}: does not fit this run's {what} ({_first_line(exc)}); was the config changed?"
        ) from None


# -- models ---------------------------------------------------------------------------------


def _save_weights(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_model

    save_model(module, str(path), metadata={"format": "pt"})


def _load_weights(module: torch.nn.Module, path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_model

    _present(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
    except Exception as exc:
        raise _corrupt(path, exc) from None
    own = module.state_dict().keys()
    if (
        keys
        and all(k.startswith("module.") for k in keys)
        and not any(k.startswith("module.") for k in own)
    ):
        # An older multi-process checkpoint: accelerate saved the DDP wrapper's names.
        tensors = {k.removeprefix("module."): v for k, v in load_tensors(path).items()}
        _apply(path, "model", lambda: module.load_state_dict(tensors, strict=True))
        return
    # (the header was read above, so what fails here is a model that does not match)
    _apply(path, "model", lambda: load_model(module, str(path), True, "cpu"))


# -- random number generators ---------------------------------------------------------------


def _rng_json() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    return {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss},
        "numpy": {
            "kind": kind,
            "keys": [int(k) for k in keys],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
    }


def _rng_tensors(generator: torch.Generator) -> dict[str, torch.Tensor]:
    tensors = {"torch_cpu": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    if torch.backends.mps.is_available():
        tensors["torch_mps"] = torch.mps.get_rng_state()
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def _byte_state(path: Path, tensors: dict[str, Any], key: str) -> torch.Tensor:
    t = tensors.get(key)
    if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8 or t.ndim != 1:
        raise CheckpointError(f"{path}: {key}: not a random number generator state")
    return t


def _set_python_numpy(path: Path, data: Any) -> None:
    try:
        py, npy = data["python"], data["numpy"]
        state = (int(py["version"]), tuple(int(v) for v in py["state"]), py["gauss_next"])
        if state[2] is not None:
            state = (*state[:2], float(state[2]))
        random.setstate(state)
        np.random.set_state(  # noqa: NPY002 - the global state is what is restored
            (
                str(npy["kind"]),
                np.asarray(npy["keys"], dtype=np.uint32),
                int(npy["pos"]),
                int(npy["has_gauss"]),
                float(npy["cached_gaussian"]),
            )
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(
            f"{path}: not a valid random-state file ({_first_line(exc)})"
        ) from None


def _set_torch(path: Path, tensors: dict[str, Any], generator: torch.Generator) -> None:
    try:
        torch.set_rng_state(_byte_state(path, tensors, "torch_cpu"))
        generator.set_state(_byte_state(path, tensors, "generator"))
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                if f"torch_cuda_{i}" in tensors:
                    torch.cuda.set_rng_state(_byte_state(path, tensors, f"torch_cuda_{i}"), i)
        if "torch_mps" in tensors and torch.backends.mps.is_available():
            torch.mps.set_rng_state(_byte_state(path, tensors, "torch_mps"))
    except CheckpointError:
        raise
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: not a valid random-state file ({_first_line(exc)})"
        ) from None


def _load_rng(folder: Path, rank: int, generator: torch.Generator) -> None:
    path = folder / RNG_JSON.format(rank=rank)
    _present(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a valid random-state file; it is truncated or corrupt "
            f"({_first_line(exc)})"
        ) from None
    except OSError as exc:
        raise _corrupt(path, exc) from None
    tensors_path = folder / RNG_TENSORS.format(rank=rank)
    tensors = load_tensors(tensors_path)
    _set_python_numpy(path, data)
    _set_torch(tensors_path, tensors, generator)


def _load_legacy_rng(folder: Path, rank: int, generator: torch.Generator) -> None:
    """accelerate's ``random_states_<rank>.pkl`` and the older ``rng_<rank>.pt``."""
    path = folder / LEGACY_RNG_PICKLE.format(rank=rank)
    states = load_data(path, allow_numpy=True)
    if not isinstance(states, dict):
        raise CheckpointError(f"{path}: not a valid random-state file")
    try:
        random.setstate(states["random_state"])
        np.random.set_state(states["numpy_random_seed"])  # noqa: NPY002
        torch.set_rng_state(states["torch_manual_seed"])
        cuda = states.get("torch_cuda_manual_seed")
        if cuda is not None and torch.cuda.is_available():
            for i, s in enumerate(cuda[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(s, i)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: not a valid random-state file ({_first_line(exc)})"
        ) from None
    gen_path = folder / LEGACY_GENERATOR.format(rank=rank)
    if gen_path.exists():
        state = load_data(gen_path)
        _set_torch(gen_path, {"generator": state, "torch_cpu": torch.get_rng_state()}, generator)


def has_rng(folder: Path, rank: int) -> bool:
    """Whether ``folder`` holds process ``rank``'s random states (either layout)."""
    return any(
        os.path.lexists(folder / name.format(rank=rank)) for name in (RNG_JSON, LEGACY_RNG_PICKLE)
    )


# -- the whole state ------------------------------------------------------------------------


def save_state(accelerator: Any, folder: Path, generator: torch.Generator) -> None:
    """Write the run's state into ``folder`` (every process calls it; the main process writes
    the shared parts, each process its own random states)."""
    acc = accelerator
    folder = Path(folder)
    if acc.is_main_process:
        for i, model in enumerate(acc._models):
            _save_weights(acc.unwrap_model(model), folder / _indexed("model", i, ".safetensors"))
        for i, opt in enumerate(acc._optimizers):
            torch.save(opt.state_dict(), folder / _indexed("optimizer", i, ".bin"))
        for i, sched in enumerate(acc._schedulers):
            torch.save(sched.state_dict(), folder / _indexed("scheduler", i, ".bin"))
        for i, obj in enumerate(acc._custom_objects):
            torch.save(obj.state_dict(), folder / f"custom_checkpoint_{i}.pkl")
        if acc.scaler is not None:
            torch.save(acc.scaler.state_dict(), folder / "scaler.pt")
    rank = acc.process_index
    (folder / RNG_JSON.format(rank=rank)).write_text(json.dumps(_rng_json()) + "\n")
    from safetensors.torch import save_file

    save_file(_rng_tensors(generator), str(folder / RNG_TENSORS.format(rank=rank)))


def load_state(
    accelerator: Any,
    folder: Path,
    generator: torch.Generator,
    *,
    legacy: bool = False,
    rng: bool = True,
) -> None:
    """Restore what :func:`save_state` wrote (``legacy``: accelerate's layout, see the module
    docstring); ``rng=False`` keeps this process's current random states."""
    acc = accelerator
    folder = Path(folder)
    for i, model in enumerate(acc._models):
        _load_weights(acc.unwrap_model(model), folder / _indexed("model", i, ".safetensors"))
    for i, opt in enumerate(acc._optimizers):
        path = folder / _indexed("optimizer", i, ".bin")
        state = load_data(path)
        _apply(path, "optimiser", lambda o=opt, s=state: o.load_state_dict(s))
    for i, sched in enumerate(acc._schedulers):
        path = folder / _indexed("scheduler", i, ".bin")
        state = load_data(path)
        _apply(path, "LR schedule", lambda o=sched, s=state: o.load_state_dict(s))
    for i, obj in enumerate(acc._custom_objects):
        path = folder / f"custom_checkpoint_{i}.pkl"
        state = load_data(path, map_location=acc.device)  # EMA weights live on the device
        _apply(path, type(obj).__name__, lambda o=obj, s=state: o.load_state_dict(s))
    if acc.scaler is not None:
        path = folder / "scaler.pt"
        state = load_data(path)
        _apply(path, "gradient scaler", lambda s=state: acc.scaler.load_state_dict(s))
    if rng:
        (_load_legacy_rng if legacy else _load_rng)(folder, acc.process_index, generator)
