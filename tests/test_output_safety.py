"""Outputs never destroy what they did not make: confined paths, clashes, ownership, bounds,
decompression bombs, write errors — every refusal one line, exit 2, and every file that was
there before byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from depthfusion.cli import main
from ldm3d_core import files

SCENE = """\
source: {procedural: {preset: room, width: 64, supersample: 1}}
sphere: {resolution: 64}
camera: {path: {preset: swing, duration: 0.2, fps: 10}}
outputs:
  - {kind: still, path: view.png, size: [32, 24]}
"""


def _scene(folder: Path, text: str = SCENE, name: str = "scene.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (the manifest excluded)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != files.MANIFEST:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _run(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def _refused(argv, capsys, *needles: str) -> str:
    code, err = _run(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("depthfusion: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- data loss ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["~", ".", "", "existing.txt", "userdir"])
def test_frames_output_never_deletes_what_stands_at_its_path(tmp_path, capsys, monkeypatch, target):
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    (home / "docs" / "letter.txt").write_text("precious")
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    scene = _scene(work)
    (work / "existing.txt").write_text("keep me")
    (work / "userdir").mkdir()
    (work / "userdir" / "notes.txt").write_text("mine")
    before_home, before_work = _snapshot(home), _snapshot(work)
    override = f"outputs.0={{kind: frames, path: '{target}', size: [16, 12], layout: mono}}"
    for command in ("validate", "render"):
        _refused([command, scene, "--set", override], capsys, "outputs[0].path")
    assert _snapshot(home) == before_home
    assert _snapshot(work) == before_work


def test_frames_in_the_output_folder_itself_is_refused(tmp_path, capsys):
    scene = _scene(tmp_path / "s")
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.mp4").write_bytes(b"someone's video")
    before = _snapshot(out)
    override = "outputs.0={kind: frames, path: '', size: [16, 12], layout: mono}"
    _refused(["render", scene, "-o", out, "--set", override], capsys, "the output folder itself")
    assert _snapshot(out) == before


def test_rerender_replaces_own_outputs_but_not_changed_or_foreign_files(tmp_path, capsys):
    scene = _scene(
        tmp_path,
        SCENE
        + "  - {kind: frames, path: frames, size: [16, 12], layout: mono}\n"
        + "  - {kind: rgbd, path: pano.png}\n",
    )
    out = tmp_path / "out"
    assert _run(["render", scene, "-o", out, "-q"], capsys)[0] == 0
    first = _snapshot(out)
    assert {"view.png", "pano.png", "pano_depth.png", "pano_depth_preview.png"} <= set(first)
    assert sorted(p.name for p in (out / "frames").iterdir()) == [
        files.MANIFEST,
        "frame_000000.png",
        "frame_000001.png",
    ]
    # The project's own outputs are replaced without a flag.
    assert _run(["render", scene, "-o", out, "-q"], capsys)[0] == 0
    assert _snapshot(out) == first
    # A file the user changed is theirs now; a file added to the frames folder makes it theirs.
    (out / "view.png").write_bytes(b"edited by the user")
    (out / "frames" / "keep.txt").write_text("mine")
    before = _snapshot(out)
    _refused(["render", scene, "-o", out], capsys, "view.png", "--overwrite")
    assert _snapshot(out) == before
    # --overwrite lets files be replaced, never a folder that holds the user's files.
    _refused(["render", scene, "-o", out, "--overwrite"], capsys, "frames", "not replaced")
    (out / "frames" / "keep.txt").unlink()
    assert _run(["render", scene, "-o", out, "-q", "--overwrite"], capsys)[0] == 0
    assert (out / "view.png").read_bytes()[:4] == b"\x89PNG"


# --- escape ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "home", "symlink"])
def test_outputs_stay_in_the_output_folder(tmp_path, capsys, monkeypatch, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("HOME", str(outside))
    out = tmp_path / "work" / "out"
    out.mkdir(parents=True)
    scene = _scene(tmp_path / "work")
    if kind == "symlink":
        (out / "link").symlink_to(outside, target_is_directory=True)
    path = {
        "dotdot": "../../outside/view.png",
        "absolute": str(outside / "view.png"),
        "home": "~/view.png",
        "symlink": "link/view.png",
    }[kind]
    override = f"outputs.0.path={path}"
    for command in ("validate", "render"):
        _refused(
            [command, scene, "-o", out, "--set", override], capsys, "outside the output folder"
        )
    assert not (outside / "view.png").exists()
    # Only the user, on the command line, lets an output leave the folder.
    code, _ = _run(
        ["render", scene, "-o", out, "--set", override, "--allow-outside-output", "-q"], capsys
    )
    assert code == 0 and (outside / "view.png").is_file()


def test_scene_file_cannot_lift_the_confinement(tmp_path, capsys):
    scene = _scene(tmp_path, SCENE + "allow_outside_output: true\n")
    _refused(["validate", scene], capsys, "allow_outside_output")


# --- clashes -----------------------------------------------------------------------------------


def _panorama_scene(tmp_path: Path, outputs: str) -> Path:
    from depthfusion.rgbd.io import write_depth16, write_rgb
    from depthfusion.sources.procedural import build_scene, generate_panorama

    pano = generate_panorama(build_scene("room", 0), width=64, supersample=1)
    write_rgb(tmp_path / "pano.png", pano.rgb)
    write_depth16(tmp_path / "pano_depth.png", pano.depth)
    (tmp_path / files.MANIFEST).unlink()  # the user's files now, not the project's
    text = "source: {panorama: {image: pano.png, depth: pano_depth.png}}\n"
    return _scene(tmp_path, text + "sphere: {resolution: 64}\noutputs:\n" + outputs)


@pytest.mark.parametrize(
    "outputs, needle",
    [
        ("  - {kind: rgbd, path: pano.png}\n", "job's input (source.panorama.image"),
        ("  - {kind: rgbd, path: pano.jpg}\n", None),  # pano_depth.png is the input
        ("  - {kind: mesh, path: pano.obj}\n", "job's input (source.panorama.image"),
        ("  - {kind: still, path: scene.yaml.png}\n  - {kind: still, path: scene.yaml.png}\n",
         "outputs[0] too"),
        ("  - {kind: rgbd, path: a.png}\n  - {kind: still, path: a_depth.png}\n",
         "outputs[0] too"),
        ("  - {kind: frames, path: fr}\n  - {kind: still, path: fr/x.png}\n", "inside the folder"),
        ("  - {kind: still, path: pano_depth.png}\n", "source.panorama.depth"),
    ],
)  # fmt: skip
def test_clashes_are_refused_before_any_work(tmp_path, capsys, outputs, needle):
    scene = _panorama_scene(tmp_path, outputs)
    before = _snapshot(tmp_path)
    for command in ("validate", "render"):
        line = _refused([command, scene], capsys, "outputs[")
        if needle:
            assert needle in line
        else:
            assert "pano_depth.png" in line
    assert _snapshot(tmp_path) == before


def test_obj_texture_never_replaces_an_unrelated_image(tmp_path, capsys):
    scene = _scene(
        tmp_path, SCENE.replace("still, path: view.png, size: [32, 24]", "mesh, path: m.obj")
    )
    (tmp_path / "m.png").write_bytes(b"holiday photo")
    _refused(["render", scene], capsys, "m.png")
    assert (tmp_path / "m.png").read_bytes() == b"holiday photo"
    assert not (tmp_path / "m.obj").exists() and not (tmp_path / "m.mtl").exists()


def test_rgbd_files_are_published_as_a_set(tmp_path, capsys, monkeypatch):
    import depthfusion.rgbd.io as rgbd_io

    scene = _scene(
        tmp_path, SCENE.replace("still, path: view.png, size: [32, 24]", "rgbd, path: p.png")
    )

    def broken(path, depth):
        raise rgbd_io.OutputError(f"{path}: simulated failure")

    monkeypatch.setattr(rgbd_io, "write_depth16", broken)
    line = _refused(["render", scene, "-q"], capsys, "simulated failure")
    assert ".partial" not in line  # the message names the target, not a temporary
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != files.MANIFEST)
    assert left == ["scene.yaml"], left  # none of the three, and no temporaries


# --- stale temporaries -------------------------------------------------------------------------


def test_a_killed_runs_temporary_is_removed_by_the_next_run(tmp_path, capsys):
    scene = _scene(tmp_path)
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".view.png.{dead}.0badf00d.partial.png"
    stale.write_bytes(b"half a frame")
    alive = tmp_path / f".view.png.{os.getppid()}.0badf00d.partial.png"
    alive.write_bytes(b"another job's frame")
    assert _run(["render", scene, "-q"], capsys)[0] == 0
    assert not stale.exists()
    assert alive.read_bytes() == b"another job's frame"


# --- bounds and early errors -------------------------------------------------------------------


def _bomb_png(path: Path, width: int, height: int) -> None:
    """A small valid PNG whose header claims ``width`` x ``height`` pixels."""
    import cv2

    ok, buf = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    data = bytearray(buf.tobytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data) + b"\0" * 2_000_000)


def test_decompression_bomb_is_refused_from_its_header(tmp_path, capsys, monkeypatch):
    import cv2

    _bomb_png(tmp_path / "bomb.png", 40000, 20000)
    scene = _scene(
        tmp_path,
        SCENE.replace(
            "procedural: {preset: room, width: 64, supersample: 1}", "panorama: {image: bomb.png}"
        ),
    )

    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    for command in ("validate", "render"):
        _refused(
            [command, scene],
            capsys,
            "source.panorama.image",
            "40000x20000",
            "DEPTHFUSION_MAX_PIXELS",
        )
    from depthfusion.errors import InputError
    from depthfusion.rgbd.io import read_rgb

    with pytest.raises(InputError, match="above the limit"):
        read_rgb(tmp_path / "bomb.png")


@pytest.mark.parametrize(
    "override, needle",
    [
        ("camera.path.duration=1000000", "camera.path.duration"),
        ("camera.path.fps=1000000", "camera.path.duration"),
        ("outputs.0={kind: vr360, path: v.mp4, crf: 0}", "crf 0"),
        ("source.procedural.width=1000000", "source.procedural.width"),
        ("sphere.resolution=100000", "sphere.resolution"),
        ("outputs.0.size=[100000, 100000]", "outputs[0].size"),
        ("outputs.0.path=view.bmp", "outputs[0].path"),
        ("outputs.0={kind: video, path: v.xyz}", "outputs[0].path"),
        ("outputs.0={kind: video, path: v.mp4, crf: 99}", "outputs[0].crf"),
        ("outputs.0={kind: video, path: v.mp4, bitrate: lots}", "outputs[0].bitrate"),
        ("outputs.0={kind: video, path: v.mp4, preset: fastest}", "outputs[0].preset"),
        ("outputs.0={kind: vr360, path: v.mp4, bitrate: lots}", "outputs[0].bitrate"),
        ("outputs.0={kind: vr360, path: v.mp4, duration: 100000, follow_path: false}", "outputs[0].duration"),
        ("outputs.0={kind: frames, path: f.png}", "outputs[0].path"),
        ("outputs.0={kind: frames, path: 'f_%d_%d.png'}", "outputs[0].path"),
        ("outputs.0={kind: still, path: v.png, size: [20000, 100]}", "outputs[0].size"),
    ],
)  # fmt: skip
def test_sizes_counts_and_settings_fail_in_validate(tmp_path, capsys, override, needle):
    video = "  - {kind: video, path: path.mp4, size: [16, 12]}\n" if "camera" in override else ""
    scene = _scene(tmp_path, SCENE + video)
    for command in ("validate", "render"):
        _refused([command, scene, "--set", override], capsys, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]


def test_generation_width_must_fit_the_latents(tmp_path, capsys):
    scene = _scene(
        tmp_path,
        SCENE.replace("procedural: {preset: room, width: 64, supersample: 1}", "prompt: a room"),
    )
    _refused(["validate", scene, "--set", "source.generation.width=1000"], capsys, "multiple of 16")
    _refused(["validate", scene, "--set", "source.generation.width=1000000"], capsys, "limit")
    _refused(["validate", scene, "--set", "source.generation.steps=100000"], capsys, "steps")


def test_limits_are_raised_by_environment_not_by_scene(tmp_path, capsys, monkeypatch):
    scene = _scene(tmp_path)
    override = "camera.path.duration=4000"  # 40 000 frames at 10 fps
    monkeypatch.setenv("DEPTHFUSION_MAX_FRAMES", "1000")
    override_video = "outputs.0={kind: video, path: v.mp4, size: [16, 12]}"
    _refused(["validate", scene, "--set", override, "--set", override_video], capsys, "1000")
    monkeypatch.setenv("DEPTHFUSION_MAX_FRAMES", "100000")
    code, _ = _run(["validate", scene, "--set", override, "--set", override_video], capsys)
    assert code == 0


def test_camera_poses_are_lazy():
    from depthfusion.render.camera_path import preset_path

    path = preset_path("swing", 1e6, where="camera.path")
    poses = path.poses(30.0)
    assert len(poses) == 30_000_000  # nothing computed yet
    assert poses[15] == path.pose_at(0.5)
    assert list(poses[:3]) == [path.pose_at(i / 30.0) for i in range(3)]


def test_duplicate_keys_are_an_error(tmp_path, capsys):
    text = SCENE + "sphere: {radius: 3}\n"
    scene = _scene(tmp_path, text)
    _refused(["validate", scene], capsys, "duplicate key 'sphere'", "scene.yaml")


def test_fifos_and_devices_are_refused_as_inputs(tmp_path, capsys):
    fifo = tmp_path / "pano.png"
    os.mkfifo(fifo)
    scene = _scene(
        tmp_path,
        SCENE.replace(
            "procedural: {preset: room, width: 64, supersample: 1}", "panorama: {image: pano.png}"
        ),
    )
    _refused(["validate", scene], capsys, "FIFO")
    _refused(["validate", "/dev/zero"], capsys, "device")
    os.mkfifo(tmp_path / "fifo.yaml")
    _refused(["validate", tmp_path / "fifo.yaml"], capsys, "FIFO")


# --- write errors ------------------------------------------------------------------------------

_FSIZE_RUN = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from depthfusion.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "output",
    [
        "{kind: still, path: big.png, size: [640, 480]}",
        "{kind: video, path: big.mp4, size: [640, 480], crf: 0, preset: ultrafast}",
        "{kind: mesh, path: big.obj}",
        "{kind: vr360, path: big.mp4, resolution: 512, crf: 1}",
    ],
)
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, output):
    """RLIMIT_FSIZE makes every write past 20 kB fail (EFBIG), for Python and ffmpeg alike."""
    scene = _scene(tmp_path, SCENE.replace("{kind: still, path: view.png, size: [32, 24]}", output))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _FSIZE_RUN.format(limit=20_000), "render", str(scene), "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("depthfusion: error: "), proc.stderr
    assert "big" in lines[0] and "Traceback" not in proc.stderr
    assert any(reason in lines[0].lower() for reason in ("too large", "file size limit")), lines[0]
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != files.MANIFEST)
    assert left == ["scene.yaml"], left


def test_a_folder_where_a_file_goes_is_one_line(tmp_path):
    from depthfusion.errors import OutputError
    from depthfusion.outputs.writers import write_still

    (tmp_path / "x.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_still(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "file").write_text("a file")
    with pytest.raises(OutputError, match="not a folder"):
        write_still(tmp_path / "file" / "x.png", np.zeros((4, 4, 3), np.uint8))
    assert (tmp_path / "file").read_text() == "a file"


# --- the other commands that write ---------------------------------------------------------------


def test_preview_screenshot_never_replaces_a_foreign_file(tmp_path, capsys):
    scene = _scene(tmp_path)
    shot = tmp_path / "photo.png"
    shot.write_bytes(b"a photo")
    _refused(
        ["preview", scene, "--frames", "1", "--screenshot", shot],
        capsys,
        "--screenshot",
        "photo.png",
    )
    _refused(["preview", scene, "--frames", "1", "--screenshot", tmp_path], capsys, "--screenshot")
    assert shot.read_bytes() == b"a photo"


def test_dataset_refuses_a_foreign_manifest_before_any_work(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "manifest.csv").write_text("someone else's list\n")
    _refused(["dataset", out, "--count", "2", "--width", "16", "-q"], capsys, "manifest.csv")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.csv"]
    _refused(["dataset", out, "--count", "2", "--width", "1000000"], capsys, "--width")
