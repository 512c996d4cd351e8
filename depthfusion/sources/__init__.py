"""Stage 1: the scene's ``source`` becomes one RGBD panorama.

- :mod:`.load` -- :func:`~.load.load_source`, the stage: procedural, a panorama with its depth
  file (or estimated depth), optionally through LDM3D img2img, or a prompt;
- :mod:`.ldm3d` -- the model-backed sources (LDM3D generation and img2img, DPT depth), which
  import ``ldm3d_core`` only when they run;
- :mod:`.procedural` -- built-in scenes ray-cast analytically, with exact metric depth (also
  the ground truth for novel-view tests);
- :mod:`.dataset` -- captioned procedural panoramas as training data (``depthfusion dataset``).

Nothing is imported here: each module loads what it needs.
"""
