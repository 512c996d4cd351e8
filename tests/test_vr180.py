"""VR180: side-by-side stereo, each eye the middle half of its 360 sphere, with the metadata
players read (ffprobe: Stereo 3D side by side and the projection bounds; V1 and V2 boxes;
XMP of stills and ``.vr.jpg``)."""

from __future__ import annotations

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from depthfusion.errors import SceneError
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.outputs.spherical import read_spherical, read_xmp
from depthfusion.outputs.vr360 import VR360Error, VR360Spec, resolve_vr360, write_vr360
from depthfusion.outputs.vr_photo import read_vr_photo
from depthfusion.sources.procedural import generate_panorama

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def room():
    rgbd = generate_panorama("room", width=256, supersample=1)
    return build_sphere_mesh(rgbd, mode="metric")


def _rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_each_eye_is_the_middle_half_of_its_360_frame(ctx, room, tmp_path):
    for ipd in (0.0, 0.064):
        sbs = tmp_path / f"sbs{ipd}.png"
        write_vr360(VR360Spec(sbs, resolution=128, field=180), room, ipd=ipd, ctx=ctx)
        tb = tmp_path / f"tb{ipd}.png"
        write_vr360(VR360Spec(tb, resolution=256), room, ipd=ipd, ctx=ctx)
        frame, full = _rgb(sbs), _rgb(tb)
        assert frame.shape == (128, 256, 3)  # two square 128 eyes side by side
        left, right = frame[:, :128], frame[:, 128:]
        assert np.array_equal(left, full[:128, 64:192])  # the left eye's middle half
        assert np.array_equal(right, full[128:, 64:192])
        if ipd == 0.0:
            mono = tmp_path / "mono.png"
            write_vr360(VR360Spec(mono, resolution=256, stereo=False), room, ipd=0.0, ctx=ctx)
            assert np.array_equal(left, _rgb(mono)[:, 64:192])
            assert np.array_equal(left, right)
        else:
            assert not np.array_equal(left, right)


def test_video_carries_left_right_stereo_and_half_sphere_bounds(ctx, room, tmp_path):
    out = tmp_path / "v.mp4"
    write_vr360(VR360Spec(out, resolution=128, field=180, duration=0.2, fps=10), room, ctx=ctx)
    info = read_spherical(out)
    assert info["st3d"] == "left-right"
    assert info["sv3d"]["projection"] == "equirectangular"
    assert info["sv3d"]["bounds"] == (0, 0, 0x40000000, 0x40000000)  # top, bottom, left, right
    v1 = info["v1"]
    assert v1["StereoMode"] == "left-right" and v1["ProjectionType"] == "equirectangular"
    assert (v1["FullPanoWidthPixels"], v1["CroppedAreaImageWidthPixels"]) == ("256", "128")
    assert v1["CroppedAreaLeftPixels"] == "64"
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
    )["streams"][0]
    assert (probe["width"], probe["height"]) == (256, 128)
    side = {d["side_data_type"]: d for d in probe.get("side_data_list", [])}
    assert side["Stereo 3D"]["type"] == "side by side"
    mapping = side["Spherical Mapping"]
    assert mapping["projection"] == "tiled equirectangular"
    assert mapping["bound_top"] == mapping["bound_bottom"] == 0
    assert mapping["bound_left"] > 0 and mapping["bound_right"] > 0
    assert (probe["color_primaries"], probe["color_transfer"]) == ("bt709", "bt709")


def test_stills_say_left_right_and_the_crop(ctx, room, tmp_path):
    out = tmp_path / "s.jpg"
    write_vr360(VR360Spec(out, resolution=128, field=180), room, ctx=ctx)
    xmp = read_xmp(out)
    assert 'GSpherical:StereoMode="left-right"' in xmp and "GPano:" not in xmp
    for field, value in [
        ("FullPanoWidthPixels", 256), ("FullPanoHeightPixels", 128),
        ("CroppedAreaImageWidthPixels", 128), ("CroppedAreaImageHeightPixels", 128),
        ("CroppedAreaLeftPixels", 64), ("CroppedAreaTopPixels", 0),
    ]:  # fmt: skip
        assert f'GSpherical:{field}="{value}"' in xmp
    mono = tmp_path / "m.png"
    write_vr360(VR360Spec(mono, resolution=128, field=180, stereo=False), room, ctx=ctx)
    assert 'GPano:CroppedAreaLeftPixels="64"' in read_xmp(mono)  # a mono 180 photo


def test_vr_photo_of_a_half_sphere(ctx, room, tmp_path):
    out = tmp_path / "p.vr.jpg"
    write_vr360(VR360Spec(out, resolution=128, field=180), room, ctx=ctx)
    png = tmp_path / "p.png"
    write_vr360(VR360Spec(png, resolution=128, field=180), room, ctx=ctx)
    left, right, xmp = read_vr_photo(out)
    frame = _rgb(png)
    assert left.shape == right.shape == (128, 128, 3)
    assert np.abs(left.astype(int) - frame[:, :128]).mean() < 4
    assert np.abs(right.astype(int) - frame[:, 128:]).mean() < 4
    assert 'GPano:FullPanoWidthPixels="256"' in xmp and 'GPano:CroppedAreaLeftPixels="64"' in xmp
    if shutil.which("exiftool"):
        tags = json.loads(
            subprocess.run(
                ["exiftool", "-j", "-G1", str(out)], capture_output=True, text=True
            ).stdout
        )[0]
        assert tags["XMP-GPano:CroppedAreaImageWidthPixels"] == 128
        assert tags["XMP-GPano:FullPanoWidthPixels"] == 256


def test_presets_and_bad_sizes():
    quest = resolve_vr360(VR360Spec("q.mp4", preset="quest", field=180))
    assert quest.frame_size == (4096, 2048) and quest.codec == "h264"
    assert quest.stereo_mode == "left-right" and quest.render_width == 4096
    h265 = resolve_vr360(VR360Spec("q.mp4", preset="quest-h265", field=180))
    assert h265.frame_size == (5760, 2880) and h265.codec == "h265"
    youtube = resolve_vr360(VR360Spec("y.mp4", preset="youtube", field=180))
    assert youtube.frame_size == (5760, 2880) and "-bf" in youtube.ffmpeg_params
    with pytest.raises(VR360Error, match="each VR180 eye is square"):
        resolve_vr360(VR360Spec("x.mp4", resolution=(256, 128), field=180))
    with pytest.raises(VR360Error, match="quest-h265"):  # too big for H.264 players
        resolve_vr360(VR360Spec("x.mp4", preset="quest", resolution=2880, field=180))


def test_scene_kind_vr180_with_filename_hints(tmp_path):
    from depthfusion.pipeline import check_scene, render_scene
    from depthfusion.scene import load_scene

    scene_file = tmp_path / "s.yaml"
    scene_file.write_text(
        "source: {procedural: {width: 128, supersample: 1}}\n"
        "sphere: {resolution: 64}\n"
        "outputs:\n"
        "  - {kind: vr180, path: a.png, resolution: 64, filename_hint: true}\n"
        "  - {kind: vr180, path: b.png, resolution: 64, stereo: false, filename_hint: true}\n"
    )
    scene = load_scene(scene_file)
    assert [o.path.name for o in scene.outputs] == ["a_180_LR.png", "b_180.png"]
    written = render_scene(scene, quiet=True)
    assert [p.name for p in written] == ["a_180_LR.png", "b_180.png"]
    assert _rgb(written[0]).shape == (64, 128, 3) and _rgb(written[1]).shape == (64, 64, 3)
    bad = load_scene(scene_file, ["outputs.0.resolution=[64, 32]"])
    with pytest.raises(SceneError, match=r"outputs\[0\]: vr180 .*each VR180 eye is square"):
        check_scene(bad)
