"""A tiny classifier, dataset, metric and hooks registered only inside the tests, to exercise the Runner."""

from __future__ import annotations

import os
import signal

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from gen3d.registry import DATASETS, HOOKS, METRICS, MODELS


@DATASETS.register_module(force=True)
class ToyDataset(Dataset):
    """``size`` random 3x8x8 images whose label is whether the mean of channel 0 is positive."""

    def __init__(self, data_root: str, size: int = 32, seed: int = 0) -> None:
        if not os.path.isdir(data_root):
            raise FileNotFoundError(data_root)
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, 3, 8, 8, generator=g)
        self.y = (self.x[:, 0].mean((1, 2)) > 0).long()
        self.metainfo = dict(classes=("neg", "pos"))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=self.x[i], labels=self.y[i])


@MODELS.register_module(force=True)
class ToyModel(BaseModel):
    """Conv + dropout + linear; dropout makes the result depend on the random stream."""

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.drop = nn.Dropout(p)
        self.fc = nn.Linear(4, 2)

    def forward(self, inputs, labels=None, mode="tensor"):
        logits = self.fc(self.drop(self.conv(inputs).relu().mean((2, 3))))
        if mode == "loss":
            return dict(loss=F.cross_entropy(logits, labels))
        if mode == "predict":
            return list(zip(logits.argmax(1), labels))
        return logits


@METRICS.register_module(force=True)
class ToyAccuracy(BaseMetric):
    default_prefix = "toy"

    def process(self, data_batch, data_samples):
        self.results.extend((int(p), int(t)) for p, t in data_samples)

    def compute_metrics(self, results):
        return dict(accuracy=sum(p == t for p, t in results) / max(len(results), 1))


@HOOKS.register_module(force=True)
class KillAtIterHook(Hook):
    """SIGKILL this process after the given global iteration (simulates a crash or a pre-empted job)."""

    def __init__(self, kill_at: int = -1) -> None:
        self.kill_at = kill_at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module(force=True)
class KillWhileSavingHook(Hook):
    """SIGKILL this process while the checkpoint of epoch ``kill_at`` is being written.

    The kill comes from the first ``os.fsync`` after ``before_save_checkpoint``: gen3d's atomic writer has written
    every byte to a temporary file then and not yet renamed it. A writer that opens the target and writes in place
    never calls ``fsync`` (the process is then not killed, which a test notices from the exit status).
    """

    def __init__(self, kill_at: int = -1) -> None:
        self.kill_at = kill_at

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint["meta"].get("epoch") == self.kill_at:
            os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
