"""``ldm3d export``: a copy of a diffusers LDM3D folder with its weights in another precision.

Training writes float32 weights; a model that ships (the embedded one in ``assets/``) is
stored in float16, half the bytes, and loaded back into float32 on CPUs by
``load_pipeline``. Floating-point tensors are cast, integer ones kept; every weight file
is safetensors. The copy is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from .devices import resolve_dtype
from .errors import ModelLoadError, one_line
from .loading import resolve_model_dir


def export_model(
    source: str | os.PathLike[str], target: str | os.PathLike[str], dtype: str = "fp16"
) -> Path:
    """Copy ``source`` (folder or cached hub id) to ``target`` with weights cast to ``dtype``."""
    from safetensors.torch import load_file, save_file

    src = resolve_model_dir(source)
    dst = Path(target)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ValueError(f"{dst}: exists and is not an empty folder")
    torch_dtype = resolve_dtype(dtype, torch.device("cpu"))
    if list(src.rglob("*.bin")):
        raise ValueError(f"{src}: has .bin weights; export reads safetensors only")
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".*"))
    for weights in tmp.rglob("*.safetensors"):
        try:
            loaded = load_file(weights)
        except Exception as exc:  # SafetensorError: truncated or not safetensors at all
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelLoadError(
                f"{src / weights.relative_to(tmp)}: cannot read these weights ({one_line(exc)})"
            ) from None
        tensors = {k: v.to(torch_dtype) if v.is_floating_point() else v for k, v in loaded.items()}
        save_file(tensors, weights, metadata={"format": "pt"})
    if dst.exists():
        dst.rmdir()
    os.replace(tmp, dst)
    return dst
