"""Flat stereo rendering speed: render-only, readback, encode-only and end-to-end.

1920x1080-per-eye SBS frames (3840x1080) from a 2048x1024 panorama mesh (~4 M triangles) and
at half mesh resolution (~1 M). Also shows what MSAA and anisotropic filtering cost, and what
frustum culling saves (the "drawn" column: share of the triangles submitted per eye).

    python benchmarks/bench_render.py [--frames 24] [--preset veryfast] [--size 1920 1080]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.outputs.writers import VideoWriter
from depthfusion.render.camera_path import preset_path
from depthfusion.render.gl import get_context, gl_info
from depthfusion.render.layouts import render_frame
from depthfusion.render.renderer import MeshRenderer
from depthfusion.sources.procedural import generate_panorama


def timed(fn, n: int) -> float:
    """Median seconds of n calls."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--preset", default="veryfast", help="x264 preset for the encode figures")
    ap.add_argument("--size", type=int, nargs=2, default=(1920, 1080), help="per-eye size")
    args = ap.parse_args()
    size = tuple(args.size)
    ctx = get_context()
    info = gl_info(ctx)
    print(
        f"renderer: {info['renderer']} | eye {size[0]}x{size[1]} SBS | x264 {args.preset} crf 18 | {args.frames} frames"
    )
    pano = generate_panorama("room", seed=0, width=2048)
    poses = preset_path("swing", 4.0, yaw=-60).poses(args.frames / 4.0)
    ipd, conv = 0.064, 3.0
    print(
        f"{'mesh':>10} {'tris':>6} {'MSAA':>4} {'aniso':>5} {'cull':>4} {'drawn':>5} | {'render ms':>9} {'readback ms':>11} | {'encode fps':>10} | {'end-to-end fps':>14} {'ratio':>5}"
    )
    for cols in (2048, 1024):
        mesh = build_sphere_mesh(pano, cols, mode="metric")
        for samples, aniso, cull in (
            (4, 16.0, True),
            (0, 16.0, True),
            (0, 1.0, True),
            (0, 1.0, False),
        ):
            t = time.perf_counter()
            renderer = MeshRenderer(
                ctx, mesh.vertices, mesh.uvs, mesh.faces, mesh.texture, samples, cull=cull
            )
            upload_s = time.perf_counter() - t
            renderer.texture.anisotropy = min(aniso, info["max_anisotropy"])

            def frame(pose, renderer=renderer):
                return render_frame(renderer, "sbs", pose, size, 90.0, ipd, conv)

            frame(poses[0])  # warm-up: shader compile, framebuffers
            render_s = timed(lambda renderer=renderer, frame=frame: frame(poses[0]), 5)
            eye_buf = np.empty((size[1], size[0], 3), np.uint8)
            target = next(iter(renderer._targets.values())).read
            readback_s = timed(
                lambda target=target, eye_buf=eye_buf: target.read_into(
                    eye_buf, components=3, alignment=1
                ),
                10,
            )
            frames = [frame(p) for p in poses]
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                with VideoWriter(Path(tmp) / "enc.mp4", 30, preset=args.preset, crf=18) as w:
                    for f in frames:
                        w.write(f)
                encode_fps = len(frames) / (time.perf_counter() - t)
                t = time.perf_counter()
                with VideoWriter(Path(tmp) / "e2e.mp4", 30, preset=args.preset, crf=18) as w:
                    for p in poses:
                        w.write(frame(p))
                e2e_fps = len(poses) / (time.perf_counter() - t)
            floor = render_s + 1.0 / encode_fps  # render-only + encode-only, seconds per frame
            ratio = (1.0 / e2e_fps) / floor
            drawn = renderer.last_drawn / renderer.triangle_count
            print(
                f"{mesh.cols}x{mesh.rows:<5} {len(mesh.faces) / 1e6:>5.1f}M {samples:>4} {aniso:>5.0f} {'on' if cull else 'off':>4} {drawn:>5.0%} | "
                f"{render_s * 1000:>9.0f} {readback_s * 1000:>11.1f} | {encode_fps:>10.1f} | {e2e_fps:>14.2f} {ratio:>5.2f}  (upload {upload_s:.2f} s)"
            )
            renderer.release()
    print("ratio = end-to-end time per frame / (render-only + encode-only); <= 1.15 is the target")


if __name__ == "__main__":
    main()
