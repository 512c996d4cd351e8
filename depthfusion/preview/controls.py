"""The preview's controls: layouts, speeds and steps, the key list shown with H, and the view
(position, yaw, pitch, fov) with its printout as a scene-file keyframe.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger("depthfusion")

#: Layouts the preview can show (keys 1, 2, 3).
PREVIEW_LAYOUTS = ("mono", "anaglyph", "sbs")
#: Fill modes cycled by F (sphere.discontinuities.fill).
FILL_MODES = ("stretch", "none", "inpaint")
DEFAULT_SIZE = (1280, 720)
#: Metres per second for W A S D / arrows / E Q; Shift multiplies by FAST.
MOVE_SPEED = 1.0
FAST = 4.0
#: Degrees per second for J L / I K.
TURN_SPEED = 90.0
#: Degrees of field of view per scroll step, and the range.
FOV_STEP = 5.0
FOV_RANGE = (10.0, 150.0)
PITCH_LIMIT = 89.0
STRENGTH_STEP = 0.05
STRENGTH_MAX = 0.95
THRESHOLD_FACTOR = 1.25
THRESHOLD_RANGE = (0.002, 1.0)
#: Seconds between checks of the scene and input files.
POLL_INTERVAL = 1.0
#: Time step of scripted / --frames runs (deterministic).
AUTOMATION_DT = 1.0 / 30.0
#: Seconds between pose lines printed by P (their ``t``), so successive prints form a path.
PRINT_STEP = 2.0
MESSAGE_SECONDS = 4.0

#: The on-screen key list: (keys, what they do).
HELP: tuple[tuple[str, str], ...] = (
    ("mouse drag", "look around"),
    ("scroll", "field of view"),
    ("W A S D, arrows", "move (Shift: faster)"),
    ("E / Q", "move up / down"),
    ("J L / I K", "turn / look up, down"),
    ("1 2 3, Tab", "mono / anaglyph / side-by-side"),
    ("[ ]", "displacement strength -/+"),
    ("- =", "discontinuity threshold -/+"),
    ("F", "fill: stretch / none / inpaint"),
    ("B", "background layer on / off"),
    ("R", "reset view"),
    ("P", "print pose (YAML keyframe)"),
    ("F12, Ctrl+S", "save screenshot"),
    ("H, F1", "help on / off"),
    ("Esc", "quit"),
)


# --- view and pose printout ---------------------------------------------------------------------


def _num(value: float, digits: int) -> str:
    """A number for a scene file: fixed decimals, trailing zeros dropped, no '-0'."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "", "-") else text


def wrap_degrees(angle: float) -> float:
    """Angle in (-180, 180]."""
    wrapped = math.fmod(angle + 180.0, 360.0)
    if wrapped <= 0.0:
        wrapped += 360.0
    return wrapped - 180.0


@dataclass
class View:
    """The preview camera: position in metres, yaw/pitch/roll and horizontal fov in degrees."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    fov: float = 90.0

    def pose(self):
        from ..render.pose import Pose

        return Pose(tuple(self.position), self.yaw, self.pitch, self.roll, self.fov)

    def keyframe_line(self, t: float = 0.0) -> str:
        """The view as one YAML keyframe for ``camera.keyframes`` in a scene file."""
        pos = ", ".join(_num(c, 3) for c in self.position)
        return (
            f"- {{t: {_num(t, 3)}, position: [{pos}], yaw: {_num(self.yaw, 2)}, "
            f"pitch: {_num(self.pitch, 2)}, roll: {_num(self.roll, 2)}, fov: {_num(self.fov, 2)}}}"
        )


def initial_view(scene) -> View:
    """Where the preview starts (and R returns): the camera path at t = 0; its fov, else the
    first view output's, else 90 degrees."""
    path, _fps, _duration = scene.camera.build_path()
    pose = path.pose_at(0.0)
    fov = pose.fov
    if fov is None:
        fov = next((o.fov for o in scene.outputs if hasattr(o, "fov")), 90.0)
    return View(tuple(float(c) for c in pose.position), pose.yaw, pose.pitch, pose.roll, fov)
