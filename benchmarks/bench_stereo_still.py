"""A 2048x2048 top-bottom stereo still from a 2048x1024 metric panorama, as a whole process,
against a straightforward dense ODS render of the same frame (issue 29's comparison).

Rows (2-core dev machine, llvmpipe; the panorama is the procedural room, written once as
PNG + 16-bit disparity with its metric range):

- ``depthfusion render`` as a fresh process (imports, load, mesh, simplify, render, PNG,
  metadata), default layered fill and ``fill: stretch``;
- the dense renderer: the full-resolution sphere mesh (4.2 M triangles) uploaded to
  :class:`~depthfusion.render.ods.ODSRenderer` and one frame drawn (its first frame: what a
  one-off still costs), and a warm second frame.

    python benchmarks/bench_stereo_still.py [--repeat 3]

Target (issue 29): the layered whole process <= 0.6x the dense one-frame render.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENE = """source:
  panorama: {{image: room.png, depth: room_depth.png}}
sphere:
  radius: 5.0
  displacement: {{mode: metric, near: {near}, far: {far}}}
  discontinuities: {{fill: {fill}}}
outputs:
  - {{kind: vr360, path: still_360.png, resolution: 2048}}
"""


def _dense(rgbd, near: float, far: float) -> tuple[float, float]:
    from depthfusion.mesh.sphere import build_sphere_mesh
    from depthfusion.render.gl import get_context
    from depthfusion.render.ods import ODSRenderer

    ctx = get_context()
    t = time.perf_counter()
    mesh = build_sphere_mesh(rgbd, mode="metric", near=near, far=far)
    with ODSRenderer.from_mesh(ctx, mesh) as r:
        r.render_equirect(2048, (-0.032, 0.032))
        first = time.perf_counter() - t
        t = time.perf_counter()
        r.render_equirect(2048, (-0.032, 0.032))
        warm = time.perf_counter() - t
    return first, warm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per row (median)")
    args = ap.parse_args()
    from depthfusion.rgbd.io import write_depth16, write_rgb
    from depthfusion.sources.procedural import generate_panorama

    pano = generate_panorama("room", width=2048, supersample=2)
    near, far = pano.metric_range
    print(f"load {os.getloadavg()[0]:.1f}; panorama 2048x1024, metric range {near:.2f}-{far:.2f} m")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_rgb(d / "room.png", pano.rgb)
        write_depth16(d / "room_depth.png", pano.depth)
        rows = {}
        for fill in ("inpaint", "stretch"):
            (d / f"{fill}.yaml").write_text(SCENE.format(near=near, far=far, fill=fill))
            times = []
            for i in range(args.repeat):
                out = d / f"out-{fill}-{i}"
                cmd = [sys.executable, "-m", "depthfusion", "render", str(d / f"{fill}.yaml"),
                       "-o", str(out), "-q"]  # fmt: skip
                t = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times.append(time.perf_counter() - t)
            rows[fill] = statistics.median(times)
        dense = [_dense(pano, near, far) for _ in range(args.repeat)]
    first = statistics.median(x[0] for x in dense)
    warm = statistics.median(x[1] for x in dense)
    print("| 2048x2048 TB stereo still | seconds | / dense first frame |")
    print("| --- | --- | --- |")
    print(f"| depthfusion render, layered fill (whole process) | {rows['inpaint']:.2f} | {rows['inpaint'] / first:.2f} |")  # fmt: skip
    print(f"| depthfusion render, fill: stretch (whole process) | {rows['stretch']:.2f} | {rows['stretch'] / first:.2f} |")  # fmt: skip
    print(f"| dense ODS render: mesh + upload + first frame | {first:.2f} | 1.00 |")
    print(f"| dense ODS render: a warm frame | {warm:.2f} | {warm / first:.2f} |")


if __name__ == "__main__":
    main()
