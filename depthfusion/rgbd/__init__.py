"""Stage 2, what the sources hand on: the RGBD panorama.

- :mod:`.panorama` -- :class:`~.panorama.RGBDPanorama`: equirectangular uint8 RGB with float32
  normalised disparity (1 = near; DESIGN.md's depth convention) and its optional metric range;
- :mod:`.io` -- reading and writing it: 16-bit PNG, LDM3D's packed depth, metric depth (.npy,
  .exr, scaled 16-bit PNG), each through an explicit mapping.
"""
