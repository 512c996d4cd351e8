"""Prompt -> finished 360° stereo video with the embedded model, timed stage by stage.

The issue's target: a 10 s, 30 fps, 2048x2048 top-bottom 360° stereo MP4 from a prompt in
at most 5 minutes on the 2-core development machine. Stages, in the order a scene runs:

- source: load the embedded LDM3D-pano (assets/models/ldm3d-pano-tiny) and generate the
  256x128 RGBD panorama (25 DDIM steps, guidance 4, as the demo);
- mesh: the displaced sphere with depth-edge cuts and the inpainted background layer;
- 360 video: per-frame ODS rendering along the camera path, H.264 encoding, spherical
  metadata and verification (``vr360`` output, ``preview`` preset).

    python benchmarks/bench_embedded.py [--duration 10] [--fps 30] [--resolution 2048]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

PROMPT = "360 view of a teal room with a wooden floor, a yellow sphere and a red box"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--resolution", type=int, default=2048, help="eye width (TB frame: w x w)")
    ap.add_argument("--prompt", default=PROMPT)
    args = ap.parse_args()

    from depthfusion.outputs.kinds import write_output
    from depthfusion.outputs.state import SceneState, build_mesh
    from depthfusion.pipeline import check_outputs
    from depthfusion.scene import load_scene
    from depthfusion.sources.load import load_source

    with tempfile.TemporaryDirectory() as tmp:
        scene_file = Path(tmp) / "scene.yaml"
        scene_file.write_text(
            f"source: {{prompt: '{args.prompt}', model: embedded,\n"
            "         generation: {seed: 5, steps: 25, guidance: 4.0}}\n"
            f"camera: {{path: {{preset: swing, duration: {args.duration}, fps: {args.fps},"
            " amplitude: 0.15}}\n"
            f"outputs: [{{kind: vr360, path: out.mp4, preset: preview,"
            f" resolution: {args.resolution}}}]\n"
        )
        scene = load_scene(scene_file)
        check_outputs(scene)
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        rgbd = load_source(scene, quiet=True)
        times["source (load model + generate)"] = time.perf_counter() - t0
        t = time.perf_counter()
        state = SceneState(scene=scene, rgbd=rgbd, quiet=True)
        state._mesh = build_mesh(scene, rgbd)
        times["mesh (layered, inpainted)"] = time.perf_counter() - t
        t = time.perf_counter()
        (path,) = write_output(state, scene.outputs[0], 0)
        times["360 video (render + encode + metadata)"] = time.perf_counter() - t
        total = time.perf_counter() - t0
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
             "stream=width,height,nb_read_packets", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        size_mb = path.stat().st_size / 2**20

    frames = round(args.duration * args.fps)
    print(f"load {os.getloadavg()[0]:.1f}; {rgbd.width}x{rgbd.height} panorama -> "
          f"{frames} frames of {args.resolution}x{args.resolution} TB ({probe}; {size_mb:.1f} MiB)")  # fmt: skip
    print("| stage | seconds |\n| --- | --- |")
    for name, sec in times.items():
        print(f"| {name} | {sec:.1f} |")
    print(f"| **total** | **{total:.1f}** ({total / 60:.2f} min; target <= 5 min) |")


if __name__ == "__main__":
    main()
