"""The procedural presets (room, courtyard, pillars): seeded layouts of primitives with
captions that name what they contain; :func:`build_scene` picks one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...conventions import (
    lonlat_to_direction,
)
from ...errors import SceneError
from .shapes import (
    FLOOR_Y,
    SKY_RADIUS,
    Array,
    ProceduralScene,
    _Box,
    _Checker,
    _Cylinder,
    _Decal,
    _Decorated,
    _Facade,
    _Ground,
    _Material,
    _Primitive,
    _rgb,
    _Sky,
    _Solid,
    _Sphere,
    _Stripes,
    _Tiles,
)

#: Names accepted by :func:`build_scene`.
PRESETS: tuple[str, ...] = ("room", "courtyard", "pillars")


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
