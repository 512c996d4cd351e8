"""Procedural scene building blocks: named colours, procedural textures, view-independent
materials, analytic primitives (ray intersection and surface description), and
:class:`ProceduralScene`, which ray-casts them (nearest hit, albedo times a fixed diffuse term).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...conventions import (
    camera_rotation,
)

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
