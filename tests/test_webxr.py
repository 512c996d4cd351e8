"""The ``webxr`` output: a self-contained viewer folder, served by ``depthfusion view``, opened
in headless Chromium with every request to an address other than localhost blocked, and
compared with the project's own ``still`` at the same poses."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import psnr

from depthfusion.errors import InputError
from depthfusion.outputs.webxr import THREE_FILES
from depthfusion.pipeline import render_scene
from depthfusion.resources import asset_path
from depthfusion.scene import load_scene
from depthfusion.serve import find_viewers, serve_in_thread

JS = Path(__file__).parent / "js"
BROWSER = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("chromium") is None,
    reason="node and chromium are installed by setup.sh",
)

POSES = [  # (pose in the URL: x, y, z, yaw, pitch, fov), the same pose for the still
    ("0,0,0,0,0,90", "{position: [0, 0, 0], yaw: 0, pitch: 0}"),
    ("0.2,0,0,40,5,90", "{position: [0.2, 0, 0], yaw: 40, pitch: 5}"),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webxr")
    stills = "".join(
        f"  - {{kind: still, path: pose{i}.png, size: [320, 240], fov: 90, layout: mono, pose: {p}}}\n"
        for i, (_, p) in enumerate(POSES)
    )
    (folder / "scene.yaml").write_text(
        "source: {procedural: {preset: room, width: 1024, supersample: 2}}\n"
        "sphere: {resolution: 512}\n"
        "outputs:\n  - {kind: webxr, path: viewer}\n" + stills
    )
    written = render_scene(load_scene(folder / "scene.yaml"), quiet=True)
    assert written[0] == folder / "viewer"
    return folder


def test_the_folder_holds_everything_the_viewer_loads(rendered):
    viewer = rendered / "viewer"
    names = {p.name for p in viewer.iterdir() if not p.name.startswith(".")}
    assert names == {
        "index.html",
        "viewer.js",
        "scene.glb",
        "scene.json",
        "three-LICENSE.txt",
        *THREE_FILES,
    }
    info = json.loads((viewer / "scene.json").read_text())
    assert info["format"] == "depthfusion-webxr" and info["start"]["fov"] == 90.0
    assert info["ipd"] == 0.064 and info["comfort_radius"] == 0.5
    assert set(info["triangles"]) == {"foreground", "background"}
    assert sum(info["triangles"].values()) <= 500_000
    html = (viewer / "index.html").read_text()
    assert "http" not in html.split("<body>")[0].replace("http-equiv", "")  # no CDN
    assert find_viewers(rendered) == [viewer] and find_viewers(viewer) == [viewer]
    # a second render replaces the project's own folder without --overwrite
    render_scene(load_scene(rendered / "scene.yaml"), quiet=True)


def test_a_2048_scene_fits_the_budget(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "source: {procedural: {preset: courtyard, width: 2048, supersample: 1}}\n"
        "sphere: {resolution: 2048}\n"
        "outputs: [{kind: webxr, path: v}]\n"
    )
    render_scene(load_scene(tmp_path / "s.yaml"), quiet=True)
    info = json.loads((tmp_path / "v" / "scene.json").read_text())
    total = sum(p.stat().st_size for p in (tmp_path / "v").iterdir())
    assert sum(info["triangles"].values()) <= 500_000  # from 2048 x 1024 x 2 = 4.2 M
    assert total <= 30e6, total


def test_vendored_three_is_the_pinned_package_unmodified():
    package = json.loads((JS / "package.json").read_text())
    version = package["dependencies"]["three"]
    assert version in (asset_path("webxr/three/README.md")).read_text()
    npm = JS / "node_modules" / "three"
    if not npm.is_dir():
        pytest.skip("tests/js/node_modules: run setup.sh")
    assert json.loads((npm / "package.json").read_text())["version"] == version
    sources = {
        "three.module.min.js": "build/three.module.min.js",
        "three.core.min.js": "build/three.core.min.js",
        "GLTFLoader.js": "examples/jsm/loaders/GLTFLoader.js",
        "BufferGeometryUtils.js": "examples/jsm/utils/BufferGeometryUtils.js",
        "VRButton.js": "examples/jsm/webxr/VRButton.js",
    }
    assert set(sources) == set(THREE_FILES)
    for name, source in sources.items():
        assert asset_path(f"webxr/three/{name}").read_bytes() == (npm / source).read_bytes(), name


def test_the_server_serves_the_viewer_with_the_right_types(rendered):
    server = serve_in_thread(rendered)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/viewer/"
        with urllib.request.urlopen(base + "viewer.js") as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
        with urllib.request.urlopen(base + "scene.glb") as r:
            assert r.headers["Content-Type"] == "model/gltf-binary" and r.read(4) == b"glTF"
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(InputError, match="no webxr viewer here"):
        find_viewers(rendered / "viewer" / ".." / "..")


@BROWSER
@pytest.mark.parametrize(("index", "pose"), list(enumerate(p for p, _ in POSES)))
def test_the_page_shows_what_the_still_shows_with_no_network(rendered, tmp_path, index, pose):
    server = serve_in_thread(rendered / "viewer")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html#pose={pose}&ui=0"
        shot = tmp_path / "shot.png"
        run = subprocess.run(
            ["node", str(JS / "screenshot_page.js"), url, str(shot), "320", "240"],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report == {"errors": [], "blocked": []}
    page = cv2.imread(str(shot))
    still = cv2.imread(str(rendered / f"pose{index}.png"))
    assert page.shape == still.shape == (240, 320, 3)
    assert psnr(page, still) >= 35.0  # measured: 38.7 dB centre, 39.8 dB off-centre


def test_view_command_errors_are_one_line(tmp_path, capsys):
    from depthfusion.cli import main

    assert main(["view", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no webxr viewer here" in err[0]


def _nearest_object(width: int = 1024) -> tuple[float, float, float]:
    """(yaw, pitch, distance) of the middle of the room's nearest object (not the floor)."""
    from depthfusion.conventions import lonlat_to_direction, panorama_lonlat
    from depthfusion.sources.procedural import generate_panorama

    pano = generate_panorama("room", seed=0, width=width, supersample=2)
    lon, lat = np.meshgrid(*panorama_lonlat(width, width // 2))
    dist = pano.distance()
    y = (lonlat_to_direction(lon, lat) * dist[..., None])[..., 1]
    candidates = np.where((np.abs(y + 1.5) > 0.05) & (y < 1.0) & (np.abs(lat) < 1.0), dist, np.inf)
    rows, cols = np.nonzero(candidates < 1.3 * candidates.min())
    r, c = int(np.median(rows)), int(np.median(cols))
    return float(np.degrees(lon[r, c])), float(np.degrees(lat[r, c])), float(dist[r, c])


@BROWSER
def test_xr_session_draws_two_eyes_whose_disparity_is_the_ipd(tmp_path):
    # An emulated headset (tests/js/xr_mock.js: two parallel 90-degree eyes 400 px square,
    # ipd 6.4 cm) looks at the room's nearest object: the rig turns to its heading, the head
    # pitches down to it. Its disparity between the eye views must be f * ipd / Z, f = 200 px.
    yaw, pitch, distance = _nearest_object()
    (tmp_path / "s.yaml").write_text(
        "source: {procedural: {preset: room, width: 1024, supersample: 2}}\n"
        "sphere: {resolution: 1024, displacement: {mode: metric}}\n"
        f"outputs: [{{kind: webxr, path: viewer, start: {{yaw: {yaw}}}}}]\n"
    )
    render_scene(load_scene(tmp_path / "s.yaml"), quiet=True)
    server = serve_in_thread(tmp_path / "viewer")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        shot = tmp_path / "xr.png"
        run = subprocess.run(
            ["node", str(JS / "screenshot_page.js"), url, str(shot), "640", "360",
             "--xr", "0.064", "400", str(pitch)],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"errors": [], "blocked": []}
    frame = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    assert frame.shape == (400, 800)  # the two eye views side by side
    left, right = frame[:, :400], frame[:, 400:]
    assert left.std() > 10 and right.std() > 10 and np.abs(left - right).mean() > 1
    # Block matching of the centre patch along x, with a parabolic sub-pixel fit.
    h = 15
    patch = left[200 - h : 201 + h, 200 - h : 201 + h]
    shifts = np.arange(-30, 6)
    ssd = np.array(
        [
            ((patch - right[200 - h : 201 + h, 200 - h + s : 201 + h + s]) ** 2).mean()
            for s in shifts
        ]
    )
    k = int(np.argmin(ssd))
    a, b, c = ssd[k - 1], ssd[k], ssd[k + 1]
    measured = -(shifts[k] + 0.5 * (a - c) / (a - 2 * b + c))
    expected = 200 * 0.064 / distance
    assert abs(measured - expected) <= 1.0, (measured, expected)  # measured: 6.57 vs 6.59 px


def test_a_budget_too_small_is_one_line(tmp_path, capsys):
    from depthfusion.cli import main

    (tmp_path / "s.yaml").write_text(
        "source: {procedural: {width: 256, supersample: 1}}\n"
        "sphere: {resolution: 256}\n"
        "outputs: [{kind: webxr, path: v, max_triangles: 1000}]\n"
    )
    assert main(["render", str(tmp_path / "s.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "above max_triangles 1000" in err[0]
    assert not (tmp_path / "v").exists()  # nothing half-written
