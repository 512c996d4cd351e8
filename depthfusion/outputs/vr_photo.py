"""Google's VR photo format (``.vr.jpg``, Cardboard Camera's): a stereo 360 still that photo
viewers read as stereo.

The file is an ordinary JPEG of the **left** eye's equirect image with GPano XMP that
describes exactly those pixels; the **right** eye is a second JPEG, base64 in the XMP as
``GImage:Data`` (``GImage:Mime="image/jpeg"``). An eye is far larger than one APP1 segment
(64 KiB), so it travels in Adobe's *extended XMP*: the main XMP names the extension's GUID
(``xmpNote:HasExtendedXMP``, the MD5 of the extension), and the extension is split over
APP1 segments headed ``http://ns.adobe.com/xmp/extension/`` + GUID + full length + offset
(XMP specification part 3, §1.1.3.1). exiftool and Google's viewers reassemble it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
from pathlib import Path

import cv2
import numpy as np

from ..atomic import atomic_path
from .spherical import (
    DEFAULT_SOFTWARE,
    XMP_JPEG_HEADER,
    Crop,
    SphericalMetadataError,
    _jpeg_segments,
    _xml_escape,
    full_crop,
)

EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
#: Payload per extension segment: 65535 - 2 (length) - 35 (header) - 32 (GUID) - 8.
CHUNK = 65458


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise SphericalMetadataError("OpenCV could not encode a JPEG")
    return buf.tobytes()


def _packet(description: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{description}</rdf:RDF></x:xmpmeta>"
    )


def vr_photo_bytes(
    left: np.ndarray,
    right: np.ndarray,
    quality: int = 95,
    software: str = DEFAULT_SOFTWARE,
    crop: Crop | None = None,
) -> bytes:
    """The ``.vr.jpg`` file of two uint8 equirect eyes: (H, 2H, 3) full spheres, or the part
    ``crop`` says (a VR180 eye: the middle half)."""
    h, w = left.shape[:2]
    crop = crop or full_crop(w, h)
    if left.shape != right.shape or left.ndim != 3 or (w, h) != (crop.width, crop.height):
        raise SphericalMetadataError(
            f"a VR photo needs two {crop.width}x{crop.height} eyes, got {left.shape} and "
            f"{right.shape}"
        )
    extension = _packet(
        '<rdf:Description rdf:about="" xmlns:GImage="http://ns.google.com/photos/1.0/image/"'
        ' GImage:Mime="image/jpeg" GImage:Data="'
        + base64.b64encode(_jpeg(right, quality)).decode("ascii")
        + '"/>'
    ).encode("utf-8")
    guid = hashlib.md5(extension).hexdigest().upper()  # noqa: S324 - the XMP spec's GUID
    fields = {
        "GPano:UsePanoramaViewer": "True",
        "GPano:ProjectionType": "equirectangular",
        "GPano:StitchingSoftware": _xml_escape(software),
        **{f"GPano:{k}": v for k, v in crop.fields().items()},
        "GPano:InitialViewHeadingDegrees": 180,
        "xmpNote:HasExtendedXMP": guid,
    }
    attrs = " ".join(f'{k}="{v}"' for k, v in fields.items())
    main = _packet(
        '<rdf:Description rdf:about="" xmlns:GPano="http://ns.google.com/photos/1.0/panorama/"'
        f' xmlns:xmpNote="http://ns.adobe.com/xmp/note/" {attrs}/>'
    ).encode("utf-8")
    segments = [_app1(XMP_JPEG_HEADER + main)]
    for offset in range(0, len(extension), CHUNK):
        head = EXTENSION_HEADER + guid.encode("ascii") + struct.pack(">II", len(extension), offset)
        segments.append(_app1(head + extension[offset : offset + CHUNK]))
    data = _jpeg(left, quality)
    segs = _jpeg_segments(data, "vr photo")
    # After SOI and a JFIF APP0, before everything else (where readers look for XMP).
    at = next((end for marker, _s, end in segs if marker == 0xE0), 2)
    return data[:at] + b"".join(segments) + data[at:]


def _app1(payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise SphericalMetadataError("an XMP segment is larger than 64 KiB")
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def read_vr_photo(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, str]:
    """(left, right, main XMP) of a ``.vr.jpg``: the JPEG itself and the extension's eye."""
    data = Path(path).read_bytes()
    main, parts, total = None, {}, None
    for marker, start, end in _jpeg_segments(data, str(path)):
        if marker != 0xE1:
            continue
        body = data[start + 4 : end]
        if body.startswith(XMP_JPEG_HEADER):
            main = body[len(XMP_JPEG_HEADER) :].decode("utf-8")
        elif body.startswith(EXTENSION_HEADER):
            rest = body[len(EXTENSION_HEADER) :]
            total, offset = struct.unpack(">II", rest[32:40])
            parts[offset] = rest[40:]
    if main is None or total is None:
        raise SphericalMetadataError(f"{path}: not a VR photo (no extended XMP)")
    extension = b"".join(parts[k] for k in sorted(parts))
    guid = re.search(r'xmpNote:HasExtendedXMP="([0-9A-F]{32})"', main)
    if len(extension) != total or guid is None:
        raise SphericalMetadataError(f"{path}: the extended XMP is incomplete")
    if hashlib.md5(extension).hexdigest().upper() != guid.group(1):  # noqa: S324
        raise SphericalMetadataError(f"{path}: the extended XMP does not match its GUID")
    m = re.search(rb'GImage:Data="([A-Za-z0-9+/=]+)"', extension)
    if m is None:
        raise SphericalMetadataError(f"{path}: no GImage:Data (right eye) in the XMP")
    right = cv2.imdecode(np.frombuffer(base64.b64decode(m.group(1)), np.uint8), cv2.IMREAD_COLOR)
    left = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if left is None or right is None:
        raise SphericalMetadataError(f"{path}: an eye does not decode")
    return cv2.cvtColor(left, cv2.COLOR_BGR2RGB), cv2.cvtColor(right, cv2.COLOR_BGR2RGB), main


def write_vr_photo(
    path: str | os.PathLike,
    left: np.ndarray,
    right: np.ndarray,
    quality: int = 95,
    crop: Crop | None = None,
) -> Path:
    """Write a ``.vr.jpg`` atomically, read back and checked before it is published."""
    path = Path(path)
    data = vr_photo_bytes(left, right, quality, crop=crop)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        back_left, back_right, _ = read_vr_photo(tmp)
        if back_left.shape != left.shape or back_right.shape != right.shape:
            raise SphericalMetadataError(f"{path}: the eyes did not survive writing")
    return path
