"""What the preview draws on top of the view: text panels (help, status, messages) rendered with
OpenCV, and the textured-quad presenter that shows frames and panels in the window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("depthfusion")

# --- overlay text -------------------------------------------------------------------------------


def text_panel(
    rows: Sequence[tuple[str, str] | str],
    max_size: tuple[int, int] | None = None,
    scale: float = 0.5,
    background: int = 170,
):
    """An RGBA uint8 panel of text rows (straight alpha): a row is a string, or a
    (key, description) pair drawn in two aligned columns, keys highlighted. Shrinks the
    font to fit ``max_size`` (w, h) when given."""
    import cv2
    import numpy as np

    font, thick = cv2.FONT_HERSHEY_SIMPLEX, 1
    pairs = [r if isinstance(r, tuple) else (r, "") for r in rows]

    def measure(s: float):
        key_w = max((cv2.getTextSize(k, font, s, thick)[0][0] for k, d in pairs if d), default=0)
        gap = int(round(24 * s)) if key_w else 0
        widths = [
            (key_w + gap + cv2.getTextSize(d, font, s, thick)[0][0])
            if d
            else cv2.getTextSize(k or " ", font, s, thick)[0][0]
            for k, d in pairs
        ]
        (_, text_h), base = cv2.getTextSize("Ag", font, s, thick)
        line_h = text_h + base + int(round(8 * s))
        pad = int(round(14 * s))
        return key_w + gap, line_h, base, pad, max(widths, default=0) + 2 * pad

    for _ in range(8):
        col, line_h, base, pad, width = measure(scale)
        height = line_h * len(pairs) + 2 * pad
        if max_size is None or (width <= max_size[0] and height <= max_size[1]) or scale < 0.3:
            break
        scale *= max(0.5, min(max_size[0] / width, max_size[1] / height))
    image = np.zeros((height, width, 4), dtype=np.uint8)
    image[..., 3] = background
    for i, (key, desc) in enumerate(pairs):
        y = pad + (i + 1) * line_h - base - int(round(4 * scale))
        if desc:
            cv2.putText(image, key, (pad, y), font, scale, (255, 214, 110, 255), thick, cv2.LINE_AA)
            cv2.putText(
                image, desc, (pad + col, y), font, scale, (235, 235, 235, 255), thick, cv2.LINE_AA
            )
        else:
            cv2.putText(image, key, (pad, y), font, scale, (255, 255, 255, 255), thick, cv2.LINE_AA)
    return image


# --- drawing ------------------------------------------------------------------------------------


class Presenter:
    """Shows images (top row first) as quads on the window: the frame and the overlays."""

    def __init__(self, ctx) -> None:
        from ..render.gl import load_program

        self.ctx = ctx
        self.program = load_program(ctx, "preview_quad")
        self.program["image"] = 0
        self.vao = ctx.vertex_array(self.program, [])
        self._textures: dict[str, Any] = {}

    def _texture(self, name: str, image) -> Any:
        h, w, c = image.shape
        tex = self._textures.get(name)
        if tex is None or tex.size != (w, h) or tex.components != c:
            if tex is not None:
                tex.release()
            tex = self.ctx.texture((w, h), c, alignment=1)
            tex.repeat_x = tex.repeat_y = False
            self._textures[name] = tex
        tex.write(image)
        return tex

    def draw(self, name: str, image, viewport: tuple[int, int, int, int], blend: bool = False):
        import moderngl

        tex = self._texture(name, image)
        smooth = (viewport[2], viewport[3]) != (image.shape[1], image.shape[0])
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR) if smooth else (moderngl.NEAREST,) * 2
        ctx = self.ctx
        ctx.viewport = viewport
        ctx.enable_only(moderngl.BLEND if blend else moderngl.NOTHING)
        if blend:
            ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        tex.use(0)
        self.vao.render(moderngl.TRIANGLE_STRIP, vertices=4)
        ctx.enable_only(moderngl.NOTHING)

    def release(self) -> None:
        for tex in self._textures.values():
            tex.release()
        self._textures.clear()
        self.vao.release()
        self.program.release()


def is_software_gl(ctx) -> bool:
    from ..render.gl import gl_info

    name = gl_info(ctx)["renderer"].lower()
    return any(s in name for s in ("llvmpipe", "softpipe", "swrast", "software"))
