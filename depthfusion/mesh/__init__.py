"""Stage 3: the RGBD panorama becomes a displaced sphere mesh (paper §3.2).

- :mod:`.sphere` -- :func:`~.sphere.build_sphere_mesh`: the lat-long grid, seam-split, with
  vertex radii from depth (linear or metric displacement);
- :mod:`.discontinuities` -- depth edges cut, skirts, and the inpainted background layer;
- :mod:`.layers` -- :class:`~.layers.LayeredMesh`, the layered result, which also behaves as
  one mesh;
- :mod:`.inpaint` -- filling what nobody saw, wrapped round the ±180° seam;
- :mod:`.export` -- GLB, PLY and OBJ files.

The meshing takes plain parameters, not a Scene; ``outputs/state.py`` applies a scene's
``sphere`` settings.
"""
