"""Checkpoints are data: code-running pickles are refused, writes are atomic, corrupt files are named."""

import os
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch

from gen3d.utils.checkpoint import (
    AtomicLocalBackend,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    atomic_write_bytes,
    find_resumable_checkpoint,
    load_local_checkpoint,
    save_checkpoint_file,
)


class _Evil:
    """Unpickling this runs ``os.system`` (it would create a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": OrderedDict(w=torch.ones(2)), "meta": {"x": _Evil(marker)}}, path)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth") as info:
        load_local_checkpoint(path)
    assert "system" in str(info.value)  # names the offending global
    assert not marker.exists(), "the pickle's code ran"


def test_mmengine_loader_goes_through_the_safe_loader(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader

    path = tmp_path / "evil.pth"
    torch.save({"meta": _Evil(tmp_path / "pwned")}, path)
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
    assert not (tmp_path / "pwned").exists()


def test_plain_checkpoint_round_trip(tmp_path):
    path = tmp_path / "ok.pth"
    ckpt = {"state_dict": OrderedDict(w=torch.arange(4.0)), "meta": {"epoch": 3, "thresholds": {"a": 0.5}}}
    save_checkpoint_file(ckpt, path)
    loaded = load_local_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], ckpt["state_dict"]["w"])
    assert loaded["meta"] == ckpt["meta"]


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", None])
def test_corrupt_or_truncated_file_is_named(tmp_path, content):
    path = tmp_path / "bad.pth"
    if content is None:  # a real checkpoint cut in half
        save_checkpoint_file({"w": torch.randn(1000)}, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match="bad.pth"):
        load_local_checkpoint(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_local_checkpoint(tmp_path / "nope.pth")


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.bin"
    atomic_write_bytes(b"old", path)

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        AtomicLocalBackend().put(b"new" * 1000, path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["c.bin"], "temporary file left behind"


KILL_WHILE_WRITING = r"""
import os, signal, sys, torch
from gen3d.utils.checkpoint import save_checkpoint_file
path = sys.argv[1]
save_checkpoint_file({'step': 1, 'w': torch.zeros(10)}, path)
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # die with the new bytes written, before the rename
save_checkpoint_file({'step': 2, 'w': torch.ones(100000)}, path)
"""


def test_process_killed_while_writing_leaves_previous_checkpoint(tmp_path):
    from tests.conftest import REPO_ROOT

    path = tmp_path / "latest.pth"
    proc = subprocess.run([sys.executable, "-c", KILL_WHILE_WRITING, str(path)], cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert load_local_checkpoint(path)["step"] == 1


def test_find_resumable_checkpoint(tmp_path):
    assert find_resumable_checkpoint(tmp_path / "missing") is None
    assert find_resumable_checkpoint(tmp_path) is None
    for name in ("epoch_9.pth", "epoch_10.pth", "best_acc_epoch_11.pth", ".epoch_12.pth.x.tmp"):
        (tmp_path / name).write_bytes(b"x")
    pointer = tmp_path / "last_checkpoint"
    pointer.write_text(str(tmp_path / "epoch_9.pth"))
    assert find_resumable_checkpoint(tmp_path) == str(tmp_path / "epoch_9.pth")  # what mmengine wrote wins
    for broken in ("", "  \n", str(tmp_path / "epoch_99.pth")):  # killed mid-rewrite, or a deleted file
        pointer.write_text(broken)
        assert find_resumable_checkpoint(tmp_path) == str(tmp_path / "epoch_10.pth")  # numeric, not by name
    pointer.unlink()
    assert find_resumable_checkpoint(tmp_path) == str(tmp_path / "epoch_10.pth")
