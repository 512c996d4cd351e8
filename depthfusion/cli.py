"""The ``depthfusion`` command: render, validate, keys, presets, info.

User errors print one line (``depthfusion: error: ...``) and exit with 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .console import run_command

log = logging.getLogger("depthfusion")


def cmd_render(args: argparse.Namespace) -> int:
    from .atomic import allow_overwrite
    from .pipeline import render_scene
    from .scene import load_scene, resolve_scene_arg

    start = time.perf_counter()
    scene = load_scene(resolve_scene_arg(args.scene), args.set, args.output_dir)
    with allow_overwrite(args.overwrite):
        written = render_scene(scene, quiet=args.quiet, allow_outside=args.allow_outside_output)
    for path in written:
        print(path)
    log.info("done in %.1f s", time.perf_counter() - start)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .atomic import allow_overwrite
    from .pipeline import check_scene
    from .scene import load_scene, resolve_scene_arg

    path = resolve_scene_arg(args.scene)
    scene = load_scene(path, args.set, args.output_dir)
    with allow_overwrite(args.overwrite):
        plan = check_scene(scene, allow_outside=args.allow_outside_output)
    kinds = ", ".join(o.kind for o in scene.outputs)
    print(f"{path}: ok (source: {scene.source.kind}; outputs: {kinds}; {len(plan)} paths)")
    if args.verbose:
        for item in plan:
            print(f"  outputs[{item.index}] -> {item.path}{'/' if item.folder else ''}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from .scene import describe_fields

    rows = describe_fields()
    width = max(len(k) for k, _, _ in rows)
    for key, _type, doc in rows:
        print(f"{key:<{width}}  {doc}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .sources.procedural import PRESETS

    print("procedural scenes:", ", ".join(PRESETS))
    try:
        from .render.camera_path import PRESETS as PATHS

        print("camera paths:     ", ", ".join(PATHS))
    except ImportError:
        pass
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(f"depthfusion {__version__}")
    try:
        from .render.gl import gl_info

        for key, value in gl_info().items():
            print(f"{key}: {value}")
    except ImportError:
        print("renderer: not available in this version")
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from .sources.dataset import write_dataset

    presets = [p.strip() for p in args.presets.split(",")] if args.presets else None
    kwargs = {"presets": presets} if presets else {}
    write_dataset(
        args.output,
        args.count,
        width=args.width,
        supersample=args.supersample,
        first_seed=args.seed,
        holdout=args.holdout,
        quiet=args.quiet,
        **kwargs,
    )
    print(args.output / "manifest.csv")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depthfusion",
        description="Turn an RGBD 360° scene into stereo VR video, stills and meshes.",
    )
    parser.add_argument("--version", action="version", version=f"depthfusion {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def scene_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "scene", help="scene file (YAML), or the name of a shipped scene such as 'demo'"
        )
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a scene key, e.g. --set sphere.resolution=1024 --set outputs.0.path=a.glb",
        )

    def output_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-o",
            "--output-dir",
            type=Path,
            help="the output folder: output paths resolve against it and must stay in it "
            "(default: the scene file's folder)",
        )
        p.add_argument(
            "--allow-outside-output",
            action="store_true",
            help="let the scene's outputs write outside the output folder",
        )
        p.add_argument(
            "--overwrite",
            action="store_true",
            help="let outputs replace existing files that depthfusion did not write "
            "(folders are never replaced)",
        )
        p.add_argument("-v", "--verbose", action="store_true", help="more messages")

    p = sub.add_parser("render", help="run a scene file and write its outputs")
    scene_args(p)
    output_args(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info messages")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser(
        "validate", help="check a scene file without running it (every check render makes)"
    )
    scene_args(p)
    output_args(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("keys", help="list every scene-file key with its meaning")
    p.set_defaults(func=cmd_keys)
    p = sub.add_parser("presets", help="list procedural scenes and camera-path presets")
    p.set_defaults(func=cmd_presets)
    p = sub.add_parser("info", help="version and OpenGL renderer")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "dataset", help="captioned procedural RGBD panoramas for training (resumable)"
    )
    p.add_argument("output", type=Path, help="dataset folder (created; existing items are kept)")
    p.add_argument("--count", type=int, default=1000, help="number of panoramas [1000]")
    p.add_argument("--width", type=int, default=256, help="panorama width; height = half [256]")
    p.add_argument("--supersample", type=int, default=2, help="rays per pixel per axis [2]")
    p.add_argument("--presets", help="comma-separated procedural presets [all]")
    p.add_argument("--seed", type=int, default=0, help="first seed [0]")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        help="fraction of caption combinations kept out, for testing on unseen prompts [0]",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_dataset)

    from .preview.command import add_preview_parser  # light: preview loads glfw only when it runs

    add_preview_parser(sub)

    from .serve import add_view_parser

    add_view_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
