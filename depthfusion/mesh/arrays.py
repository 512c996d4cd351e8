"""Array helpers for meshes with millions of rows."""

from __future__ import annotations

import numpy as np


def select_rows(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a[mask]`` for a 2-D array and a boolean row mask, the same result.

    numpy's boolean indexing of a 2-D array copies element by element; viewing each row as
    one opaque item copies whole rows (a 17 M-face mesh: 0.07 s instead of 0.44 s)."""
    if a.ndim != 2 or not a.flags.c_contiguous or mask.dtype != bool or mask.shape != a.shape[:1]:
        return a[mask]
    row = np.dtype((np.void, a.dtype.itemsize * a.shape[1]))
    return a.view(row).ravel()[mask].view(a.dtype).reshape(-1, a.shape[1])
