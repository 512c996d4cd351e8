"""View outputs end to end (issue 3 acceptance): stills against ray-cast truth, SBS/anaglyph
videos checked with ffprobe, left/right files, and bad input."""

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from depthfusion.cli import main
from depthfusion.conventions import perspective_ray_directions
from depthfusion.errors import DepthFusionError
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.pipeline import render_scene
from depthfusion.render.pose import Pose
from depthfusion.scene import load_scene
from depthfusion.sources.procedural import build_scene, generate_panorama, render_view

pytestmark = pytest.mark.gl


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    err = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = err[mask].mean() if mask is not None else err.mean()
    return float(10 * np.log10(255.0**2 / mse))


def visible_from_centre(scene, pose: Pose, distance: np.ndarray, fov: float) -> np.ndarray:
    """Pixels of a view whose surface point is also the first hit from the sphere's centre."""
    h, w = distance.shape
    rays = perspective_ray_directions(w, h, fov) @ pose.rotation().T
    points = np.asarray(pose.position) + rays * distance[..., None]
    r = np.linalg.norm(points, axis=-1)
    _, d0 = scene.raycast(np.zeros(3), (points / r[..., None]).reshape(-1, 3))
    return np.abs(d0.reshape(h, w) - r) < 0.01 * r


@pytest.fixture(scope="module")
def room_renderer(gl_context):
    from depthfusion.render.renderer import MeshRenderer

    scene = build_scene("room", 0)
    pano = generate_panorama(scene, width=2048, supersample=2)
    mesh = build_sphere_mesh(pano, mode="metric")
    with MeshRenderer.from_mesh(gl_context, mesh, samples=4) as renderer:
        yield scene, renderer


@pytest.mark.slow
def test_offset_eye_matches_ray_cast_truth_on_pixels_visible_from_centre(room_renderer):
    """Metric mode makes every vertex sit at its true distance, so a view from an offset eye is
    a real novel view. Measured (320x180, 90°, 2048-px panorama): 32.4 dB from the centre, 32.4-33.2
    dB for eye offsets of ±3.2 cm and head moves of 10-30 cm; the remaining error is the
    panorama's resampling blur (0.18°/px vs 0.28°/px in the view), the same at every pose. A
    render from the wrong place (the centre, against the truth of a 22 cm head move) scores far
    lower, so the bound separates right geometry from wrong."""
    scene, renderer = room_renderer
    size, fov = (320, 180), 90.0
    centre = Pose((0.0, 0.0, 0.0), -60, -10, 0)
    truth_c, _ = render_view(scene, centre, size, fov, supersample=2)
    base = psnr(renderer.render(centre, size, fov), truth_c)
    assert base > 31.0
    for pose in [
        Pose((0.032, 0.0, 0.0), -60, -10, 0),
        Pose((-0.032, 0.0, 0.0), -60, -10, 0),
        Pose((0.2, 0.0, 0.1), -90, -10, 0),
        Pose((0.0, 0.1, -0.3), -30, -10, 0),
    ]:
        truth, dist = render_view(scene, pose, size, fov, supersample=2)
        vis = visible_from_centre(scene, pose, dist, fov)
        assert vis.mean() > 0.95
        value = psnr(renderer.render(pose, size, fov), truth, vis)
        assert value >= 30.0 and value >= base - 1.5, (pose, value, base)
    moved = Pose((0.2, 0.0, 0.1), -60, -10, 0)
    truth, _ = render_view(scene, moved, size, fov, supersample=2)
    assert psnr(renderer.render(centre, size, fov), truth) < base - 6.0


def write_scene(tmp_path, outputs: str, extra: str = "") -> str:
    path = tmp_path / "scene.yaml"
    path.write_text(
        "source: {procedural: {preset: room, width: 512, supersample: 1}}\n"
        "sphere: {resolution: 256, displacement: {mode: metric}}\n"
        "camera: {path: {preset: swing, duration: 1, fps: 12}}\n"
        f"{extra}outputs:\n{outputs}"
    )
    return str(path)


def ffprobe(path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames,width,height,pix_fmt,codec_name", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)["streams"][0]


@pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="needs Debian's ffprobe (setup.sh installs it)"
)
def test_render_writes_sbs_video_and_anaglyph_preview(tmp_path):
    scene = write_scene(
        tmp_path,
        "  - {kind: video, path: sbs.mp4, size: [160, 90], layout: sbs, preset: ultrafast}\n"
        "  - {kind: video, path: ana.mp4, size: [160, 90], layout: anaglyph, preset: ultrafast}\n"
        "  - {kind: still, path: ana.png, size: [160, 90], layout: anaglyph}\n",
    )
    assert main(["render", scene, "-q"]) == 0
    sbs = ffprobe(tmp_path / "sbs.mp4")
    assert (sbs["width"], sbs["height"]) == (2 * 160, 90)  # twice the eye width
    assert int(sbs["nb_read_frames"]) == 12  # duration * fps
    assert sbs["codec_name"] == "h264" and sbs["pix_fmt"] == "yuv420p"
    ana = ffprobe(tmp_path / "ana.mp4")
    assert (ana["width"], ana["height"], int(ana["nb_read_frames"])) == (160, 90, 12)
    still = cv2.imread(str(tmp_path / "ana.png"))
    assert still.shape == (90, 160, 3)


def test_stills_default_to_msaa_and_anisotropic_filtering(tmp_path):
    """One frame: quality over speed on every GL (software GL renders videos without MSAA and
    anisotropy by default). The default still is the explicit 4x / 16x one, pixel for pixel,
    and visibly differs from an unfiltered one (smoother edges)."""
    scene = write_scene(
        tmp_path,
        "  - {kind: still, path: default.png, size: [160, 120], layout: mono}\n"
        "  - {kind: still, path: quality.png, size: [160, 120], layout: mono, samples: 4,"
        " anisotropy: 16}\n"
        "  - {kind: still, path: fast.png, size: [160, 120], layout: mono, samples: 0,"
        " anisotropy: 1}\n",
    )
    assert main(["render", scene, "-q"]) == 0
    default, quality, fast = (
        cv2.imread(str(tmp_path / f"{name}.png")).astype(int)
        for name in ("default", "quality", "fast")
    )
    assert np.array_equal(default, quality)
    assert (np.abs(default - fast).max(axis=2) > 8).sum() > 500  # 2071 of 19200 measured


def test_video_frames_follow_the_camera_path(tmp_path):
    """A look-around pans 360°: first and last frames are almost the same view, the middle one
    looks backwards (and differs)."""
    scene = write_scene(
        tmp_path,
        "  - {kind: frames, path: seq, size: [64, 48], layout: mono}\n",
        extra="",
    )
    assert (
        main(
            [
                "render",
                scene,
                "-q",
                "--set",
                "camera.path={preset: look-around, duration: 1, fps: 8}",
            ]
        )
        == 0
    )
    frames = sorted((tmp_path / "seq").glob("frame_*.png"))
    assert len(frames) == 8
    imgs = [cv2.imread(str(f)).astype(np.float64) for f in frames]
    diff_next = np.abs(imgs[0] - imgs[1]).mean()
    diff_back = np.abs(imgs[0] - imgs[4]).mean()
    assert diff_back > diff_next > 0


def test_left_right_files_and_tb(tmp_path):
    scene = write_scene(
        tmp_path,
        "  - {kind: still, path: pair.png, size: [96, 64], layout: left-right-files}\n"
        "  - {kind: still, path: tb.png, size: [96, 64], layout: tb}\n"
        "  - {kind: still, path: half.png, size: [96, 64], layout: sbs-half}\n",
        extra="stereo: {ipd: 0.5, convergence: 3.0}\n",
    )
    assert main(["render", scene, "-q"]) == 0
    left = cv2.imread(str(tmp_path / "pair_left.png"))
    right = cv2.imread(str(tmp_path / "pair_right.png"))
    assert left.shape == right.shape == (64, 96, 3)
    assert np.abs(left.astype(int) - right.astype(int)).mean() > 1  # the eyes really differ
    tb = cv2.imread(str(tmp_path / "tb.png"))
    assert tb.shape == (128, 96, 3)
    np.testing.assert_array_equal(tb[:64], left)  # left eye on top
    np.testing.assert_array_equal(tb[64:], right)
    assert cv2.imread(str(tmp_path / "half.png")).shape == (64, 96, 3)


def test_odd_video_size_is_rounded_up_to_even(tmp_path):
    scene = write_scene(
        tmp_path,
        "  - {kind: video, path: odd.mp4, size: [81, 45], layout: sbs, preset: ultrafast}\n",
    )
    render_scene(load_scene(scene), quiet=True)
    probe = ffprobe(tmp_path / "odd.mp4") if shutil.which("ffprobe") else None
    if probe:
        assert (probe["width"], probe["height"]) == (2 * 82, 46)


@pytest.mark.parametrize(
    "override,pattern",
    [
        ("camera.path.preset=spiral", "camera.path.preset: unknown preset 'spiral'"),
        ("outputs.0.fov=0", "outputs[0].fov: field of view must be between 0 and 180"),
        ("outputs.0.fov=180", "outputs[0].fov: field of view must be between 0 and 180"),
        ("camera.path.fps=0", "camera.path.fps: Input should be greater than 0"),
        ("outputs.0.size=[40000, 100]", "limit of 16384"),
    ],
)
def test_bad_view_settings_are_one_line_errors(tmp_path, capsys, override, pattern):
    scene = write_scene(tmp_path, "  - {kind: still, path: a.png, size: [64, 48]}\n")
    assert main(["render", scene, "-q", "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depthfusion: error:"), err
    assert pattern in err[0]
    assert not (tmp_path / "a.png").exists()


def test_render_error_type():
    assert issubclass(
        __import__("depthfusion.render.gl", fromlist=["RenderError"]).RenderError, DepthFusionError
    )
