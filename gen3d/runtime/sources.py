"""Where frames come from: an image, a folder, a video file, a camera index or a stream URL (OpenCV; no torch).

Nothing is lost when a frame fails to decode: it is yielded with ``rgb=None`` and the reason, and the stream
goes on. A live camera or stream that stops delivering gives up after ``max_failures`` consecutive failures
with :class:`StreamStalled`.
"""

from __future__ import annotations

import os
import os.path as osp
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
    """

    source: str
    rgb: np.ndarray | None
    error: str | None = None


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


def iter_frames(source: str, max_failures: int = MAX_FAILURES) -> Iterator[Frame]:
    """Yield the frames of an image file, a folder (recursive, sorted), a video file, a camera index or a URL.

    Args:
        source: Path, camera index or stream URL.
        max_failures: Consecutive unreadable frames after which a camera or stream is given up.

    Yields:
        :class:`Frame`, with ``rgb=None`` and ``error`` for a frame that could not be decoded.

    Raises:
        FileNotFoundError: ``source`` does not exist, or a folder holds no images (names it).
        OSError: A video, camera or stream cannot be opened.
        StreamStalled: A camera or stream gave ``max_failures`` unreadable frames in a row.
    """
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
    yield from _iter_capture(source, max_failures)


def _iter_files(files: Sequence[str]) -> Iterator[Frame]:
    for path in files:
        try:
            yield Frame(path, imread_rgb(path))
        except (OSError, ValueError) as err:
            yield Frame(path, None, str(err))


def _iter_capture(source: str, max_failures: int) -> Iterator[Frame]:
    live = not osp.isfile(source)
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise OSError(f"Cannot open {'camera or stream' if live else 'video file'} {source}")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not live else 0
    index, failures = 0, 0
    try:
        while True:
            ok, bgr = cap.read()
            if ok and bgr is not None and bgr.size:
                failures = 0
                rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB if bgr.ndim == 2 else cv2.COLOR_BGR2RGB)
                yield Frame(f"{source}#{index}", rgb)
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
