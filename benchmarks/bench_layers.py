"""Layered meshing and ODS-adaptive simplification: the work before a 360 still's first frame.

For 2048x1024 and 4096x2048 procedural panoramas (the room, metric depth), each in a fresh
subprocess (so the first call pays the page faults a real run pays, and the peak RSS is that
size's own): ``build_layered_mesh`` (default fill: cut, skirt, inpainted background) and
``simplify_for_ods`` for a 2048-wide eye, first call and best of the warm repeats.

    python benchmarks/bench_layers.py [--repeat 3] [--sizes 2048,4096]

Targets (issue 29, 2-core dev machine): layers + simplify <= 0.5 s at 2048, <= 2 s at 4096,
peak memory <= 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
from depthfusion.mesh.discontinuities import build_layered_mesh
from depthfusion.render.ods_mesh import simplify_for_ods
from depthfusion.sources.procedural import build_scene, generate_panorama
w, repeat = int(sys.argv[1]), int(sys.argv[2])
pano = generate_panorama(build_scene("room", 0), width=w, supersample=1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = []
for _ in range(repeat):
    t0 = time.perf_counter()
    mesh = build_layered_mesh(pano, None, radius=5.0, mode="metric")
    t1 = time.perf_counter()
    simple = simplify_for_ods(mesh, 2048)
    t2 = time.perf_counter()
    rows.append((t1 - t0, t2 - t1))
    faces = (len(mesh.faces), len(simple.faces))
    del mesh, simple
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": f"{w}x{w // 2}", "rows": rows, "faces": faces,
                  "peak_mib": peak / 1024, "work_mib": (peak - base) / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="builds per process")
    ap.add_argument("--sizes", default="2048,4096", help="panorama widths")
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f} (compare runs at similar load)")
    print(
        f"{'panorama':>10} {'layers first':>13} {'simplify first':>15} {'total first':>12} "
        f"{'layers warm':>12} {'simplify warm':>14} {'total warm':>11} {'triangles':>20} {'peak RSS':>9}"
    )
    for w in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, "-c", CHILD, str(w), str(args.repeat)]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        (l0, s0), warm = r["rows"][0], r["rows"][1:] or r["rows"]
        lw, sw = min(x[0] for x in warm), min(x[1] for x in warm)
        tri = f"{r['faces'][0]:,} -> {r['faces'][1]:,}"
        print(
            f"{r['size']:>10} {l0:>11.2f} s {s0:>13.2f} s {l0 + s0:>10.2f} s {lw:>10.2f} s "
            f"{sw:>12.2f} s {min(a + b for a, b in warm):>9.2f} s {tri:>20} {r['peak_mib']:>5.0f} MiB"
        )


if __name__ == "__main__":
    main()
