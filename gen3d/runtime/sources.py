"""Where frames come from: an image, a folder, a video file, a camera index or a stream URL (OpenCV; no torch).

Nothing is lost when a file or a video frame fails to decode: it is yielded with ``rgb=None`` and the reason, and
the stream goes on. A live camera or stream is read by a capture thread that keeps only the newest frame
(:class:`LatestFrameReader`), so a model slower than the camera judges the present, not a growing backlog; the
frames it never saw are counted (``Frame.dropped``). A live source that stops delivering gives up after
``max_failures`` consecutive failures with :class:`StreamStalled`.
"""

from __future__ import annotations

import os
import os.path as osp
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_FAILURES = 30  # consecutive unreadable frames before a camera or stream is given up


class StreamStalled(OSError):
    """A camera or stream stopped delivering frames."""


@dataclass
class Frame:
    """One input to inspect.

    Attributes:
        source: File path, or ``<video or camera>#<frame index>``.
        rgb: ``(H, W, 3)`` uint8 RGB pixels, or ``None`` when the frame could not be decoded.
        error: Why it could not be decoded.
        dropped: Live sources: frames captured since the previous yielded one that were never judged (the model
            was slower than the camera) or could not be read.
    """

    source: str
    rgb: np.ndarray | None
    error: str | None = None
    dropped: int = 0


def imread_rgb(path: str) -> np.ndarray:
    """Read an image file as 8-bit RGB: grayscale/alpha dropped to RGB, 16-bit scaled to 8-bit.

    Args:
        path: Image file.

    Returns:
        ``(H, W, 3)`` uint8 array.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file cannot be decoded or has an unsupported depth or channel count; names the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"image file {path} not found")
    try:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise ValueError(f"cannot read image file {path} ({err})") from err
    if img is None or img.size == 0:
        raise ValueError(f"cannot read image file {path} (corrupt or unsupported format)")
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"image file {path} has unsupported pixel type {img.dtype} (use 8- or 16-bit images)")
    if img.ndim == 3 and img.shape[2] in (1, 2):
        img = img[:, :, 0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGB)
    raise ValueError(f"image file {path} has unsupported shape {img.shape}")


def list_images(folder: str) -> list[str]:
    """Image files under ``folder``, recursively, sorted by path."""
    return sorted(osp.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.lower().endswith(IMAGE_EXTENSIONS))


def is_live(source: str) -> bool:
    """Whether ``source`` is a camera index (``'0'``) or a stream URL (``rtsp://``, ``http://``, ...)."""
    return source.isdigit() or "://" in source


def iter_frames(source: str, max_failures: int = MAX_FAILURES, vid_stride: int = 1,
                latest_only: bool | None = None) -> Iterator[Frame]:
    """Yield the frames of an image file, a folder (recursive, sorted), a video file, a camera index or a URL.

    Args:
        source: Path, camera index or stream URL.
        max_failures: Consecutive unreadable frames after which a camera or stream is given up.
        vid_stride: Video files and live sources: judge every ``vid_stride``-th frame (the others are skipped
            without decoding where the source allows it).
        latest_only: Live sources: read in a capture thread that keeps only the newest frame
            (:class:`LatestFrameReader`); ``None``: on for cameras and URLs, off for files.

    Yields:
        :class:`Frame`, with ``rgb=None`` and ``error`` for a frame that could not be decoded.

    Raises:
        FileNotFoundError: ``source`` does not exist, or a folder holds no images (names it).
        OSError: A video, camera or stream cannot be opened.
        StreamStalled: A camera or stream gave ``max_failures`` unreadable frames in a row.
        ValueError: ``vid_stride < 1``.
    """
    if int(vid_stride) < 1:
        raise ValueError(f"vid_stride must be >= 1, got {vid_stride}")
    if osp.isdir(source):
        files = list_images(source)
        if not files:
            raise FileNotFoundError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found under {source}")
        yield from _iter_files(files)
        return
    if osp.isfile(source) and source.lower().endswith(IMAGE_EXTENSIONS):
        yield from _iter_files([source])
        return
    if not osp.isfile(source) and not is_live(source):
        raise FileNotFoundError(f"Input not found: {source} (expected an image, a folder, a video file, "
                                f"a camera index or a stream URL)")
    live = not osp.isfile(source)
    if live if latest_only is None else latest_only:
        reader = LatestFrameReader(source, max_failures, int(vid_stride))
        try:
            yield from reader
        finally:
            reader.close()
        return
    yield from _iter_capture(source, max_failures, int(vid_stride))


def _iter_files(files: Sequence[str]) -> Iterator[Frame]:
    for path in files:
        try:
            yield Frame(path, imread_rgb(path))
        except (OSError, ValueError) as err:
            yield Frame(path, None, str(err))


def _open_capture(source: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise OSError(f"Cannot open {'video file' if osp.isfile(source) else 'camera or stream'} {source}")
    return cap


def _to_rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB if bgr.ndim == 2 else cv2.COLOR_BGR2RGB)


def _iter_capture(source: str, max_failures: int, vid_stride: int = 1) -> Iterator[Frame]:
    """Every frame of a video file (or, with ``latest_only=False``, of a live source), in order."""
    live = not osp.isfile(source)
    cap = _open_capture(source)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not live else 0
    index, failures = 0, 0
    try:
        while True:
            if index % vid_stride:  # skipped: grab without decoding
                if not cap.grab() and not live and index >= total - 1:
                    return
                index += 1
                continue
            ok, bgr = cap.read()
            if ok and bgr is not None and bgr.size:
                failures = 0
                yield Frame(f"{source}#{index}", _to_rgb(bgr))
                index += 1
                continue
            if not live and index >= total - 1:  # end of the file (the frame count can be one too high)
                return
            failures += 1
            yield Frame(f"{source}#{index}", None, "frame could not be read")
            index += 1
            if failures >= max_failures:
                if live:
                    raise StreamStalled(f"{source} stopped delivering frames ({failures} unreadable frames in a "
                                        f"row); giving up")
                return
    finally:
        cap.release()


class LatestFrameReader:
    """A live source read by a capture thread that keeps only the newest frame.

    The thread reads as fast as the camera delivers; iterating yields the newest frame not yet yielded (waiting
    for one), with ``Frame.dropped`` = the frames captured meanwhile that will never be judged plus those that
    could not be read. Latency therefore stays at one model call however slow the model is, and the drops are
    reported instead of piling up in a buffer.

    Args:
        source: Camera index (``'0'``) or stream URL (a video file works too, for tests).
        max_failures: Consecutive unreadable frames after which :class:`StreamStalled` is raised.
        vid_stride: Keep every ``vid_stride``-th captured frame as a candidate.

    Attributes:
        captured: Frames read so far; ``dropped``: frames never yielded (overwritten or unreadable).
    """

    def __init__(self, source: str, max_failures: int = MAX_FAILURES, vid_stride: int = 1) -> None:
        self.source, self.max_failures, self.vid_stride = source, int(max_failures), int(vid_stride)
        self.cap = _open_capture(source)
        self.captured = self.dropped = 0
        self._latest: tuple[int, np.ndarray] | None = None
        self._pending_drops = 0
        self._stalled: str | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read_loop, name=f"capture {source}", daemon=True)
        self._thread.start()

    def _read_loop(self) -> None:
        index, failures = 0, 0
        while not self._closed:
            ok, bgr = self.cap.read()
            with self._cond:
                if ok and bgr is not None and bgr.size:
                    failures = 0
                    self.captured += 1
                    if index % self.vid_stride == 0:
                        if self._latest is not None:  # never judged: the model was slower than the camera
                            self._pending_drops += 1
                        self._latest = (index, _to_rgb(bgr))
                else:
                    failures += 1
                    self._pending_drops += 1
                    if failures >= self.max_failures:
                        self._stalled = (f"{self.source} stopped delivering frames ({failures} unreadable frames in "
                                         "a row); giving up")
                index += 1
                self._cond.notify_all()
                if self._stalled:
                    return

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._latest is not None or self._stalled or self._closed)
                if self._latest is None:
                    if self._stalled:
                        raise StreamStalled(self._stalled)
                    return
                (index, rgb), self._latest = self._latest, None
                dropped, self._pending_drops = self._pending_drops, 0
                self.dropped += dropped
            yield Frame(f"{self.source}#{index}", rgb, dropped=dropped)

    def close(self) -> None:
        """Stop the capture thread and release the source."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
        self.cap.release()
