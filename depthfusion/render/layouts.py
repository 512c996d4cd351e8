"""Stereo frame layouts: how the left and right views are packed into output frames.

``frame_size`` (an output's ``size`` in the scene file) is the picture one eye sees,
(w, h). The layouts give:

================== ============================== ===========================================
layout             each eye is rendered at        composed frame
================== ============================== ===========================================
mono               w x h (one view, eye = 0)      w x h
sbs                w x h                          2w x h, left half = left eye
sbs-half           (w // 2) x h, aspect w/h       2 (w // 2) x h: each eye squeezed to half
                   (anamorphic: same fov/aspect   width, a player stretches it back (w - 1
                   as the full frame)             wide when w is odd)
tb                 w x h                          w x 2h, left eye on top
anaglyph           w x h                          w x h, red-cyan (Dubois)
left-right-files   w x h                          two w x h images (left, right)
================== ============================== ===========================================

Odd sizes pass through unchanged; making dimensions even for a codec is the writers' job.

Anaglyph: Dubois' least-squares red-cyan matrices (E. Dubois, "Conversion of a stereo pair
to anaglyph with the least-squares projection method", 2009). His projection is derived for
linear light intensities, so by default the sRGB views are decoded to linear light, mixed,
clipped to [0, 1] and encoded back to sRGB (``linear=False`` applies the matrices to the
sRGB values directly, as many players do; it looks darker and more saturated).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..conventions import linear_to_srgb, srgb_to_linear
from .pose import Pose

LAYOUTS = ("mono", "sbs", "sbs-half", "tb", "anaglyph", "left-right-files")

#: Dubois red-cyan, rows = output R, G, B; columns = input R, G, B of the left/right view.
DUBOIS_LEFT = np.array(
    [[0.437, 0.449, 0.164], [-0.062, -0.062, -0.024], [-0.048, -0.050, -0.017]],
    dtype=np.float32,
)
DUBOIS_RIGHT = np.array(
    [[-0.011, -0.032, -0.007], [0.377, 0.761, 0.009], [-0.026, -0.093, 1.234]],
    dtype=np.float32,
)


def check_layout(layout: str) -> str:
    """``layout`` if known, else ValueError listing the known ones."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown stereo layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    return layout


def is_stereo(layout: str) -> bool:
    """Whether the layout needs two eyes."""
    return check_layout(layout) != "mono"


def eye_size(layout: str, frame_size: tuple[int, int]) -> tuple[int, int]:
    """Pixel size (w, h) at which each eye is rendered for a ``frame_size`` output."""
    width, height = (int(s) for s in frame_size)
    if check_layout(layout) == "sbs-half":
        return max(1, width // 2), height
    return width, height


def eye_aspect(layout: str, frame_size: tuple[int, int]) -> float:
    """Display aspect (w/h) of each eye's projection: the frame's, also for sbs-half."""
    check_layout(layout)
    return frame_size[0] / frame_size[1]


def output_size(layout: str, frame_size: tuple[int, int]) -> tuple[int, int]:
    """Size (w, h) of the composed frame (of each file for left-right-files)."""
    w, h = eye_size(layout, frame_size)
    if layout in ("sbs", "sbs-half"):
        return 2 * w, h
    if layout == "tb":
        return w, 2 * h
    return w, h


def compose(
    layout: str, left: np.ndarray, right: np.ndarray | None = None, *, linear: bool = True
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pack (h, w, 3) uint8 eye views into the layout's frame (a pair for left-right-files).

    mono returns ``left`` itself; ``linear`` only matters for anaglyph (module docstring).
    """
    check_layout(layout)
    if layout == "mono":
        return left
    if right is None or right.shape != left.shape:
        raise ValueError(f"layout {layout!r} needs left and right views of the same shape")
    if layout in ("sbs", "sbs-half"):
        return np.concatenate([left, right], axis=1)
    if layout == "tb":
        return np.concatenate([left, right], axis=0)
    if layout == "anaglyph":
        return anaglyph(left, right, linear=linear)
    return left, right


def render_frame(
    renderer: Any,
    layout: str,
    pose: Pose,
    frame_size: tuple[int, int],
    fov: float,
    ipd: float,
    convergence: float | None,
    near: float = 0.05,
    far: float = 1000.0,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render and compose one output frame with a :class:`~.renderer.MeshRenderer`."""
    size = eye_size(layout, frame_size)
    aspect = eye_aspect(layout, frame_size)
    if layout == "mono":
        return renderer.render(pose, size, fov, near=near, far=far, aspect=aspect)
    if layout == "tb":  # each half of a top-bottom frame is contiguous: render in place
        w, h = size
        frame = np.empty((2 * h, w, 3), dtype=np.uint8)
        for eye, part in ((-ipd / 2.0, frame[:h]), (ipd / 2.0, frame[h:])):
            renderer.render(pose, size, fov, eye, convergence, near, far, aspect=aspect, out=part)
        return frame
    left, right = renderer.render_stereo(
        pose, size, fov, ipd, convergence, near, far, aspect=aspect
    )
    return compose(layout, left, right)


# --- anaglyph ----------------------------------------------------------------------------------


_DECODE = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
_ENCODE_STEPS = 65535  # 16-bit linear -> 8-bit sRGB table: error < 0.05 of a level
_ENCODE = np.round(255.0 * linear_to_srgb(np.arange(_ENCODE_STEPS + 1) / _ENCODE_STEPS)).astype(
    np.uint8
)


def anaglyph(left: np.ndarray, right: np.ndarray, *, linear: bool = True) -> np.ndarray:
    """Red-cyan Dubois anaglyph (h, w, 3) uint8 of two (h, w, 3) uint8 sRGB views."""
    if linear:
        lin_l, lin_r = _DECODE[left], _DECODE[right]
    else:
        lin_l = left.astype(np.float32) / 255.0
        lin_r = right.astype(np.float32) / 255.0
    mixed = lin_l @ DUBOIS_LEFT.T
    mixed += lin_r @ DUBOIS_RIGHT.T
    np.clip(mixed, 0.0, 1.0, out=mixed)
    if linear:
        return _ENCODE[(mixed * _ENCODE_STEPS + 0.5).astype(np.uint16)]
    return (mixed * 255.0 + 0.5).astype(np.uint8)
