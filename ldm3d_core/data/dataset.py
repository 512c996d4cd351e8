"""``RGBDDataset``: (caption, RGB, depth) triples as the exact tensors the LDM3D VAE takes.

Each item is ``{"pixel_values": (C, H, W) float32 in [-1, 1], "caption": str}`` where
``pixel_values`` is :func:`ldm3d_core.codec.to_model_rgbd` of the (resized, cropped,
flipped) RGB and depth: the encoding the pipelines feed the VAE at inference, for
C = 4 (RGB + depth·2 − 1) or C = 6 (RGB + packed 16-bit depth). Resizing uses the
pipelines' own resampler (RGB bicubic, depth bilinear, both antialiased), before the
depth is quantised to 16 bits and, for 6 channels, packed.

Geometry:

- perspective images: the shorter side is resized to ``resolution``, then a
  ``resolution`` x ``resolution`` crop is taken (random with ``augment``, else central),
  and with ``augment`` the pair is mirrored left-right half of the time;
- panoramas (``panorama=True``): resized to ``2·resolution`` x ``resolution`` as a whole
  (cropping would break the equirectangular geometry); with ``augment`` a random
  horizontal roll (a turn about the vertical axis: still a valid panorama, seam anywhere)
  and a left-right mirror half of the time. Sources that are not 2:1 (within 1%) are
  skipped.

Skipped, each with a logged reason and counted in :attr:`RGBDDataset.skip_counts`: items
without a depth map, unreadable or corrupt image or depth files, and image/depth pairs
whose aspect ratios differ by more than 1%. A depth map of another size but the same
aspect ratio (within 1%) is resized to the image's size (depth maps are often computed
smaller). Files are checked by their headers when the dataset is built; a file that only
fails when decoded is skipped when first read, and the next item is returned instead.

Augmentation is deterministic: item ``i`` of epoch ``e`` draws from
``numpy.random.default_rng((seed, e, i))`` (call :meth:`RGBDDataset.set_epoch` each
epoch), so runs repeat exactly, with any number of DataLoader workers.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import numpy as np
import torch
from torch.utils.data import Dataset

from ..codec import to_model_rgbd
from ..pipelines.img2img import _resize
from .sources import Sample, depth_size, image_size, iter_samples, read_depth, read_rgb

log = logging.getLogger("ldm3d_core.data")

#: Relative aspect-ratio difference tolerated between image and depth, and for panoramas.
ASPECT_TOLERANCE = 0.01


def _aspect_differs(a: tuple[int, int], b: tuple[int, int]) -> bool:
    ra, rb = a[0] / a[1], b[0] / b[1]
    return abs(ra - rb) > ASPECT_TOLERANCE * ra


class RGBDDataset(Dataset):
    """Captioned RGBD training items from a folder or manifest (see the module docstring).

    source : folder (sidecar layout or with ``manifest.csv``) or a CSV/Parquet manifest;
        see :mod:`ldm3d_core.data.sources`
    resolution : output height (and width; panoramas are twice as wide), a multiple of 8
    channels : 4 (RGB + depth) or 6 (RGB + packed 16-bit depth), the VAE's ``in_channels``
    panorama : equirectangular 2:1 items, kept whole and rolled instead of cropped
    augment : random crops / rolls and mirroring; off: central crop, no mirroring
    seed : seed of the augmentation
    crop : then a ``crop`` x ``crop`` window at that scale (random with ``augment``, wrapping
        around the ±180° seam for panoramas; else the centre): cheap autoencoder training

    Raises ValueError naming the source when no usable item remains.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        resolution: int,
        channels: int = 4,
        panorama: bool = False,
        augment: bool = True,
        seed: int = 0,
        crop: int | None = None,
    ) -> None:
        if crop is not None and (crop <= 0 or crop % 8 or crop > resolution):
            raise ValueError(f"crop must be a multiple of 8 up to the resolution, got {crop}")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution <= 0:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8 (the VAE's), got {resolution}")
        if channels not in (4, 6):
            raise ValueError(f"channels must be 4 or 6, got {channels}")
        self.source = str(source)
        self.resolution = resolution
        self.channels = channels
        self.panorama = panorama
        self.augment = augment
        self.seed = seed
        self.crop = crop
        self.epoch = 0
        self.skip_counts: Counter[str] = Counter()
        self.skipped: list[tuple[str, str]] = []
        self.samples: list[Sample] = []
        self._bad: set[int] = set()
        for sample in iter_samples(source):
            reason = self._check(sample)
            if reason is None:
                self.samples.append(sample)
            else:
                self._skip(sample, *reason)
        if not self.samples:
            detail = f"; first: {self.skipped[0][0]}: {self.skipped[0][1]}" if self.skipped else ""
            raise ValueError(
                f"{self.source}: no usable (image, depth) pairs "
                f"({len(self.skipped)} skipped{detail})"
            )
        if self.skipped:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(self.skip_counts.items()))
            log.warning(
                "%s: %d items, %d skipped (%s)",
                self.source,
                len(self.samples),
                len(self.skipped),
                counts,
            )

    # -- indexing ------------------------------------------------------------------------

    def _skip(self, sample: Sample, kind: str, reason: str) -> None:
        self.skip_counts[kind] += 1
        self.skipped.append((str(sample.image), reason))
        log.warning("%s: skipped: %s", sample.image, reason)

    def _check(self, sample: Sample) -> tuple[str, str] | None:
        """(kind, reason) why ``sample`` is unusable, from file headers; None when usable."""
        if sample.depth is None:
            return "no depth", "no depth map (name_depth.png, depth/name.png or manifest)"
        try:
            img = image_size(sample.image)
        except FileNotFoundError:
            return "missing file", "image file not found"
        except (OSError, ValueError, SyntaxError) as exc:
            return "unreadable", f"cannot read image ({exc})"
        try:
            dep = depth_size(sample.depth)
        except FileNotFoundError:
            return "missing file", f"depth file {sample.depth} not found"
        except (OSError, ValueError, SyntaxError) as exc:
            return "unreadable", f"cannot read depth {sample.depth} ({exc})"
        if min(img) < 1 or min(dep) < 1:
            return "unreadable", "empty image"
        if self.panorama and abs(img[0] - 2 * img[1]) > ASPECT_TOLERANCE * img[0]:
            return "not 2:1", f"not a 2:1 panorama ({img[0]}x{img[1]})"
        if _aspect_differs(img, dep):
            return (
                "size mismatch",
                f"image is {img[0]}x{img[1]} but depth is {dep[0]}x{dep[1]} "
                "(aspect ratios differ by more than 1%)",
            )
        return None

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Use the augmentation draws of ``epoch`` from now on."""
        self.epoch = int(epoch)

    # -- items ---------------------------------------------------------------------------

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """Item ``index`` as read: (H, W, 3) uint8 RGB, (H, W) float32 depth, caption.

        A depth map of another size (same aspect ratio) comes back resized to the image's.
        """
        sample = self.samples[index]
        rgb = read_rgb(sample.image)
        depth = read_depth(sample.depth)
        h, w = rgb.shape[:2]
        if depth.shape != (h, w):
            depth = np.clip(_resize(depth, h, w, "bilinear"), 0.0, 1.0)
        return rgb, depth, sample.caption

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        n = len(self.samples)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        index %= n
        for attempt in range(n):
            i = (index + attempt) % n
            if i in self._bad:
                continue
            try:
                rgb, depth, caption = self.load(i)
            except (OSError, ValueError, SyntaxError) as exc:
                self._bad.add(i)
                self._skip(self.samples[i], "corrupt", f"cannot decode ({exc})")
                continue
            rng = np.random.default_rng((self.seed, self.epoch, index))
            x = self.transform(rgb, depth, rng)
            return {
                "pixel_values": torch.from_numpy(x).permute(2, 0, 1).contiguous(),
                "caption": caption,
            }
        raise RuntimeError(f"{self.source}: every item failed to decode")

    def transform(
        self, rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """RGB (H, W, 3) uint8 + depth (H, W) in [0, 1] -> model-space (h, w, C) float32.

        Resize, crop (or roll) and mirror as the module docstring says; ``rng`` None means
        no augmentation.
        """
        r = self.resolution
        h, w = rgb.shape[:2]
        augment = self.augment and rng is not None
        if self.panorama:
            rgb, depth = _resize_pair(rgb, depth, r, 2 * r)
            if augment:
                if rng.random() < 0.5:
                    rgb, depth = rgb[:, ::-1], depth[:, ::-1]
                shift = int(rng.integers(0, 2 * r))
                rgb, depth = np.roll(rgb, shift, axis=1), np.roll(depth, shift, axis=1)
        else:
            scale = r / min(h, w)
            th, tw = max(r, round(h * scale)), max(r, round(w * scale))
            rgb, depth = _resize_pair(rgb, depth, th, tw)
            if augment:
                top, left = int(rng.integers(0, th - r + 1)), int(rng.integers(0, tw - r + 1))
            else:
                top, left = (th - r) // 2, (tw - r) // 2
            rgb, depth = rgb[top : top + r, left : left + r], depth[top : top + r, left : left + r]
            if augment and rng.random() < 0.5:
                rgb, depth = rgb[:, ::-1], depth[:, ::-1]
        if self.crop is not None:
            rgb, depth = self._window(rgb, depth, rng if augment else None)
        return np.ascontiguousarray(to_model_rgbd(rgb, depth, channels=self.channels))

    def _window(
        self, rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``crop`` x ``crop`` window (random, or central without ``rng``)."""
        c, (h, w) = self.crop, depth.shape
        if rng is None:
            top, left = (h - c) // 2, (w - c) // 2
        else:
            top = int(rng.integers(0, h - c + 1))
            left = int(rng.integers(0, (w if self.panorama else w - c + 1)))
        cols = np.arange(left, left + c) % w  # a panorama's window may cross the seam
        return rgb[top : top + c][:, cols], depth[top : top + c][:, cols]


def _resize_pair(
    rgb: np.ndarray, depth: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Resize as the img2img pipeline does: RGB bicubic (rounded back to uint8), depth bilinear."""
    if rgb.shape[:2] == (height, width):
        return rgb, depth
    rgb_f = _resize(rgb.astype(np.float32) / 255.0, height, width, "bicubic")
    rgb8 = np.rint(np.clip(rgb_f, 0.0, 1.0) * 255.0).astype(np.uint8)
    return rgb8, np.clip(_resize(depth, height, width, "bilinear"), 0.0, 1.0)
