"""Writers: MP4 (checked with ffprobe), frame sequences, stills, atomicity, progress."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from conftest import visible

from depthfusion.atomic import allow_overwrite
from depthfusion.console import progress
from depthfusion.errors import OutputError
from depthfusion.outputs.writers import FramesWriter, VideoWriter, even_size, write_still

W, H = 64, 32


def _frames(n: int, width: int = W, height: int = H) -> list[np.ndarray]:
    """Smooth gradients that move a little each frame (x264-friendly, like rendered views)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(n):
        r = 128 + 100 * np.sin((xx + 3 * i) / 9.0)
        g = 255 * yy / max(height - 1, 1)
        b = np.full_like(xx, 40.0 + 10 * i)
        out.append(np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8))
    return out


def ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("ffprobe not installed")
    result = subprocess.run(
        [
            exe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
            "stream=nb_read_frames,width,height,pix_fmt,codec_name", "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)["streams"][0]


def _decode(path: Path) -> list[np.ndarray]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in visible(folder) if p.name.startswith("."))


# --- video ----------------------------------------------------------------------------------


@pytest.mark.parametrize("threaded", [False, True])
def test_video_has_exact_frames_codec_and_size(tmp_path, threaded):
    out = tmp_path / "sub" / "clip.mp4"
    with VideoWriter(out, fps=24, size=(W, H), preset="ultrafast", threaded=threaded) as video:
        for frame in _frames(7):
            video.write(frame)
    info = ffprobe(out)
    assert info == {
        "codec_name": "h264",
        "width": W,
        "height": H,
        "pix_fmt": "yuv420p",
        "nb_read_frames": "7",
    }
    assert _leftovers(out.parent) == []


def test_video_pixels_survive_encoding(tmp_path):
    frames = _frames(3)
    out = tmp_path / "q.mp4"
    with VideoWriter(out, fps=10, crf=0, preset="ultrafast") as video:  # size from 1st frame
        for frame in frames:
            video.write(frame)
    decoded = _decode(out)
    assert len(decoded) == 3
    for a, b in zip(frames, decoded, strict=True):
        assert np.abs(a.astype(int) - b).mean() < 3.0  # 4:2:0 chroma + BT.709 round trip


def test_video_accepts_rgba_flipped_and_strided_frames(tmp_path):
    top_white = np.zeros((H, W, 4), np.uint8)
    top_white[: H // 2] = 255
    out = tmp_path / "rgba.mp4"
    with VideoWriter(out, fps=10, flip_vertical=True, preset="ultrafast") as video:
        video.write(top_white)  # GL-style bottom-up RGBA
    (frame,) = _decode(out)
    assert frame[: H // 2 - 2].mean() < 10 and frame[H // 2 + 2 :].mean() > 245
    wide = np.zeros((H, 2 * W, 3), np.uint8)
    out2 = tmp_path / "strided.mp4"
    with VideoWriter(out2, fps=10, preset="ultrafast") as video:
        video.write(wide[:, ::2])  # non-contiguous view
    assert ffprobe(out2)["nb_read_frames"] == "1"


def test_odd_size_is_rejected_with_one_line(tmp_path):
    with pytest.raises(OutputError, match=r"65x32 .* even") as info:
        VideoWriter(tmp_path / "odd.mp4", fps=30, size=(65, 32))
    assert "\n" not in str(info.value) and "66x32" in str(info.value)
    with pytest.raises(OutputError, match="even"), VideoWriter(tmp_path / "odd2.mp4") as video:
        video.write(np.zeros((31, 64, 3), np.uint8))
    assert list(visible(tmp_path)) == []
    assert even_size(65, 31) == (66, 32) and even_size(64, 32) == (64, 32)


def test_bad_settings_and_frames(tmp_path):
    for kwargs in ({"fps": 0}, {"crf": 60}, {"preset": "turbo"}, {"codec": "mpeg4"}):
        with pytest.raises(OutputError):
            VideoWriter(tmp_path / "x.mp4", **kwargs)
    with VideoWriter(tmp_path / "y.mp4", preset="ultrafast") as video:
        video.write(_frames(1)[0])
        with pytest.raises(ValueError, match="expected"):
            video.write(np.zeros((H, W + 2, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            video.write(np.zeros((H, W, 3), np.float32))
    assert ffprobe(tmp_path / "y.mp4")["nb_read_frames"] == "1"


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_exception_inside_with_leaves_no_file(tmp_path, threaded, error):
    out = tmp_path / "clip.mp4"
    writer = VideoWriter(out, fps=30, preset="ultrafast", threaded=threaded)
    with pytest.raises(error), writer as video:
        for i, frame in enumerate(_frames(5)):
            video.write(frame)
            if i == 3:
                raise error("render failed")
    assert list(visible(tmp_path)) == []
    assert writer._proc is not None and writer._proc.poll() is not None  # ffmpeg is gone


def test_exception_keeps_an_existing_file_untouched(tmp_path):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"previous render")
    with (
        pytest.raises(OutputError, match="not written by depthfusion"),
        VideoWriter(out, preset="ultrafast") as video,  # a file the project did not write
    ):
        video.write(_frames(1)[0])
    with allow_overwrite():  # --overwrite
        with pytest.raises(RuntimeError), VideoWriter(out, preset="ultrafast") as video:
            video.write(_frames(1)[0])
            raise RuntimeError("boom")
        assert out.read_bytes() == b"previous render"
        assert _leftovers(tmp_path) == []
        with VideoWriter(out, preset="ultrafast") as video:  # success replaces it
            video.write(_frames(1)[0])
    assert ffprobe(out)["codec_name"] == "h264"


def test_no_frames_is_an_error_and_writes_nothing(tmp_path):
    with pytest.raises(OutputError, match="no frames"), VideoWriter(tmp_path / "empty.mp4"):
        pass
    assert list(visible(tmp_path)) == []


def test_ffmpeg_failure_becomes_an_output_error(tmp_path):
    out = tmp_path / "bad.mp4"
    with (
        pytest.raises(OutputError, match="ffmpeg"),
        VideoWriter(out, preset="ultrafast", params=["-no-such-option", "1"]) as video,
    ):
        for frame in _frames(3):
            video.write(frame)
    assert not out.exists() and _leftovers(tmp_path) == []


# --- frames and stills ----------------------------------------------------------------------


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_frames_folder_round_trip_and_replacement(tmp_path):
    frames = _frames(3)
    folder = tmp_path / "frames"
    with FramesWriter(folder) as seq:  # an earlier, longer run
        for f in _frames(5):
            seq.write(f)
    with FramesWriter(folder) as seq:
        paths = [seq.write(f) for f in frames]
        assert len(list(visible(folder))) == 5  # the earlier run until this one is done
    assert [p.name for p in paths] == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    assert sorted(p.name for p in visible(folder)) == [p.name for p in paths]
    for path, frame in zip(paths, frames, strict=True):
        np.testing.assert_array_equal(_read_rgb(path), frame)
    assert _leftovers(tmp_path) == []


def test_frames_folder_is_atomic_on_error(tmp_path):
    folder = tmp_path / "frames"
    with FramesWriter(folder) as seq:
        seq.write(_frames(1)[0])
    with pytest.raises(RuntimeError), FramesWriter(folder) as seq:
        for f in _frames(3):
            seq.write(f)
        raise RuntimeError("boom")
    assert [p.name for p in visible(folder)] == ["frame_000000.png"]
    assert _leftovers(tmp_path) == []


def test_frames_pattern(tmp_path):
    (tmp_path / "keep.txt").write_text("other output")
    with FramesWriter(tmp_path / "shot_%05d.jpg", start=7) as seq:  # an earlier run's frame
        seq.write(_frames(1)[0])
    with FramesWriter(tmp_path / "shot_%05d.jpg", start=1) as seq:
        for f in _frames(2):
            seq.write(f)
    assert sorted(p.name for p in visible(tmp_path)) == [
        "keep.txt",
        "shot_00001.jpg",
        "shot_00002.jpg",
    ]
    assert np.abs(_read_rgb(tmp_path / "shot_00001.jpg").astype(int) - _frames(1)[0]).mean() < 4
    (tmp_path / "shot_00009.jpg").write_bytes(b"someone else's")
    with pytest.raises(OutputError, match="not written by depthfusion"):
        FramesWriter(tmp_path / "shot_%05d.jpg")
    assert (tmp_path / "shot_00009.jpg").read_bytes() == b"someone else's"
    with pytest.raises(OutputError):
        FramesWriter(tmp_path / "a_%d_%d.png")
    with pytest.raises(OutputError):
        FramesWriter(tmp_path / "a_%05d.bmp")


def test_write_still_png_jpeg_and_errors(tmp_path):
    image = _frames(1, 48, 24)[0]
    png = write_still(tmp_path / "out" / "front.png", image)
    np.testing.assert_array_equal(_read_rgb(png), image)  # RGB order kept
    jpg = write_still(tmp_path / "front.jpg", image)
    assert np.abs(_read_rgb(jpg).astype(int) - image).mean() < 4
    gray16 = (np.arange(24 * 48).reshape(24, 48) * 50).astype(np.uint16)
    np.testing.assert_array_equal(
        cv2.imread(str(write_still(tmp_path / "d.png", gray16)), -1), gray16
    )
    with pytest.raises(OutputError, match="format"):
        write_still(tmp_path / "x.bmp", image)
    with pytest.raises(OutputError, match="float32"):
        write_still(tmp_path / "x.png", image.astype(np.float32))
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "out") == []


def test_progress_bar():
    with progress(5, "video", quiet=True) as bar:
        bar.update(5)
    assert bar.disable  # a disabled bar prints nothing (and does not count)
    with progress(3, "video", quiet=False, file=open("/dev/null", "w")) as bar:  # noqa: SIM115
        bar.update(3)
        text = str(bar)
    assert "3/3" in text and "frame/s" in text
