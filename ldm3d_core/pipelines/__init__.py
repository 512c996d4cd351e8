"""LDM3D pipelines, one module each: text -> RGBD, RGBD img2img (both with panoramas), and
RGBD super-resolution (``upscale``, Intel/ldm3d-sr)."""

from .base import LDM3DComponents, RGBDOutput
from .img2img import LDM3DImg2ImgPipeline
from .txt2rgbd import LDM3DTxt2RGBDPipeline
from .upscale import LDM3DUpscalePipeline, UpscaleComponents

__all__ = [
    "LDM3DComponents",
    "LDM3DImg2ImgPipeline",
    "LDM3DTxt2RGBDPipeline",
    "LDM3DUpscalePipeline",
    "RGBDOutput",
    "UpscaleComponents",
]
