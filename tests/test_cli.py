"""The `depthfusion` command as a user meets it: help, validate, render a mesh, bad input."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
from conftest import visible

from depthfusion.cli import main


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "depthfusion", *args], capture_output=True, text=True, cwd=cwd
    )


def make_panorama(
    folder: Path, w: int = 64, h: int = 32, depth=None, depth_name="depth.png"
) -> Path:
    """A textured 2:1 panorama + 16-bit depth, and a scene file that meshes it."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "pano.png"), rgb[..., ::-1])
    if depth is None:
        depth = np.tile(np.linspace(0.1, 0.9, w), (h, 1))
    if depth_name.endswith(".png"):
        cv2.imwrite(str(folder / depth_name), np.rint(np.asarray(depth) * 65535).astype(np.uint16))
    else:
        np.save(folder / depth_name, np.asarray(depth, np.float32))
    units = "meters" if depth_name.endswith(".npy") else "disparity"
    scene = folder / "scene.yaml"
    scene.write_text(
        f"source: {{panorama: {{image: pano.png, depth: {depth_name}, depth_units: {units}}}}}\n"
        "sphere: {resolution: 64, discontinuities: {fill: stretch}}\n"
        "outputs: [{kind: mesh, path: out/pano.glb}, {kind: mesh, path: out/pano.ply}, {kind: rgbd, path: out/rgbd.png}]\n"
    )
    return scene


def test_help_and_version():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("render", "validate", "keys", "presets", "info"):
        assert cmd in r.stdout
    r = run_cli("render", "--help")
    assert "--output-dir" in r.stdout and "--set" in r.stdout and "--quiet" in r.stdout


def test_validate_and_render_panorama_scene(tmp_path, capsys):
    scene = make_panorama(tmp_path)
    assert main(["validate", str(scene)]) == 0
    assert "ok (source: panorama" in capsys.readouterr().out
    assert main(["render", str(scene), "-o", str(tmp_path / "o"), "-q"]) == 0
    glb = tmp_path / "o" / "out" / "pano.glb"
    mesh = trimesh.load(glb, force="mesh", process=False)
    rows, cols = 32, 64
    assert len(mesh.vertices) == rows * (cols + 1) + 2 * cols  # the seam-split grid
    assert np.asarray(mesh.visual.material.baseColorTexture).shape[:2] == (32, 64)
    ply = trimesh.load(tmp_path / "o" / "out" / "pano.ply", process=False)
    assert len(ply.vertices) == rows * cols + 2 and ply.is_watertight
    depth16 = cv2.imread(str(tmp_path / "o" / "out" / "rgbd_depth.png"), cv2.IMREAD_UNCHANGED)
    assert depth16.dtype == np.uint16 and depth16.shape == (32, 64)
    assert (tmp_path / "o" / "out" / "rgbd_depth_preview.png").exists()
    leftovers = [p.name for p in (tmp_path / "o" / "out").iterdir() if "partial" in p.name]
    assert leftovers == []


def test_set_override_changes_the_render(tmp_path):
    scene = make_panorama(tmp_path)
    assert (
        main(
            [
                "render",
                str(scene),
                "-q",
                "--set",
                "sphere.resolution=16",
                "--set",
                "outputs=[{kind: mesh, path: small.ply}]",
            ]
        )
        == 0
    )
    ply = trimesh.load(tmp_path / "small.ply", process=False)
    assert len(ply.vertices) == 8 * 16 + 2


def _expect_error(args, pattern: str, cwd=None):
    r = run_cli(*args, cwd=cwd)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("depthfusion: error:")]
    assert len(lines) == 1, r.stderr
    assert pattern in lines[0], lines[0]
    return lines[0]


def test_error_missing_scene(tmp_path):
    _expect_error(["render", str(tmp_path / "nope.yaml")], "nope.yaml: file not found")


def test_error_missing_input_file(tmp_path):
    scene = make_panorama(tmp_path)
    (tmp_path / "pano.png").unlink()
    _expect_error(["render", str(scene)], "pano.png: file not found")


def test_error_unreadable_image(tmp_path):
    scene = make_panorama(tmp_path)
    (tmp_path / "pano.png").write_bytes(b"this is not a png")
    _expect_error(["render", str(scene)], "pano.png: cannot read image")


def test_error_not_2_to_1(tmp_path):
    scene = make_panorama(tmp_path, w=60, h=32, depth=np.full((32, 60), 0.5))
    _expect_error(["render", str(scene)], "panorama must be 2:1")


def test_error_depth_size_differs(tmp_path):
    scene = make_panorama(tmp_path)
    cv2.imwrite(str(tmp_path / "depth.png"), np.zeros((20, 30), np.uint16))
    msg = _expect_error(["render", str(scene)], "depth.png")
    assert "30x20" in msg


def test_depth_of_another_2_to_1_size_is_resized(tmp_path):
    scene = make_panorama(tmp_path)
    cv2.imwrite(str(tmp_path / "depth.png"), np.full((16, 32), 30000, np.uint16))
    assert main(["render", str(scene), "-q"]) == 0


def test_error_unknown_key_and_wrong_type(tmp_path):
    scene = make_panorama(tmp_path)
    _expect_error(
        ["validate", str(scene), "--set", "sphere.radiuss=3"], "sphere.radiuss: unknown key"
    )
    _expect_error(
        ["validate", str(scene), "--set", "sphere.radius=[1]"],
        "sphere.radius: Input should be a valid number",
    )


def test_error_empty_outputs(tmp_path):
    scene = make_panorama(tmp_path)
    _expect_error(["validate", str(scene), "--set", "outputs=[]"], "outputs: the list is empty")


def test_error_output_folder_not_writable(tmp_path):
    scene = make_panorama(tmp_path)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    _expect_error(
        ["render", str(scene), "-o", str(tmp_path / "blocker")], "blocker is a file, not a folder"
    )


def test_invalid_depth_values_are_filled_or_rejected(tmp_path):
    dist = np.full((32, 64), 4.0, np.float32)
    dist[5, 7] = np.nan
    dist[6, 8] = -1.0  # <= 0 m: a sensor hole
    scene = make_panorama(tmp_path, depth=dist, depth_name="depth.npy")
    r = run_cli("render", str(scene))
    assert r.returncode == 0, r.stderr
    assert "2 invalid" in r.stderr or "2 " in r.stderr and "invalid" in r.stderr
    ply = trimesh.load(tmp_path / "out" / "pano.ply", process=False)
    assert np.isfinite(ply.vertices).all()
    dist[:4] = np.inf  # 12.5 % invalid: too many
    np.save(tmp_path / "depth.npy", dist)
    _expect_error(["render", str(scene)], "depth.npy")


def test_no_half_written_output_on_failure(tmp_path):
    scene = make_panorama(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "pano.glb").write_bytes(b"previous result")
    (tmp_path / "depth.png").write_bytes(b"garbage")
    _expect_error(["render", str(scene), "--overwrite"], "depth.png")
    assert (out / "pano.glb").read_bytes() == b"previous result"
    assert sorted(p.name for p in visible(out)) == ["pano.glb"]


@pytest.mark.slow
def test_room_scene_renders(tmp_path):
    r = run_cli(
        "render",
        "room",
        "-o",
        str(tmp_path),
        "-q",
        "--set",
        "source.procedural.width=256",
        "--set",
        "sphere.resolution=128",
    )
    assert r.returncode == 0, r.stderr
    glb = tmp_path / "room.glb"
    mesh = trimesh.load(glb, force="mesh", process=False)
    # The room has depth edges (furniture): the default fill (inpaint) cuts the foreground
    # there and adds a background layer, so the mesh has more than the plain grid's vertices;
    # the background covers bands behind the edges only, so it adds far fewer triangles.
    grid_vertices, grid_faces = 64 * 129 + 2 * 128, 2 * 64 * 128
    assert len(mesh.vertices) > grid_vertices
    assert grid_faces * 0.9 < len(mesh.faces) < grid_faces * 1.5


@pytest.mark.slow
def test_demo_scene_renders_a_prompt_with_the_embedded_model(tmp_path):
    """The README's first command, at small sizes: prompt -> embedded model -> 360 TB video
    with spherical metadata + flat stereo preview + stills, panorama, mesh."""
    r = run_cli(
        "render", "demo", "-o", str(tmp_path), "-q",
        "--set", "camera.path.duration=0.4",
        "--set", "outputs.0.resolution=256", "--set", "outputs.1.resolution=256",
        "--set", "outputs.2.size=[128, 72]", "--set", "outputs.3.size=[128, 72]",
        "--set", "source.generation.steps=5",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Loading weights" not in r.stderr  # --quiet silences the model loading too
    names = {p.name for p in tmp_path.iterdir()}
    assert {"demo_360.mp4", "demo_360.png", "demo_sbs.mp4", "demo_view.png", "demo_pano.png",
            "demo_pano_depth.png", "demo.glb"} <= names  # fmt: skip
    pano = cv2.imread(str(tmp_path / "demo_pano.png"))
    assert pano.shape == (128, 256, 3)  # the embedded model's native size
    assert cv2.imread(str(tmp_path / "demo_360.png")).shape == (256, 256, 3)  # top-bottom
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(tmp_path / "demo_360.mp4")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (stream,) = __import__("json").loads(probe.stdout)["streams"]
    assert (stream["width"], stream["height"]) == (256, 256)
    side = {d["side_data_type"]: d for d in stream.get("side_data_list", [])}
    assert side["Spherical Mapping"]["projection"] == "equirectangular"
    assert side["Stereo 3D"]["type"] == "top and bottom"
