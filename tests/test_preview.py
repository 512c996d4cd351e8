"""The interactive preview (depthfusion/preview/): input, pose printout, hot reload, window.

Three kinds of tests:
- no GL: the no-display error, the pose printout as a scene keyframe, script parsing;
- headless (the ``ctx`` fixture's EGL context): the same Preview code on an offscreen
  framebuffer, driven through its input handlers in-process;
- a real GLFW window on an Xvfb server this module starts (``xvfb`` fixture), run as
  ``python -m depthfusion.preview`` in a subprocess (a window's GLX context must not share
  a process with the session's EGL context), driven by ``--script``; its screenshots are
  compared with stills rendered headlessly by MeshRenderer from the same mesh.
"""

from __future__ import annotations

import io
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from depthfusion.errors import DepthFusionError, InputError
from depthfusion.preview.command import add_preview_parser, cmd_preview, open_preview
from depthfusion.preview.controls import HELP, View
from depthfusion.preview.overlay import text_panel
from depthfusion.preview.remesh import build_preview_mesh
from depthfusion.preview.script import load_script
from depthfusion.preview.window import DisplayUnavailableError, HeadlessWindow, check_display
from depthfusion.render.pose import Pose
from depthfusion.scene import Scene, load_scene
from depthfusion.scene.schema import KeyframeSpec

W, H = 256, 144  # window size of the GL tests
SCENE = f"""\
source:
  procedural: {{preset: room, seed: 0, width: 512}}
sphere: {{resolution: 256, displacement: {{mode: linear, strength: 0.5}}}}
camera: {{path: {{preset: swing, yaw: 0}}}}   # starts at the origin looking straight ahead
outputs:
  - {{kind: still, path: view.png, size: [{W}, {H}], fov: 90}}
"""


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0**2 / max(mse, 1e-12)))


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} was not written"
    return np.ascontiguousarray(image[..., ::-1])


@pytest.fixture
def scene_file(tmp_path) -> Path:
    path = tmp_path / "scene.yaml"
    path.write_text(SCENE)
    return path


class Truth:
    """Headless stills of a scene file's mesh: what the preview should show."""

    def __init__(self, ctx, scene_path: Path) -> None:
        from depthfusion.render.renderer import MeshRenderer
        from depthfusion.sources.load import load_source

        scene = load_scene(scene_path)
        self.renderer = MeshRenderer.from_mesh(
            ctx, build_preview_mesh(scene, load_source(scene)), samples=0
        )
        self.renderer.texture.anisotropy = 1.0  # as the preview on software GL

    def still(self, yaw=0.0, position=(0.0, 0.0, 0.0), fov=90.0, size=(W, H)) -> np.ndarray:
        return self.renderer.render(Pose(position, yaw, 0.0, 0.0), size, fov)

    def release(self) -> None:
        self.renderer.release()


@pytest.fixture
def truth(ctx, scene_file):
    t = Truth(ctx, scene_file)
    yield t
    t.release()


# --- no GL ---------------------------------------------------------------------------------------


def test_no_display_is_a_one_line_error(scene_file):
    with pytest.raises(DisplayUnavailableError) as info:
        check_display({})
    assert isinstance(info.value, DepthFusionError)
    assert "\n" not in str(info.value) and "depthfusion render" in str(info.value)
    check_display({"DISPLAY": ":0"})  # either variable is enough
    check_display({"WAYLAND_DISPLAY": "wayland-0"})

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    start = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "depthfusion.preview", str(scene_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert (
        lines[0].startswith("depthfusion: error: no display") and "depthfusion render" in lines[0]
    )
    assert time.perf_counter() - start < 30  # fails before loading the scene


def test_pose_printout_is_a_scene_keyframe():
    view = View(position=(0.1234567, -0.00001, 2.0), yaw=-90.000001, pitch=12.5, roll=0.0, fov=75)
    line = view.keyframe_line(t=2)
    assert line == "- {t: 2, position: [0.123, 0, 2], yaw: -90, pitch: 12.5, roll: 0, fov: 75}"
    items = yaml.safe_load(line)
    assert isinstance(items, list) and len(items) == 1
    key = KeyframeSpec.model_validate(items[0])
    assert (key.t, key.position, key.yaw, key.pitch, key.fov) == (2, (0.123, 0, 2), -90, 12.5, 75)
    # pasted under camera.keyframes, a scene accepts it (and a path builds from it)
    text = "source: {procedural: {}}\ncamera:\n  keyframes:\n    " + View().keyframe_line(0)
    text += "\n    " + line + "\noutputs: [{kind: mesh, path: a.glb}]\n"
    scene = Scene.model_validate(yaml.safe_load(text))
    path, _fps, duration = scene.camera.build_path()
    assert duration == 2 and path.pose_at(2).yaw == pytest.approx(-90)


def test_script_parsing(tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text(
        "- {frame: 3, key: D, action: press}\n- {frame: 5, drag: [-10, 4]}\n"
        "- {frame: 6, scroll: -1}\n- {frame: 7, key: '[', mods: [shift]}\n"
        "- {frame: 8, screenshot: shots/a.png, overlay: true}\n"
    )
    events = load_script(script)
    assert [e.frame for e in events] == [3, 5, 6, 7, 8]
    assert events[0].key == "D" and events[0].action == "press"
    assert events[1].drag == (-10, 4) and events[2].scroll == -1
    assert events[3].mods == ("shift",)
    assert events[4].screenshot == tmp_path / "shots" / "a.png" and events[4].overlay
    for bad, where in (
        ("- {frame: 1, key: NOPE}", "[0].key: unknown key 'NOPE'"),
        ("- {frame: 1}", "exactly one of key, drag, scroll or screenshot"),
        ("- {key: W}\n", "frame: required key is missing"),
        ("- {frame: 1, scroll: 1, jump: 2}", "jump: unknown key"),
        ("{frame: 1}", "a YAML list"),
    ):
        script.write_text(bad)
        with pytest.raises(InputError) as info:
            load_script(script)
        assert where in str(info.value) and "\n" not in str(info.value)


def test_help_panel_lists_every_key_and_fits():
    panel = text_panel(["title", *HELP], max_size=(400, 300))
    assert panel.ndim == 3 and panel.shape[2] == 4 and panel.dtype == np.uint8
    assert panel.shape[1] <= 400 and panel.shape[0] <= 300
    assert (panel[..., :3] > 200).any()  # there is text
    keys = " ".join(k for k, _ in HELP)
    for needle in ("drag", "scroll", "W A S D", "1 2 3", "[ ]", "- =", "B", "R", "P", "F12", "H"):
        assert needle in keys


def test_cli_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="depthfusion")
    add_preview_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["preview", "s.yaml", "--frames", "3", "--size", "64", "32", "--set", "a.b=1"]
    )
    assert args.func is cmd_preview and args.frames == 3 and args.size == [64, 32]
    assert args.set == ["a.b=1"] and args.layout == "mono" and args.screenshot is None


# --- headless: the same Preview on an offscreen framebuffer ---------------------------------------


@pytest.fixture
def headless(ctx, scene_file):
    """A Preview on an offscreen framebuffer of the shared EGL context (samples 0)."""
    window = HeadlessWindow(ctx)
    window.init()
    previews = []

    def open_(path: Path = scene_file, **options):
        options = {"size": (W, H), "samples": 0, "sync": True, "show_help": False, **options}
        preview = open_preview(window, path, out=io.StringIO(), **options)
        previews.append(preview)
        return preview

    yield open_
    for preview in previews:
        preview.release()
    window.close()


def frame_of(preview) -> np.ndarray:
    """Draw one frame and read the window's view back (what a screenshot saves)."""
    return preview.grab()


@pytest.mark.gl
def test_headless_input_moves_the_view(headless, truth):
    preview = headless()
    g = preview.glfw
    assert psnr(frame_of(preview), truth.still(0)) >= 30

    # drag a window width to the left: the scene slides left, the view turns right by one fov
    preview.on_cursor_pos(200, 70)
    preview.on_mouse_button(g.MOUSE_BUTTON_LEFT, g.PRESS, 0)
    preview.on_cursor_pos(200 - W, 70)
    preview.on_mouse_button(g.MOUSE_BUTTON_LEFT, g.RELEASE, 0)
    assert preview.view.yaw == pytest.approx(90.0)
    assert psnr(frame_of(preview), truth.still(90)) >= 30
    assert psnr(frame_of(preview), truth.still(0)) < 25  # the view did change

    # W held for half a second at 1 m/s: 0.5 m along the view (now +X)
    preview.on_key(g.KEY_W, g.PRESS, 0)
    for _ in range(15):
        preview.update(1 / 30)
    preview.on_key(g.KEY_W, g.RELEASE, 0)
    preview.update(1 / 30)
    assert preview.view.position == pytest.approx((0.5, 0.0, 0.0), abs=1e-9)
    assert psnr(frame_of(preview), truth.still(90, (0.5, 0.0, 0.0))) >= 30

    # scroll narrows the field of view; P prints the pose; R resets
    preview.on_scroll(0.0, 2.0)
    assert preview.view.fov == pytest.approx(80.0)
    preview.on_key(g.KEY_P, g.PRESS, 0)
    printed = preview.out.getvalue().strip()
    assert printed == "- {t: 0, position: [0.5, 0, 0], yaw: 90, pitch: 0, roll: 0, fov: 80}"
    preview.on_key(g.KEY_R, g.PRESS, 0)
    assert preview.view == View()

    # turning keys: L held for one second turns 90 degrees
    preview.on_key(g.KEY_L, g.PRESS, 0)
    for _ in range(30):
        preview.update(1 / 30)
    preview.on_key(g.KEY_L, g.RELEASE, 0)
    assert preview.view.yaw == pytest.approx(90.0)

    # layouts: anaglyph and side-by-side are the headless layouts of the same renderer
    from depthfusion.render.layouts import render_frame

    preview.on_key(g.KEY_2, g.PRESS, 0)
    expected = render_frame(truth.renderer, "anaglyph", Pose(yaw=90.0), (W, H), 90.0, 0.064, 3.0)
    assert preview.layout == "anaglyph" and psnr(frame_of(preview), expected) >= 30
    preview.on_key(g.KEY_3, g.PRESS, 0)
    expected = render_frame(truth.renderer, "sbs", Pose(yaw=90.0), (W // 2, H), 90.0, 0.064, 3.0)
    assert preview.layout == "sbs" and psnr(frame_of(preview), expected) >= 30


@pytest.mark.gl
def test_headless_live_remeshing(headless):
    preview = headless()
    g = preview.glfw
    before = preview.mesh.vertices.copy()
    preview.on_key(g.KEY_RIGHT_BRACKET, g.PRESS, 0)  # strength 0.5 -> 0.55
    preview.service_builds()
    assert preview.scene.sphere.displacement.strength == pytest.approx(0.55)
    assert not np.allclose(preview.mesh.vertices, before)

    disc = preview.scene.sphere.discontinuities
    threshold = disc.threshold
    preview.on_key(g.KEY_MINUS, g.PRESS, 0)
    assert disc.threshold == pytest.approx(threshold / 1.25)
    preview.on_key(g.KEY_B, g.PRESS, 0)  # background off
    assert not preview.show_background
    preview.on_key(g.KEY_B, g.PRESS, 0)  # on again: needs the inpainted background layer
    preview.service_builds()
    assert preview.show_background and disc.fill == "inpaint"
    if hasattr(preview.mesh, "layer"):  # discontinuities.py present: a LayeredMesh
        assert preview.mesh.fill == "inpaint" and preview.mesh.threshold == disc.threshold
    frame_of(preview)


@pytest.mark.gl
def test_headless_hot_reload(headless, scene_file, tmp_path):
    preview = headless()
    first = frame_of(preview)

    def edit(path: Path, text: str | None = None, data: bytes | None = None) -> None:
        stat = path.stat()
        if text is not None:
            path.write_text(text)
        else:
            path.write_bytes(data)
        # a later mtime even on coarse-clock file systems
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))

    edit(scene_file, SCENE.replace("seed: 0", "seed: 5"))
    assert preview.check_files(force=True)
    preview.service_builds()
    assert preview.scene.source.procedural.seed == 5
    assert psnr(frame_of(preview), first) < 30  # a different room

    # a broken edit keeps the last good scene and says why
    edit(scene_file, SCENE.replace("resolution: 256", "resolution: 255"))
    assert not preview.check_files(force=True)
    assert preview.scene.sphere.resolution == 256
    assert "resolution" in preview.messages[-1][1]

    # panorama inputs are watched too: rewriting the depth file reloads the source
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "pano.png"), rng.integers(0, 256, (32, 64, 3), dtype=np.uint8))
    depth = tmp_path / "depth.png"
    cv2.imwrite(str(depth), np.full((32, 64), 30000, np.uint16))
    pano_scene = tmp_path / "pano.yaml"
    pano_scene.write_text(
        "source: {panorama: {image: pano.png, depth: depth.png}}\n"
        "sphere: {resolution: 64}\noutputs: [{kind: mesh, path: a.glb}]\n"
    )
    pano = headless(pano_scene)
    radius_before = np.linalg.norm(pano.mesh.vertices[:10], axis=1)
    ok, encoded = cv2.imencode(".png", np.full((32, 64), 50000, np.uint16))
    edit(depth, data=encoded.tobytes())
    assert pano.check_files(force=True)
    pano.service_builds()
    assert np.all(np.linalg.norm(pano.mesh.vertices[:10], axis=1) < radius_before)  # nearer


# --- a real window on Xvfb -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def xvfb():
    """A private X server (Xvfb picks a free display number itself: -displayfd)."""
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb); the window tests need it")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.fail("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def preview_cmd(scene: Path, *args: str) -> list[str]:
    size = ["--size", str(W), str(H), "--samples", "0"]
    return [sys.executable, "-m", "depthfusion.preview", str(scene), *size, *args]


def display_env(display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env["DISPLAY"] = display
    return env


@pytest.mark.gl
@pytest.mark.slow
def test_window_scripted_input_matches_headless_stills(xvfb, scene_file, truth, tmp_path):
    script = tmp_path / "script.yaml"
    script.write_text(
        f"""\
- {{frame: 0, screenshot: yaw0.png}}
- {{frame: 1, drag: [{-W}, 0]}}             # grab the scene and pull it left: turn right 90
- {{frame: 1, screenshot: yaw90.png}}
- {{frame: 2, key: P}}
- {{frame: 2, key: H}}
- {{frame: 3, screenshot: help.png, overlay: true}}
- {{frame: 3, key: L, action: press}}        # 90 degrees per second, 1/30 s per frame
- {{frame: 33, key: L, action: release}}
"""
    )
    r = subprocess.run(
        preview_cmd(
            scene_file, "--frames", "34", "--screenshot", "out.png", "--script", str(script)
        ),
        capture_output=True,
        text=True,
        env=display_env(xvfb),
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "OpenGL error" not in r.stderr
    assert "34 frames" in r.stderr

    assert psnr(read_rgb(tmp_path / "yaw0.png"), truth.still(0)) >= 30
    yaw90 = read_rgb(tmp_path / "yaw90.png")
    assert psnr(yaw90, truth.still(90)) >= 30
    assert psnr(yaw90, truth.still(0)) < 25
    assert psnr(read_rgb(tmp_path / "out.png"), truth.still(180)) >= 30  # drag + key

    pose = yaml.safe_load(r.stdout)
    assert len(pose) == 1
    key = KeyframeSpec.model_validate(pose[0])
    assert key.yaw == pytest.approx(90) and key.position == (0, 0, 0) and key.fov == 90

    # the help overlay is drawn over the view (a dark panel at the top left), not saved in
    # plain screenshots
    helped = read_rgb(tmp_path / "help.png").astype(np.float64)
    corner = (slice(8, H // 2), slice(8, W // 2))
    assert helped[corner].mean() < 0.8 * yaw90.astype(np.float64)[corner].mean()


@pytest.mark.gl
@pytest.mark.slow
def test_window_hot_reload(xvfb, scene_file, tmp_path):
    proc = subprocess.Popen(
        preview_cmd(scene_file),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=display_env(xvfb),
        cwd=tmp_path,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                assert proc.poll() is None, "".join(seen)
                continue
            if text in seen[-1]:
                return
        pytest.fail(f"no {text!r} in:\n{''.join(seen)}")

    try:
        wait_for("window ready")
        scene_file.write_text(SCENE.replace("seed: 0", "seed: 7"))
        wait_for("reloaded scene.yaml")
        wait_for("procedural room (seed 7")
        wait_for("rebuilt in")
    finally:
        proc.send_signal(signal.SIGTERM)  # closes the window like Esc
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, "".join(seen)
