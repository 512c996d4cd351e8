"""Filling what nobody saw, on the wrapped lat-long grid: the background band grown behind
depth edges, Telea inpainting from background pixels only (on a capped working size), and
the fade toward the local mean with distance from real background. Columns wrap round the
±180° seam in every filter here.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .layers import DepthEdges

#: Telea inpainting radius in pixels of the (possibly shrunk) texture it works on.
INPAINT_RADIUS = 3
#: Telea's time grows with the masked area: it runs on the texture shrunk by an integer
#: factor (the fill scaled back up) above this width or this many masked pixels. Not
#: coarser: what a head move uncovers lies within a few pixels of the silhouette, and a
#: fill at half of 1024 px loses to the stretched mesh on detailed backgrounds (measured
#: with benchmarks/bench_discontinuities.py: up to -0.3 dB on the pillars scene).
INPAINT_MAX_WIDTH = 1024
INPAINT_MAX_PIXELS = 1_500_000
#: The fill fades to the local mean away from known background: a fill pixel d pixels from
#: the nearest one is blurred with sigma = FILL_BLUR * d (at most FILL_BLUR_MAX pixels).
FILL_BLUR = 1.0
FILL_BLUR_MAX = 16.0
#: Width of the background-disparity groups the band is inpainted in, in half-thresholds.
INPAINT_BIN = 2
#: Fill blurs this wide or wider run on a shrunk copy (see _gaussian).
SHRUNK_BLUR_SIGMA = 8.0


# --- building -----------------------------------------------------------------------------------


def _wrap_pad(a: np.ndarray, pad: int) -> np.ndarray:
    """Pad columns on both sides by wrapping (the panorama is periodic in longitude)."""
    if pad <= 0:
        return a
    if pad <= a.shape[1]:
        return np.concatenate([a[:, -pad:], a, a[:, :pad]], axis=1)
    reps = -(-pad // a.shape[1])  # pads wider than the image wrap more than once
    tiled = np.concatenate([a] * (2 * reps + 1), axis=1)
    start = reps * a.shape[1] - pad
    return tiled[:, start : start + a.shape[1] + 2 * pad]


def _inpaint_wrapped(
    rgb: np.ndarray, mask: np.ndarray, pad: int, radius: int, factor: int = 1
) -> np.ndarray:
    """cv2 Telea inpainting of ``mask`` pixels, periodic across the seam.

    factor > 1 inpaints a copy shrunk by that factor (a shrunk pixel is unknown when any of
    its pixels is) and scales the fill back up: Telea's cost grows with the masked area, and
    a fill that wide is smooth anyway.
    """
    h, w = mask.shape
    padded = _wrap_pad(rgb, pad)
    mpad = _wrap_pad(mask.astype(np.uint8), pad)
    if factor > 1:
        size = (max(1, padded.shape[1] // factor), max(1, h // factor))
        small = cv2.resize(padded, size, interpolation=cv2.INTER_AREA)
        msmall = (cv2.resize(mpad * np.uint8(255), size, interpolation=cv2.INTER_AREA) > 0).astype(
            np.uint8
        )
        out = cv2.inpaint(small, msmall, radius, cv2.INPAINT_TELEA)
        out = cv2.resize(out, (padded.shape[1], h), interpolation=cv2.INTER_LINEAR)
    else:
        out = cv2.inpaint(np.ascontiguousarray(padded), mpad, radius, cv2.INPAINT_TELEA)
    return out[:, pad : pad + w]


def _grow_band(
    depth: np.ndarray, edges: DepthEdges, band: int, half: float
) -> tuple[np.ndarray, np.ndarray]:
    """The band behind the cuts and its background disparity, (rows, cols) each.

    Seeds: near-side pixels (not ledges that are also a far side: those anchor another
    edge's background and must stay put), carrying the disparity of their farthest far-side
    neighbour. The band then grows into its neighbours, ``step`` cells at a time for
    ``band`` cells, taking every pixel clearly nearer (by ``half``) than the background it
    would inherit (the farthest among the band pixels within reach). Far-side pixels never
    join, so the background layer keeps the foreground's vertices along every far side: no
    crack. Growing through the occluder rather than taking each pixel's nearest edge also
    covers nested occluders (an object in front of a thin one in front of the wall), and
    never spreads over a background that merely slopes (a floor, a wall seen obliquely).
    """
    rows, cols = depth.shape
    big = np.float32(2.0)
    seeds = edges.near & ~edges.far
    d_seed = _min_filter_wrapped(np.where(edges.far, depth, big), 1)
    grown = seeds & (depth > d_seed + half)
    d_bg = np.where(grown, d_seed, big).astype(np.float32)
    step = max(1, math.ceil(band / 8))
    pad = band + step + 1
    # Grow on a wrap-padded copy: errors from the padding's outer edge travel at most `band`
    # cells, so the central columns are exact.
    grown_p, d_bg_p = _wrap_pad(grown, pad), _wrap_pad(d_bg, pad)
    depth_p, far_p = _wrap_pad(depth, pad), _wrap_pad(edges.far, pad)
    kernel = np.ones((2 * step + 1, 2 * step + 1), np.uint8)
    free = ~(grown_p | far_p)  # may still join
    d_prop = np.empty_like(d_bg_p)
    limit = np.empty_like(d_bg_p)
    new = np.empty_like(free)
    for _ in range(math.ceil(band / step)):
        cv2.erode(d_bg_p, kernel, dst=d_prop, borderType=cv2.BORDER_REPLICATE)
        np.add(d_prop, np.float32(half), out=limit)
        np.greater(depth_p, limit, out=new)
        new &= free
        if not new.any():
            break
        np.copyto(d_bg_p, d_prop, where=new)
        grown_p |= new
        free &= ~new
    grown = grown_p[:, pad : pad + cols]
    d_bg = d_bg_p[:, pad : pad + cols]
    # Pinholes (a pixel barely nearer than its neighbours' background): close them.
    holes = _close_wrapped(grown) & ~grown & ~edges.far
    if holes.any():
        d_hole = _min_filter_wrapped(d_bg, 1)
        d_bg[holes] = np.minimum(depth[holes], d_hole[holes])
        grown |= holes
    d_bg = np.where(grown, np.minimum(d_bg, depth), depth)
    return grown, d_bg


def _inpaint_band(
    tex: np.ndarray,
    depth: np.ndarray,
    band_mask: np.ndarray,
    d_bg: np.ndarray,
    band: int,
    half: float,
    radius: int,
) -> np.ndarray:
    """The background texture: ``tex`` with the band inpainted (OpenCV Telea) from sources at
    or behind the band's own background only.

    A band pixel's valid sources depend on its background: behind an object standing in
    front of a thin pillar in front of the wall, the band continues the pillar, while the
    pillar's own band continues the wall. So the band is split into groups by background
    disparity, in bins :data:`INPAINT_BIN` half-thresholds wide; each group is inpainted with
    everything clearly nearer than its background (within reach of it) masked out. The
    far-side pixels themselves stay sources: they are the background's only evidence right
    behind the silhouette, and their anti-aliased mix of occluder colour costs less than
    extrapolating from pixels further out (which lost to the stretched mesh on detailed
    backgrounds). Wider than :data:`INPAINT_MAX_WIDTH`, or with more than
    :data:`INPAINT_MAX_PIXELS` masked pixels, a group runs shrunk.
    """
    rows, cols = depth.shape
    th, tw = tex.shape[:2]
    out = tex.copy()
    level = np.floor(d_bg / (INPAINT_BIN * half)).astype(np.int64)
    reach = 2 * band + radius + 1
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)

    def fill_group(k: int):
        group = band_mask & (level == k)
        d_max = float(d_bg[group].max())
        near_zone = _wrap_pad(group.astype(np.uint8), reach)
        near_zone = cv2.dilate(near_zone, kernel)[:, reach : reach + cols] > 0
        mask = group | (near_zone & (depth > d_max + half))
        # Only the rows around the group matter (the mask wraps in longitude).
        ys = np.flatnonzero(group.any(axis=1))
        r0, r1 = max(0, ys[0] - reach), min(rows, ys[-1] + reach + 1)
        t0, t1 = r0 * th // rows, -(-r1 * th // rows)
        mask_t = _resize_mask(mask, (th, tw))[t0:t1]
        factor = max(
            math.ceil(tw / INPAINT_MAX_WIDTH),
            math.ceil(math.sqrt(np.count_nonzero(mask_t) / INPAINT_MAX_PIXELS)),
        )
        pad = int(min(tw, math.ceil(reach * tw / cols) + (radius + 2) * factor))
        filled = _inpaint_wrapped(tex[t0:t1], mask_t, pad, radius, factor)
        filled = _blur_with_distance(filled, mask_t, pad, FILL_BLUR)
        return t0, t1, _resize_mask(group, (th, tw))[t0:t1], filled

    # OpenCV releases the GIL: the groups inpaint in parallel on a few threads.
    groups = [int(k) for k in np.unique(level[band_mask])]
    workers = max(1, min(len(groups), 4, len(os.sched_getaffinity(0))))
    with ThreadPoolExecutor(workers) as pool:
        for t0, t1, group_t, filled in pool.map(fill_group, groups):
            out[t0:t1][group_t] = filled[group_t]
    return out


def _blur_with_distance(img: np.ndarray, mask: np.ndarray, pad: int, k: float) -> np.ndarray:
    """``img`` with each ``mask`` pixel blurred (Gaussian) by ``sigma = k * d``, d its distance
    in pixels to the nearest pixel outside ``mask``; periodic across the seam.

    What a head move uncovers is unknown: the further a fill pixel lies from real background,
    the less its exact colour can be trusted, and the local mean is the estimate with the
    least squared error. So the fill keeps Telea's detail next to the edge and fades to the
    local mean deeper in (sigma interpolated over a ladder of blurs, up to
    :data:`FILL_BLUR_MAX`).
    """
    if k <= 0.0 or not mask.any():
        return img
    w = mask.shape[1]
    mpad = _wrap_pad(mask.astype(np.uint8), pad)
    dist = cv2.distanceTransform(mpad, cv2.DIST_L2, 3)[:, pad : pad + w]
    sigma = np.minimum(k * dist, FILL_BLUR_MAX)
    top = float(sigma.max())
    if top <= 0.0:
        return img
    ladder = [0.0]
    while ladder[-1] < top:
        ladder.append(max(1.0, 2.0 * ladder[-1]))
    # Only the masked pixels change: the ladder is read and mixed there alone.
    ys, xs = np.nonzero(sigma > 0.0)
    s = sigma[ys, xs]
    padded = _wrap_pad(img, pad)
    # Each pixel mixes the two ladder levels around its sigma: level k - 1 and k with
    # ladder[k - 1] < s <= ladder[k] (level 0: the image itself).
    steps = np.asarray(ladder, dtype=np.float32)
    k = np.searchsorted(steps, s, side="left")
    levels = np.stack(
        [img[ys, xs].astype(np.float32)] + [_blur_at(padded, hi, ys, xs + pad) for hi in ladder[1:]]
    )
    picks = np.arange(len(s))
    lo, hi = steps[k - 1], steps[k]
    t = ((s - lo) / (hi - lo))[:, None]
    mixed = (1.0 - t) * levels[k - 1, picks] + t * levels[k, picks]
    out = img.copy()
    out[ys, xs] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


def _blur_at(padded: np.ndarray, sigma: float, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """:func:`_gaussian` of ``padded`` (as float32) read at (ys, xs).

    Below :data:`SHRUNK_BLUR_SIGMA` only the columns the pixels need, plus the kernel's
    reach (OpenCV's float kernel: radius round(8 sigma + 1) // 2), are blurred: the same
    numbers as blurring the whole strip (the crop's own borders are out of the kernel's
    reach, or are the strip's), at the cost of the masked span only."""
    if sigma >= SHRUNK_BLUR_SIGMA:  # the shrunk blur's grid depends on the whole strip
        a, b = 0, padded.shape[1]
    else:
        reach = (round(8.0 * sigma + 1.0) | 1) // 2 + 1
        a = max(0, int(xs.min()) - reach)
        b = min(padded.shape[1], int(xs.max()) + 1 + reach)
    blurred = _gaussian(padded[:, a:b].astype(np.float32), sigma)
    flat = blurred.reshape(len(blurred) * (b - a), -1)
    return flat.take(ys * (b - a) + (xs - a), axis=0)


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``img``; from :data:`SHRUNK_BLUR_SIGMA` on, computed on a copy shrunk
    by ``sigma // 2`` (box-filtered down, blurred, bilinear back up, their variances taken
    off the blur's): within 1.5 levels of the exact blur (0.1 on average), at a small part
    of a wide kernel's cost (sigma 16 at 2048 wide: 4 ms instead of 90 ms a strip)."""
    if sigma < SHRUNK_BLUR_SIGMA:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    h, w = img.shape[:2]
    f = int(sigma // 2)
    size = (max(1, round(w / f)), max(1, round(h / f)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), math.sqrt(max(sigma**2 / f**2 - 0.25, 0.25)))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _min_filter_wrapped(a: np.ndarray, radius: int) -> np.ndarray:
    """Minimum over a (2 radius + 1)^2 window, periodic across the seam."""
    pad = min(radius, a.shape[1])
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    out = cv2.erode(_wrap_pad(a, pad), kernel, borderType=cv2.BORDER_REPLICATE)
    return out[:, pad : pad + a.shape[1]]


def _close_wrapped(mask: np.ndarray) -> np.ndarray:
    """3 x 3 morphological closing, periodic across the seam."""
    padded = _wrap_pad(mask.astype(np.uint8), 2)
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return closed[:, 2:-2] > 0


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    return (
        cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    )
