"""``depthfusion view``: serve a ``webxr`` output folder on this machine and print its URL.

A browser on this machine opens ``http://localhost:PORT/``; WebXR (the headset's "Enter VR")
needs a secure origin, which ``localhost`` is and a plain LAN address is not. For a Quest on
USB: ``adb reverse tcp:PORT tcp:PORT``, then open ``http://localhost:PORT/`` in its browser.
``--host 0.0.0.0`` also serves the local network (phones and desktops: everything but XR).
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .errors import InputError

VIEWER_FORMAT = "depthfusion-webxr"


def is_viewer(folder: Path) -> bool:
    """A folder that a ``webxr`` output wrote (its ``scene.json`` says so)."""
    try:
        info = json.loads((folder / "scene.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("format") == VIEWER_FORMAT


def find_viewers(folder: Path) -> list[Path]:
    """``folder`` itself when it is a viewer, else the viewers directly inside it."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    if is_viewer(folder):
        return [folder]
    found = sorted(p for p in folder.iterdir() if p.is_dir() and is_viewer(p))
    if not found:
        raise InputError(
            f"{folder}: no webxr viewer here (a folder with index.html and scene.json written "
            "by a `kind: webxr` output)"
        )
    return found


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".glb": "model/gltf-binary",
        ".json": "application/json",
    }

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: the command prints the URLs, not every request

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


def make_server(root: Path, port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for the files under ``root`` (``port`` 0: any free port)."""
    handler = functools.partial(_Handler, directory=str(root))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise InputError(
            f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})"
        ) from None


def serve_in_thread(root: Path, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start serving ``root`` in a daemon thread (tests, notebooks); ``shutdown()`` stops it."""
    server = make_server(root, port, host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _lan_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            return s.getsockname()[0]
        except OSError:
            return None


def cmd_view(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    viewers = find_viewers(folder)
    root = folder
    server = make_server(root, args.port, args.host)
    port = server.server_address[1]
    paths = ["" if v == folder else f"{v.name}/" for v in viewers]
    for p in paths:
        print(f"http://localhost:{port}/{p}")
    if args.host in ("0.0.0.0", "::"):
        lan = _lan_address()
        if lan:
            for p in paths:
                print(f"http://{lan}:{port}/{p}  (local network; WebXR needs https or localhost)")
    print(
        f"headset on USB (Quest): adb reverse tcp:{port} tcp:{port}, then open "
        f"http://localhost:{port}/{paths[0]} in its browser; Ctrl+C stops the server",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def add_view_parser(sub) -> None:
    p = sub.add_parser("view", help="serve a webxr output folder on localhost and print its URL")
    p.add_argument("folder", help="a webxr output folder, or the output folder holding one")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one) [8000]")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 serves the local network too [127.0.0.1]",
    )
    p.set_defaults(func=cmd_view)
