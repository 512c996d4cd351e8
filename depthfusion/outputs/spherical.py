"""360 metadata: Spherical Video V1/V2 boxes in MP4 files, GPano XMP in PNG/JPEG stills.

A small ISO-BMFF (MP4) box reader/writer, no library:

- :func:`inject_spherical` copies an MP4 and adds, to every video track,
  Spherical Video **V1** (a ``uuid`` box ``ffcc8263-f855-4a93-8814-587a02521fdd`` at the end of
  the ``trak``, holding GSpherical RDF/XML) and **V2** (``st3d`` and ``sv3d`` → ``svhd``,
  ``proj`` → ``prhd``, ``equi`` at the end of the sample entry ``avc1``/``hvc1``). Only the
  ``moov`` box is rebuilt; when it precedes ``mdat`` (``+faststart``), every chunk offset
  (``stco``/``co64``) behind it moves by its growth, and an ``stco`` that would overflow 32
  bits becomes a ``co64``. Earlier spherical boxes are replaced, so injecting twice is safe.
- :func:`verify_mp4` parses the whole box tree of the result and checks that the chunk
  offsets point into ``mdat`` at the same bytes as in the source.
- Mono output gets no ``st3d`` box and no ``StereoMode`` tag: both formats read their absence
  as monoscopic, while a "mono" value would make players (and ffprobe) report a 2D stereo
  side data.

Mono stills carry Google's GPano XMP (what photo viewers read): ``ProjectionType=equirectangular``,
``FullPanoWidthPixels``/``HeightPixels``, ``CroppedArea*`` of the image. A top-bottom stereo
still carries no GPano (it would describe one 2:1 image, and viewers would wrap both eyes
round one sphere) but the V1 vocabulary's ``GSpherical`` fields, ``StereoMode=top-bottom``
with each eye's size; ``.vr.jpg`` (:mod:`.vr_photo`) is the stereo still photo viewers
read as stereo. JPEG: an APP1
segment (``http://ns.adobe.com/xap/1.0/``) after the JFIF header; PNG: an ``iTXt`` chunk
``XML:com.adobe.xmp`` after ``IHDR``. :func:`write_equirect_still` encodes, adds the XMP,
checks the file's structure, then renames it into place.

Fixed-point fields follow the V2 specification: pose angles 16.16, projection bounds 0.32.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import cv2
import numpy as np

from ..atomic import atomic_path
from ..errors import OutputError

StereoMode = Literal["mono", "top-bottom", "left-right"]

SPHERICAL_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_SOFTWARE = "DepthFusion"

_ST3D_MODES = {"mono": 0, "top-bottom": 1, "left-right": 2}
# Boxes whose children we parse (everything else is kept as opaque bytes), with the size of the
# fields between the box header and the first child.
_CONTAINERS = {
    b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"edts": 0, b"dinf": 0,
    b"sv3d": 0, b"proj": 0, b"stsd": 8,
}  # fmt: skip
# Visual sample entries: 8 (SampleEntry) + 70 (VisualSampleEntry) bytes before child boxes.
_VISUAL_ENTRIES = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"av01", b"vp09", b"encv"}
_VISUAL_ENTRY_FIELDS = 78


class SphericalMetadataError(OutputError):
    """An MP4 or image whose structure cannot be parsed, or metadata that does not fit."""


@dataclass(frozen=True)
class Crop:
    """Where one eye's image lies in its full equirect sphere (pixels): a VR180 eye is the
    middle half, ``Crop(2 S, S, S, S, S / 2, 0)``. ``None`` everywhere means the full sphere."""

    full_width: int
    full_height: int
    width: int
    height: int
    left: int
    top: int

    def fields(self) -> dict[str, str]:
        """The GPano / GSpherical cropped-area fields."""
        return {
            "FullPanoWidthPixels": str(self.full_width),
            "FullPanoHeightPixels": str(self.full_height),
            "CroppedAreaImageWidthPixels": str(self.width),
            "CroppedAreaImageHeightPixels": str(self.height),
            "CroppedAreaLeftPixels": str(self.left),
            "CroppedAreaTopPixels": str(self.top),
        }

    def bounds(self) -> tuple[int, int, int, int]:
        """The ``equi`` box's (top, bottom, left, right), 0.32 fixed-point fractions."""

        def frac(part: int, whole: int) -> int:
            return min(0xFFFFFFFF, round(part / whole * 2**32))

        bottom = self.full_height - self.top - self.height
        right = self.full_width - self.left - self.width
        return (
            frac(self.top, self.full_height), frac(bottom, self.full_height),
            frac(self.left, self.full_width), frac(right, self.full_width),
        )  # fmt: skip


def full_crop(width: int, height: int) -> Crop:
    """An eye that is its whole sphere."""
    return Crop(width, height, width, height, 0, 0)


# --- boxes ---------------------------------------------------------------------------------------


@dataclass
class Box:
    """One ISO-BMFF box: ``fields`` then ``children`` (a parsed container) or ``payload``."""

    type: bytes
    payload: bytes = b""
    fields: bytes = b""
    children: list[Box] | None = None

    def find(self, *path: bytes) -> list[Box]:
        """Descendants along a path of box types (every match at each level)."""
        found = [self]
        for kind in path:
            found = [c for b in found for c in (b.children or []) if c.type == kind]
        return found

    def serialize(self) -> bytes:
        body = (
            self.payload
            if self.children is None
            else self.fields + b"".join(c.serialize() for c in self.children)
        )
        size = 8 + len(body)
        if size <= 0xFFFFFFFF:
            return struct.pack(">I4s", size, self.type) + body
        return struct.pack(">I4sQ", 1, self.type, size + 8) + body


def full_box(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> Box:
    """A FullBox: version (8 bits) and flags (24 bits) before the payload."""
    return Box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _header(buf: bytes | memoryview, pos: int, end: int, where: str) -> tuple[bytes, int, int]:
    """(type, header length, total size) of the box at ``pos``; checks it fits in ``end``."""
    if end - pos < 8:
        raise SphericalMetadataError(f"{where}: truncated box header at byte {pos}")
    size, kind = struct.unpack_from(">I4s", buf, pos)
    head = 8
    if size == 1:
        if end - pos < 16:
            raise SphericalMetadataError(f"{where}: truncated 64-bit box size at byte {pos}")
        (size,) = struct.unpack_from(">Q", buf, pos + 8)
        head = 16
    elif size == 0:
        size = end - pos
    if size < head or pos + size > end:
        raise SphericalMetadataError(
            f"{where}: box {kind!r} at byte {pos} has size {size}, beyond its parent's end {end}"
        )
    return bytes(kind), head, int(size)


def parse_boxes(
    buf: bytes, start: int = 0, end: int | None = None, where: str = "mp4"
) -> list[Box]:
    """Parse the boxes in ``buf[start:end]``, descending into the containers this module edits."""
    end = len(buf) if end is None else end
    boxes = []
    pos = start
    while pos < end:
        kind, head, size = _header(buf, pos, end, where)
        body_start, body_end = pos + head, pos + size
        n_fields = _CONTAINERS.get(kind)
        if n_fields is None and kind in _VISUAL_ENTRIES:
            n_fields = _VISUAL_ENTRY_FIELDS
        if n_fields is not None and body_end - body_start >= n_fields:
            fields = bytes(buf[body_start : body_start + n_fields])
            children = parse_boxes(buf, body_start + n_fields, body_end, where)
            boxes.append(Box(kind, fields=fields, children=children))
        else:
            boxes.append(Box(kind, payload=bytes(buf[body_start:body_end])))
        pos = body_end
    return boxes


@dataclass
class TopBox:
    """A top-level box of a file: where it is, without reading its body."""

    type: bytes
    offset: int
    size: int
    header: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def scan_top_level(f: BinaryIO, where: str = "mp4") -> list[TopBox]:
    """The file's top-level boxes; they must tile the file exactly."""
    f.seek(0, os.SEEK_END)
    file_size = f.tell()
    boxes, pos = [], 0
    while pos < file_size:
        f.seek(pos)
        head = f.read(16)
        kind, header, size = _header(head + b"\0" * (16 - len(head)), 0, file_size - pos, where)
        boxes.append(TopBox(kind, pos, size, header))
        pos += size
    if not any(b.type == b"moov" for b in boxes):
        raise SphericalMetadataError(f"{where}: no 'moov' box (not an MP4 file?)")
    return boxes


def _read_box(f: BinaryIO, box: TopBox) -> bytes:
    f.seek(box.offset)
    data = f.read(box.size)
    if len(data) != box.size:
        raise SphericalMetadataError(f"truncated {box.type!r} box")
    return data


# --- spherical video boxes -------------------------------------------------------------------


def v1_xml(stereo: StereoMode, software: str = DEFAULT_SOFTWARE, crop: Crop | None = None) -> str:
    """The Spherical Video V1 RDF/XML for an equirectangular video (``crop``: each eye's part
    of its sphere, e.g. VR180's middle half)."""
    tags = [
        ("Spherical", "true"),
        ("Stitched", "true"),
        ("StitchingSoftware", _xml_escape(software)),
        ("ProjectionType", "equirectangular"),
    ]
    if stereo != "mono":
        tags.append(("StereoMode", stereo))
    if crop is not None:
        tags += list(crop.fields().items())
    body = "".join(f"<GSpherical:{k}>{v}</GSpherical:{k}>" for k, v in tags)
    return (
        '<?xml version="1.0"?><rdf:SphericalVideo '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/">'
        f"{body}</rdf:SphericalVideo>"
    )


def v1_box(stereo: StereoMode, software: str = DEFAULT_SOFTWARE, crop: Crop | None = None) -> Box:
    return Box(b"uuid", SPHERICAL_UUID + v1_xml(stereo, software, crop).encode("utf-8"))


def v2_boxes(
    stereo: StereoMode, software: str = DEFAULT_SOFTWARE, crop: Crop | None = None
) -> list[Box]:
    """``st3d`` (stereo only) and ``sv3d`` for an equirectangular frame, pose 0, with the
    projection bounds of ``crop`` (none: the full sphere)."""
    svhd = full_box(b"svhd", software.encode("utf-8") + b"\x00")
    prhd = full_box(b"prhd", struct.pack(">iii", 0, 0, 0))
    bounds = crop.bounds() if crop is not None else (0, 0, 0, 0)
    equi = full_box(b"equi", struct.pack(">IIII", *bounds))
    sv3d = Box(b"sv3d", children=[svhd, Box(b"proj", children=[prhd, equi])])
    if stereo == "mono":
        return [sv3d]
    return [full_box(b"st3d", bytes([_ST3D_MODES[stereo]])), sv3d]


def _is_spherical_uuid(box: Box) -> bool:
    return box.type == b"uuid" and box.payload[:16] == SPHERICAL_UUID


def _handler(trak: Box) -> bytes:
    for hdlr in trak.find(b"mdia", b"hdlr"):
        if len(hdlr.payload) >= 12:
            return hdlr.payload[8:12]
    return b""


def _video_tracks(moov: Box) -> list[Box]:
    return [t for t in moov.find(b"trak") if _handler(t) == b"vide"]


@dataclass
class _ChunkTable:
    box: Box
    offsets: np.ndarray  # the source file's chunk offsets (uint64)


def _chunk_tables(moov: Box) -> list[_ChunkTable]:
    tables = []
    for stbl in moov.find(b"trak", b"mdia", b"minf", b"stbl"):
        for box in stbl.children or []:
            if box.type not in (b"stco", b"co64"):
                continue
            p = box.payload
            if len(p) < 8:
                raise SphericalMetadataError(f"truncated {box.type!r} box")
            (count,) = struct.unpack_from(">I", p, 4)
            width = 4 if box.type == b"stco" else 8
            if len(p) < 8 + count * width:
                raise SphericalMetadataError(f"{box.type!r}: {count} entries do not fit")
            dtype = ">u4" if width == 4 else ">u8"
            offsets = np.frombuffer(p, dtype=dtype, count=count, offset=8).astype(np.uint64)
            tables.append(_ChunkTable(box, offsets))
    return tables


def _write_chunk_table(table: _ChunkTable, offsets: np.ndarray) -> None:
    head = table.box.payload[:4] + struct.pack(">I", len(offsets))
    if table.box.type == b"stco" and offsets.size and int(offsets.max()) > 0xFFFFFFFF:
        table.box.type = b"co64"
        head = struct.pack(">I", 0) + head[4:]
    dtype = ">u4" if table.box.type == b"stco" else ">u8"
    table.box.payload = head + offsets.astype(dtype).tobytes()


def inject_spherical(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    stereo: StereoMode = "top-bottom",
    *,
    software: str = DEFAULT_SOFTWARE,
    v1: bool = True,
    v2: bool = True,
    crop: Crop | None = None,
) -> Path:
    """Copy MP4 ``src`` to ``dst`` with Spherical Video V1 and/or V2 metadata on its video tracks.

    ``dst`` must differ from ``src``. It is written directly (callers write to a temporary
    name and rename; see :func:`depthfusion.vr360.write_vr360`) and verified with
    :func:`verify_mp4` before returning.
    """
    src, dst = Path(src), Path(dst)
    if stereo not in _ST3D_MODES:
        raise SphericalMetadataError(
            f"stereo mode must be one of {list(_ST3D_MODES)}, got {stereo!r}"
        )
    if src.resolve() == dst.resolve():
        raise SphericalMetadataError(f"{src}: inject_spherical needs a different output path")
    with _open(src) as f:
        tops = scan_top_level(f, str(src))
        moov_top = next(b for b in tops if b.type == b"moov")
        (moov,) = parse_boxes(_read_box(f, moov_top), where=str(src))

    tracks = _video_tracks(moov)
    if not tracks:
        raise SphericalMetadataError(f"{src}: no video track to tag")
    for trak in tracks:
        if v1:
            trak.children = [c for c in trak.children if not _is_spherical_uuid(c)]
            trak.children.append(v1_box(stereo, software, crop))
        if v2:
            entries = [
                e
                for stsd in trak.find(b"mdia", b"minf", b"stbl", b"stsd")
                for e in stsd.children or []
                if e.type in _VISUAL_ENTRIES and e.children is not None
            ]
            if not entries:
                raise SphericalMetadataError(f"{src}: no visual sample entry (avc1/hvc1) found")
            for entry in entries:
                entry.children = [c for c in entry.children if c.type not in (b"st3d", b"sv3d")]
                entry.children.extend(v2_boxes(stereo, software, crop))

    # Chunk offsets behind the moov box move by its growth; growing an stco into a co64 grows
    # the moov again, so iterate until the size is stable (at most a few rounds).
    tables = _chunk_tables(moov)
    moves = any(b.type == b"mdat" and b.offset >= moov_top.end for b in tops)
    for _ in range(8):
        new_moov = moov.serialize()
        delta = len(new_moov) - moov_top.size
        types = [t.box.type for t in tables]
        for table in tables:
            shift = table.offsets >= moov_top.end if moves else np.zeros(len(table.offsets), bool)
            new = table.offsets.astype(np.int64) + np.where(shift, delta, 0)
            _write_chunk_table(table, new.astype(np.uint64))
        if [t.box.type for t in tables] == types and len(moov.serialize()) == len(new_moov):
            break
    else:  # pragma: no cover - the loop converges after at most one stco -> co64 change
        raise SphericalMetadataError(f"{src}: chunk offsets did not settle")
    new_moov = moov.serialize()

    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for box in tops:
            if box is moov_top:
                fout.write(new_moov)
                continue
            fin.seek(box.offset)
            _copy_range(fin, fout, box.size)
    verify_mp4(dst, source=src)
    return dst


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SphericalMetadataError(f"{path}: cannot read ({exc.strerror})") from None


def _copy_range(fin: BinaryIO, fout: BinaryIO, n: int, block: int = 1 << 22) -> None:
    while n > 0:
        data = fin.read(min(block, n))
        if not data:
            raise SphericalMetadataError("unexpected end of file while copying")
        fout.write(data)
        n -= len(data)


def verify_mp4(path: str | os.PathLike, source: str | os.PathLike | None = None) -> dict:
    """Parse ``path``'s box tree and check its chunk offsets; returns :func:`read_spherical`.

    Every chunk offset must fall inside an ``mdat`` payload. With ``source`` (the file it was
    made from), the first bytes of every chunk (up to 2000, evenly spread) must equal the
    source's, i.e. the offsets were moved by exactly the right amount.
    """
    path = Path(path)
    where = str(path)
    with _open(path) as f:
        tops = scan_top_level(f, where)
        moov_top = next(b for b in tops if b.type == b"moov")
        (moov,) = parse_boxes(_read_box(f, moov_top), where=where)
        mdats = [(b.offset + b.header, b.end) for b in tops if b.type == b"mdat"]
        tables = _chunk_tables(moov)
        for table in tables:
            for off in table.offsets[:: max(1, len(table.offsets) // 2000)]:
                if not any(a <= int(off) < b for a, b in mdats):
                    raise SphericalMetadataError(
                        f"{where}: chunk offset {int(off)} is outside mdat"
                    )
        if source is not None:
            with open(source, "rb") as g:
                (src_moov,) = parse_boxes(
                    _read_box(g, next(b for b in scan_top_level(g) if b.type == b"moov"))
                )
                src_tables = _chunk_tables(src_moov)
                if [len(t.offsets) for t in src_tables] != [len(t.offsets) for t in tables]:
                    raise SphericalMetadataError(f"{where}: chunk tables differ from the source")
                for new, old in zip(tables, src_tables, strict=True):
                    step = max(1, len(new.offsets) // 2000)
                    for a, b in zip(new.offsets[::step], old.offsets[::step], strict=True):
                        f.seek(int(a))
                        g.seek(int(b))
                        if f.read(16) != g.read(16):
                            raise SphericalMetadataError(
                                f"{where}: chunk at {int(a)} does not match the source's at {int(b)}"
                            )
    return _spherical_info(moov)


def read_spherical(path: str | os.PathLike) -> dict:
    """The spherical metadata of an MP4's first video track.

    Returns ``{"v1": {tag: value} | None, "st3d": mode name | None, "sv3d": {"software",
    "projection", "pose", "bounds"} | None}``.
    """
    with _open(Path(path)) as f:
        moov_top = next(b for b in scan_top_level(f, str(path)) if b.type == b"moov")
        (moov,) = parse_boxes(_read_box(f, moov_top), where=str(path))
    return _spherical_info(moov)


def _spherical_info(moov: Box) -> dict:
    info: dict = {"v1": None, "st3d": None, "sv3d": None}
    tracks = _video_tracks(moov)
    if not tracks:
        return info
    trak = tracks[0]
    for box in trak.children or []:
        if _is_spherical_uuid(box):
            xml = box.payload[16:].decode("utf-8", "replace")
            info["v1"] = dict(re.findall(r"<GSpherical:(\w+)>([^<]*)</GSpherical:\1>", xml))
    for stsd in trak.find(b"mdia", b"minf", b"stbl", b"stsd"):
        for entry in stsd.children or []:
            for box in entry.children or []:
                if box.type == b"st3d" and len(box.payload) >= 5:
                    names = {v: k for k, v in _ST3D_MODES.items()}
                    info["st3d"] = names.get(box.payload[4], f"mode {box.payload[4]}")
                elif box.type == b"sv3d":
                    info["sv3d"] = _sv3d_info(box)
    return info


def _sv3d_info(sv3d: Box) -> dict:
    out: dict = {"software": None, "projection": None, "pose": None, "bounds": None}
    for svhd in sv3d.find(b"svhd"):
        out["software"] = svhd.payload[4:].split(b"\x00")[0].decode("utf-8", "replace")
    for proj in sv3d.find(b"proj"):
        for box in proj.children or []:
            if box.type == b"prhd" and len(box.payload) >= 16:
                out["pose"] = tuple(v / 65536.0 for v in struct.unpack_from(">iii", box.payload, 4))
            elif box.type == b"equi" and len(box.payload) >= 20:
                out["projection"] = "equirectangular"
                out["bounds"] = struct.unpack_from(">IIII", box.payload, 4)
            elif box.type in (b"cbmp", b"mshp"):
                out["projection"] = {b"cbmp": "cubemap", b"mshp": "mesh"}[box.type]
    return out


# --- stills: GPano XMP ---------------------------------------------------------------------------


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def gpano_xmp(
    eye_width: int,
    eye_height: int,
    stereo: bool,
    software: str = DEFAULT_SOFTWARE,
    stereo_mode: StereoMode = "top-bottom",
    crop: Crop | None = None,
) -> str:
    """XMP packet that describes the still's pixels as they are (``crop``: where each eye
    lies in its sphere; default the whole sphere, ``eye_width`` x ``eye_height``).

    Mono: Google's GPano fields (what photo viewers read). Stereo: no GPano, whose fields
    describe one image and would make photo viewers wrap both eyes round one sphere; instead
    the Spherical V1 vocabulary (``GSpherical``), which has the stereo mode, with each eye's
    crop. Photo viewers then show a stereo file as a flat picture; for a stereo still they
    read as stereo, write a ``.vr.jpg`` (:mod:`.vr_photo`).
    """
    crop = crop or full_crop(eye_width, eye_height)
    ns = "GSpherical" if stereo else "GPano"
    namespaces = [
        'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/"'
        if stereo
        else 'xmlns:GPano="http://ns.google.com/photos/1.0/panorama/"'
    ]
    if stereo:
        head = {"Spherical": "true", "Stitched": "true", "StitchingSoftware": _xml_escape(software)}
        head |= {"ProjectionType": "equirectangular", "StereoMode": stereo_mode}
    else:
        head = {"UsePanoramaViewer": "True", "ProjectionType": "equirectangular"}
        head |= {"StitchingSoftware": _xml_escape(software)}
    attrs = {f"{ns}:{k}": v for k, v in (head | crop.fields()).items()}
    body = "\n    ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about=""\n    {" ".join(namespaces)}\n    {body}/>\n'
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def _jpeg_segments(data: bytes, where: str) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the entropy-coded data; checks structure."""
    if data[:2] != b"\xff\xd8":
        raise SphericalMetadataError(f"{where}: not a JPEG (no SOI marker)")
    segs, pos = [], 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise SphericalMetadataError(f"{where}: broken JPEG segment at byte {pos}")
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise SphericalMetadataError(f"{where}: JPEG segment at byte {pos} runs past the end")
        segs.append((marker, pos, end))
        if marker == 0xDA:  # start of scan: compressed data follows
            if data[-2:] != b"\xff\xd9":
                raise SphericalMetadataError(f"{where}: JPEG has no EOI marker")
            return segs
        pos = end


def add_xmp_to_jpeg(data: bytes, xmp: str, where: str = "jpeg") -> bytes:
    """Insert (or replace) the XMP APP1 segment after the JFIF/EXIF headers."""
    payload = XMP_JPEG_HEADER + xmp.encode("utf-8")
    if len(payload) + 2 > 0xFFFF:
        raise SphericalMetadataError(f"{where}: XMP packet too large for one JPEG segment")
    segs = _jpeg_segments(data, where)
    keep = [
        (m, a, b)
        for m, a, b in segs
        if not (m == 0xE1 and data[a + 4 : b].startswith(XMP_JPEG_HEADER))
    ]
    insert_at = 2
    for m, _a, b in keep:
        if m in (0xE0, 0xE1):  # after APP0 (JFIF) / APP1 (EXIF)
            insert_at = b
        else:
            break
    out = bytearray(data[:2])
    for _m, a, b in keep:
        if a >= insert_at:
            break
        out += data[a:b]
    out += b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    rest = [seg for seg in keep if seg[1] >= insert_at]
    out += data[rest[0][1] :] if rest else b""
    return bytes(out)


def _png_chunks(data: bytes, where: str) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of every chunk; checks lengths, CRCs and the IHDR...IEND frame."""
    if not data.startswith(PNG_SIGNATURE):
        raise SphericalMetadataError(f"{where}: not a PNG (bad signature)")
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise SphericalMetadataError(f"{where}: truncated PNG chunk at byte {pos}")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise SphericalMetadataError(f"{where}: PNG chunk {kind!r} runs past the end")
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise SphericalMetadataError(f"{where}: PNG chunk {kind!r} has a bad CRC")
        chunks.append((kind, pos, end))
        pos = end
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise SphericalMetadataError(f"{where}: PNG must start with IHDR and end with IEND")
    return chunks


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def add_xmp_to_png(data: bytes, xmp: str, where: str = "png") -> bytes:
    """Insert (or replace) the ``iTXt`` ``XML:com.adobe.xmp`` chunk right after ``IHDR``."""
    chunks = _png_chunks(data, where)
    itxt = _png_chunk(b"iTXt", XMP_PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp.encode("utf-8"))
    out = bytearray(data[: chunks[0][2]]) + itxt
    for kind, a, b in chunks[1:]:
        if kind == b"iTXt" and data[a + 8 :].startswith(XMP_PNG_KEYWORD + b"\x00"):
            continue
        out += data[a:b]
    return bytes(out)


def read_xmp(path: str | os.PathLike) -> str | None:
    """The XMP packet of a PNG or JPEG file (checking its structure), or None."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(PNG_SIGNATURE):
        for kind, a, b in _png_chunks(data, str(path)):
            body = data[a + 8 : b - 4]
            if kind == b"iTXt" and body.startswith(XMP_PNG_KEYWORD + b"\x00"):
                # keyword \0, compression flag, method, language \0, translated keyword \0, text
                rest = body[len(XMP_PNG_KEYWORD) + 3 :]
                rest = rest.split(b"\x00", 2)[2]
                return rest.decode("utf-8")
        return None
    for marker, a, b in _jpeg_segments(data, str(path)):
        if marker == 0xE1 and data[a + 4 : b].startswith(XMP_JPEG_HEADER):
            return data[a + 4 + len(XMP_JPEG_HEADER) : b].decode("utf-8")
    return None


def write_equirect_still(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    stereo: bool,
    quality: int = 95,
    png_compression: int = 3,
    software: str = DEFAULT_SOFTWARE,
    stereo_mode: StereoMode = "top-bottom",
    crop: Crop | None = None,
) -> Path:
    """Write a 360 (or, with ``crop``, 180) still with XMP that describes it: mono, top-bottom
    stereo (left eye on top) or left-right stereo (left eye on the left).

    PNG or JPEG by extension; encoded, tagged and checked under a temporary name, then renamed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise SphericalMetadataError(f"{path}: a 360 still must be .png or .jpg, got {suffix!r}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SphericalMetadataError(
            f"{path}: expected an (H, W, 3) uint8 image, got {image.shape}"
        )
    height, width = image.shape[:2]
    eye_width, eye_height = width, height
    if stereo and stereo_mode == "left-right":
        eye_width = width // 2
    elif stereo:
        eye_height = height // 2
    fits = (eye_width, eye_height) == (crop.width, crop.height) if crop else width == 2 * eye_height
    if not fits or (stereo and (height if stereo_mode == "top-bottom" else width) % 2):
        layout = f"{stereo_mode} stereo" if stereo else "mono"
        want = f"{crop.width}x{crop.height}" if crop else "2:1"
        raise SphericalMetadataError(
            f"{path}: a {layout} still needs {want} eyes, got a {width}x{height} image"
        )
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if suffix == ".png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(png_compression)])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SphericalMetadataError(f"{path}: OpenCV could not encode the image")
    xmp = gpano_xmp(eye_width, eye_height, stereo, software, stereo_mode, crop)
    data = buf.tobytes()
    data = (
        add_xmp_to_png(data, xmp, str(path))
        if suffix == ".png"
        else add_xmp_to_jpeg(data, xmp, str(path))
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        if read_xmp(tmp) != xmp:
            raise SphericalMetadataError(f"{path}: XMP did not survive writing")
    return path


def copy_with_spherical(
    src: str | os.PathLike, dst: str | os.PathLike, stereo: StereoMode = "top-bottom"
) -> Path:
    """Tag an existing MP4 into ``dst`` atomically (``dst`` may equal ``src``)."""
    src, dst = Path(src), Path(dst)
    with atomic_path(dst) as tmp:
        if src.resolve() == dst.resolve():
            staged = tmp.with_name(tmp.name + ".src")
            shutil.copyfile(src, staged)
            try:
                inject_spherical(staged, tmp, stereo)
            finally:
                staged.unlink(missing_ok=True)
        else:
            inject_spherical(src, tmp, stereo)
    return dst


__all__ = [
    "SPHERICAL_UUID",
    "Box",
    "SphericalMetadataError",
    "add_xmp_to_jpeg",
    "add_xmp_to_png",
    "copy_with_spherical",
    "gpano_xmp",
    "inject_spherical",
    "parse_boxes",
    "read_spherical",
    "read_xmp",
    "scan_top_level",
    "v1_xml",
    "v2_boxes",
    "verify_mp4",
    "write_equirect_still",
]
