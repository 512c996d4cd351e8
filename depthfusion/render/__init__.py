"""Stage 4: headless OpenGL rendering of the textured panorama mesh, and the cameras that
look at it.

- :mod:`.pose` -- :class:`Pose`, a camera's position and yaw/pitch/roll (DESIGN.md's angles);
- :mod:`.camera_path` -- camera paths: presets and keyframes, sampled lazily into poses;
- :mod:`.gl` -- the EGL context (one per process), GL limits, the shader loader;
- :mod:`.camera` -- pinhole projection and off-axis stereo frusta (matrices, disparity);
- :mod:`.culling` -- the mesh's tiles and which of them a view can see;
- :mod:`.renderer` -- :class:`MeshRenderer`: upload a mesh once, render many frames;
- :mod:`.layouts` -- sbs / sbs-half / tb / anaglyph / mono / left-right-files packing;
- :mod:`.ods` -- omnidirectional stereo (360° top-bottom) rendering.

Nothing is imported here: ``render.pose`` and ``render.camera_path`` are read by the scene
and the sources without loading OpenGL.
"""
