"""Tiny GAN test data and a hook that checks distributed ranks hold identical networks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine.dist import all_gather, get_world_size
from mmengine.hooks import Hook

from gen3d.registry import HOOKS


def write_image_folder(root: Path, num: int = 8, size: int = 16, seed: int = 0) -> Path:
    """Write ``num`` random ``size x size`` RGB PNGs (smooth blobs) under ``root`` and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(num):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        cv2.imwrite(str(root / f"img_{i:03d}.png"), cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR))
    return root


@HOOKS.register_module(force=True)
class AssertRanksInSyncHook(Hook):
    """After training, fail unless every rank holds the same G, D, G_ema and buffers (checksums all-gathered)."""

    def after_train(self, runner) -> None:  # noqa: D102
        if get_world_size() == 1:
            return
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        sums = torch.stack([t.detach().double().sum() for t in model.state_dict().values() if t.is_floating_point()])
        gathered = all_gather(sums)
        for other in gathered[1:]:
            if not torch.equal(gathered[0], other):
                raise AssertionError(f"ranks diverged: max checksum difference {(gathered[0] - other).abs().max()}")
        runner.logger.info(f"ranks in sync: {len(sums)} tensors identical on {len(gathered)} ranks")
