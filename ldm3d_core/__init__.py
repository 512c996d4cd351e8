"""ldm3d_core: the LDM3D model side of the project (RGBD codec, pipelines, depth, training).

Never imports depthfusion or OpenGL. The pipeline API is imported lazily (torch and
diffusers load only when it is first used)::

    from ldm3d_core import load_pipeline
    pipe = load_pipeline("Intel/ldm3d-pano", device="auto", dtype="auto")
    out = pipe.txt2rgbd("360 view of a forest", panorama=True, seed=0)
    out = pipe.img2img(rgb, depth, "snowy", strength=0.6, panorama=True)

    from ldm3d_core import load_upscaler
    sr = load_upscaler("Intel/ldm3d-sr")
    big = sr(out.rgb[0], out.depth16[0], "360 view of a forest", scale=4, panorama=True)
"""

from .errors import ModelNotFoundError

__version__ = "0.1.0"

_LAZY = {
    "load_pipeline": ".loading",
    "load_components": ".loading",
    "load_upscaler": ".loading",
    "DEFAULT_UPSCALE_MODEL": ".loading",
    "LDM3D": ".loading",
    "DEFAULT_MODEL": ".loading",
    "DEFAULT_PANORAMA_MODEL": ".loading",
    "RGBDOutput": ".pipelines",
    "LDM3DComponents": ".pipelines",
    "LDM3DTxt2RGBDPipeline": ".pipelines",
    "LDM3DImg2ImgPipeline": ".pipelines",
    "LDM3DUpscalePipeline": ".pipelines",
    "UpscaleComponents": ".pipelines",
}

__all__ = ["ModelNotFoundError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
