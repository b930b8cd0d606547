"""After every validation of a GAN: a sample grid from fixed latents and one row of the metric curve.

Writes, under ``out_dir`` (default ``<work_dir>/samples``)::

    iter_000500.png    grid of ``generator_ema`` samples, the same latents every time (constant noise)
    metrics.csv        iter, kimg, then every validation metric (one row per validation)

With ``eval_at_start`` the validation also runs once before the first iteration, so the curve starts at the
untrained generator.
"""

from __future__ import annotations

import csv
import os
import os.path as osp
from typing import Any

import torch
from mmengine.hooks import Hook

from gen3d.registry import HOOKS


@HOOKS.register_module()
class GANSampleHook(Hook):
    """Sample grid and metric row per validation (see the module docstring).

    Args:
        num_samples: Images in the grid.
        nrow: Grid images per row (None: square).
        seed: Seed of the grid latents.
        truncation_psi: Truncation of the grid samples.
        out_dir: Output folder; None is ``<work_dir>/samples``.
        eval_at_start: Run the validation loop once before training.
    """

    priority = "LOW"

    def __init__(self, num_samples: int = 64, nrow: int | None = None, seed: int = 0, truncation_psi: float = 1.0,
                 out_dir: str | None = None, eval_at_start: bool = True) -> None:
        self.num_samples, self.nrow, self.seed = int(num_samples), nrow, int(seed)
        self.truncation_psi = float(truncation_psi)
        self.out_dir = out_dir
        self.eval_at_start = bool(eval_at_start)
        self.rows: list[dict[str, Any]] = []

    def _dir(self, runner: Any) -> str:
        path = self.out_dir or osp.join(runner.work_dir, "samples")
        os.makedirs(path, exist_ok=True)
        return path

    def before_train(self, runner: Any) -> None:
        """Validate the untrained generator first (when ``eval_at_start`` and a validation loop exists)."""
        if self.eval_at_start and runner.iter == 0 and runner.val_loop is not None:
            runner.val_loop.run()

    @torch.no_grad()
    def after_val_epoch(self, runner: Any, metrics: dict[str, float] | None = None) -> None:
        """Write the grid of this validation and append the metrics to ``metrics.csv``."""
        from gen3d.models.gans.sampling import cycle_classes, generate, seed_latents, seed_poses
        from gen3d.runtime.generation import write_grid

        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        gen = getattr(model, "generator_ema", None)
        if gen is None:
            return
        out = self._dir(runner)
        seeds = range(self.seed, self.seed + self.num_samples)
        z = seed_latents(seeds, int(gen.z_dim))
        c = cycle_classes(int(gen.c_dim), self.num_samples)  # conditional: cycle through the classes
        images = generate(gen, z, c, self.truncation_psi, pose=seed_poses(gen, seeds))  # 3D-aware: seeded poses
        write_grid(osp.join(out, f"iter_{runner.iter:06d}.png"), images.numpy().transpose(0, 2, 3, 1), self.nrow)
        seen = getattr(model, "seen_img", None)
        row = {"iter": int(runner.iter), "kimg": None if seen is None else round(float(seen) / 1000, 3)}
        row.update({k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))})
        self.rows.append(row)
        from gen3d.runtime.writers import csv_row

        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        with open(osp.join(out, "metrics.csv"), "w", newline="") as f:  # numbers stay numbers; names neutralised
            writer = csv.writer(f)
            writer.writerow(csv_row(keys))
            writer.writerows(csv_row(r.get(k) for k in keys) for r in self.rows)
