"""GLB (binary glTF 2.0) of the sphere mesh, written directly so every viewer shows it right.

- **Unlit**: each material is ``KHR_materials_unlit`` with the panorama as base-colour
  texture (the PBR fallback is non-metallic and fully rough), double-sided: glTF viewers show
  the photo's colours whatever their lights (a lit PBR material is black without lights and
  washed out under a viewer's environment).
- **Layers as named nodes**: one mesh and one node per layer (``foreground``, with its
  skirts, and ``background``, the inpainted fill behind the depth edges), children of a
  ``panorama`` node, so viewers and editors can hide or inspect the background. A plain
  sphere (``fill: stretch``) is one ``foreground`` node.
- **Lean buffers**: only referenced vertices, no two with the same position and UV; indices
  uint32 (``ELEMENT_ARRAY_BUFFER``), attributes in ``ARRAY_BUFFER`` views with accessor
  min/max; textures as PNG, shared when layers share one; sampler wrapping in u (the seam)
  and clamped in v.

The texture's v runs down from the image's top row, which is glTF's convention as well.
"""

from __future__ import annotations

import json
import struct

import cv2
import numpy as np

from ..errors import OutputError

_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_FLOAT, _UNSIGNED_INT = 5126, 5125
_LINEAR, _LINEAR_MIPMAP_LINEAR, _REPEAT, _CLAMP = 9729, 9987, 10497, 33071


def _layers(mesh) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, vertices, uvs, faces, texture) per layer."""
    if hasattr(mesh, "layers"):
        return [(x.name, x.vertices, x.uvs, x.faces, x.texture) for x in mesh.layers]
    return [("foreground", mesh.vertices, mesh.uvs, mesh.faces, mesh.texture)]


def weld(keys: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices with equal ``keys`` rows (e.g. position and uv), dropping those no face
    uses: (indices of the vertices kept, in first-use order, i.e. the grid's; faces renumbered,
    int64)."""
    used = np.unique(faces)
    # float32 rows compared as bytes (fast); + 0 makes -0.0 and 0.0 one value
    k = np.ascontiguousarray(keys[used], dtype=np.float32) + np.float32(0.0)
    _, first, inverse = np.unique(
        k.view(np.dtype((np.void, k.dtype.itemsize * k.shape[1]))).ravel(),
        return_index=True,
        return_inverse=True,
    )
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    remap = np.full(len(keys), -1, dtype=np.int64)
    remap[used] = rank[inverse.ravel()]
    return used[first[order]], remap[faces]


def compact(
    vertices: np.ndarray, uvs: np.ndarray, faces: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Only the vertices the faces use, each (position, uv) once; faces renumbered."""
    keep, renumbered = weld(np.concatenate([vertices, uvs], axis=1), faces)
    return (
        vertices[keep].astype(np.float32),
        uvs[keep].astype(np.float32),
        renumbered.astype(np.uint32),
    )


def _png(texture: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(texture), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError("mesh texture: PNG encoding failed")
    return data.tobytes()


class _Builder:
    def __init__(self) -> None:
        self.bin = bytearray()
        self.doc: dict = {
            "asset": {"version": "2.0", "generator": "DepthFusion"},
            "extensionsUsed": ["KHR_materials_unlit"],
            "buffers": [],
            "bufferViews": [],
            "accessors": [],
            "images": [],
            "samplers": [
                {
                    "magFilter": _LINEAR,
                    "minFilter": _LINEAR_MIPMAP_LINEAR,
                    "wrapS": _REPEAT,
                    "wrapT": _CLAMP,
                }
            ],
            "textures": [],
            "materials": [],
            "meshes": [],
            "nodes": [],
            "scenes": [{"name": "panorama", "nodes": [0]}],
            "scene": 0,
        }

    def view(self, data: bytes, target: int | None = None) -> int:
        while len(self.bin) % 4:
            self.bin.append(0)
        entry = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target is not None:
            entry["target"] = target
        self.bin += data
        self.doc["bufferViews"].append(entry)
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int, bounds: bool = False) -> int:
        component = _UNSIGNED_INT if array.dtype == np.uint32 else _FLOAT
        entry = {
            "bufferView": self.view(np.ascontiguousarray(array).tobytes(), target),
            "componentType": component,
            "count": int(array.shape[0]) if kind != "SCALAR" else int(array.size),
            "type": kind,
        }
        if bounds:
            entry["min"] = [float(v) for v in array.min(axis=0)]
            entry["max"] = [float(v) for v in array.max(axis=0)]
        self.doc["accessors"].append(entry)
        return len(self.doc["accessors"]) - 1

    def texture(self, png: bytes) -> int:
        view = self.view(png)
        self.doc["images"].append({"bufferView": view, "mimeType": "image/png"})
        self.doc["textures"].append({"sampler": 0, "source": len(self.doc["images"]) - 1})
        return len(self.doc["textures"]) - 1

    def glb(self) -> bytes:
        while len(self.bin) % 4:
            self.bin.append(0)
        self.doc["buffers"].append({"byteLength": len(self.bin)})
        doc = {k: v for k, v in self.doc.items() if v != []}
        text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 4)
        body = struct.pack("<II", len(text), 0x4E4F534A) + text
        body += struct.pack("<II", len(self.bin), 0x004E4942) + bytes(self.bin)
        return struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body


def glb_bytes(mesh) -> bytes:
    """The GLB file of a SphereMesh or LayeredMesh (see the module doc)."""
    b = _Builder()
    b.doc["nodes"].append({"name": "panorama", "children": []})
    textures: list[tuple[np.ndarray, int]] = []
    for name, vertices, uvs, faces, texture in _layers(mesh):
        if len(faces) == 0:
            continue
        v, uv, f = compact(vertices, uvs, faces)
        tex = next((i for t, i in textures if t is texture or np.array_equal(t, texture)), None)
        if tex is None:
            tex = b.texture(_png(texture))
            textures.append((texture, tex))
        b.doc["materials"].append(
            {
                "name": name,
                "pbrMetallicRoughness": {
                    "baseColorTexture": {"index": tex},
                    "metallicFactor": 0.0,
                    "roughnessFactor": 1.0,
                },
                "doubleSided": True,
                "extensions": {"KHR_materials_unlit": {}},
            }
        )
        primitive = {
            "attributes": {
                "POSITION": b.accessor(v, "VEC3", _ARRAY_BUFFER, bounds=True),
                "TEXCOORD_0": b.accessor(uv, "VEC2", _ARRAY_BUFFER),
            },
            "indices": b.accessor(f.ravel(), "SCALAR", _ELEMENT_ARRAY_BUFFER),
            "material": len(b.doc["materials"]) - 1,
            "mode": 4,
        }
        b.doc["meshes"].append({"name": name, "primitives": [primitive]})
        b.doc["nodes"].append({"name": name, "mesh": len(b.doc["meshes"]) - 1})
        b.doc["nodes"][0]["children"].append(len(b.doc["nodes"]) - 1)
    return b.glb()
