"""Writers: H.264/H.265 MP4 video, PNG/JPEG frame sequences and stills, all atomic.

Every writer works on a temporary name beside the target (``atomic.atomic_path``) and renames
it into place only when complete: an exception or Ctrl-C part-way leaves no file under the
final name and an existing file untouched.

Frames are ``(H, W, 3)`` uint8 RGB (``VideoWriter`` also takes ``(H, W, 4)`` RGBA, alpha
dropped by ffmpeg, so a GL read-back can go straight in). Video sizes must be even (4:2:0
chroma): callers round the render size up with :func:`even_size` *before* rendering.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import numbers
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ldm3d_core import files

from ..atomic import atomic_path, ensure_writable_dir
from ..errors import OutputError

log = logging.getLogger("depthfusion")

__all__ = [
    "FramesWriter",
    "VideoWriter",
    "even_size",
    "write_still",
]

X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip
CODECS = ("libx264", "libx265")
STILL_FORMATS = (".png", ".jpg", ".jpeg")


def even_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) rounded up to even numbers, as H.264/H.265 in yuv420p need."""
    return int(width) + int(width) % 2, int(height) + int(height) % 2


class _Abort(BaseException):
    """The exception an aborted writer hands its atomic context, so that the temporary file is
    discarded (never published)."""


_SYSTEM_ERRORS = tuple(
    os.strerror(code).lower()
    for code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EIO)
)


def _ffmpeg_reason(messages: str, returncode: int | None) -> str:
    lines = [ln.strip() for ln in messages.splitlines() if ln.strip()]
    for line in lines:
        if any(text in line.lower() for text in _SYSTEM_ERRORS):
            return line
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            sig = signal.Signals(-returncode)
            return f"killed by {sig.name} ({signal.strsignal(sig) or 'signal'})"
    errors = [ln for ln in lines if "[error]" in ln.lower() or "error" in ln.lower().split()]
    if errors or lines:
        return (errors or lines)[0 if errors else -1]
    return f"exit status {returncode}" if returncode is not None else "no message"


class VideoWriter:
    """MP4 writer on imageio-ffmpeg's ``write_frames`` (a piped ffmpeg process).

    >>> with VideoWriter("out/path.mp4", fps=30, size=(1920, 1080)) as video:
    ...     for frame in frames:          # (H, W, 3) uint8 RGB, C-contiguous
    ...         video.write(frame)

    Parameters
    ----------
    fps : frames per second (float or Fraction; 29.97 is passed as 2997/100).
    size : (width, height); checked up front when given (even sizes only), else taken from
        the first frame.
    crf, preset : x264/x265 quality (0-51, lower is better; 18 is visually lossless) and speed
        preset. ``bitrate`` (e.g. ``"20M"``) replaces crf with a target bitrate.
    codec : ``libx264`` (default; H.264 plays everywhere) or ``libx265`` (tagged ``hvc1``).
    color : ``"bt709"`` converts RGB with the BT.709 matrix and tags the stream so (as HD
        players assume); ``None`` leaves ffmpeg's untagged default (BT.601 matrix).
    flip_vertical : let ffmpeg flip rows (for bottom-up OpenGL read-backs, saves a copy).
    params : extra ffmpeg output arguments, e.g. ``["-x264-params", "mvrange=511"]`` or
        Spherical-Video options; appended last.
    threaded : encode from a background thread with a bounded queue of ``queue_size``
        frames (each frame is copied, so the caller may reuse its buffer). ffmpeg already runs
        in its own process, so this only overlaps the pipe writes with rendering.

    The output always gets ``-movflags +faststart`` (index at the front: streams at once).
    Per frame, ``write`` only checks shape/dtype and hands the buffer to the pipe; a
    non-contiguous array is made contiguous (the only copy).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | Fraction = 30.0,
        *,
        size: tuple[int, int] | None = None,
        crf: int | None = 18,
        preset: str = "medium",
        bitrate: str | None = None,
        codec: str = "libx264",
        color: str | None = "bt709",
        flip_vertical: bool = False,
        params: Sequence[str] | None = None,
        threaded: bool = False,
        queue_size: int = 4,
        log_level: str = "error",
    ) -> None:
        self.path = Path(path)
        name = str(self.path)
        if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not fps > 0:
            raise OutputError(f"{name}: fps must be > 0, got {fps!r}")
        fps = fps if isinstance(fps, Fraction) else float(fps)
        if codec not in CODECS:
            raise OutputError(f"{name}: codec must be one of {', '.join(CODECS)}, got {codec!r}")
        if preset not in X264_PRESETS:
            raise OutputError(
                f"{name}: encoder preset must be one of {', '.join(X264_PRESETS)}, got {preset!r}"
            )
        if bitrate is None and (crf is None or not 0 <= crf <= 51):
            raise OutputError(f"{name}: crf must be in [0, 51] (or give a bitrate), got {crf!r}")
        if color not in (None, "bt709"):
            raise OutputError(f"{name}: color must be 'bt709' or None, got {color!r}")
        self.fps = fps
        self.size: tuple[int, int] | None = None
        if size is not None:
            self.size = self._check_size(int(size[0]), int(size[1]))
        ensure_writable_dir(self.path)

        out = ["-preset", preset]
        if bitrate is None:
            out += ["-crf", str(int(crf))]
        filters = ["vflip"] if flip_vertical else []
        if color == "bt709":
            # scale converts with the BT.709 matrix; setparams tags the frames' primaries and
            # transfer too (scale alone leaves them "unknown", overriding -color_* below).
            filters.append("scale=out_color_matrix=bt709:out_range=tv")
            filters.append(
                "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"
            )
            out += ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
            out += ["-color_range", "tv"]
        if filters:
            out += ["-vf", ",".join(filters)]
        if codec == "libx265":
            out += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
        out += ["-movflags", "+faststart", *(params or [])]
        self._codec = codec
        self._bitrate = bitrate
        self._output_params = out
        self._log_level = log_level
        self._threaded = threaded
        self._queue_size = max(1, int(queue_size))

        self.frames_written = 0
        self._channels: int | None = None
        self._atomic = None  # the atomic_path context while open
        self._tmp: Path | None = None
        self._gen = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._worker_error: BaseException | None = None
        self._stop_worker = False
        self._closed = False

    # -- context manager --

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc_type, exc, tb)
        return False

    def __del__(self) -> None:  # a writer dropped without close(): discard, never publish
        if getattr(self, "_gen", None) is not None and not self._closed:
            with contextlib.suppress(Exception):
                self.abort()

    # -- checks --

    def _check_size(self, width: int, height: int) -> tuple[int, int]:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            w2, h2 = even_size(max(width, 2), max(height, 2))
            raise OutputError(
                f"{self.path}: video size {width}x{height} must be positive and even for "
                f"yuv420p; round it up before rendering (e.g. {w2}x{h2})"
            )
        return width, height

    # -- writing --

    def _command(self, path: Path, channels: int) -> list[str]:
        """The ffmpeg command line (what imageio-ffmpeg's ``write_frames`` runs, with our
        output parameters; its ffmpeg binary)."""
        import imageio_ffmpeg

        fps = self.fps if isinstance(self.fps, Fraction) else Fraction(self.fps).limit_denominator()
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo",
            "-s", f"{self.size[0]}x{self.size[1]}",
            "-pix_fmt", "rgb24" if channels == 3 else "rgba", "-r", str(fps),
            "-i", "-", "-an", "-vcodec", self._codec, "-pix_fmt", "yuv420p",
        ]  # fmt: skip
        if self._bitrate is not None:
            cmd += ["-b:v", str(self._bitrate)]
        return [*cmd, "-v", self._log_level, *self._output_params, str(path)]

    def _start(self, frame: np.ndarray) -> None:
        h, w, c = frame.shape
        if self.size is None:
            self.size = self._check_size(w, h)
        self._channels = c
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        try:
            # ffmpeg's messages go to a file, not the terminal: the error names its last line,
            # and --verbose shows all of it.
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()/abort()
            self._proc = subprocess.Popen(
                self._command(self._tmp, c),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,  # Ctrl-C reaches us, and we stop ffmpeg ourselves
            )
            self._gen = self._proc.stdin
        except BaseException as exc:
            self._gen = None
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            self._atomic = None
            if isinstance(exc, Exception) and not isinstance(exc, OutputError):
                raise OutputError(f"{self.path}: cannot start ffmpeg ({exc})") from None
            raise
        if self._threaded:
            self._queue = queue.Queue(maxsize=self._queue_size)
            self._thread = threading.Thread(target=self._worker, name="VideoWriter", daemon=True)
            self._thread.start()

    def _ffmpeg_messages(self) -> str:
        """What ffmpeg printed (read once it has stopped); logged at debug level."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        if text.strip():
            log.debug("ffmpeg (%s):\n%s", self.path.name, text.rstrip())
        return text

    def _ffmpeg_reason(self, messages: str | None = None) -> str:
        """Why ffmpeg stopped: the line of its messages that names a system error (disk full,
        file too large, permission denied), else its last line, else how it exited."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        if messages is None:
            messages = self._ffmpeg_messages()
        return _ffmpeg_reason(messages, self._proc.returncode if self._proc else None)

    def _worker(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._worker_error is not None or self._stop_worker:
                continue  # drain, so that a producer blocked on put() wakes up
            try:
                self._gen.write(item)
            except BaseException as exc:  # reported by the next write()/close()
                self._worker_error = exc

    def _pipe_error(self, exc: BaseException) -> OutputError:
        return OutputError(
            f"{self.path}: ffmpeg stopped after {self.frames_written} frames: "
            f"{self._ffmpeg_reason()}"
        )

    def write(self, frame: np.ndarray) -> None:
        """Append one frame: (H, W, 3) RGB or (H, W, 4) RGBA, uint8, same size every time."""
        if self._closed:
            raise OutputError(f"{self.path}: write() after close()")
        if (
            not isinstance(frame, np.ndarray)
            or frame.dtype != np.uint8
            or frame.ndim != 3
            or frame.shape[2] not in (3, 4)
        ):
            got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame)
            raise ValueError(f"{self.path}: frames must be (H, W, 3|4) uint8, got {got}")
        if self._gen is None:
            if self.size is not None and (frame.shape[1], frame.shape[0]) != self.size:
                raise ValueError(
                    f"{self.path}: frame is {frame.shape[1]}x{frame.shape[0]}, "
                    f"video is {self.size[0]}x{self.size[1]}"
                )
            self._start(frame)
        elif (frame.shape[1], frame.shape[0]) != self.size or frame.shape[2] != self._channels:
            raise ValueError(
                f"{self.path}: frame {self.frames_written} is {frame.shape}, "
                f"expected {(self.size[1], self.size[0], self._channels)}"
            )
        if not frame.flags.c_contiguous:
            frame = np.ascontiguousarray(frame)
        if self._threaded:
            if self._worker_error is not None:
                raise self._pipe_error(self._worker_error)
            self._queue.put(frame.copy())
        else:
            try:
                self._gen.write(frame)
            except OSError as exc:
                raise self._pipe_error(exc) from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish encoding and publish the file (a no-op after the first call)."""
        if self._closed:
            return
        if self._gen is None:
            self._closed = True
            raise OutputError(f"{self.path}: no frames were written; no video created")
        try:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                if self._worker_error is not None:
                    raise self._pipe_error(self._worker_error)
            try:
                self._gen.close()  # ffmpeg sees the end of its input and finishes the file
            except OSError as exc:
                raise self._pipe_error(exc) from None
            self._gen = None
            rc = self._proc.wait()
            messages = self._ffmpeg_messages()
            self._stderr.close()
            self._stderr = None
            if rc != 0:
                reason = _ffmpeg_reason(messages, rc)
                raise OutputError(f"{self.path}: ffmpeg failed: {reason}")
            if self._tmp is None or not self._tmp.exists() or self._tmp.stat().st_size == 0:
                raise OutputError(f"{self.path}: ffmpeg produced no output")
        except BaseException as exc:
            self.abort(type(exc), exc, exc.__traceback__)
            raise
        self._closed = True
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)

    def abort(self, exc_type=None, exc=None, tb=None) -> None:
        """Stop ffmpeg at once and discard the temporary file; the target is left as it was."""
        self._closed = True
        self._stop_worker = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()  # also unblocks a worker stuck writing to the pipe
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
            self._thread.join()
            self._thread = None
        if self._gen is not None:
            with contextlib.suppress(OSError):
                self._gen.close()
            self._gen = None
        if self._proc is not None:
            self._proc.wait()
        if self._stderr is not None:
            self._ffmpeg_messages()
            self._stderr.close()
            self._stderr = None
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            if exc_type is None:
                exc_type, exc = _Abort, _Abort()
            with contextlib.suppress(_Abort):
                atomic.__exit__(exc_type, exc, tb)


# --- images ------------------------------------------------------------------------------------


def _encode_image(
    image: np.ndarray, suffix: str, where: str, *, quality: int = 95, png_compression: int = 3
) -> bytes:
    """RGB(A)/gray uint8 (uint16 for PNG) -> encoded bytes (OpenCV wants BGR)."""
    suffix = suffix.lower()
    if suffix not in STILL_FORMATS:
        raise OutputError(f"{where}: unsupported image format {suffix!r} (use .png or .jpg)")
    image = np.asarray(image)
    ok_dtype = image.dtype == np.uint8 or (image.dtype == np.uint16 and suffix == ".png")
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else 0)
    if not ok_dtype or channels not in (1, 3, 4) or (channels == 4 and suffix != ".png"):
        raise OutputError(
            f"{where}: cannot write a {image.shape} {image.dtype} image as {suffix} "
            "(expected (H, W[, 3]) uint8, RGBA or uint16 only as PNG)"
        )
    if channels == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    if suffix == ".png":
        opts = [cv2.IMWRITE_PNG_COMPRESSION, int(png_compression)]
    else:
        opts = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    ok, buf = cv2.imencode(suffix, image, opts)
    if not ok:
        raise OutputError(f"{where}: OpenCV could not encode the image as {suffix}")
    return buf.tobytes()


def write_still(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    quality: int = 95,
    png_compression: int = 3,
) -> Path:
    """Write an RGB (or gray / RGBA PNG) uint8 image as PNG or JPEG (by extension), atomically."""
    path = Path(path)
    data = _encode_image(
        image, path.suffix, str(path), quality=quality, png_compression=png_compression
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


_PRINTF = re.compile(r"%0?(\d*)d")


class FramesWriter:
    """An image sequence, one file per frame, published only when complete.

    * ``FramesWriter("out/frames")`` writes ``out/frames/frame_000000.png``, ... into a temporary
      folder renamed into place when done. An earlier ``out/frames`` is replaced only when this
      project wrote it and nothing else was added (its manifest says so), so no stale frames of
      a longer earlier run survive and nothing of the user's is deleted; any other folder or a
      file there is an OutputError before the first frame.
    * ``FramesWriter("out/shot_%05d.jpg")`` (printf-style pattern): frames are written into a
      temporary folder beside, then moved into ``out/`` when done; frames of an earlier run
      that match the pattern are removed only when the project wrote them. A matching file the
      project did not write is an OutputError before the first frame (never mixed in or
      deleted). Each file appears complete and the sequence only on success, but the move
      itself is not a single atomic step, and ``out/`` is shared.

    ``start`` is the first frame number. Frames are (H, W, 3) uint8 RGB (gray/RGBA for PNG).
    PNG uses compression level ``png_compression`` (1 = fast, the default: this is an
    intermediate format), JPEG quality ``quality``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        start: int = 0,
        png_compression: int = 1,
        quality: int = 95,
    ) -> None:
        from .plan import frame_matcher

        path = Path(path)
        match = _PRINTF.search(path.name)
        if match:
            if len(_PRINTF.findall(path.name)) != 1 or "%" in _PRINTF.sub("", path.name):
                raise OutputError(f"{path}: a frame pattern needs exactly one %d / %05d")
            self.folder = path.parent
            self.pattern = path.name
            self.suffix = path.suffix.lower()
            self._matches = frame_matcher(path.name)
        else:
            self.folder = path
            self.pattern = "frame_%06d.png"
            self.suffix = ".png"
            self._matches = None
        if self.suffix not in STILL_FORMATS:
            raise OutputError(
                f"{path}: unsupported frame format {self.suffix!r} (use .png or .jpg)"
            )
        self.path = path
        self.start = int(start)
        self.frames_written = 0
        self._opts = {"png_compression": png_compression, "quality": quality}
        self._atomic = None
        self._tmp: Path | None = None
        self._closed = False
        if self._matches is None:
            self._atomic = atomic_path(self.folder, directory=True)
            self._tmp = self._atomic.__enter__()
        else:
            ensure_writable_dir(self.folder / self.pattern)
            for old in self._strays():
                raise OutputError(
                    f"{old}: matches the frame pattern and was not written by depthfusion; "
                    "not replaced or mixed into this sequence (move it away)"
                )
            self._tmp = files.temporary_name(self.folder / self.pattern, directory=True)
            self._tmp.mkdir()

    def _strays(self) -> list[Path]:
        """Files matching the pattern that the project did not write."""
        return [
            old
            for old in sorted(self.folder.iterdir())
            if self._matches.match(old.name) and not files.is_owned(old)
        ]

    def __enter__(self) -> FramesWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc_type, exc, tb)
        return False

    def frame_name(self, index: int) -> str:
        return self.pattern % index

    def write(self, frame: np.ndarray) -> Path:
        """Write the next frame; returns its final path."""
        if self._closed:
            raise OutputError(f"{self.path}: write() after close()")
        name = self.frame_name(self.start + self.frames_written)
        data = _encode_image(frame, self.suffix, str(self.path), **self._opts)
        try:
            (self._tmp / name).write_bytes(data)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.folder / name}: cannot write ({exc.strerror})") from None
        self.frames_written += 1
        return self.folder / name

    def close(self) -> None:
        """Publish the sequence."""
        if self._closed:
            return
        self._closed = True
        if self._matches is None:
            atomic, self._atomic = self._atomic, None
            atomic.__exit__(None, None, None)
            return
        try:
            strays = self._strays()
            if strays:
                raise OutputError(
                    f"{strays[0]}: appeared while rendering and was not written by depthfusion; "
                    "the sequence was not published"
                )
            new = sorted(self._tmp.iterdir())
            names = {p.name for p in new}
            for final in (self.folder / n for n in names):
                files.check_replaceable(final)
            for old in self.folder.iterdir():  # stale frames of a longer earlier run
                if old.name not in names and self._matches.match(old.name) and files.is_owned(old):
                    old.unlink()
            for src in new:
                os.replace(src, self.folder / src.name)
            files.record_written(self.folder, sorted(names))
        except files.FileSafetyError as exc:
            raise OutputError(str(exc)) from None
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot publish the frames ({exc.strerror})") from None
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def abort(self, exc_type=None, exc=None, tb=None) -> None:
        """Discard everything written; the previous output (if any) stays."""
        self._closed = True
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            if exc_type is None:
                exc_type, exc = _Abort, _Abort()
            with contextlib.suppress(_Abort):
                atomic.__exit__(exc_type, exc, tb)
        elif self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
