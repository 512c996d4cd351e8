"""Procedural scenes with exact metric depth, ray-cast analytically in numpy (no OpenGL).

Each preset builds a small scene of analytic primitives (boxes, spheres, vertical
cylinders, a ground plane, a sky dome) with procedural textures, seeded by
``np.random.default_rng(seed)``. The same :class:`ProceduralScene` gives

- :func:`generate_panorama`: an equirectangular RGB panorama + exact distances, seen from
  the origin (the built-in source stage of the pipeline, and demo/training data);
- :func:`render_view`: a pinhole view from any :class:`~depthfusion.render.pose.Pose`, the ground
  truth for novel-view tests of the sphere mesh and renderers.

Shading is view-independent on purpose: albedo (procedural texture) times a fixed diffuse
term that depends only on the surface normal, no shadows, no specular. A surface point has
the same colour from every camera, so a textured displaced sphere mesh built from the
panorama can be compared pixel by pixel with a ray-cast novel view.

Geometry guarantees, relied on by tests: every ray from inside the scene hits something
(rooms are closed boxes, the courtyard has a finite sky dome), nothing lies within
:data:`CLEARANCE` metres of the origin, and the floor/ground is at ``y = -1.5`` (the camera
stands 1.5 m above it). Distances are along the ray (radial), in metres.

- :mod:`.shapes` -- colours, textures, materials, primitives, :class:`ProceduralScene`;
- :mod:`.presets` -- the presets' seeded layouts and captions, :func:`build_scene`;
- :mod:`.cameras` -- :func:`generate_panorama`, :func:`render_panorama`, :func:`render_view`.
"""

from .cameras import generate_panorama, render_panorama, render_view
from .presets import PRESETS, SKIES, build_scene
from .shapes import CLEARANCE, FLOOR_Y, PALETTE, SKY_RADIUS, ProceduralScene

__all__ = [
    "CLEARANCE",
    "FLOOR_Y",
    "PALETTE",
    "PRESETS",
    "SKIES",
    "SKY_RADIUS",
    "ProceduralScene",
    "build_scene",
    "generate_panorama",
    "render_panorama",
    "render_view",
]
