"""Outputs as third-party clients read them.

GLB: unlit materials, named layer nodes, lean buffers, Khronos glTF-Validator with 0 errors
and 0 warnings, trimesh reading them back. PLY: the foreground welded (watertight where
nothing is cut).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
from conftest import psnr

from depthfusion.mesh.discontinuities import build_layered_mesh
from depthfusion.mesh.export import export_mesh
from depthfusion.mesh.gltf import compact, glb_bytes
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.sources.procedural import generate_panorama

VALIDATOR = Path(__file__).parent / "js" / "validate_gltf.js"


@pytest.fixture(scope="module")
def pano():
    return generate_panorama("room", seed=1, width=128, supersample=1)


def _parse(data: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<III", data)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    n, kind = struct.unpack_from("<II", data, 12)
    assert kind == 0x4E4F534A
    doc = json.loads(data[20 : 20 + n])
    m, kind = struct.unpack_from("<II", data, 20 + n)
    assert kind == 0x004E4942
    return doc, data[28 + n : 28 + n + m]


def _array(doc: dict, blob: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.uint32 if acc["componentType"] == 5125 else np.float32
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc["type"]]
    raw = blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
    return np.frombuffer(raw, dtype=dtype).reshape(acc["count"], width)


def _primitives(doc: dict, blob: bytes) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = {}
    for node in doc["nodes"]:
        if "mesh" not in node:
            continue
        prim = doc["meshes"][node["mesh"]]["primitives"][0]
        out[node["name"]] = (
            _array(doc, blob, prim["attributes"]["POSITION"]),
            _array(doc, blob, prim["attributes"]["TEXCOORD_0"]),
            _array(doc, blob, prim["indices"]).ravel(),
        )
    return out


def test_layers_are_named_unlit_nodes_with_lean_buffers(pano):
    layered = build_layered_mesh(pano, 128)
    doc, blob = _parse(glb_bytes(layered))
    assert doc["extensionsUsed"] == ["KHR_materials_unlit"]
    root = doc["nodes"][doc["scenes"][0]["nodes"][0]]
    assert root["name"] == "panorama"
    assert [doc["nodes"][i]["name"] for i in root["children"]] == ["foreground", "background"]
    for mat in doc["materials"]:
        assert mat["extensions"] == {"KHR_materials_unlit": {}} and mat["doubleSided"]
        assert mat["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    for prim in (m["primitives"][0] for m in doc["meshes"]):
        for index in (*prim["attributes"].values(), prim["indices"]):
            view = doc["bufferViews"][doc["accessors"][index]["bufferView"]]
            assert view["target"] == (34963 if index == prim["indices"] else 34962)
    prims = _primitives(doc, blob)
    for name, layer in zip(("foreground", "background"), layered.layers, strict=True):
        pos, uv, idx = prims[name]
        assert len(idx) == 3 * len(layer.faces)  # every triangle of the layer
        assert np.array_equal(np.unique(idx), np.arange(len(pos)))  # every vertex used
        keys = np.concatenate([pos, uv], axis=1)
        assert len(np.unique(keys, axis=0)) == len(keys)  # no duplicate vertices
        # the same triangles in space as the layer's
        np.testing.assert_array_equal(
            np.sort(pos[idx.reshape(-1, 3)], axis=1),
            np.sort(layer.vertices[layer.faces].astype(np.float32), axis=1),
        )
    # the foreground's texture is the panorama, losslessly
    image = doc["images"][
        doc["textures"][doc["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]["index"]][
            "source"
        ]
    ]
    view = doc["bufferViews"][image["bufferView"]]
    png = np.frombuffer(
        blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]], np.uint8
    )
    decoded = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, layered.layers[0].texture)


def test_a_plain_sphere_is_one_foreground_node_with_the_grid_vertex_count(pano):
    mesh = build_sphere_mesh(pano, 64)
    doc, blob = _parse(glb_bytes(mesh))
    prims = _primitives(doc, blob)
    assert list(prims) == ["foreground"]
    assert len(prims["foreground"][0]) == mesh.rows * (mesh.cols + 1) + 2 * mesh.cols


def test_compact_drops_unused_and_duplicate_vertices():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [5, 5, 5]], np.float32)
    uv = np.array([[0, 0], [1, 0], [0, 1], [1, 0], [0.5, 0.5]], np.float32)
    f = np.array([[0, 1, 2], [0, 3, 2]], np.uint32)
    cv, cuv, cf = compact(v, uv, f)
    assert len(cv) == 3 and cf.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert np.array_equal(cv[cf], v[f])


def test_trimesh_reads_the_layers_back(pano, tmp_path):
    layered = build_layered_mesh(pano, 128)
    path = export_mesh(layered, tmp_path / "m.glb")
    scene = trimesh.load(path, process=False)
    assert sorted(scene.geometry) == ["background", "foreground"]
    assert sum(len(g.faces) for g in scene.geometry.values()) == len(layered.faces)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by setup.sh")
def test_khronos_gltf_validator_reports_no_errors_or_warnings(pano, tmp_path):
    assert (VALIDATOR.parent / "node_modules" / "gltf-validator").is_dir(), "run setup.sh"
    files = [
        export_mesh(build_sphere_mesh(pano, 64), tmp_path / "plain.glb"),
        export_mesh(build_layered_mesh(pano, 128), tmp_path / "layered.glb"),
    ]
    run = subprocess.run(
        ["node", str(VALIDATOR), *map(str, files)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    for report in json.loads(run.stdout):
        assert (report["errors"], report["warnings"]) == (0, 0), report
        assert report["infos"] == 0 and report["hints"] == 0, report["messages"]


def test_ply_is_the_welded_foreground(pano, tmp_path):
    # Nothing cut: the layered PLY is the plain sphere's welded, watertight mesh, exactly.
    uncut = build_layered_mesh(pano, 64, threshold=10.0)
    plain = trimesh.load(
        export_mesh(build_sphere_mesh(pano, 64), tmp_path / "plain.ply"), process=False
    )
    layered = trimesh.load(export_mesh(uncut, tmp_path / "uncut.ply"), process=False)
    assert len(layered.vertices) == 64 * 32 + 2 and layered.is_watertight
    np.testing.assert_array_equal(layered.vertices, plain.vertices)
    np.testing.assert_array_equal(layered.visual.vertex_colors, plain.visual.vertex_colors)
    # With cuts: welded (no two vertices in one place) and every vertex used.
    cut = build_layered_mesh(pano, 64)
    ply = trimesh.load(export_mesh(cut, tmp_path / "cut.ply"), process=False)
    assert len(np.unique(ply.vertices, axis=0)) == len(ply.vertices)
    assert np.array_equal(np.unique(ply.faces), np.arange(len(ply.vertices)))
    assert len(ply.faces) == len(cut.layers[0].faces)


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is installed by setup.sh")
def test_vr_photo_reads_in_exiftool_as_gpano_with_the_right_eye(tmp_path):
    from depthfusion.outputs.vr_photo import read_vr_photo, write_vr_photo

    y, x = np.mgrid[0:64, 0:128]
    left = np.stack([x * 2, y * 4, np.full_like(x, 40)], axis=-1).astype(np.uint8)
    right = np.roll(left, 7, axis=1)
    path = write_vr_photo(tmp_path / "p.vr.jpg", left, right)
    tags = json.loads(
        subprocess.run(["exiftool", "-j", "-G1", str(path)], capture_output=True, text=True).stdout
    )[0]
    assert tags["XMP-GPano:ProjectionType"] == "equirectangular"
    assert (tags["XMP-GPano:FullPanoWidthPixels"], tags["XMP-GPano:FullPanoHeightPixels"]) == (
        128,
        64,
    )
    assert tags["File:ImageWidth"] == 128 and tags["File:ImageHeight"] == 64  # the left eye
    assert tags["XMP-GImage:ImageMimeType"] == "image/jpeg"
    data = subprocess.run(
        ["exiftool", "-b", "-XMP-GImage:ImageData", str(path)], capture_output=True
    ).stdout
    eye = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    assert np.abs(eye.astype(int) - right).mean() < 3  # exiftool finds the right eye
    back_left, back_right, _ = read_vr_photo(path)
    assert np.array_equal(back_right, eye)
    assert np.abs(back_left.astype(int) - left).mean() < 3


@pytest.mark.parametrize(
    ("path", "stereo", "hinted"),
    [
        ("demo_360.mp4", True, "demo_360_TB.mp4"),
        ("clip.mp4", True, "clip_360_TB.mp4"),
        ("clip_360_TB.mp4", True, "clip_360_TB.mp4"),
        ("clip.png", False, "clip_360.png"),
        ("demo_360.jpg", False, "demo_360.jpg"),
        ("photo.vr.jpg", True, "photo.vr.jpg"),  # the format says it already
    ],
)
def test_filename_hints_name_the_layout_players_read(tmp_path, path, stereo, hinted):
    from depthfusion.scene import load_scene

    scene_file = tmp_path / "s.yaml"
    scene_file.write_text(
        "source: {procedural: {width: 64}}\n"
        f"outputs: [{{kind: vr360, path: {path}, stereo: {str(stereo).lower()}, filename_hint: true}}]\n"
    )
    assert load_scene(scene_file).outputs[0].path.name == hinted
    plain = load_scene(scene_file, ["outputs.0.filename_hint=false"])
    assert plain.outputs[0].path.name == path  # opt-in


RENDER_GLTF = Path(__file__).parent / "js" / "render_gltf.js"


def _three(glb: Path, out: Path, yaw: float) -> tuple[np.ndarray, dict]:
    run = subprocess.run(
        ["node", str(RENDER_GLTF), str(glb), str(out), "160", "120", "90", str(yaw)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), json.loads(run.stdout)


@pytest.mark.gl
@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("chromium") is None,
    reason="node and chromium are installed by setup.sh",
)
def test_three_js_shows_the_glb_as_our_renderer_does(pano, tmp_path):
    # three.js's GLTFLoader in headless Chromium, no lights: the unlit layers show the
    # panorama's colours, as DepthFusion's own renderer draws them from the same pose.
    from depthfusion.render.gl import get_context
    from depthfusion.render.layouts import render_frame
    from depthfusion.render.pose import Pose
    from depthfusion.render.renderer import MeshRenderer

    assert (RENDER_GLTF.parent / "node_modules" / "three").is_dir(), "run setup.sh"
    layered = build_layered_mesh(pano, 128)
    glb = export_mesh(layered, tmp_path / "m.glb")
    renderer = MeshRenderer.from_mesh(get_context(), layered, samples=0)

    def ours(yaw: float) -> np.ndarray:
        return render_frame(
            renderer, "mono", Pose(yaw=yaw), (160, 120), 90.0, 0.064, 3.0, 0.05, 500.0
        )

    try:
        for yaw in (0.0, 30.0):
            theirs, info = _three(glb, tmp_path / f"three{yaw:g}.png", yaw)
            assert info["nodes"] == ["foreground", "background"]
            assert psnr(theirs, ours(yaw)) >= 40.0, yaw  # measured: 46.5 dB
        # A lit PBR material (trimesh's export, as before) is black without lights: the
        # comparison above would fail on it.
        lit = tmp_path / "lit.glb"
        lit.write_bytes(trimesh.exchange.gltf.export_glb(layered.to_trimesh(textured=True)))
        dark, _ = _three(lit, tmp_path / "lit.png", 0.0)
        assert psnr(dark, ours(0.0)) < 20.0 and dark.mean() < ours(0.0).mean() / 4
    finally:
        renderer.release()
