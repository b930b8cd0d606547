"""Frame sources: images, folders with a corrupt file, videos, missing inputs, a camera that stops."""

import queue

import cv2
import numpy as np
import pytest

from gen3d.runtime import sources
from gen3d.runtime.sources import StreamStalled, imread_rgb, iter_frames


def _write_images(folder, n=3):
    (folder / "sub").mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / ("sub" if i % 2 else ".") / f"{i:03d}.png"
        img = np.zeros((12, 10, 3), np.uint8)
        img[..., 0] = 10 * i  # BGR on disk: blue channel
        cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


def write_video(path, n=4, size=(32, 24), step=30):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, size)
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), step * i, np.uint8))
    writer.release()
    return path


def test_image_and_folder_with_a_corrupt_file(tmp_path):
    paths = _write_images(tmp_path)
    (tmp_path / "sub" / "broken.png").write_bytes(b"\x89PNG garbage")
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(iter_frames(str(tmp_path)))
    assert [f.source for f in frames] == sorted(str(p) for p in [*paths, tmp_path / "sub" / "broken.png"])
    broken = [f for f in frames if f.source.endswith("broken.png")]
    assert broken[0].rgb is None and "broken.png" in broken[0].error
    good = [f for f in frames if f.rgb is not None]
    assert len(good) == 3 and all(f.rgb.shape == (12, 10, 3) and f.rgb.dtype == np.uint8 for f in good)
    single = list(iter_frames(str(paths[2])))
    assert len(single) == 1 and single[0].rgb[0, 0, 2] == 20  # BGR on disk -> RGB


def test_imread_rgb_gray_and_16_bit(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((4, 5), 7, np.uint8))
    cv2.imwrite(str(tmp_path / "d.png"), np.full((4, 5, 3), 257 * 9, np.uint16))
    assert imread_rgb(str(tmp_path / "g.png")).shape == (4, 5, 3)
    assert (imread_rgb(str(tmp_path / "d.png")) == 9).all()


def test_video_file_yields_every_frame(tmp_path):
    video = write_video(tmp_path / "line.avi")
    frames = list(iter_frames(str(video)))
    assert [f.source for f in frames] == [f"{video}#{i}" for i in range(4)]
    assert all(f.rgb is not None and f.rgb.shape == (24, 32, 3) for f in frames)


def test_missing_input_and_empty_folder_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        next(iter_frames(str(tmp_path / "nothing_here")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        next(iter_frames(str(tmp_path / "empty")))


class _FlakyCamera:
    """Two good frames, one dropped, one good, then nothing."""

    def __init__(self, index):
        self.reads = [True, True, False, True]

    def isOpened(self):  # noqa: N802
        return True

    def get(self, prop):
        return 0

    def read(self):
        ok = self.reads.pop(0) if self.reads else False
        return ok, (np.zeros((6, 8, 3), np.uint8) if ok else None)

    def release(self):
        pass


def test_camera_read_in_order_reports_unreadable_frames_and_gives_up(monkeypatch):
    monkeypatch.setattr(sources.cv2, "VideoCapture", _FlakyCamera)
    frames = []
    with pytest.raises(StreamStalled, match="stopped delivering frames"):
        for f in iter_frames("0", max_failures=3, latest_only=False):
            frames.append(f)
    assert [f.rgb is not None for f in frames] == [True, True, False, True, False, False, False]
    assert frames[2].source == "0#2" and frames[2].error


class _FedCamera:
    """A camera whose frames the test hands over one by one (``read`` blocks until fed)."""

    feed: queue.Queue

    def __init__(self, index):
        pass

    def isOpened(self):  # noqa: N802
        return True

    def get(self, prop):
        return 0

    def read(self):
        ok, value = _FedCamera.feed.get(timeout=10)
        return ok, (np.full((6, 8, 3), value, np.uint8) if ok else None)

    def release(self):
        pass


def _wait(predicate, timeout=10.0):
    import time

    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_live_capture_thread_keeps_the_newest_frame_and_counts_the_dropped(monkeypatch):
    """A model slower than the camera judges the newest frame; the ones it never saw are counted, not queued."""
    _FedCamera.feed = queue.Queue()
    monkeypatch.setattr(sources.cv2, "VideoCapture", _FedCamera)
    reader = sources.LatestFrameReader("0", max_failures=2)
    frames = iter(reader)
    for value in (10, 20, 30):  # three frames arrive while the model is busy
        _FedCamera.feed.put((True, value))
    _wait(lambda: reader.captured == 3)
    first = next(frames)
    assert first.source == "0#2" and first.rgb[0, 0, 0] == 30 and first.dropped == 2
    _FedCamera.feed.put((True, 40))
    second = next(frames)
    assert second.source == "0#3" and second.dropped == 0
    _FedCamera.feed.put((False, 0))
    _FedCamera.feed.put((False, 0))
    with pytest.raises(StreamStalled, match="stopped delivering frames"):
        next(frames)
    assert reader.dropped == 2 and reader.captured == 4
    reader.close()


def test_video_stride_skips_frames(tmp_path):
    video = write_video(tmp_path / "line.avi", n=7)
    assert [f.source for f in iter_frames(str(video), vid_stride=3)] == [f"{video}#{i}" for i in (0, 3, 6)]
    with pytest.raises(ValueError, match="vid_stride"):
        next(iter_frames(str(video), vid_stride=0))


def test_threshold_file_is_validated(tmp_path):
    import json

    import pytest

    from gen3d.runtime.__main__ import load_thresholds

    good = tmp_path / "t.json"
    good.write_text(json.dumps({"bottle": {"image": 1, "pixel": 2.5}}))
    assert load_thresholds(str(good)) == {"bottle": {"image": 1.0, "pixel": 2.5}}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bottle": {"img": 1}}))
    with pytest.raises(ValueError, match="bad.json"):
        load_thresholds(str(bad))
    assert load_thresholds(None) is None
