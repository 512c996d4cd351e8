"""The source stage: a scene's ``source`` -> one RGBDPanorama.

procedural: the built-in ray-caster (exact metric depth); panorama: an image and a depth file.
The model-backed sources (prompt, img2img, depth: estimate) import ldm3d_core lazily so that
rendering starts fast.
"""

from __future__ import annotations

import logging

from .errors import SceneError
from .rgbd import RGBDPanorama
from .scene import Scene

log = logging.getLogger("depthfusion")


def load_source(scene: Scene) -> RGBDPanorama:
    """Produce the scene's RGBD panorama."""
    src = scene.source
    if src.procedural is not None:
        from .procedural import generate_panorama

        p = src.procedural
        log.info("source: procedural %s (seed %d, %dx%d)", p.preset, p.seed, p.width, p.width // 2)
        return generate_panorama(p.preset, seed=p.seed, width=p.width, supersample=p.supersample)

    if src.panorama is not None:
        from .rgbd_io import load_rgbd

        pano = src.panorama
        if pano.depth is None:
            raise SceneError("source.panorama.depth: give a depth file (or `estimate`)")
        if pano.depth == "estimate":
            raise SceneError(
                "source.panorama.depth: `estimate` (monocular DPT depth) is not available in this "
                "version; give a depth file"
            )
        if src.img2img is not None:
            raise SceneError("source.img2img: LDM3D img2img is not available in this version")
        log.info("source: panorama %s + depth %s", pano.image, pano.depth)
        return load_rgbd(
            pano.image,
            pano.depth,
            units=pano.depth_units,
            depth_scale=pano.depth_scale,
            max_invalid_fraction=pano.max_invalid_fraction,
        )

    raise SceneError(
        "source.prompt: text-to-RGBD generation (LDM3D) is not available in this version"
    )
