"""Mesh build time and peak memory for 1024x512, 2048x1024 and 4096x2048 panoramas.

Each size runs in a fresh subprocess so the peak RSS belongs to that size alone (the
first build in a process also pays the page faults a real run pays).

    python benchmarks/bench_mesh.py [--repeat 3]
Targets on the 2-core dev machine: 2048x1024 full-res mesh <= 0.3 s; 4096x2048 < 2 GiB peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.rgbd.panorama import RGBDPanorama
w, repeat = int(sys.argv[1]), int(sys.argv[2])
h = w // 2
rng = np.random.default_rng(0)
pano = RGBDPanorama(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.random((h, w), dtype=np.float32))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(repeat):
    t = time.perf_counter()
    mesh = build_sphere_mesh(pano, radius=5.0, strength=0.5)
    times.append(time.perf_counter() - t)
    del mesh
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": f"{w}x{h}", "first_s": times[0], "best_s": min(times),
                  "peak_rss_mib": peak / 1024, "mesh_rss_mib": (peak - base) / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="builds per process")
    ap.add_argument("--processes", type=int, default=5, help="fresh processes per size")
    args = ap.parse_args()
    # The first build in a fresh process varies a lot with the kernel's state (page faults,
    # huge-page availability): report the median and the range over several processes.
    print(
        f"{'panorama':>10} {'first build (median, range)':>28} {'best build':>11} {'peak RSS':>10} {'mesh RSS':>10}"
    )
    for w in (1024, 2048, 4096):
        runs = []
        for _ in range(args.processes):
            cmd = [sys.executable, "-c", CHILD, str(w), str(args.repeat)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout))
        first = sorted(r["first_s"] * 1000 for r in runs)
        best = min(r["best_s"] for r in runs) * 1000
        r = max(runs, key=lambda r: r["peak_rss_mib"])
        spread = f"{first[len(first) // 2]:.0f} ms ({first[0]:.0f}-{first[-1]:.0f})"
        print(
            f"{r['size']:>10} {spread:>28} {best:>8.0f} ms {r['peak_rss_mib']:>6.0f} MiB {r['mesh_rss_mib']:>6.0f} MiB"
        )


if __name__ == "__main__":
    main()
