"""Spherical Video V1/V2 boxes in MP4s (checked with ffprobe and a full decode) and GPano XMP.

Each metadata version is also injected alone, so ffprobe's "Spherical Mapping" / "Stereo 3D"
side data proves that version on its own is well formed.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from conftest import visible

from depthfusion.atomic import allow_overwrite
from depthfusion.errors import DepthFusionError
from depthfusion.outputs.spherical import (
    SPHERICAL_UUID,
    Box,
    SphericalMetadataError,
    _ChunkTable,
    _write_chunk_table,
    add_xmp_to_jpeg,
    add_xmp_to_png,
    copy_with_spherical,
    gpano_xmp,
    inject_spherical,
    parse_boxes,
    read_spherical,
    read_xmp,
    scan_top_level,
    verify_mp4,
    write_equirect_still,
)
from depthfusion.outputs.writers import VideoWriter

W, H = 64, 64  # a top-bottom frame of two 64x32 eyes


def _frames(n: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return [
        np.clip(
            np.stack([128 + 100 * np.sin((xx + 4 * i) / 7), 2 * yy, 0 * xx + 30 * i], -1), 0, 255
        ).astype(np.uint8)
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Small MP4s: H.264 and H.265 with moov first (faststart), H.264 with moov last."""
    folder = tmp_path_factory.mktemp("mp4")
    out = {}
    for codec in ("libx264", "libx265"):
        path = folder / f"{codec}.mp4"
        with VideoWriter(path, 10, size=(W, H), codec=codec, preset="ultrafast") as video:
            for f in _frames(6):
                video.write(f)
        out[codec] = path
    moov_last = folder / "moov_last.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         f"testsrc=size={W}x{H}:rate=10", "-frames:v", "6", "-c:v", "libx264", "-preset",
         "ultrafast", "-pix_fmt", "yuv420p", str(moov_last)],
        check=True,
    )  # fmt: skip
    out["moov_last"] = moov_last
    return out


def _ffprobe_side_data(path: Path) -> tuple[dict[str, dict], int]:
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("ffprobe not installed")
    result = subprocess.run(
        [exe, "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stderr.strip() == ""
    stream = json.loads(result.stdout)["streams"][0]
    side = {d["side_data_type"]: d for d in stream.get("side_data_list", [])}
    return side, int(stream["nb_read_frames"])


def _decode(path: Path) -> list[np.ndarray]:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    check = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "null", "-"],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0 and check.stderr.strip() == "", check.stderr
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3).copy() for f in reader]


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
@pytest.mark.parametrize(("v1", "v2"), [(True, True), (True, False), (False, True)])
def test_stereo_metadata_read_by_ffprobe(videos, tmp_path, codec, v1, v2):
    out = tmp_path / "tb.mp4"
    inject_spherical(videos[codec], out, "top-bottom", v1=v1, v2=v2)
    side, frames = _ffprobe_side_data(out)
    assert side["Spherical Mapping"]["projection"] == "equirectangular"
    assert side["Stereo 3D"]["type"] == "top and bottom"
    assert frames == 6
    info = read_spherical(out)
    if v1:
        assert info["v1"] == {
            "Spherical": "true",
            "Stitched": "true",
            "StitchingSoftware": "DepthFusion",
            "ProjectionType": "equirectangular",
            "StereoMode": "top-bottom",
        }
    if v2:
        assert info["st3d"] == "top-bottom"
        assert info["sv3d"]["projection"] == "equirectangular"
        assert info["sv3d"]["bounds"] == (0, 0, 0, 0) and info["sv3d"]["pose"] == (0, 0, 0)


@pytest.mark.parametrize(("v1", "v2"), [(True, True), (True, False), (False, True)])
def test_mono_metadata_has_no_stereo(videos, tmp_path, v1, v2):
    out = tmp_path / "mono.mp4"
    inject_spherical(videos["libx264"], out, "mono", v1=v1, v2=v2)
    side, _ = _ffprobe_side_data(out)
    assert side["Spherical Mapping"]["projection"] == "equirectangular"
    assert "Stereo 3D" not in side
    info = read_spherical(out)
    assert info["st3d"] is None and (not v1 or "StereoMode" not in info["v1"])


def _boxes(path: Path) -> tuple[list, Box]:
    with open(path, "rb") as f:
        tops = scan_top_level(f)
        moov_top = next(b for b in tops if b.type == b"moov")
        f.seek(moov_top.offset)
        (moov,) = parse_boxes(f.read(moov_top.size))
    return tops, moov


@pytest.mark.parametrize("source", ["libx264", "moov_last"])
def test_chunk_offsets_and_frames_survive(videos, tmp_path, source):
    src = videos[source]
    out = tmp_path / "x.mp4"
    inject_spherical(src, out, "top-bottom")
    src_tops, _ = _boxes(src)
    tops, moov = _boxes(out)
    order = [b.type for b in tops]
    assert order == [b.type for b in src_tops]
    moov_first = order.index(b"moov") < order.index(b"mdat")
    assert moov_first == (source == "libx264")  # VideoWriter uses +faststart
    # The video track's sample entry holds st3d + sv3d, the trak ends with the V1 uuid.
    (trak,) = [t for t in moov.find(b"trak") if t.find(b"mdia", b"hdlr")]
    assert trak.children[-1].type == b"uuid" and trak.children[-1].payload[:16] == SPHERICAL_UUID
    (entry,) = trak.find(b"mdia", b"minf", b"stbl", b"stsd", b"avc1")
    assert [c.type for c in entry.children][-2:] == [b"st3d", b"sv3d"]
    verify_mp4(out, source=src)
    before, after = _decode(src), _decode(out)
    assert len(after) == len(before) == 6
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_injecting_twice_replaces_the_boxes(videos, tmp_path):
    once, twice = tmp_path / "1.mp4", tmp_path / "2.mp4"
    inject_spherical(videos["libx264"], once, "mono")
    inject_spherical(once, twice, "top-bottom")
    _, moov = _boxes(twice)
    (trak,) = moov.find(b"trak")
    uuids = [c for c in trak.children if c.type == b"uuid"]
    (entry,) = trak.find(b"mdia", b"minf", b"stbl", b"stsd", b"avc1")
    assert len(uuids) == 1 and [c.type for c in entry.children].count(b"sv3d") == 1
    assert read_spherical(twice)["st3d"] == "top-bottom"
    assert once.stat().st_size < twice.stat().st_size  # + st3d and StereoMode
    assert len(_decode(twice)) == 6


def test_box_tree_round_trips_byte_for_byte(videos):
    data = videos["libx264"].read_bytes()
    boxes = parse_boxes(data)
    assert b"".join(b.serialize() for b in boxes) == data
    big = Box(b"free", payload=b"")
    assert struct.unpack(">I4s", big.serialize()[:8]) == (8, b"free")


def test_stco_grows_into_co64_when_offsets_overflow():
    offsets = np.array([100, 0xFFFFFF00], dtype=np.uint64)
    payload = struct.pack(">II", 0, 2) + offsets.astype(">u4").tobytes()
    table = _ChunkTable(Box(b"stco", payload=payload), offsets)
    _write_chunk_table(table, offsets + np.uint64(0x200))
    assert table.box.type == b"co64"
    count = struct.unpack_from(">I", table.box.payload, 4)[0]
    values = np.frombuffer(table.box.payload, ">u8", count=count, offset=8)
    assert values.tolist() == [100 + 0x200, 0xFFFFFF00 + 0x200]


def test_broken_input_is_a_one_line_error_and_writes_nothing(videos, tmp_path):
    data = videos["libx264"].read_bytes()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    no_moov = tmp_path / "free.mp4"
    no_moov.write_bytes(b"\x00\x00\x00\x08free")
    target = tmp_path / "out.mp4"
    for bad in (truncated, no_moov, tmp_path / "absent.mp4"):
        with pytest.raises(SphericalMetadataError) as info:
            copy_with_spherical(bad, target)
        assert isinstance(info.value, DepthFusionError) and "\n" not in str(info.value)
    assert sorted(p.name for p in visible(tmp_path)) == ["cut.mp4", "free.mp4"]
    with pytest.raises(SphericalMetadataError):
        inject_spherical(videos["libx264"], videos["libx264"], "mono")  # in place: refused


def test_copy_with_spherical_in_place(videos, tmp_path):
    path = tmp_path / "v.mp4"
    shutil.copyfile(videos["libx264"], path)
    with allow_overwrite():  # the copy is not the project's file
        copy_with_spherical(path, path, "top-bottom")
    assert read_spherical(path)["st3d"] == "top-bottom"
    assert sorted(p.name for p in visible(tmp_path)) == ["v.mp4"]


# --- stills ------------------------------------------------------------------------------------


def _image(stereo: bool) -> np.ndarray:
    h = 64 if stereo else 32
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("stereo", [True, False])
def test_stills_get_gpano_xmp(tmp_path, suffix, stereo):
    image = _image(stereo)
    path = write_equirect_still(tmp_path / f"p{suffix}", image, stereo=stereo)
    xmp = read_xmp(path)
    ns = "GSpherical" if stereo else "GPano"  # a top-bottom image is not one 2:1 panorama
    assert ("GPano:" in xmp) != stereo
    for field, value in [
        ("ProjectionType", "equirectangular"),
        ("FullPanoWidthPixels", "64"),
        ("FullPanoHeightPixels", "32"),
        ("CroppedAreaImageWidthPixels", "64"),
        ("CroppedAreaImageHeightPixels", "32"),
        ("CroppedAreaLeftPixels", "0"),
        ("CroppedAreaTopPixels", "0"),
    ]:
        assert f'{ns}:{field}="{value}"' in xmp
    assert ('GPano:UsePanoramaViewer="True"' in xmp) != stereo
    assert ('GSpherical:StereoMode="top-bottom"' in xmp) == stereo
    decoded = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert decoded.shape == image.shape
    if suffix == ".png":
        assert np.array_equal(decoded, image)
    assert sorted(p.name for p in visible(tmp_path)) == [path.name]


def test_xmp_segment_placement_and_replacement():
    image = cv2.cvtColor(_image(False), cv2.COLOR_RGB2BGR)
    jpg = cv2.imencode(".jpg", image)[1].tobytes()
    tagged = add_xmp_to_jpeg(add_xmp_to_jpeg(jpg, gpano_xmp(8, 4, False)), gpano_xmp(64, 32, True))
    assert tagged[:4] == b"\xff\xd8\xff\xe0"  # SOI, then JFIF's APP0 first
    assert tagged.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1  # replaced, not added
    assert b'FullPanoWidthPixels="64"' in tagged
    assert cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_COLOR).shape == (32, 64, 3)
    png = cv2.imencode(".png", image)[1].tobytes()
    tagged = add_xmp_to_png(add_xmp_to_png(png, gpano_xmp(8, 4, False)), gpano_xmp(64, 32, False))
    assert tagged[12:16] == b"IHDR" and tagged[33 + 4 : 33 + 8] == b"iTXt"
    assert tagged.count(b"XML:com.adobe.xmp") == 1
    assert np.array_equal(cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_COLOR), image)


def test_still_errors(tmp_path):
    with pytest.raises(SphericalMetadataError, match="2:1"):
        write_equirect_still(tmp_path / "a.png", np.zeros((40, 64, 3), np.uint8), stereo=False)
    with pytest.raises(SphericalMetadataError, match="2:1"):
        write_equirect_still(tmp_path / "a.png", np.zeros((32, 64, 3), np.uint8), stereo=True)
    with pytest.raises(SphericalMetadataError, match=".png or .jpg"):
        write_equirect_still(tmp_path / "a.tif", np.zeros((32, 64, 3), np.uint8), stereo=False)
    broken = tmp_path / "b.png"
    broken.write_bytes(cv2.imencode(".png", np.zeros((4, 8, 3), np.uint8))[1].tobytes()[:-5])
    with pytest.raises(SphericalMetadataError):
        read_xmp(broken)
    assert not (tmp_path / "a.png").exists()
