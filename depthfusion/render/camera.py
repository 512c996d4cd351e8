"""Pinhole projection and off-axis stereo frusta as OpenGL 4x4 matrices.

Matrices are float64 numpy arrays for column vectors (``clip = P @ V @ x``); upload them
transposed (GL reads column-major). Angles and axes come from conventions.py/pose.py.

Stereo (DESIGN.md): each eye sits at ``eye`` metres along the camera's right axis
(left = -ipd/2, right = +ipd/2) with the camera's own orientation, so the optical axes
stay parallel (never toe-in, hence no vertical disparity or keystone). Each eye's frustum
is sheared sideways (asymmetric, "off-axis") so that the plane at the convergence distance
C in front of the camera lands on the same pixels in both eyes. A point at depth Z (metres
along the view axis) then has horizontal screen disparity

    x_left - x_right = f * ipd * (1/Z - 1/C)   pixels,   f = conventions.focal_length_px

positive (crossed) for Z < C: a point nearer than the convergence plane appears further
right in the left eye than in the right eye, i.e. in front of the screen. Z > C gives
negative (uncrossed) disparity, behind the screen; C = None means parallel frusta
(convergence at infinity, every point crossed).
"""

from __future__ import annotations

import numpy as np

from ..conventions import focal_length_px
from .pose import Pose


def perspective(
    fov: float,
    aspect: float,
    near: float,
    far: float,
    shift_x: float = 0.0,
) -> np.ndarray:
    """OpenGL projection (4, 4) for a horizontal ``fov`` in degrees and ``aspect`` = w/h.

    shift_x : horizontal image shift in normalised device units (2 = one image width);
        a projected point moves by +shift_x. Zero gives the symmetric frustum.
    """
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fov must be in (0, 180) degrees, got {fov}")
    if not 0.0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    fx = 1.0 / np.tan(np.radians(fov) / 2.0)
    proj = np.zeros((4, 4))
    proj[0, 0] = fx
    proj[1, 1] = fx * aspect
    # x_ndc = x_clip / w_clip with w_clip = -z_eye: a -shift_x * z_eye term adds shift_x.
    proj[0, 2] = -shift_x
    proj[2, 2] = -(far + near) / (far - near)
    proj[2, 3] = -2.0 * far * near / (far - near)
    proj[3, 2] = -1.0
    return proj


def convergence_shift(fov: float, eye: float, convergence: float | None) -> float:
    """NDC shift of an eye's frustum that gives zero disparity at ``convergence`` metres.

    An eye at ``eye`` metres right of the centre sees a point at depth Z straight ahead at
    x_ndc = -fx * eye / Z; shifting by fx * eye / C cancels that at Z = C.
    """
    if convergence is None or eye == 0.0:
        return 0.0
    if convergence <= 0.0:
        raise ValueError(f"convergence must be > 0 metres, got {convergence}")
    fx = 1.0 / np.tan(np.radians(fov) / 2.0)
    return fx * eye / convergence


def eye_pose(pose: Pose, eye: float) -> Pose:
    """The camera moved ``eye`` metres along its own right axis (same orientation)."""
    return pose.offset(right=eye) if eye else pose


def eye_matrices(
    pose: Pose,
    eye: float,
    convergence: float | None,
    fov: float,
    size: tuple[int, int],
    near: float = 0.05,
    far: float = 1000.0,
    aspect: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(view, projection) 4x4 matrices of one eye.

    eye : offset along the camera's right axis in metres (-ipd/2 left, +ipd/2 right, 0 mono).
    convergence : zero-disparity distance in metres, or None for parallel frusta.
    fov : horizontal field of view in degrees, spanning the image width.
    size : (width, height) in pixels; sets the aspect unless ``aspect`` is given.
    aspect : display aspect w/h when it differs from the pixel grid's (anamorphic
        "sbs-half" renders each eye at half width with the full frame's aspect).
    """
    width, height = size
    aspect = width / height if aspect is None else aspect
    view = eye_pose(pose, eye).view_matrix()
    proj = perspective(fov, aspect, near, far, convergence_shift(fov, eye, convergence))
    return view, proj


def stereo_matrices(
    pose: Pose,
    ipd: float,
    convergence: float | None,
    fov: float,
    size: tuple[int, int],
    near: float = 0.05,
    far: float = 1000.0,
    aspect: float | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((view, projection) of the left eye, (view, projection) of the right eye)."""
    return (
        eye_matrices(pose, -ipd / 2.0, convergence, fov, size, near, far, aspect),
        eye_matrices(pose, ipd / 2.0, convergence, fov, size, near, far, aspect),
    )


def expected_disparity_px(
    depth: float | np.ndarray,
    ipd: float,
    convergence: float | None,
    fov: float,
    width: int,
) -> float | np.ndarray:
    """x_left - x_right in pixels of a point at ``depth`` metres along the view axis.

    f * ipd * (1/Z - 1/C) with f the focal length in pixels of a ``width``-pixel image;
    positive = crossed (nearer than the convergence plane).
    """
    inv_c = 0.0 if convergence is None else 1.0 / convergence
    return focal_length_px(width, fov) * ipd * (1.0 / np.asarray(depth) - inv_c)


def project_to_pixels(
    points: np.ndarray, view: np.ndarray, proj: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """World points (..., 3) -> pixel coordinates (..., 2), x right and y down from the top-left
    corner (pixel centres at +0.5), as the renderer's top-row-first images index them."""
    width, height = size
    p = np.asarray(points, dtype=np.float64)
    homo = np.concatenate([p, np.ones(p.shape[:-1] + (1,))], axis=-1)
    clip = homo @ (proj @ view).T
    ndc = clip[..., :2] / clip[..., 3:4]
    x = (ndc[..., 0] + 1.0) * 0.5 * width
    y = (1.0 - ndc[..., 1]) * 0.5 * height
    return np.stack([x, y], axis=-1)
