"""The model-backed sources: LDM3D text-to-RGBD panorama generation (``source.prompt``),
LDM3D img2img on a panorama (``source.img2img``), monocular panorama depth
(``depth: estimate``, DPT), and LDM3D-VR super-resolution after any source
(``source.upscale``). ``ldm3d_core`` is imported only when one of them runs, so a
file-backed scene starts fast; ``source.model: embedded`` is the model shipped in ``assets/``.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import InputError, SceneError
from ..resources import asset_path
from ..rgbd.panorama import RGBDPanorama
from ..scene import Scene, Source

log = logging.getLogger("depthfusion")


# Scene-file sampler names -> ldm3d_core's (the scene file also accepts the sampler's
# usual name `dpm++`).
_SCHEDULERS = {"ddim": "ddim", "dpm++": "dpm", "dpm": "dpm", "euler": "euler"}


def default_ldm3d_model() -> str:
    """The LDM3D model a scene gets when ``source.model`` is absent."""
    from ldm3d_core.loading import DEFAULT_PANORAMA_MODEL

    return DEFAULT_PANORAMA_MODEL


#: ``source.model`` names of the model shipped in ``assets/`` (trained by the project on
#: its procedural scenes; see assets/models/ldm3d-pano-tiny/MODEL_CARD.md).
EMBEDDED_MODEL_NAMES = ("embedded", "ldm3d-pano-tiny")
EMBEDDED_MODEL_ASSET = "models/ldm3d-pano-tiny"


def resolve_model_name(model: str) -> str:
    """``embedded`` -> the shipped model's folder; anything else unchanged."""
    if model in EMBEDDED_MODEL_NAMES:
        return str(asset_path(EMBEDDED_MODEL_ASSET))
    return model


def _load_ldm3d(src: Source, quiet: bool):
    from ldm3d_core.errors import ModelNotFoundError
    from ldm3d_core.loading import load_pipeline

    model = resolve_model_name(src.model or default_ldm3d_model())
    try:
        return load_pipeline(model, device=src.device, dtype=src.dtype, progress=not quiet)
    except ModelNotFoundError as exc:
        raise InputError(f"source.model: {_first_line(exc)}") from None
    except (ValueError, OSError) as exc:
        raise InputError(f"source.model: {model}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sampler_kwargs(src: Source) -> dict:
    g = src.generation
    return {
        "num_inference_steps": g.steps,
        "guidance_scale": g.guidance,
        "scheduler": _SCHEDULERS[g.scheduler],
        "negative_prompt": g.negative_prompt or None,
        "seed": g.seed,
        "panorama": True,
    }


def generate(scene: Scene, quiet: bool) -> RGBDPanorama:
    src = scene.source
    g = src.generation
    pipe = _load_ldm3d(src, quiet)
    log.info(
        "source: LDM3D %s, prompt %r (seed %d, %d steps)", pipe.name, src.prompt, g.seed, g.steps
    )
    try:
        size = {"width": g.width, "height": g.width // 2} if g.width else {}
        out = pipe.txt2rgbd(src.prompt, **size, **_sampler_kwargs(src))
    except ValueError as exc:
        raise SceneError(f"source.generation: {_first_line(exc)}") from None
    return RGBDPanorama(out.rgb[0], out.depth[0], name=f"prompt {src.prompt!r}")


def estimate_depth(src: Source, rgb: np.ndarray, quiet: bool) -> np.ndarray:
    from ldm3d_core.depth import DepthModelNotFoundError, estimate_panorama_depth

    log.info("source: estimating panorama depth (%s)", src.depth_model or "Intel/dpt-large")
    try:
        return estimate_panorama_depth(rgb, src.depth_model, device=src.device)
    except DepthModelNotFoundError as exc:
        raise InputError(f"source.depth_model: {_first_line(exc)}") from None
    except ValueError as exc:
        raise InputError(f"source.panorama.image: {_first_line(exc)}") from None


def img2img(scene: Scene, rgbd: RGBDPanorama, quiet: bool) -> RGBDPanorama:
    src = scene.source
    spec = src.img2img
    pipe = _load_ldm3d(src, quiet)
    log.info("source: LDM3D img2img %r (strength %.2f)", spec.prompt, spec.strength)
    try:
        out = pipe.img2img(
            rgbd.rgb, rgbd.depth, spec.prompt, strength=spec.strength, **_sampler_kwargs(src)
        )
    except ValueError as exc:
        raise SceneError(f"source.img2img: {_first_line(exc)}") from None
    # LDM3D re-estimates depth in its own normalisation: metric ranges no longer hold.
    return RGBDPanorama(out.rgb[0], out.depth[0], name=f"{rgbd.name} -> {spec.prompt!r}")


def upscale_size(scene: Scene, width: int) -> tuple[int, int]:
    """The upscaled panorama's (width, height) for a source panorama ``width`` pixels wide."""
    up = scene.source.upscale
    w = up.width if up.width is not None else 16 * max(1, round(width * up.scale / 16))
    return w, w // 2


def upscale(scene: Scene, rgbd: RGBDPanorama, quiet: bool) -> RGBDPanorama:
    """``source.upscale``: the panorama through the LDM3D-VR upscaler, seamless at ±180°."""
    from ldm3d_core import limits
    from ldm3d_core.codec import float_to_depth16
    from ldm3d_core.errors import ModelNotFoundError
    from ldm3d_core.loading import DEFAULT_UPSCALE_MODEL, load_upscaler

    src = scene.source
    up = src.upscale
    width, height = upscale_size(scene, rgbd.width)
    if width < rgbd.width:
        raise SceneError(
            f"source.upscale: {width}x{height} is smaller than the panorama {rgbd.width}x{rgbd.height}"
        )
    limits.check_pixels(width, height, f"source.upscale: {width}x{height}")
    model = up.model or DEFAULT_UPSCALE_MODEL
    try:
        pipe = load_upscaler(model, device=src.device, dtype=src.dtype, progress=not quiet)
    except ModelNotFoundError as exc:
        raise InputError(f"source.upscale.model: {_first_line(exc)}") from None
    except (ValueError, OSError) as exc:
        raise InputError(f"source.upscale.model: {model}: {_first_line(exc)}") from None
    prompt = up.prompt
    if prompt is None:
        prompt = src.prompt or (src.img2img.prompt if src.img2img is not None else "")
    seed = up.seed if up.seed is not None else src.generation.seed
    log.info(
        "source: upscaling %dx%d -> %dx%d (%s, %d steps)",
        rgbd.width, rgbd.height, width, height, pipe.components.name, up.steps,
    )  # fmt: skip
    depth16 = float_to_depth16(rgbd.depth)
    try:
        out = pipe(
            rgbd.rgb,
            depth16,
            prompt,
            negative_prompt=up.negative_prompt or None,
            size=(width, height),
            num_inference_steps=up.steps,
            guidance_scale=up.guidance,
            noise_level=up.noise_level,
            scheduler=_SCHEDULERS[up.scheduler],
            seed=seed,
            panorama=True,
            tile=up.tile,
        )
    except ValueError as exc:
        raise SceneError(f"source.upscale: {_first_line(exc)}") from None
    # The upscaler reproduces its input's depth normalisation: a metric range still holds.
    return RGBDPanorama(
        out.rgb[0], out.depth[0], metric_range=rgbd.metric_range, name=f"{rgbd.name} (upscaled)"
    )
