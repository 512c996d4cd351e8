"""Camera pose: position in metres + yaw/pitch/roll in degrees (conventions.py), optional fov."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..conventions import camera_rotation


@dataclass(frozen=True)
class Pose:
    """Where a camera is and where it looks. ``fov`` (horizontal, degrees) overrides the output's."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    fov: float | None = None

    def rotation(self) -> np.ndarray:
        """Camera-to-world rotation (3, 3); columns = right, up, backward."""
        return camera_rotation(self.yaw, self.pitch, self.roll)

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) unit vectors in world coordinates."""
        rot = self.rotation()
        return rot[:, 0], rot[:, 1], -rot[:, 2]

    def view_matrix(self) -> np.ndarray:
        """World-to-camera 4x4 matrix (column vectors: x_cam = V @ x_world)."""
        rot = self.rotation()
        view = np.eye(4)
        view[:3, :3] = rot.T
        view[:3, 3] = -rot.T @ np.asarray(self.position, dtype=np.float64)
        return view

    def offset(self, right: float = 0.0, up: float = 0.0, forward: float = 0.0) -> Pose:
        """The same orientation moved along the camera's own axes (metres)."""
        r, u, f = self.axes()
        p = np.asarray(self.position, dtype=np.float64) + right * r + up * u + forward * f
        return replace(self, position=(float(p[0]), float(p[1]), float(p[2])))
