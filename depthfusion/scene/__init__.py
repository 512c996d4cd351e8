"""Stage 0, read by every stage: the scene file.

- :mod:`.schema` -- the typed, validated schema of ``scene.yaml`` (pydantic; one docstring per
  field, which ``depthfusion keys`` prints);
- :mod:`.loading` -- reading, ``--set`` overrides, validation messages, path resolution.

The stages below the scene (rgbd, mesh, render) take plain parameters, not a Scene, so they
are usable on their own; sources, outputs and the pipeline read the Scene.
"""

from .loading import (
    apply_overrides,
    describe_fields,
    format_validation_error,
    load_scene,
    read_scene_data,
    resolve_scene_arg,
)
from .schema import Output, Scene, Source

__all__ = [
    "Output",
    "Scene",
    "Source",
    "apply_overrides",
    "describe_fields",
    "format_validation_error",
    "load_scene",
    "read_scene_data",
    "resolve_scene_arg",
]
