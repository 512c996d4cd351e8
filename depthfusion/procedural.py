"""Procedural scenes with exact metric depth, ray-cast analytically in numpy (no OpenGL).

Each preset builds a small scene of analytic primitives (boxes, spheres, vertical
cylinders, a ground plane, a sky dome) with procedural textures, seeded by
``np.random.default_rng(seed)``. The same :class:`ProceduralScene` gives

- :func:`generate_panorama`: an equirectangular RGB panorama + exact distances, seen from
  the origin (the built-in source stage of the pipeline, and demo/training data);
- :func:`render_view`: a pinhole view from any :class:`~depthfusion.pose.Pose`, the ground
  truth for novel-view tests of the sphere mesh and renderers.

Shading is view-independent on purpose: albedo (procedural texture) times a fixed diffuse
term that depends only on the surface normal, no shadows, no specular. A surface point has
the same colour from every camera, so a textured displaced sphere mesh built from the
panorama can be compared pixel by pixel with a ray-cast novel view.

Geometry guarantees, relied on by tests: every ray from inside the scene hits something
(rooms are closed boxes, the courtyard has a finite sky dome), nothing lies within
:data:`CLEARANCE` metres of the origin, and the floor/ground is at ``y = -1.5`` (the camera
stands 1.5 m above it). Distances are along the ray (radial), in metres.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .conventions import (
    camera_rotation,
    lonlat_to_direction,
    panorama_lonlat,
    perspective_ray_directions,
)
from .errors import SceneError
from .pose import Pose
from .rgbd import RGBDPanorama

#: Names accepted by :func:`build_scene`.
PRESETS: tuple[str, ...] = ("room", "courtyard", "pillars")
#: Nothing in any preset is closer to the origin than this (metres).
CLEARANCE = 1.0
#: Height of the floor / ground plane (the camera at the origin is 1.5 m above it).
FLOOR_Y = -1.5
#: Radius of the courtyard's sky dome (metres): large, but finite so every ray has a depth.
SKY_RADIUS = 80.0

#: Named colours (linear-ish display RGB in [0, 1]); names end up in captions.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.18, 0.16),
    "orange": (0.93, 0.50, 0.13),
    "yellow": (0.95, 0.82, 0.22),
    "green": (0.27, 0.62, 0.25),
    "teal": (0.13, 0.58, 0.58),
    "blue": (0.18, 0.36, 0.80),
    "purple": (0.50, 0.27, 0.68),
    "pink": (0.93, 0.55, 0.68),
    "white": (0.92, 0.92, 0.89),
    "grey": (0.55, 0.55, 0.57),
    "black": (0.12, 0.12, 0.13),
    "brown": (0.50, 0.32, 0.18),
    "beige": (0.86, 0.78, 0.62),
}

# Rays start at EPS past their origin so a hit exactly at the origin is not reported.
_EPS = 1e-9
# Fixed "sun" direction for the diffuse term: depends on the normal only, never the viewer.
_LIGHT = np.array([0.35, 0.85, 0.40]) / np.linalg.norm([0.35, 0.85, 0.40])
_AMBIENT, _DIFFUSE = 0.78, 0.22
# Rays traced per block: bounds temporary memory (~tens of MB) and keeps arrays cache-sized.
_CHUNK_RAYS = 1 << 16
# Threads over blocks of rows (numpy releases the GIL in its array loops).
_MAX_THREADS = 8

Array = np.ndarray


def _rgb(name: str) -> Array:
    return np.asarray(PALETTE[name], dtype=np.float64)


# --- procedural texture helpers -----------------------------------------------------------------


def _hash2(ix: Array, iy: Array, salt: int) -> Array:
    """Integer lattice coordinates -> pseudo-random floats in [0, 1), deterministic."""
    h = (ix.astype(np.int64) * 374761393 + iy.astype(np.int64) * 668265263 + salt * 97531) & (
        0xFFFFFFFF
    )
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h ^= h >> 16
    return h.astype(np.float64) / 4294967296.0


def _value_noise(a: Array, b: Array, scale: float, salt: int) -> Array:
    """Smooth value noise in [0, 1) with features about ``scale`` metres across."""
    x, y = a / scale, b / scale
    ix, iy = np.floor(x), np.floor(y)
    fx, fy = x - ix, y - iy
    sx, sy = fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy)
    v00 = _hash2(ix, iy, salt)
    v10 = _hash2(ix + 1, iy, salt)
    v01 = _hash2(ix, iy + 1, salt)
    v11 = _hash2(ix + 1, iy + 1, salt)
    top = v00 + (v10 - v00) * sx
    bottom = v01 + (v11 - v01) * sx
    return top + (bottom - top) * sy


def _mix(c0: Array, c1: Array, m: Array) -> Array:
    """Per-point blend of two colours (3,) or (N, 3) by weights m (N,)."""
    return c0 + (c1 - c0) * m[:, None]


def _smoothstep(e0: float, e1: float, x: Array) -> Array:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# --- materials: albedo as a function of the surface point only -----------------------------------
#
# Every material maps surface coordinates (a, b) in metres (defined per primitive face, see
# the primitives) and the world point p to an albedo (N, 3). None of them sees the ray.


class _Material:
    emissive = False  # emissive materials (the sky) skip the diffuse term

    def albedo(self, a: Array, b: Array, p: Array) -> Array:
        raise NotImplementedError


@dataclass
class _Solid(_Material):
    colour: Array
    grain: float = 0.0  # amplitude of a soft mottling, so flat surfaces still carry texture
    grain_scale: float = 0.25
    salt: int = 0

    def albedo(self, a, b, p):
        out = np.broadcast_to(self.colour, (a.shape[0], 3)).copy()
        if self.grain:
            out *= (1.0 + self.grain * (_value_noise(a, b, self.grain_scale, self.salt) - 0.5))[
                :, None
            ]
        return out


@dataclass
class _Checker(_Material):
    c0: Array
    c1: Array
    size_a: float
    size_b: float
    grain: float = 0.0
    salt: int = 0

    def albedo(self, a, b, p):
        cell = (np.floor(a / self.size_a) + np.floor(b / self.size_b)) % 2.0
        out = _mix(self.c0, self.c1, cell)
        if self.grain:
            out *= (1.0 + self.grain * (_value_noise(a, b, 0.15, self.salt) - 0.5))[:, None]
        return out


@dataclass
class _Stripes(_Material):
    """Stripes across coordinate a (along_b=False) or b (along_b=True)."""

    c0: Array
    c1: Array
    period: float
    duty: float = 0.5
    along_b: bool = False

    def albedo(self, a, b, p):
        x = b if self.along_b else a
        on = (np.mod(x / self.period, 1.0) < self.duty).astype(np.float64)
        return _mix(self.c0, self.c1, on)


@dataclass
class _Tiles(_Material):
    """Rectangular tiles/bricks/planks with grout lines and per-tile brightness variation."""

    tile: Array
    grout: Array
    size_a: float
    size_b: float
    grout_width: float = 0.02
    vary: float = 0.15
    stagger: bool = False  # running bond: every other row shifted by half a tile
    salt: int = 0
    # (start, end) horizontal distance from the origin over which the pattern fades out:
    # far ground seen at grazing angles would otherwise alias. Still a function of the point.
    fade: tuple[float, float] | None = None

    def albedo(self, a, b, p):
        row = np.floor(b / self.size_b)
        shift = 0.5 * self.size_a * np.mod(row, 2.0) if self.stagger else 0.0
        aa = a + shift
        col = np.floor(aa / self.size_a)
        fa = aa - col * self.size_a
        fb = b - row * self.size_b
        g = self.grout_width
        grout = (fa < g) | (fb < g)
        shade = 1.0 + self.vary * (2.0 * _hash2(col, row, self.salt) - 1.0)
        grout_w = grout.astype(np.float64)
        if self.fade is not None:
            keep = 1.0 - _smoothstep(self.fade[0], self.fade[1], np.hypot(p[:, 0], p[:, 2]))
            shade = 1.0 + (shade - 1.0) * keep
            grout_w *= keep
        return _mix(self.tile[None, :] * shade[:, None], self.grout, grout_w)


@dataclass
class _Decal:
    """A rectangle [a0, a1] x [b0, b1] on a face, painted with its own material."""

    a0: float
    a1: float
    b0: float
    b1: float
    material: _Material


@dataclass
class _Decorated(_Material):
    """A base material with rectangles painted over it (doors, pictures, windows, skirting)."""

    base: _Material
    decals: list[_Decal] = field(default_factory=list)

    def albedo(self, a, b, p):
        out = self.base.albedo(a, b, p)
        for d in self.decals:
            m = (a >= d.a0) & (a < d.a1) & (b >= d.b0) & (b < d.b1)
            if m.any():
                out[m] = d.material.albedo(a[m], b[m], p[m])
        return out


@dataclass
class _Facade(_Material):
    """Building wall: a regular grid of framed windows above a ground-floor band."""

    wall: _Material
    glass: Array
    frame: Array
    bay: float = 2.5  # window pitch along the wall (m)
    storey: float = 3.0  # window pitch vertically (m)
    salt: int = 0

    def albedo(self, a, b, p):
        out = self.wall.albedo(a, b, p)
        col, row = np.floor(a / self.bay), np.floor(b / self.storey)
        fa, fb = a / self.bay - col, b / self.storey - row
        frame = (fa > 0.22) & (fa < 0.78) & (fb > 0.28) & (fb < 0.82)
        glass = (fa > 0.26) & (fa < 0.74) & (fb > 0.32) & (fb < 0.78)
        out[frame] = self.frame
        if glass.any():
            # Lit and unlit windows, plus a mullion, so facades are not a uniform grid.
            lit = _hash2(col[glass], row[glass], self.salt) < 0.3
            g = np.where(lit[:, None], np.array([0.98, 0.86, 0.55]), self.glass[None, :])
            mullion = np.abs(fa[glass] - 0.5) < 0.02
            g[mullion] = self.frame
            out[glass] = g
        # A darker plinth along the ground.
        out[b < 0.6] *= 0.7
        return out


@dataclass
class _Sky(_Material):
    """Sky dome: vertical gradient, soft clouds and a sun disc, fixed on the dome."""

    horizon: Array
    zenith: Array
    sun_dir: Array
    cloud: float = 0.6
    salt: int = 0
    emissive = True

    def albedo(self, a, b, p):
        d = p / np.linalg.norm(p, axis=1, keepdims=True)
        elev = np.clip(d[:, 1], 0.0, 1.0)
        out = _mix(self.horizon, self.zenith, np.sqrt(elev))
        # Clouds: noise on a virtual cloud layer (perspective-projected), fading to the horizon.
        k = 1.0 / np.maximum(d[:, 1] + 0.12, 0.02)
        cx, cz = d[:, 0] * k, d[:, 2] * k
        n = 0.65 * _value_noise(cx, cz, 0.9, self.salt) + 0.35 * _value_noise(
            cx, cz, 0.33, self.salt + 1
        )
        cover = self.cloud * _smoothstep(0.45, 0.75, n) * _smoothstep(0.0, 0.15, elev)
        out = _mix(out, np.array([0.97, 0.97, 0.98]), cover)
        cosang = d @ self.sun_dir
        sun = _smoothstep(0.9990, 0.9995, cosang) + 0.25 * _smoothstep(0.97, 1.0, cosang)
        return np.clip(out + np.array([1.0, 0.95, 0.8]) * sun[:, None], 0.0, 1.0)


# --- primitives: intersect (distance along unit rays) and describe the surface at a point -----


class _Primitive:
    materials: Sequence[_Material]

    def intersect(self, o: Array, d: Array) -> Array:
        """Distance (N,) along unit rays to the first hit beyond _EPS; inf where none."""
        raise NotImplementedError

    def surface(self, p: Array) -> tuple[Array, Array, Array, Array]:
        """At hit points p (N, 3): (normal (N, 3) facing the viewer side, a, b, face id)."""
        raise NotImplementedError

    def bound(self) -> tuple[Array, float] | None:
        """Bounding sphere (centre, radius) used to skip rays that cannot hit; None: unbounded."""
        return None


def _safe(d: Array) -> Array:
    """Replace (near-)zero direction components so slab divisions stay finite."""
    return np.where(np.abs(d) < 1e-12, np.where(d < 0, -1e-12, 1e-12), d)


@dataclass
class _Sphere(_Primitive):
    centre: Array
    radius: float
    materials: Sequence[_Material]
    inside: bool = False  # seen from inside (sky dome): normals point inward

    def intersect(self, o, d):
        oc = o - self.centre
        b = d @ oc.T if o.shape[0] == 1 else np.einsum("ij,ij->i", d, oc)
        b = b.reshape(-1)
        c = np.einsum("ij,ij->i", oc, oc) - self.radius**2
        disc = b * b - c
        sq = np.sqrt(np.maximum(disc, 0.0))
        t0, t1 = -b - sq, -b + sq
        t = np.where(t0 > _EPS, t0, t1)
        return np.where((disc >= 0.0) & (t > _EPS), t, np.inf)

    def surface(self, p):
        q = (p - self.centre) / self.radius
        n = -q if self.inside else q
        lon = np.arctan2(q[:, 0], -q[:, 2])
        lat = np.arcsin(np.clip(q[:, 1], -1.0, 1.0))
        return n, lon * self.radius, lat * self.radius, np.zeros(p.shape[0], dtype=np.int64)

    def bound(self):
        return None if self.inside else (self.centre, self.radius)


@dataclass
class _Box(_Primitive):
    """Box with half extents ``half`` about ``centre``, turned by ``yaw`` degrees about +Y.

    Faces are numbered 2k + (side > 0) for local axis k. Face coordinates (a, b) run from the
    face's lower corner: walls use (horizontal, height above the box bottom), top/bottom faces
    use (x, z).
    """

    centre: Array
    half: Array
    materials: Sequence[_Material]
    yaw: float = 0.0
    inside: bool = False  # a room: rays start inside and normals point inward

    def __post_init__(self) -> None:
        self.centre = np.asarray(self.centre, dtype=np.float64)
        self.half = np.asarray(self.half, dtype=np.float64)
        # Local -> world rotation; a box turns like a camera with the same yaw (conventions).
        self._rot = camera_rotation(self.yaw, 0.0, 0.0) if self.yaw else None

    def _local(self, v: Array, is_point: bool) -> Array:
        if is_point:
            v = v - self.centre
        return v if self._rot is None else v @ self._rot

    def intersect(self, o, d):
        ol = self._local(o, True)
        inv = 1.0 / _safe(self._local(d, False))
        t1 = (-self.half - ol) * inv
        t2 = (self.half - ol) * inv
        tnear = np.minimum(t1, t2).max(axis=1)
        tfar = np.maximum(t1, t2).min(axis=1)
        t = np.where(tnear > _EPS, tnear, tfar)
        return np.where((tfar >= tnear) & (t > _EPS), t, np.inf)

    def surface(self, p):
        q = self._local(p, True)
        k = np.argmax(np.abs(q) / self.half, axis=1)
        rows = np.arange(p.shape[0])
        sign = np.sign(q[rows, k])
        sign[sign == 0] = 1.0
        n = np.zeros_like(q)
        n[rows, k] = -sign if self.inside else sign
        if self._rot is not None:
            n = n @ self._rot.T
        c = q + self.half  # corner-relative coordinates
        a = np.where(k == 0, c[:, 2], c[:, 0])
        b = np.where(k == 1, c[:, 2], c[:, 1])
        face = 2 * k + (sign > 0)
        return n, a, b, face

    def bound(self):
        return None if self.inside else (self.centre, float(np.linalg.norm(self.half)))


@dataclass
class _Cylinder(_Primitive):
    """Vertical capped cylinder; faces: 0 side (a = arc length, b = height), 1 bottom, 2 top."""

    cx: float
    cz: float
    radius: float
    y0: float
    y1: float
    materials: Sequence[_Material]

    def intersect(self, o, d):
        ox, oy, oz = o[:, 0] - self.cx, o[:, 1], o[:, 2] - self.cz
        dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
        aa = dx * dx + dz * dz
        aa_safe = np.maximum(aa, 1e-18)
        bb = ox * dx + oz * dz
        cc = ox * ox + oz * oz - self.radius**2
        disc = bb * bb - aa * cc
        sq = np.sqrt(np.maximum(disc, 0.0))
        best = np.full(d.shape[0], np.inf)
        side_ok = (disc >= 0.0) & (aa > 1e-18)
        for t in ((-bb - sq) / aa_safe, (-bb + sq) / aa_safe):
            y = oy + t * dy
            ok = side_ok & (t > _EPS) & (y >= self.y0) & (y <= self.y1)
            best = np.where(ok & (t < best), t, best)
        dy_safe = _safe(dy)
        for yc in (self.y0, self.y1):
            t = (yc - oy) / dy_safe
            px, pz = ox + t * dx, oz + t * dz
            ok = (t > _EPS) & (px * px + pz * pz <= self.radius**2)
            best = np.where(ok & (t < best), t, best)
        return best

    def surface(self, p):
        x, z = p[:, 0] - self.cx, p[:, 2] - self.cz
        rad = np.hypot(x, z)
        tol = 1e-6 * max(1.0, self.y1 - self.y0)
        bottom = (np.abs(p[:, 1] - self.y0) < tol) & (rad < self.radius * (1 - 1e-7))
        top = (np.abs(p[:, 1] - self.y1) < tol) & (rad < self.radius * (1 - 1e-7))
        n = np.stack([x / np.maximum(rad, 1e-12), np.zeros_like(x), z / np.maximum(rad, 1e-12)], 1)
        n[bottom] = (0.0, -1.0, 0.0)
        n[top] = (0.0, 1.0, 0.0)
        a = np.arctan2(x, -z) * self.radius
        b = p[:, 1] - self.y0
        cap = bottom | top
        a[cap], b[cap] = x[cap], z[cap]
        face = np.where(bottom, 1, np.where(top, 2, 0))
        return n, a, b, face

    def bound(self):
        centre = np.array([self.cx, (self.y0 + self.y1) / 2, self.cz])
        return centre, float(np.hypot(self.radius, (self.y1 - self.y0) / 2))


@dataclass
class _Ground(_Primitive):
    """Infinite horizontal plane at height y, facing up; (a, b) = (x, z)."""

    y: float
    materials: Sequence[_Material]

    def intersect(self, o, d):
        t = (self.y - o[:, 1]) / _safe(d[:, 1])
        return np.where(t > _EPS, t, np.inf)

    def surface(self, p):
        n = np.zeros_like(p)
        n[:, 1] = 1.0
        return n, p[:, 0], p[:, 2], np.zeros(p.shape[0], dtype=np.int64)


# --- the scene --------------------------------------------------------------------------------


class ProceduralScene:
    """A ray-castable scene: analytic primitives + a description of it in words and numbers.

    primitives : the scene content (private primitive types)
    params : JSON-serialisable dict describing the scene, e.g. ``{"preset": "room",
        "seed": 0, "wall_colour": "red", "objects": [{"kind": "sphere", "colour": "blue",
        "position": [x, y, z], "size": radius}, ...], "caption": "360 view of a red room
        with ..."}``. Colour values are names from :data:`PALETTE`, so captions read
        naturally; object ``size`` is the radius (sphere), half extents (box) or (radius,
        height) (cylinder); enclosures give their bounds (``room``, ``hall``, ``sky_radius``).
    """

    def __init__(self, primitives: Sequence[_Primitive], params: dict) -> None:
        self.primitives = list(primitives)
        self.params = params

    @property
    def preset(self) -> str:
        return str(self.params.get("preset", "custom"))

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", 0))

    @property
    def caption(self) -> str:
        return str(self.params.get("caption", ""))

    def __repr__(self) -> str:
        return f"ProceduralScene(preset={self.preset!r}, seed={self.seed}, {len(self.primitives)} primitives)"

    def raycast(self, origins: Array, directions: Array) -> tuple[Array, Array]:
        """First hit of each ray: colour and distance.

        origins : (N, 3) or (3,) float, metres (one origin is broadcast to all rays)
        directions : (N, 3) float, any non-zero length (normalised here)

        Returns rgb (N, 3) float32 in [0, 1] and distance (N,) float32 in metres along the
        ray. Rays that hit nothing (only possible from outside a closed preset) get
        distance inf and black.
        """
        d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        o = np.asarray(origins, dtype=np.float64).reshape(-1, 3)
        if o.shape[0] not in (1, d.shape[0]):
            raise ValueError(f"origins {o.shape} do not match directions {d.shape}")
        if o.shape[0] > 1 and np.all(o == o[:1]):
            o = o[:1]  # a shared origin lets the intersection tests broadcast scalars
        n = d.shape[0]
        rgb = np.empty((n, 3), dtype=np.float32)
        dist = np.empty(n, dtype=np.float32)
        for s in range(0, n, _CHUNK_RAYS):
            e = min(n, s + _CHUNK_RAYS)
            oc = o if o.shape[0] == 1 else o[s:e]
            c, t = self._trace(oc, d[s:e])
            rgb[s:e], dist[s:e] = c, t
        return rgb, dist

    def _trace(self, o: Array, d: Array) -> tuple[Array, Array]:
        """One block of rays (float64): nearest hit over all primitives, then shade it."""
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        n = d.shape[0]
        best = np.full(n, np.inf)
        which = np.full(n, -1, dtype=np.int64)
        for i, prim in enumerate(self.primitives):
            idx = _candidates(prim.bound(), o, d, best)
            if idx is None:
                t = prim.intersect(o, d)
                closer = t < best
                best = np.where(closer, t, best)
                which[closer] = i
            elif idx.size:
                t = prim.intersect(o if o.shape[0] == 1 else o[idx], d[idx])
                closer = t < best[idx]
                best[idx[closer]] = t[closer]
                which[idx[closer]] = i
        rgb = np.zeros((n, 3))
        counts = np.bincount(which + 1, minlength=len(self.primitives) + 1)
        for i in np.flatnonzero(counts[1:]):
            m = which == i
            oi = o if o.shape[0] == 1 else o[m]
            p = oi + d[m] * best[m, None]
            rgb[m] = _shade(self.primitives[i], p)
        return np.clip(rgb, 0.0, 1.0), best


def _candidates(bound: tuple[Array, float] | None, o: Array, d: Array, best: Array) -> Array | None:
    """Indices of the rays that may hit a bounding sphere closer than their current best hit.

    None means "test every ray" (unbounded primitive, or the origin inside the bound). Most
    objects cover a small part of a panorama, so this skips most of their intersection math.
    """
    if bound is None:
        return None
    centre, radius = bound
    oc = centre - o
    if o.shape[0] == 1:  # one origin: a cone test against the sphere's angular radius
        dist2 = float(oc[0] @ oc[0])
        if dist2 <= radius * radius:
            return None
        dist = np.sqrt(dist2)
        cos_lim = np.sqrt(1.0 - radius * radius / dist2)
        keep = (d @ (oc[0] / dist) >= cos_lim - 1e-9) & (best > dist - radius)
    else:
        b = np.einsum("ij,ij->i", oc, d)
        c = np.einsum("ij,ij->i", oc, oc) - radius * radius
        keep = (c <= 0.0) | ((b > 0.0) & (b * b >= c) & (best > b - radius))
    return np.flatnonzero(keep)


def _shade(prim: _Primitive, p: Array) -> Array:
    """Albedo x fixed diffuse term; a function of the surface point alone (view-independent)."""
    normal, a, b, face = prim.surface(p)
    out = np.empty((p.shape[0], 3))
    mats = prim.materials
    for f in np.unique(face):
        m = face == f
        mat = mats[int(f)] if len(mats) > 1 else mats[0]
        col = mat.albedo(a[m], b[m], p[m])
        if not mat.emissive:
            col = col * (_AMBIENT + _DIFFUSE * (normal[m] @ _LIGHT))[:, None]
        out[m] = col
    return out


# --- presets ----------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, names: Sequence[str], exclude: Sequence[str] = ()) -> str:
    choices = [c for c in names if c not in exclude]
    return str(choices[int(rng.integers(len(choices)))])


def _lighter(c: Array, k: float = 0.35) -> Array:
    return c + (1.0 - c) * k


def _darker(c: Array, k: float = 0.75) -> Array:
    return c * k


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


_BRIGHT = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink")


def _place_objects(
    rng: np.random.Generator,
    kinds: Sequence[str],
    inner: tuple[float, float, float, float],
    near: float = 1.2,
    far: float = 4.0,
) -> list[dict]:
    """Place floor-standing objects around the origin, spread in azimuth, non-overlapping.

    inner : (xmin, xmax, zmin, zmax) where footprints must stay. Each object's nearest point
    is between ``near`` and ``far`` metres from the origin. Deterministic for a given rng.
    """
    placed: list[dict] = []
    start = rng.uniform(0, 2 * np.pi)
    for i, kind in enumerate(kinds):
        for _ in range(200):
            ang = start + 2 * np.pi * (i + rng.uniform(-0.3, 0.3)) / len(kinds)
            if kind == "sphere":
                size = rng.uniform(0.3, 0.6)
                height = 2 * size
                foot = size
            elif kind == "box":
                hx, hy, hz = rng.uniform(0.25, 0.6), rng.uniform(0.25, 0.6), rng.uniform(0.25, 0.6)
                size = (hx, hy, hz)
                height = 2 * hy
                foot = float(np.hypot(hx, hz))
            else:  # cylinder
                size = (rng.uniform(0.2, 0.45), rng.uniform(0.4, 1.3))
                height = size[1]
                foot = size[0]
            rho = rng.uniform(near + foot, far + foot * 0.5)
            cx, cz = rho * np.sin(ang), -rho * np.cos(ang)
            # Nearest point (conservative): horizontal gap to the footprint circle, and the
            # vertical gap from the eye (y = 0) down to the object's top.
            top = FLOOR_Y + height
            gap_h = rho - foot
            gap_v = max(0.0, -top)
            nearest = float(np.hypot(gap_h, gap_v))
            if not (near <= nearest and gap_h <= far):
                continue
            if not (
                inner[0] + foot < cx < inner[1] - foot and inner[2] + foot < cz < inner[3] - foot
            ):
                continue
            if any(np.hypot(cx - q["x"], cz - q["z"]) < foot + q["foot"] + 0.15 for q in placed):
                continue
            obj = {"kind": kind, "x": float(cx), "z": float(cz), "size": size}
            obj.update(foot=float(foot), height=float(height), yaw=float(rng.uniform(0, 90)))
            placed.append(obj)
            break
    return placed


def _object_primitive(obj: dict, colour: Array, rng: np.random.Generator, salt: int) -> _Primitive:
    kind = obj["kind"]
    if kind == "sphere":
        r = obj["size"]
        style = int(rng.integers(2))
        if style == 0:  # beach-ball segments: an even count so the pattern closes at the seam
            mat: _Material = _Checker(
                colour, _lighter(colour, 0.7), 2 * np.pi * r / 8, np.pi * r / 4
            )
        else:  # latitude bands
            mat = _Stripes(colour, _darker(colour, 0.6), np.pi * r / 5, 0.5, along_b=True)
        return _Sphere(np.array([obj["x"], FLOOR_Y + r, obj["z"]]), r, [mat])
    if kind == "box":
        hx, hy, hz = obj["size"]
        side = _Tiles(colour, _darker(colour, 0.45), 0.2, 0.2, 0.02, 0.12, salt=salt)
        top = _Checker(colour, _lighter(colour, 0.5), 0.15, 0.15)
        mats = [side, side, side, top, side, side]
        return _Box(
            np.array([obj["x"], FLOOR_Y + hy, obj["z"]]), np.array([hx, hy, hz]), mats, obj["yaw"]
        )
    r, h = obj["size"]
    side = _Stripes(colour, _lighter(colour, 0.45), 2 * np.pi * r / 12, 0.5)
    cap = _Solid(_lighter(colour, 0.3), grain=0.3, grain_scale=0.05, salt=salt)
    return _Cylinder(obj["x"], obj["z"], r, FLOOR_Y, FLOOR_Y + h, [side, cap, cap])


def _room(rng: np.random.Generator, seed: int) -> ProceduralScene:
    xmin, xmax = -rng.uniform(3.0, 4.5), rng.uniform(3.0, 4.5)
    zmin, zmax = -rng.uniform(3.0, 4.5), rng.uniform(3.0, 4.5)
    ceil = FLOOR_Y + rng.uniform(2.8, 3.3)
    height = ceil - FLOOR_Y
    wall_name = _pick(rng, (*_BRIGHT, "white", "beige", "grey"))
    wall = _rgb(wall_name)
    wall_style = _pick(rng, ("striped", "plain", "tiled"))
    if wall_style == "striped":
        base: _Material = _Stripes(wall, _lighter(wall, 0.25), rng.uniform(0.25, 0.45), 0.5)
    elif wall_style == "tiled":
        base = _Tiles(wall, _lighter(wall, 0.6), 0.3, 0.3, 0.015, 0.08, salt=seed)
    else:
        base = _Solid(wall, grain=0.25, grain_scale=0.12, salt=seed)
    floor_name = _pick(rng, ("brown", "beige", "grey", "black", "white"), exclude=(wall_name,))
    floor_style = _pick(rng, ("checkered", "wooden"))
    fc = _rgb(floor_name)
    if floor_style == "checkered":
        floor_mat: _Material = _Checker(fc, _lighter(fc, 0.6), 0.5, 0.5, grain=0.15, salt=seed)
    else:
        floor_mat = _Tiles(fc, _darker(fc, 0.55), 1.2, 0.2, 0.012, 0.2, stagger=True, salt=seed)
    ceiling_mat = _Tiles(_rgb("white"), _rgb("grey"), 0.6, 0.6, 0.02, 0.03, salt=seed + 1)

    # Walls: skirting board, a door on one wall, a window and framed pictures on others.
    # Face order of a box: -x, +x, -y (floor), +y (ceiling), -z, +z; wall length along a.
    lengths = {0: zmax - zmin, 1: zmax - zmin, 4: xmax - xmin, 5: xmax - xmin}
    wall_faces = [0, 1, 4, 5]
    rng.shuffle(wall_faces)
    skirting = _Decal(-1.0, 99.0, 0.0, 0.12, _Solid(_rgb("white")))
    features: list[str] = []
    walls: dict[int, _Material] = {}
    frame = _Solid(_rgb("black"))
    for j, f in enumerate(wall_faces):
        length = lengths[f]
        decals = [skirting]
        mid = rng.uniform(1.5, length - 1.5)
        if j == 0:  # door
            door = _Tiles(_rgb("brown"), _darker(_rgb("brown"), 0.6), 0.45, 0.5, 0.03, 0.05)
            decals += [_Decal(mid - 0.5, mid + 0.5, 0.0, 2.1, door)]
            features.append("a door")
        elif j == 1:  # window: sky-blue panes with white bars
            panes = _Tiles(np.array([0.55, 0.75, 0.95]), _rgb("white"), 0.4, 0.45, 0.05, 0.05)
            decals += [_Decal(mid - 0.8, mid + 0.8, 0.9, 2.3, panes)]
            features.append("a window")
        else:  # a framed picture with a random two-colour pattern
            c0, c1 = _rgb(_pick(rng, _BRIGHT)), _rgb(_pick(rng, _BRIGHT))
            art: _Material = (
                _Checker(c0, c1, 0.2, 0.2) if j == 2 else _Stripes(c0, c1, 0.2, 0.5, True)
            )
            w, h, b0 = rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.5), 1.3
            decals += [
                _Decal(mid - w - 0.05, mid + w + 0.05, b0 - 0.05, b0 + 2 * h + 0.05, frame),
                _Decal(mid - w, mid + w, b0, b0 + 2 * h, art),
            ]
            features.append("a picture")
        walls[f] = _Decorated(base, decals)
    room_mats = [walls[0], walls[1], floor_mat, ceiling_mat, walls[4], walls[5]]
    room = _Box(
        np.array([(xmin + xmax) / 2, (FLOOR_Y + ceil) / 2, (zmin + zmax) / 2]),
        np.array([(xmax - xmin) / 2, height / 2, (zmax - zmin) / 2]),
        room_mats,
        inside=True,
    )

    n_sph, n_box, n_cyl = int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
    kinds = ["sphere"] * n_sph + ["box"] * n_box + ["cylinder"] * n_cyl
    rng.shuffle(kinds)
    inner = (xmin + 0.2, xmax - 0.2, zmin + 0.2, zmax - 0.2)
    objs = _place_objects(rng, kinds, inner)
    prims: list[_Primitive] = [room]
    described = []
    for k, obj in enumerate(objs):
        cname = _pick(rng, _BRIGHT, exclude=(wall_name,))
        prims.append(_object_primitive(obj, _rgb(cname), rng, seed + 10 + k))
        centre = [obj["x"], FLOOR_Y + obj["height"] / 2, obj["z"]]
        described.append(
            {"kind": obj["kind"], "colour": cname, "position": centre, "size": obj["size"]}
        )

    things = _join([_article(f"{o['colour']} {o['kind']}") for o in described])
    floor_words = "a checkered floor" if floor_style == "checkered" else "a wooden floor"
    caption = f"360 view of {_article(wall_name)} room with {floor_words}"
    caption += f", {things}" if things else ""
    params = {
        "preset": "room",
        "seed": seed,
        "wall_colour": wall_name,
        "wall_style": wall_style,
        "floor_colour": floor_name,
        "floor_style": floor_style,
        "ceiling_colour": "white",
        "room": {"x": [xmin, xmax], "y": [FLOOR_Y, ceil], "z": [zmin, zmax]},
        "features": features,
        "objects": described,
        "caption": caption,
    }
    return ProceduralScene(prims, params)


#: Sky kinds of the courtyard (caption words): (horizon, zenith) colours of the dome gradient.
SKIES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "clear": ((0.78, 0.86, 0.95), (0.25, 0.48, 0.85)),
    "sunset": ((0.98, 0.66, 0.38), (0.33, 0.30, 0.60)),
    "overcast": ((0.80, 0.81, 0.83), (0.58, 0.62, 0.68)),
}


_FACADES = ("beige", "white", "red", "grey", "yellow", "brown", "pink")


def _courtyard(rng: np.random.Generator, seed: int) -> ProceduralScene:
    sky_name = _pick(rng, tuple(SKIES))
    horizon, zenith = (np.array(c) for c in SKIES[sky_name])
    sun_az, sun_el = rng.uniform(-np.pi, np.pi), np.radians(rng.uniform(25, 50))
    sun = lonlat_to_direction(sun_az, sun_el)
    sky = _Sphere(
        np.zeros(3),
        SKY_RADIUS,
        [_Sky(horizon, zenith, sun, 0.35 if sky_name == "overcast" else 0.7, salt=seed)],
        inside=True,
    )
    ground_name = _pick(rng, ("grey", "beige", "brown"))
    gc = _rgb(ground_name)
    ground = _Ground(
        FLOOR_Y,
        [_Tiles(gc, _darker(gc, 0.6), 0.6, 0.6, 0.03, 0.12, True, seed, fade=(8.0, 20.0))],
    )
    prims: list[_Primitive] = [sky, ground]

    # A ring of buildings facing the courtyard, with gaps where the sky shows through.
    n_bld = int(rng.integers(6, 9))
    start = rng.uniform(0, 2 * np.pi)
    # Two facade colours per seed, so the caption can name them ("red and beige buildings").
    town = _pick(rng, _FACADES)
    town = (town, _pick(rng, _FACADES, exclude=(town,)))
    bld_names = []
    for i in range(n_bld):
        ang = start + 2 * np.pi * (i + rng.uniform(-0.15, 0.15)) / n_bld
        name = town[int(rng.integers(2))]
        bld_names.append(name)
        c = _rgb(name)
        bay, storey = 2.5, 3.0
        hw = bay * int(rng.integers(2, 5)) / 2  # whole bays so windows sit symmetrically
        hd = rng.uniform(3.0, 5.0)
        hh = storey * int(rng.integers(2, 6)) / 2 + 0.4
        dist = rng.uniform(11.0, 17.0) + hd
        cx, cz = dist * np.sin(ang), -dist * np.cos(ang)
        if name in ("red", "grey"):  # large stone blocks: coarse enough not to alias far away
            wall: _Material = _Tiles(c, _lighter(c, 0.4), 1.0, 0.5, 0.05, 0.12, True, seed + i)
        else:
            wall = _Solid(c, grain=0.2, grain_scale=0.4, salt=seed + i)
        facade = _Facade(wall, np.array([0.25, 0.32, 0.42]), _rgb("white"), bay, storey, seed + i)
        roof = _Solid(_rgb("grey") * 0.8, grain=0.3, grain_scale=0.8, salt=seed + i)
        # yaw = azimuth turns the box's local z axis radial, so its +z face (2 * hw wide, whole
        # bays) faces the origin.
        mats = [facade, facade, roof, roof, facade, facade]
        prims.append(
            _Box(np.array([cx, FLOOR_Y + hh, cz]), np.array([hw, hh, hd]), mats, np.degrees(ang))
        )

    # Courtyard furniture 1.2-4 m away: a fountain, trees, benches/crates.
    objects = []
    start = rng.uniform(0, 2 * np.pi)
    kinds = ["fountain", "tree", "tree", "bench"]
    if rng.random() < 0.5:
        kinds.append("tree")
    for i, kind in enumerate(kinds):
        ang = start + 2 * np.pi * (i + rng.uniform(-0.2, 0.2)) / len(kinds)
        if kind == "fountain":
            r = rng.uniform(0.8, 1.1)
            rho = rng.uniform(1.3, 2.5) + r
            cx, cz = rho * np.sin(ang), -rho * np.cos(ang)
            stone = _Tiles(_rgb("white"), _rgb("grey"), 0.3, 0.2, 0.015, 0.08, True, seed)
            water = _Solid(np.array([0.25, 0.5, 0.75]), grain=0.4, grain_scale=0.1, salt=seed)
            prims.append(_Cylinder(cx, cz, r, FLOOR_Y, FLOOR_Y + 0.5, [stone, stone, water]))
            ball_name = _pick(rng, _BRIGHT)
            ball = _rgb(ball_name)
            prims.append(
                _Sphere(
                    np.array([cx, FLOOR_Y + 0.85, cz]),
                    0.35,
                    [_Checker(ball, _lighter(ball, 0.7), 2 * np.pi * 0.35 / 8, np.pi * 0.35 / 4)],
                )
            )
            pos = [float(cx), FLOOR_Y, float(cz)]
            objects.append({"kind": "fountain", "ball_colour": ball_name, "position": pos})
        elif kind == "tree":
            crown = rng.uniform(0.7, 1.1)
            rho = rng.uniform(1.3, 3.0) + crown
            cx, cz = rho * np.sin(ang), -rho * np.cos(ang)
            bark = _Stripes(_rgb("brown"), _darker(_rgb("brown"), 0.7), 2 * np.pi * 0.12 / 8)
            prims.append(_Cylinder(cx, cz, 0.12, FLOOR_Y, FLOOR_Y + 2.6, [bark, bark, bark]))
            leaf = np.array([0.22, 0.52, 0.2]) * rng.uniform(0.8, 1.15)
            leaves = _Solid(leaf, grain=0.7, grain_scale=0.12, salt=seed + 20 + i)
            cy = FLOOR_Y + 2.4 + crown * 0.8
            prims.append(_Sphere(np.array([cx, cy, cz]), crown, [leaves]))
            objects.append(
                {"kind": "tree", "colour": "green", "position": [float(cx), cy, float(cz)]}
            )
        else:
            cname = _pick(rng, _BRIGHT)
            rho = rng.uniform(1.8, 3.5)
            cx, cz = rho * np.sin(ang), -rho * np.cos(ang)
            c = _rgb(cname)
            slats = _Stripes(c, _darker(c, 0.55), 0.2, 0.75, along_b=True)
            top = _Stripes(c, _darker(c, 0.55), 0.2, 0.75, along_b=False)
            prims.append(
                _Box(
                    np.array([cx, FLOOR_Y + 0.25, cz]),
                    np.array([0.9, 0.25, 0.3]),
                    [slats, slats, top, top, slats, slats],
                    np.degrees(ang),
                )
            )
            pos = [float(cx), FLOOR_Y + 0.25, float(cz)]
            objects.append({"kind": "bench", "colour": cname, "position": pos})

    used = [c for c in town if c in bld_names]
    main_bld = " and ".join(used)
    sky_words = {
        "clear": "a clear blue sky",
        "sunset": "a sunset sky",
        "overcast": "an overcast sky",
    }
    caption = (
        f"360 view of a courtyard with {main_bld} buildings, a fountain and trees "
        f"under {sky_words[sky_name]}"
    )
    params = {
        "preset": "courtyard",
        "seed": seed,
        "sky": sky_name,
        "sky_radius": SKY_RADIUS,
        "ground_colour": ground_name,
        "ground_y": FLOOR_Y,
        "building_colours": bld_names,
        "objects": objects,
        "caption": caption,
    }
    return ProceduralScene(prims, params)


def _pillars(rng: np.random.Generator, seed: int) -> ProceduralScene:
    half = rng.uniform(7.0, 9.0)
    ceil = FLOOR_Y + rng.uniform(4.0, 5.0)
    pillar_name = _pick(rng, ("white", "grey", "beige", "red", "teal", "blue"))
    wall_name = _pick(rng, ("white", "beige", "grey", "yellow", "pink"), exclude=(pillar_name,))
    floor_a, floor_b = _pick(rng, ("black", "grey", "brown")), "white"
    wall = _rgb(wall_name)
    walls = _Tiles(wall, _darker(wall, 0.7), 1.0, 0.5, 0.02, 0.1, True, seed)
    floor = _Checker(_rgb(floor_a), _rgb(floor_b), 0.8, 0.8, grain=0.2, salt=seed)
    ceiling = _Tiles(_rgb("white"), _rgb("grey"), 2.0, 2.0, 0.08, 0.02, salt=seed)
    hall = _Box(
        np.array([0.0, (FLOOR_Y + ceil) / 2, 0.0]),
        np.array([half, (ceil - FLOOR_Y) / 2, half]),
        [walls, walls, floor, ceiling, walls, walls],
        inside=True,
    )
    prims: list[_Primitive] = [hall]
    pc = _rgb(pillar_name)
    spacing = rng.uniform(2.8, 3.6)
    offset = rng.uniform(0.0, spacing, size=2)
    radius = rng.uniform(0.25, 0.4)
    # Eight flutes round the shaft: wide enough not to alias on far pillars at 1024 px.
    flutes = _Stripes(pc, _darker(pc, 0.75), 2 * np.pi * radius / 8, 0.5)
    positions: list[list[float]] = []
    for gx in np.arange(-half + 0.8 + offset[0], half - 0.8, spacing):
        for gz in np.arange(-half + 0.8 + offset[1], half - 0.8, spacing):
            if np.hypot(gx, gz) - radius < 1.3:
                continue
            prims.append(_Cylinder(float(gx), float(gz), radius, FLOOR_Y, ceil, [flutes]))
            positions.append([float(gx), float(gz)])
    params = {
        "preset": "pillars",
        "seed": seed,
        "pillar_colour": pillar_name,
        "wall_colour": wall_name,
        "floor_colours": [floor_a, floor_b],
        "hall": {"x": [-half, half], "y": [FLOOR_Y, ceil], "z": [-half, half]},
        "pillars": {"radius": radius, "spacing": spacing, "xz": positions},
        "caption": (
            f"360 view of a {wall_name} hall with {pillar_name} pillars and a "
            f"{floor_a} and white checkered floor"
        ),
    }
    return ProceduralScene(prims, params)


_BUILDERS: dict[str, Callable[[np.random.Generator, int], ProceduralScene]] = {
    "room": _room,
    "courtyard": _courtyard,
    "pillars": _pillars,
}


def build_scene(preset: str, seed: int = 0) -> ProceduralScene:
    """Build a preset scene; the seed changes colours and placement deterministically."""
    if preset not in _BUILDERS:
        raise SceneError(
            f"unknown procedural preset {preset!r}; valid presets: {', '.join(PRESETS)}"
        )
    return _BUILDERS[preset](np.random.default_rng(seed), int(seed))


# --- cameras ----------------------------------------------------------------------------------


def _as_scene(scene_or_preset: str | ProceduralScene, seed: int) -> ProceduralScene:
    if isinstance(scene_or_preset, ProceduralScene):
        return scene_or_preset
    return build_scene(scene_or_preset, seed)


def _to_uint8(rgb: Array) -> Array:
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def _block_mean(img: Array, s: int) -> Array:
    """(h*s, w*s, 3) -> (h, w, 3): mean over each s x s block of sub-pixel samples."""
    if s == 1:
        return img
    h, w = img.shape[0] // s, img.shape[1] // s
    return img.reshape(h, s, w, s, -1).mean(axis=(1, 3))


def _rows_per_chunk(width: int, s: int) -> int:
    return max(1, _CHUNK_RAYS // (width * s * s))


def _for_row_blocks(height: int, step: int, work: Callable[[int, int], None]) -> None:
    """Run ``work(r0, r1)`` over blocks of output rows, on a few threads.

    Each block writes its own rows of preallocated outputs. numpy releases the GIL inside its
    array loops, so threads give a near-linear speed-up on small machines.
    """
    blocks = [(r0, min(height, r0 + step)) for r0 in range(0, height, step)]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(_MAX_THREADS, cpus or 1, len(blocks))
    if workers <= 1:
        for r0, r1 in blocks:
            work(r0, r1)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda blk: work(*blk), blocks))  # list() re-raises worker errors


def render_panorama(
    scene_or_preset: str | ProceduralScene, width: int = 2048, supersample: int = 1, seed: int = 0
) -> tuple[Array, Array]:
    """Equirectangular RGB and exact distance seen from the origin, as plain arrays.

    width : panorama width; height = width // 2
    supersample : s > 1 averages colour over an s x s grid of sub-pixel rays (anti-aliasing);
        the distance always comes from the ray through the pixel centre.

    Returns rgb (H, W, 3) uint8 and distance (H, W) float32, metres along each ray.
    """
    scene = _as_scene(scene_or_preset, seed)
    s = int(supersample)
    if width < 2 or width % 2 or s < 1:
        raise ValueError(f"need an even width >= 2 and supersample >= 1, got {width}, {s}")
    height = width // 2
    origin = np.zeros((1, 3))
    # The s x s sub-pixel grid is the set of pixel centres of an (s*W) x (s*H) panorama, so
    # conventions' pixel-centre helpers give it directly (s = 1: the panorama's own centres).
    lon, lat = panorama_lonlat(width * s, height * s)
    lon_c, lat_c = panorama_lonlat(width, height)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    dist = np.empty((height, width), dtype=np.float32)

    def work(r0: int, r1: int) -> None:
        grid = np.broadcast_arrays(lon[None, :], lat[r0 * s : r1 * s, None])
        col, t = scene._trace(origin, lonlat_to_direction(*grid).reshape(-1, 3))
        rgb[r0:r1] = _to_uint8(_block_mean(col.reshape((r1 - r0) * s, width * s, 3), s))
        if s % 2:  # odd grid: the middle sub-sample is the pixel centre (s = 1 included)
            dist[r0:r1] = t.reshape(r1 - r0, s, width, s)[:, s // 2, :, s // 2]
        else:
            grid = np.broadcast_arrays(lon_c[None, :], lat_c[r0:r1, None])
            centre = lonlat_to_direction(*grid).reshape(-1, 3)
            dist[r0:r1] = scene._trace(origin, centre)[1].reshape(r1 - r0, width)

    _for_row_blocks(height, _rows_per_chunk(width, s), work)
    return rgb, dist


def generate_panorama(
    preset: str | ProceduralScene, seed: int = 0, width: int = 2048, supersample: int = 1
) -> RGBDPanorama:
    """RGBD panorama of a preset (or built scene) seen from the origin, with metric depth.

    See :func:`render_panorama` for ``width`` and ``supersample``. Returns
    ``RGBDPanorama.from_metres(rgb, distance)``: metric_range = (min, max) distance.
    """
    scene = _as_scene(preset, seed)
    rgb, dist = render_panorama(scene, width, supersample)
    return RGBDPanorama.from_metres(rgb, dist, name=f"procedural:{scene.preset}:{scene.seed}")


def render_view(
    scene_or_preset: str | ProceduralScene,
    pose: Pose,
    size: tuple[int, int],
    fov: float,
    seed: int = 0,
    supersample: int = 1,
) -> tuple[Array, Array]:
    """Pinhole view of a procedural scene: the ground truth for novel views.

    scene_or_preset : a built scene, or a preset name built with ``seed``
    size : (width, height) in pixels
    fov : horizontal field of view in degrees (``pose.fov``, when set, overrides it, as it
        does for every output)
    supersample : s > 1 averages colour over s x s sub-pixel rays; distance stays the
        pixel-centre ray's. Memory: the camera-space ray grid of W*s x H*s (24 bytes a ray).

    Returns rgb (H, W, 3) uint8 and distance (H, W) float32: metres along each pixel-centre
    ray from ``pose.position`` (radial distance, not z-depth).
    """
    scene = _as_scene(scene_or_preset, seed)
    width, height = int(size[0]), int(size[1])
    s = int(supersample)
    if width < 1 or height < 1 or s < 1:
        raise ValueError(f"need a positive size and supersample, got {size}, {supersample}")
    fov = pose.fov if pose.fov is not None else fov
    rot = pose.rotation()
    origin = np.asarray(pose.position, dtype=np.float64).reshape(1, 3)
    # Sub-pixel rays = the pixel centres of an s-times larger image with the same fov.
    cam = perspective_ray_directions(width * s, height * s, fov)
    cam_c = cam if s % 2 else perspective_ray_directions(width, height, fov)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    dist = np.empty((height, width), dtype=np.float32)

    def work(r0: int, r1: int) -> None:
        col, t = scene._trace(origin, cam[r0 * s : r1 * s].reshape(-1, 3) @ rot.T)
        rgb[r0:r1] = _to_uint8(_block_mean(col.reshape((r1 - r0) * s, width * s, 3), s))
        if s % 2:  # odd grid: the middle sub-sample is the pixel centre (s = 1 included)
            dist[r0:r1] = t.reshape(r1 - r0, s, width, s)[:, s // 2, :, s // 2]
        else:
            centre = cam_c[r0:r1].reshape(-1, 3) @ rot.T
            dist[r0:r1] = scene._trace(origin, centre)[1].reshape(r1 - r0, width)

    _for_row_blocks(height, _rows_per_chunk(width, s), work)
    return rgb, dist
