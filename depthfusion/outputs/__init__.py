"""Stage 5: the scene's ``outputs`` list, written.

- :mod:`.kinds` -- the registry: one writer per ``kind``, each in its own module
  (:mod:`.still`, :mod:`.video` for video and frames, :mod:`.vr360`, :mod:`.mesh`,
  :mod:`.rgbd`), with :mod:`.views` the view renderer the view kinds share;
- :mod:`.state` -- :class:`~.state.SceneState`, what every writer reads (mesh and poses
  built on first use);
- :mod:`.plan` -- every path a render will write, checked before any work;
- :mod:`.writers` -- video (ffmpeg), frame-sequence and still files, published atomically;
- :mod:`.spherical` -- spherical metadata: MP4 boxes (V1, V2) and GPano XMP.

Nothing is imported here: the pipeline loads the registry when it writes.
"""
