"""The scene's `vr360` output kind through `depthfusion render`: stills, videos along the
camera path and from a fixed viewpoint, metadata read back by ffprobe, one-line errors."""

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from depthfusion.cli import main

pytestmark = pytest.mark.gl

SCENE = """\
source: {procedural: {preset: room, width: 256, supersample: 1}}
sphere: {resolution: 256, displacement: {mode: metric}}
camera: {path: {preset: dolly, duration: 1, fps: 6}}
outputs:
"""


def probe(path) -> dict:
    r = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(r.stdout)["streams"][0]


def side_data(stream) -> dict:
    return {d["side_data_type"]: d for d in stream.get("side_data_list", [])}


def test_still_from_the_centre_reproduces_the_panorama(ctx, tmp_path):
    scene = tmp_path / "s.yaml"
    scene.write_text(
        SCENE
        + "  - {kind: rgbd, path: pano.png}\n"
        + "  - {kind: vr360, path: tb.png, resolution: 256}\n"
        + "  - {kind: vr360, path: mono.png, resolution: 256, stereo: false}\n"
    )
    assert main(["render", str(scene), "-q"]) == 0
    pano = cv2.imread(str(tmp_path / "pano.png")).astype(float)
    tb = cv2.imread(str(tmp_path / "tb.png")).astype(float)
    mono = cv2.imread(str(tmp_path / "mono.png")).astype(float)
    assert tb.shape == (256, 256, 3) and mono.shape == (128, 256, 3)

    def psnr(a, b):
        return 10 * np.log10(255**2 / max(np.mean((a - b) ** 2), 1e-10))

    assert psnr(mono, pano) >= 30
    # Stereo eyes differ from each other (the room is near) but each is close to the panorama.
    left, right = tb[:128], tb[128:]
    assert np.abs(left - right).mean() > 1
    assert psnr(left, pano) > 20 and psnr(right, pano) > 20


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs Debian's ffprobe")
def test_videos_along_the_path_and_fixed(ctx, tmp_path):
    scene = tmp_path / "s.yaml"
    scene.write_text(
        SCENE
        + "  - {kind: vr360, path: path.mp4, resolution: 256}\n"
        + "  - {kind: vr360, path: fixed.mp4, resolution: 256, stereo: false, "
        + "follow_path: false, duration: 0.5, fps: 10}\n"
    )
    assert main(["render", str(scene), "-q"]) == 0
    s = probe(tmp_path / "path.mp4")
    assert (s["width"], s["height"], int(s["nb_read_frames"])) == (256, 256, 6)
    sd = side_data(s)
    assert sd["Spherical Mapping"]["projection"] == "equirectangular"
    assert sd["Stereo 3D"]["type"] == "top and bottom"
    s = probe(tmp_path / "fixed.mp4")
    assert (s["width"], s["height"], int(s["nb_read_frames"])) == (256, 128, 5)
    assert "Spherical Mapping" in side_data(s) and "Stereo 3D" not in side_data(s)
    # The dolly moves the viewpoint: first and last frames differ; the fixed video does not.
    first, last = (tmp_path / "a.png", tmp_path / "b.png")
    for name, idx in ((first, 0), (last, 5)):
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(tmp_path / "path.mp4"), "-vf",
             f"select=eq(n\\,{idx})", "-frames:v", "1", str(name)],
            check=True,
        )  # fmt: skip
    a, b = cv2.imread(str(first)).astype(float), cv2.imread(str(last)).astype(float)
    assert np.abs(a - b).mean() > 2


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ("{kind: vr360, path: v.mp4, resolution: [300, 100]}", ["outputs[0]", "2:1"]),
        ("{kind: vr360, path: v.mp4, preset: quest, resolution: 8192}", ["outputs[0]", "quest"]),
        ("{kind: vr360, path: v.mp4, preset: vive}", ["outputs[0].preset"]),
        ("{kind: vr360, path: v.gif}", ["outputs[0]", ".gif"]),
        ("{kind: vr360, path: v.mp4, follow_path: false}", ["outputs[0]", "duration"]),
    ],
)
def test_bad_vr360_outputs_are_one_line_errors(tmp_path, capsys, output, words):
    scene = tmp_path / "s.yaml"
    scene.write_text(SCENE + f"  - {output}\n")
    assert main(["validate", str(scene)]) == 2  # validate checks the same, without rendering
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["render", str(scene), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    for w in words:
        assert w in err[0], err[0]
    assert not list(tmp_path.glob("v.*"))
