"""Scene files: contract keys, validation messages, overrides, path resolution, safe loading."""

from pathlib import Path

import pytest
import yaml

from depthfusion.errors import SceneError
from depthfusion.resources import scene_path
from depthfusion.scene import apply_overrides, describe_fields, load_scene

CONTRACT = """
source:
  procedural: {preset: room, seed: 0, width: 2048}
sphere:
  radius: 5.0
  displacement: {mode: linear, strength: 0.5}
  resolution: 2048
  discontinuities: {threshold: 0.05, fill: stretch}
camera:
  path: {preset: swing, duration: 8, fps: 30}
stereo: {ipd: 0.064, convergence: 3.0}
outputs:
  - {kind: vr360, path: out/demo_360_tb.mp4, preset: preview, stereo: true}
  - {kind: video, path: out/demo_sbs.mp4, size: [1920, 1080], fov: 90, layout: sbs}
  - {kind: still, path: out/front.png, size: [1280, 720], fov: 90, layout: mono,
     pose: {position: [0, 0, 0], yaw: 0, pitch: 0, roll: 0}}
  - {kind: mesh, path: out/demo.glb}
"""


def write(tmp_path: Path, text: str, name: str = "scene.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_design_contract_example_validates(tmp_path):
    scene = load_scene(write(tmp_path, CONTRACT))
    assert scene.source.kind == "procedural"
    assert scene.sphere.radius == 5.0 and scene.sphere.resolution == 2048
    assert [o.kind for o in scene.outputs] == ["vr360", "video", "still", "mesh"]
    assert scene.outputs[1].size == (1920, 1080)
    assert scene.camera.path.preset == "swing" and scene.camera.path.fps == 30
    assert scene.stereo.ipd == pytest.approx(0.064)


def test_paths_resolve_against_scene_folder_or_output_dir(tmp_path):
    (tmp_path / "sub").mkdir()
    text = "source: {panorama: {image: pano.jpg, depth: d.png}}\noutputs: [{kind: mesh, path: out/m.glb}]\n"
    p = write(tmp_path / "sub", text)
    scene = load_scene(p)
    assert scene.source.panorama.image == tmp_path / "sub" / "pano.jpg"
    assert scene.source.panorama.depth == tmp_path / "sub" / "d.png"
    assert scene.outputs[0].path == tmp_path / "sub" / "out" / "m.glb"
    scene = load_scene(p, output_dir=tmp_path / "elsewhere")
    assert scene.outputs[0].path == tmp_path / "elsewhere" / "out" / "m.glb"
    assert scene.source.panorama.image == tmp_path / "sub" / "pano.jpg"  # inputs unaffected


def test_overrides(tmp_path):
    p = write(tmp_path, CONTRACT)
    scene = load_scene(
        p,
        [
            "sphere.resolution=512",
            "outputs.3.path=x.ply",
            "stereo.ipd=0.07",
            "camera.path.preset=orbit",
        ],
    )
    assert scene.sphere.resolution == 512
    assert scene.outputs[3].path.name == "x.ply"
    assert scene.stereo.ipd == pytest.approx(0.07)
    assert scene.camera.path.preset == "orbit"
    data = apply_overrides({"a": {"b": 1}}, ["a.c.d=[1, 2]", "e=hello"])
    assert data == {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "hello"}
    with pytest.raises(SceneError, match="no list item 9"):
        load_scene(p, ["outputs.9.path=x.glb"])
    with pytest.raises(SceneError, match="expected key.sub=value"):
        load_scene(p, ["sphere.resolution"])


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "source: {procedural: {}}\noutputs: [{kind: mesh, path: a.glb}]\nspher: {}\n",
            r"spher: unknown key",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: mesh, path: a.glb}]\nsphere: {radius: big}\n",
            r"sphere.radius: Input should be a valid number",
        ),
        ("source: {procedural: {}}\noutputs: []\n", r"outputs: the list is empty"),
        ("source: {procedural: {}}\n", r"outputs: required key is missing"),
        (
            "source: {procedural: {}, prompt: x}\noutputs: [{kind: mesh, path: a.glb}]\n",
            r"exactly one of procedural, prompt or panorama",
        ),
        ("source: {}\noutputs: [{kind: mesh, path: a.glb}]\n", r"found: none"),
        (
            "source: {procedural: {}}\noutputs: [{kind: movie, path: a.mp4}]\n",
            r"outputs\[0\]: unknown output kind 'movie'",
        ),
        (
            "source: {procedural: {}}\noutputs: [{path: a.mp4}]\n",
            r"outputs\[0\]: output needs a 'kind'",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: still, path: a.png, fov: 180}]\n",
            r"outputs\[0\].fov: field of view must be between 0 and 180",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: still, path: a.png, size: [0, 10]}]\n",
            r"outputs\[0\].size",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: mesh, path: a.stl}]\n",
            r"outputs\[0\].path: mesh path must end in .glb, .ply or .obj",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: mesh, path: a.glb}]\nsphere: {resolution: 1001}\n",
            r"sphere.resolution: resolution must be even",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: mesh, path: a.glb}]\ncamera: {path: {fps: 0}}\n",
            r"camera.path.fps: Input should be greater than 0",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: mesh, path: a.glb}]\nstereo: {ipd: .nan}\n",
            r"stereo.ipd",
        ),
        (
            "source: {procedural: {}}\noutputs: [{kind: mesh, path: a.glb}]\nsphere: {displacement: {near: 3, far: 2}}\n",
            r"near \(3.0\) must be less than far",
        ),
        ("- just\n- a list\n", r"must be a mapping"),
        ("source: {procedural: {}\noutputs: [\n", r"YAML error at line"),
    ],
)
def test_bad_scene_is_one_line_naming_the_file_and_field(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(SceneError, match=expected) as info:
        load_scene(p)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(p))


def test_missing_scene_file(tmp_path):
    with pytest.raises(SceneError, match="scene.yaml: file not found"):
        load_scene(tmp_path / "scene.yaml")


def test_scene_files_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"!!python/object/apply:os.system ['touch {marker}']\n"
    p = write(
        tmp_path, f"source: {{procedural: {{}}}}\noutputs: [{{kind: mesh, path: a.glb}}]\nx: {evil}"
    )
    with pytest.raises(SceneError, match="YAML error"):
        load_scene(p)
    assert not marker.exists()


def test_every_field_has_a_one_line_doc():
    rows = describe_fields()
    keys = {k for k, _, _ in rows}
    for key in [
        "source.procedural.preset",
        "sphere.displacement.mode",
        "sphere.discontinuities.fill",
        "stereo.convergence",
        "camera.path.preset",
        "outputs",
    ]:
        assert key in keys
    missing = [k for k, _, doc in rows if not doc or "\n" in doc]
    assert missing == []


def test_shipped_scenes_validate():
    from depthfusion.resources import data_dir

    files = sorted(data_dir("scenes").glob("*.yaml"))
    assert scene_path("demo") in files
    for f in files:
        load_scene(f)
    assert yaml.safe_load(scene_path("demo").read_text())["source"]
