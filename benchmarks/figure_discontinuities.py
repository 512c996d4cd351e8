"""The README's before/after figure for depth discontinuities: ray-cast truth, `fill: stretch`
and `fill: inpaint`, seen after a 30 cm head move toward the room's nearest object.

    python benchmarks/figure_discontinuities.py [-o assets/docs/discontinuities.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from depthfusion.mesh.discontinuities import build_layered_mesh
from depthfusion.mesh.sphere import build_sphere_mesh
from depthfusion.render.gl import get_context
from depthfusion.render.pose import Pose
from depthfusion.render.renderer import MeshRenderer
from depthfusion.sources.procedural import build_scene, generate_panorama, render_view

SIZE, FOV = (480, 360), 75.0


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 30), (0, 0, 0), -1)
    cv2.putText(out, text, (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=Path("assets/docs/discontinuities.png"))
    args = ap.parse_args()
    scene = build_scene("room", 1)
    pano = generate_panorama("room", seed=1, width=2048, supersample=2)
    obj = min(scene.params["objects"], key=lambda o: np.hypot(o["position"][0], o["position"][2]))
    yaw = float(np.degrees(np.arctan2(obj["position"][0], -obj["position"][2])))
    pose = Pose(yaw=yaw).offset(right=0.3)
    truth, _ = render_view(scene, pose, SIZE, FOV, supersample=2)
    ctx = get_context()
    panels = [label(truth, "ray-cast truth (head moved 30 cm)")]
    meshes = {
        "fill: stretch (rubber sheets)": build_sphere_mesh(pano, 2048, mode="metric"),
        "fill: inpaint (cut + background layer)": build_layered_mesh(pano, 2048, mode="metric"),
    }
    for name, mesh in meshes.items():
        with MeshRenderer.from_mesh(ctx, mesh, samples=4) as r:
            img = r.render(pose, SIZE, FOV)
        err = np.mean((img.astype(float) - truth) ** 2)
        panels.append(label(img, f"{name}  {10 * np.log10(255**2 / err):.1f} dB"))
    figure = np.concatenate(panels, axis=1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), figure[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(args.output)


if __name__ == "__main__":
    main()
