"""The source stage: a scene's ``source`` -> one RGBDPanorama.

procedural: the built-in ray-caster (exact metric depth); panorama: an image and a depth file
(or ``depth: estimate``, monocular DPT depth), optionally transformed by LDM3D img2img;
prompt: LDM3D text-to-RGBD panorama generation. The model-backed sources import ldm3d_core
lazily so that rendering a file-backed scene starts fast.
"""

from __future__ import annotations

import logging

from ..errors import InputError, SceneError
from ..rgbd.panorama import RGBDPanorama
from ..scene import Scene
from .ldm3d import estimate_depth, generate, img2img, upscale

log = logging.getLogger("depthfusion")


def load_source(scene: Scene, *, quiet: bool = False) -> RGBDPanorama:
    """Produce the scene's RGBD panorama (upscaled when ``source.upscale`` asks)."""
    rgbd = _load(scene, quiet)
    return upscale(scene, rgbd, quiet) if scene.source.upscale is not None else rgbd


def _load(scene: Scene, quiet: bool) -> RGBDPanorama:
    src = scene.source
    if src.procedural is not None:
        from .procedural import generate_panorama

        p = src.procedural
        log.info("source: procedural %s (seed %d, %dx%d)", p.preset, p.seed, p.width, p.width // 2)
        return generate_panorama(p.preset, seed=p.seed, width=p.width, supersample=p.supersample)

    if src.panorama is not None:
        from ..rgbd.io import load_rgbd, read_rgb

        pano = src.panorama
        if pano.depth is None:
            raise SceneError("source.panorama.depth: give a depth file (or `estimate`)")
        if pano.depth == "estimate":
            rgb = read_rgb(pano.image)
            h, w = rgb.shape[:2]
            if w != 2 * h:
                raise InputError(
                    f"{pano.image}: panorama must be 2:1 (equirectangular), got {w}x{h}"
                )
            depth = estimate_depth(src, rgb, quiet)
            rgbd = RGBDPanorama(rgb, depth, name=str(pano.image))
        else:
            log.info("source: panorama %s + depth %s", pano.image, pano.depth)
            rgbd = load_rgbd(
                pano.image,
                pano.depth,
                units=pano.depth_units,
                depth_scale=pano.depth_scale,
                max_invalid_fraction=pano.max_invalid_fraction,
            )
        return img2img(scene, rgbd, quiet) if src.img2img is not None else rgbd

    return generate(scene, quiet)
