"""Image metrics of the LDM3D paper (§3.1.4, §4.2, Tab. 1): FID, Inception Score, CLIP similarity.

All three are torchmetrics' implementations. FID and IS use the Inception-v3 network that
torch-fidelity wraps (the TF-ported weights every published FID uses); CLIP similarity uses
a transformers CLIP model (default ``openai/clip-vit-large-patch14``), score =
max(100 · cos(image, caption), 0) per image, reported as mean ± std over images.

Nothing is downloaded: the Inception weights are read from ``--inception-weights`` or
torch's hub cache (``$TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth``),
the CLIP model from a local folder or the Hugging Face cache; a missing one raises
:class:`MetricUnavailableError` whose one-line message says how to get it. Tests and
experiments can pass any feature extractor module instead (``fid_features``,
``is_features``) and any (model, processor) pair for CLIP.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE
)
#: The CLIP model Stable Diffusion evaluations commonly report (ViT-L/14).
DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"
IMAGE_METRICS = ("fid", "is", "clip")


class MetricUnavailableError(FileNotFoundError):
    """A metric's network (package or weights) is missing; ``str(exc)`` is one line."""


def inception_weights_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The local file of torch-fidelity's Inception-v3 weights (never downloads).

    path : an explicit file; default torch's hub cache, where torch-fidelity keeps them
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MetricUnavailableError(f"Inception weights {p} not found")
        return p
    p = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    if not p.is_file():
        raise MetricUnavailableError(
            f"FID/IS need the Inception-v3 weights, not found at {p}; download "
            f"{INCEPTION_WEIGHTS_URL} there, or pass --inception-weights PATH"
        )
    return p


def _require_torch_fidelity() -> None:
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        raise MetricUnavailableError(
            "FID and IS need the torch-fidelity package (pip install torch-fidelity)"
        ) from None


def load_inception(
    features: str = "2048", weights: str | os.PathLike[str] | None = None
) -> torch.nn.Module:
    """torch-fidelity's Inception-v3 (through torchmetrics), eval mode, from local weights.

    features : ``"2048"`` (pool features, FID) or ``"logits_unbiased"`` (IS)
    """
    _require_torch_fidelity()
    from torchmetrics.image.fid import NoTrainInceptionV3

    return NoTrainInceptionV3(
        name="inception-v3-compat",
        features_list=[features],
        feature_extractor_weights_path=str(inception_weights_path(weights)),
    )


class _CLIPFeatures(torch.nn.Module):
    """A CLIP model whose ``get_*_features`` return tensors, as torchmetrics expects.

    transformers 5 returns a model output whose ``pooler_output`` is the projected
    embedding; torchmetrics 1.9 still expects the tensor itself.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    @property
    def config(self) -> Any:
        return self.model.config

    @staticmethod
    def _tensor(out: Any) -> torch.Tensor:
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def get_image_features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._tensor(self.model.get_image_features(*args, **kwargs))

    def get_text_features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._tensor(self.model.get_text_features(*args, **kwargs))


def load_clip(model: str | os.PathLike[str] = DEFAULT_CLIP_MODEL) -> tuple[Any, Any]:
    """(CLIP model, processor) from a local folder or the Hugging Face cache (no download)."""
    from transformers import CLIPModel, CLIPProcessor

    name = str(model)
    local = Path(name).expanduser()
    src = str(local) if local.is_dir() else name
    try:
        net = CLIPModel.from_pretrained(src, local_files_only=True).eval()
        processor = CLIPProcessor.from_pretrained(src, local_files_only=True)
    except (OSError, ValueError) as exc:
        if local.is_dir():
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise MetricUnavailableError(
                f"CLIP model folder {local} is incomplete ({first})"
            ) from None
        raise MetricUnavailableError(
            f"CLIP model {name!r} is not in the Hugging Face cache; download it with "
            f"`huggingface-cli download {name}`, or pass --clip-model PATH"
        ) from None
    return net, processor


def as_uint8_batch(images: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> torch.Tensor:
    """(B, H, W, 3) or (H, W, 3) uint8 RGB (arrays or a list of equal-size arrays)
    -> (B, 3, H, W) uint8 tensor, the input torchmetrics' Inception takes."""
    if isinstance(images, torch.Tensor):
        a = images
    else:
        stacked = np.stack(list(images)) if isinstance(images, (list, tuple)) else images
        a = torch.tensor(np.asarray(stacked))  # a copy: decoded images are often read-only
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != torch.uint8:
        raise ValueError(f"expected (B, H, W, 3) uint8 RGB images, got {tuple(a.shape)} {a.dtype}")
    return a.permute(0, 3, 1, 2).contiguous()


class ImageMetrics:
    """FID of generated against real images, Inception Score and CLIP similarity.

    metrics : any of ``"fid"``, ``"is"``, ``"clip"``
    fid_features, is_features : feature modules (uint8 (B, 3, H, W) -> (B, F)) replacing
        the Inception network (tests, other backbones); default: Inception-v3 from
        ``inception_weights`` or the hub cache
    clip_model : folder / cached hub id, or a loaded (model, processor) pair
    is_splits : the IS splits (10 in the literature; fewer when there are fewer images)

    The networks load when the object is made, so a missing one fails before any
    generation starts.
    """

    def __init__(
        self,
        metrics: Sequence[str] = IMAGE_METRICS,
        *,
        fid_features: torch.nn.Module | None = None,
        is_features: torch.nn.Module | None = None,
        inception_weights: str | os.PathLike[str] | None = None,
        clip_model: str | os.PathLike[str] | tuple[Any, Any] = DEFAULT_CLIP_MODEL,
        is_splits: int = 10,
        device: str | torch.device = "cpu",
    ) -> None:
        unknown = sorted(set(metrics) - set(IMAGE_METRICS))
        if unknown:
            raise ValueError(f"unknown image metric(s) {', '.join(unknown)}; use fid, is, clip")
        self.metrics = tuple(metrics)
        self.device = torch.device(device)
        self.is_splits = is_splits
        self.clip_scores: list[float] = []
        self.fid = self.inception_score = self.clip = None
        if "fid" in self.metrics:
            from torchmetrics.image.fid import FrechetInceptionDistance

            if fid_features is not None:
                self.fid = FrechetInceptionDistance(feature=fid_features)
            else:  # the standard 2048-d pool features
                _require_torch_fidelity()
                path = str(inception_weights_path(inception_weights))
                self.fid = FrechetInceptionDistance(
                    feature=2048, feature_extractor_weights_path=path
                )
            self.fid = self.fid.to(self.device)
        if "is" in self.metrics:
            from torchmetrics.image.inception import InceptionScore

            feats = is_features or load_inception("logits_unbiased", inception_weights)
            self.inception_score = InceptionScore(feature=feats, splits=is_splits).to(self.device)
        if "clip" in self.metrics:
            from torchmetrics.multimodal.clip_score import CLIPScore

            net, processor = clip_model if isinstance(clip_model, tuple) else load_clip(clip_model)
            wrapped = _CLIPFeatures(net.to(self.device))
            self.clip = CLIPScore(model_name_or_path=lambda: (wrapped, processor))

    def update_real(self, images: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> None:
        """Add reference images (FID's real set); uint8 RGB, (B, H, W, 3) or (H, W, 3)."""
        if self.fid is not None:
            self.fid.update(as_uint8_batch(images).to(self.device), real=True)

    @torch.no_grad()
    def update_generated(
        self,
        images: np.ndarray | torch.Tensor | Sequence[np.ndarray],
        captions: Sequence[str] | None = None,
    ) -> None:
        """Add generated images (and their captions, needed for CLIP similarity)."""
        batch = as_uint8_batch(images).to(self.device)
        if self.fid is not None:
            self.fid.update(batch, real=False)
        if self.inception_score is not None:
            self.inception_score.update(batch)
        if self.clip is not None:
            if captions is None or len(captions) != len(batch):
                raise ValueError("CLIP similarity needs one caption per generated image")
            for image, caption in zip(batch, captions, strict=True):
                self.clip.reset()
                self.clip_scores.append(float(self.clip(image, [caption])))

    @torch.no_grad()
    def compute(self) -> dict[str, float]:
        """``fid``; ``is`` and ``is_std`` (over splits); ``clip`` and ``clip_std`` (over images)."""
        out: dict[str, float] = {}
        if self.fid is not None:
            out["fid"] = float(self.fid.compute())
        if self.inception_score is not None:
            n = sum(len(f) for f in self.inception_score.features)
            self.inception_score.splits = max(1, min(self.is_splits, n))
            mean, std = self.inception_score.compute()
            out["is"], out["is_std"] = float(mean), float(std)
        if self.clip is not None:
            if not self.clip_scores:
                raise ValueError("no generated images to score with CLIP")
            out["clip"] = float(np.mean(self.clip_scores))
            out["clip_std"] = float(np.std(self.clip_scores))
        return out
