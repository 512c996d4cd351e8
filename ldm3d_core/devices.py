"""Where models run and in which precision; whether the hub may be reached.

Shared by the diffusion pipelines (``loading``) and the depth estimator, which must not
import diffusers: this module needs torch only.
"""

from __future__ import annotations

import os

import torch

_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (read now, not at import time)."""
    import huggingface_hub.constants

    env = os.environ.get("HF_HUB_OFFLINE")
    if env is not None:
        return env.strip().upper() in {"1", "ON", "YES", "TRUE"}
    return bool(huggingface_hub.constants.HF_HUB_OFFLINE)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda, else mps, else cpu; an unavailable explicit device is an error."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {device!r}; use auto, cpu, cuda or mps")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``auto`` (or None) -> float16 on CUDA, float32 elsewhere; also fp32/fp16/bf16 (any
    case, ``torch.`` prefix allowed) or a torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    try:
        return _DTYPES[str(dtype).lower().removeprefix("torch.")]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, fp32, fp16 or bf16") from None
