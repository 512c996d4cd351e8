"""360 stereo video speed: render-only, encode-only and end-to-end for a 2048x2048 top-bottom video.

For 1024x512 and 2048x1024 procedural panoramas (the room, metric depth), with the viewpoint
moving along a swing path (so every frame is rendered):

- render-only: ms per ODS top-bottom frame (two 2048x1024 eyes) read back into memory, with
  the adaptive mesh (render.ods_mesh.simplify_for_ods) and, for reference, the dense mesh;
- encode-only: frames/s of the ``preview`` preset's H.264 encoder on pre-rendered frames;
- end-to-end: frames/s of ``vr360.write_vr360`` (simplify, render, encode, inject metadata,
  verify), plus its one-off setup (mesh simplification) on its own.

    python benchmarks/bench_vr360.py [--frames 30] [--no-dense]

The machine's load average is printed: on a shared machine other processes take CPU time,
so compare numbers taken at similar load. Target on the 2-core dev machine: end-to-end
<= ~330 ms/frame (a straightforward per-vertex ODS renderer on the dense 1024x512 mesh
takes ~460-670 ms for the render alone).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.outputs.vr360 import CODECS, VR360Spec, resolve_vr360, write_vr360
from depthfusion.outputs.writers import VideoWriter
from depthfusion.render.camera_path import preset_path
from depthfusion.render.gl import get_context, gl_info
from depthfusion.render.ods import ODSRenderer
from depthfusion.render.ods_mesh import simplify_for_ods
from depthfusion.sources.procedural import generate_panorama

EYE = 2048
IPD = 0.064


def _load() -> str:
    return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


def _cpu() -> float:
    """CPU seconds of this process (all threads: llvmpipe's too) and its finished children
    (ffmpeg): unlike wall time, barely affected by other processes on a shared machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _render_ms(renderer: ODSRenderer, poses, out: np.ndarray) -> tuple[list[float], float]:
    """Wall ms per frame, and CPU ms per frame."""
    renderer.render_equirect(EYE, (-IPD / 2, IPD / 2), poses[0].position, out=out)  # warm-up
    times = []
    cpu = _cpu()
    for pose in poses:
        t = time.perf_counter()
        renderer.render_equirect(EYE, (-IPD / 2, IPD / 2), pose.position, out=out)
        times.append((time.perf_counter() - t) * 1000)
    return times, (_cpu() - cpu) * 1000 / len(poses)


def main() -> None:
    from depthfusion.console import format_stages, timed_stages

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30, help="frames per measurement")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense-mesh reference")
    args = ap.parse_args()
    ctx = get_context()
    info = gl_info(ctx)
    fps = 30
    n = args.frames
    path = preset_path("swing", n / fps, amplitude=0.2)
    poses = path.poses(fps)
    settings = resolve_vr360(VR360Spec(Path("x.mp4"), preset="preview"))
    print(f"GL: {info['renderer']}; {os.cpu_count()} CPUs; {_load()}")
    print(
        f"2048x2048 top-bottom ODS, {n} frames along a swing path; encoder "
        f"{CODECS[settings.codec]} preset {settings.encoder_preset} crf {settings.crf}"
    )
    for width in (1024, 2048):
        rgbd = generate_panorama("room", width=width)
        t = time.perf_counter()
        mesh = build_sphere_mesh(rgbd, mode="metric")
        mesh_s = time.perf_counter() - t
        t = time.perf_counter()
        simple = simplify_for_ods(mesh, EYE, ipd=IPD, positions=[p.position for p in poses])
        simplify_s = time.perf_counter() - t
        print(f"\n{width}x{width // 2} panorama: mesh {len(mesh.faces)} triangles "
              f"({mesh_s:.2f} s), adaptive {simple.triangle_count} ({simplify_s:.2f} s)")  # fmt: skip

        out = np.empty((EYE, EYE, 3), np.uint8)
        frames = []
        with ODSRenderer.from_mesh(ctx, simple) as renderer:
            times, cpu = _render_ms(renderer, poses, out)
            for pose in poses:
                frames.append(renderer.render_equirect(EYE, (-IPD / 2, IPD / 2), pose.position))
        print(f"  render-only (adaptive): median {statistics.median(times):6.0f} ms/frame, "
              f"best {min(times):.0f} ms, CPU {cpu:.0f} ms/frame  [{_load()}]")  # fmt: skip
        if not args.no_dense:
            with ODSRenderer.from_mesh(ctx, mesh) as dense:
                times, cpu = _render_ms(dense, poses[: max(2, n // 10)], out)
            print(f"  render-only (dense):    median {statistics.median(times):6.0f} ms/frame, "
                  f"best {min(times):.0f} ms, CPU {cpu:.0f} ms/frame  [{_load()}]")  # fmt: skip

        with tempfile.TemporaryDirectory() as tmp:
            cpu = _cpu()
            t = time.perf_counter()
            with VideoWriter(
                Path(tmp) / "enc.mp4", fps, size=(EYE, EYE), crf=settings.crf,
                preset=settings.encoder_preset, codec=CODECS[settings.codec],
                params=list(settings.ffmpeg_params),
            ) as video:  # fmt: skip
                for frame in frames:
                    video.write(frame)
            enc = time.perf_counter() - t
            enc_cpu = (_cpu() - cpu) * 1000 / n
            print(f"  encode-only:            {n / enc:6.1f} frames/s "
                  f"({1000 * enc / n:.0f} ms/frame, CPU {enc_cpu:.0f} ms/frame)  [{_load()}]")  # fmt: skip

            spec = VR360Spec(Path(tmp) / "e2e.mp4", preset="preview")
            cpu = _cpu()
            t = time.perf_counter()
            with timed_stages() as stages:  # where the end-to-end time goes
                write_vr360(spec, mesh, poses, ipd=IPD, quiet=True, ctx=ctx)
            e2e = time.perf_counter() - t
            e2e_cpu = (_cpu() - cpu) * 1000 / n
            per_frame = (e2e - simplify_s) / n
            print(f"  end-to-end:             {n / e2e:6.1f} frames/s ({1000 * e2e / n:.0f} ms/frame "
                  f"incl. setup; {1000 * per_frame:.0f} ms/frame without the "
                  f"~{simplify_s:.1f} s simplification; CPU {e2e_cpu:.0f} ms/frame incl. setup)  "
                  f"[{_load()}]")  # fmt: skip
            print(f"  end-to-end stages:      {format_stages(stages)}")


if __name__ == "__main__":
    main()
