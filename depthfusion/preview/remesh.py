"""Hot reload and re-meshing: the scene file and the panorama files it names, polled by mtime
and size (:class:`SceneFiles`), and the background job that reloads the source and re-meshes
it (:func:`rebuild`, run on a worker thread; the GL upload stays on the window's thread).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("depthfusion")

# --- scene files and meshes ---------------------------------------------------------------------


def build_preview_mesh(scene, rgbd):
    """The scene's sphere (with its discontinuity handling) for ``rgbd``, always a LayeredMesh."""
    from ..outputs.state import build_mesh

    return build_mesh(scene, rgbd, layered=True)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class SceneFiles:
    """The scene file (with its ``--set`` overrides) and the input files it names, polled for
    changes by modification time and size."""

    def __init__(self, path: str | Path, overrides: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.overrides = list(overrides)
        self.scene = self.load()
        self._stamps = self._stat()

    def load(self):
        from ..scene import load_scene

        return load_scene(self.path, self.overrides)

    def inputs(self, scene=None) -> list[Path]:
        """Input files of ``scene`` (default the current one): the panorama image and depth."""
        pano = (scene or self.scene).source.panorama
        if pano is None:
            return []
        return [Path(p) for p in (pano.image, pano.depth) if isinstance(p, Path)]

    def _stat(self) -> dict[Path, tuple[int, int] | None]:
        return {p: _stamp(p) for p in [self.path, *self.inputs()]}

    def poll(self) -> tuple[bool, bool]:
        """(scene file changed, an input file changed) since the last poll."""
        now = self._stat()
        changed = {p for p, s in now.items() if self._stamps.get(p, s) != s}
        self._stamps = now
        return self.path in changed, bool(changed - {self.path})

    def adopt(self, scene) -> None:
        """Make ``scene`` current and watch its input files."""
        self.scene = scene
        self._stamps = self._stat()


def rebuild(scene, rgbd):
    """Background job: (re)load the source when ``rgbd`` is None, then mesh it."""
    start = time.perf_counter()
    if rgbd is None:
        from ..sources.load import load_source

        rgbd = load_source(scene)
    mesh = build_preview_mesh(scene, rgbd)
    return rgbd, mesh, time.perf_counter() - start
