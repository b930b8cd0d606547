"""PadInv's claim at demo scale (Bai et al., ECCV'22, arXiv 2203.11105): W+ + padding vs W+ only, same budget.

:func:`run_padinv_comparison` (part of ``make demo-editing``):

1. writes the 100 offline LFW faces (:func:`gen3d.datasets.gan_synthesis.build_gan_demo_dataset`, grey, 32 px)
   with :data:`N_HOLDOUT` of them drawn (seed :data:`SPLIT_SEED`) into ``holdout/``: neither the generator nor the
   encoders ever see those;
2. without a ``generator_ckpt``, trains the 32-px faces StyleGAN2 (``configs/stylegan2/...lfw-faces-32.py``) on the
   other 80 for ``g_iters`` iterations (no validation: nothing here needs its FID);
3. trains the two encoders of ``configs/padinv/`` (W+ only, W+ + padding) against the frozen EMA generator with
   the SAME budget: ``iters`` iterations of batch 8, the same seed (so the same data order and flips, and the same
   initial W+ weights: the padding head is built after them), the same loss and optimizer;
4. reconstructs the held-out and the training faces (no flip) and reports MSE (on ``[-1, 1]``), PSNR, SSIM, and
   the MSE on the outer :data:`BORDER` px ring vs the interior (the padding maps act on the borders of the
   feature maps); LPIPS / ID are not reported (no offline weights);
5. writes ``compare_padinv.png``: held-out input | W+ reconstruction | W+ + padding reconstruction, one face a row.

Time (one thread on a shared 2-core machine): 261-412 s with the defaults (G 800 iterations: 168-311 s; encoders
300 iterations: 30-35 s W+, 56-67 s W+ + padding); the encoders scale linearly with ``iters`` (800: 195-216 s for
both). Measured outcome and its budget dependence: ``configs/padinv/README.md``.
"""

from __future__ import annotations

import glob
import os.path as osp
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gen3d.utils.repo_paths import repo_file

FACES_CONFIG = repo_file("configs/stylegan2/stylegan2_lite_1xb8-20kimg_lfw-faces-32.py")
CONFIGS = {"W+": repo_file("configs/padinv/padinv-wplus_light_1xb8-16kimg_lfw-faces-32.py"),
           "W+ + padding": repo_file("configs/padinv/padinv_light_1xb8-16kimg_lfw-faces-32.py")}
N_HOLDOUT = 20
SPLIT_SEED = 0
BORDER = 4
G_ITERS = 800
ITERS = 300
NUM_PICTURE = 8


def _quiet_options(work_dir: str, iters: int, seed: int) -> dict[str, Any]:
    return {"train_cfg.max_iters": iters, "val_cfg": None, "val_dataloader": None, "val_evaluator": None,
            "default_hooks.checkpoint.interval": iters, "default_hooks.checkpoint.max_keep_ckpts": 1,
            "default_hooks.logger.interval": max(1, iters // 4), "log_processor.window_size": max(1, iters // 4),
            "randomness.seed": int(seed)}


def _train(config: str, work_dir: str, data_root: str, options: dict[str, Any]) -> tuple[Any, float]:
    """Train ``config`` with the Runner; returns ``(runner, seconds)``."""
    import gen3d.evaluation.metrics.reconstruction  # noqa: F401 - registers ReconstructionMetric
    import gen3d.models.editing.padinv  # noqa: F401 - registers PadInv
    from gen3d.engine import Runner
    from gen3d.engine.launch import build_train_config

    cfg = build_train_config(config, work_dir, data_root, cfg_options=options)
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner, round(time.perf_counter() - start, 1)


def load_faces(folder: str) -> Tensor:
    """The grey PNGs of ``folder`` (sorted) as ``(N, 1, H, W)`` float in ``[-1, 1]``."""
    import cv2

    paths = sorted(glob.glob(osp.join(folder, "*.png")))
    if not paths:
        raise FileNotFoundError(f"no PNG faces in {folder}")
    imgs = np.stack([cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in paths])
    return torch.from_numpy(imgs).float()[:, None] / 127.5 - 1


@torch.no_grad()
def evaluate(model: torch.nn.Module, faces: Tensor, batch: int = 20) -> tuple[dict[str, float], Tensor]:
    """Mean MSE / PSNR / SSIM and border / interior MSE of ``model``'s reconstructions of ``faces (N, 1, R, R)``.

    Returns:
        ``(metrics, reconstructions (N, 1, R, R) clamped to [-1, 1])``.
    """
    from gen3d.evaluation.metrics.reconstruction import mse, psnr, ssim

    model.eval()
    recon = torch.cat([model.reconstruct(faces[i:i + batch]).clamp(-1, 1) for i in range(0, len(faces), batch)])
    ring = torch.ones_like(faces[0, 0], dtype=torch.bool)
    ring[BORDER:-BORDER, BORDER:-BORDER] = False
    err = (recon.double() - faces.double()).square()[:, 0]
    out = {"mse": mse(recon, faces).mean(), "psnr": psnr(recon, faces).mean(), "ssim": ssim(recon, faces).mean(),
           f"mse_border{BORDER}": err[:, ring].mean(), "mse_interior": err[:, ~ring].mean()}
    return {k: round(float(v), 5) for k, v in out.items()}, recon


def _uint8_rgb(x: Tensor) -> np.ndarray:
    img = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).expand(-1, 3, -1, -1)
    return img.permute(0, 2, 3, 1).numpy()


def run_padinv_comparison(work_dir: str, generator_ckpt: str | None = None, iters: int = ITERS, seed: int = 0,
                          threads: int = 1, g_iters: int = G_ITERS) -> dict[str, Any]:
    """The comparison of the module docstring.

    Args:
        work_dir: Output folder (``data/``, ``stylegan2/``, one folder per encoder, ``compare_padinv.png``).
        generator_ckpt: A 32-px grey faces StyleGAN2 checkpoint; None trains one here on the 80 training faces (a
            given one may have seen the held-out faces, e.g. ``make demo-gan``'s, trained on all 100).
        iters: Encoder iterations (batch 8) of EACH encoder.
        seed: ``randomness.seed`` of every run here.
        threads: torch intra-op threads.
        g_iters: Generator iterations when it is trained here.

    Returns:
        ``{'W+': {'heldout': metrics, 'train': metrics, 'train_s'}, 'W+ + padding': {...}, 'generator': {...},
        'picture': path, 'iters', 'seed', 'n_heldout', 'n_train', 'seconds'}``.
    """
    from gen3d.datasets.gan_synthesis import build_gan_demo_dataset
    from gen3d.demos.gan3d_demo import save_side_by_side

    torch.set_num_threads(int(threads))
    start = time.perf_counter()
    data = build_gan_demo_dataset(osp.join(work_dir, "data", "lfw-faces"), resolution=32, n_holdout=N_HOLDOUT,
                                  channels=1, seed=SPLIT_SEED)
    train_root, heldout_root = str(data / "train"), str(data / "holdout")
    generator: dict[str, Any] = {"checkpoint": generator_ckpt, "trained_here": generator_ckpt is None}
    if generator_ckpt is None:
        g_dir = osp.join(work_dir, "stylegan2")
        _, generator["train_s"] = _train(FACES_CONFIG, g_dir, train_root, _quiet_options(g_dir, g_iters, seed))
        generator.update(checkpoint=osp.join(g_dir, f"iter_{g_iters}.pth"), iters=g_iters)
    faces = {"heldout": load_faces(heldout_root), "train": load_faces(train_root)}
    results: dict[str, Any] = {"generator": generator}
    recons = {}
    for name, config in CONFIGS.items():
        sub = osp.join(work_dir, "wplus" if name == "W+" else "wplus_padding")
        options = {**_quiet_options(sub, iters, seed), "model.generator_ckpt": generator["checkpoint"]}
        runner, train_s = _train(config, sub, train_root, options)
        model = runner.model
        res: dict[str, Any] = {"train_s": train_s, "checkpoint": osp.join(sub, f"iter_{iters}.pth")}
        for split, imgs in faces.items():
            res[split], recon = evaluate(model, imgs)
            if split == "heldout":
                recons[name] = recon[:NUM_PICTURE]
        results[name] = res
    panels = [_uint8_rgb(faces["heldout"][:NUM_PICTURE])] + [_uint8_rgb(r) for r in recons.values()]
    results["picture"] = save_side_by_side(panels, osp.join(work_dir, "compare_padinv.png"))
    results.update(iters=iters, seed=seed, n_heldout=len(faces["heldout"]), n_train=len(faces["train"]),
                   seconds=round(time.perf_counter() - start, 1))
    return results


def format_padinv_table(results: dict[str, Any]) -> str:
    """One row per encoder and split: MSE, PSNR, SSIM, border / interior MSE; plus the budget line."""
    names = [n for n in CONFIGS if n in results]
    keys = list(results[names[0]]["heldout"]) if names else []
    header = ["encoder", "faces"] + keys
    rows = [[n, f"{split} ({results.get('n_' + split, '?')})"] + [f"{results[n][split][k]:.4f}" for k in keys]
            for split in ("heldout", "train") for n in names]
    widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]
    gen = results.get("generator", {})
    budget = (f"{results.get('iters')} iterations x 8 images per encoder, seed {results.get('seed')}; generator: "
              + (f"trained here, {gen.get('iters')} iterations ({gen.get('train_s')} s)" if gen.get("trained_here")
                 else f"{gen.get('checkpoint')}")
              + "; train s: " + ", ".join(f"{n} {results[n]['train_s']}" for n in names)
              + f"; total {results.get('seconds')} s. MSE on [-1, 1], PSNR in dB: lower MSE, higher PSNR / SSIM is "
              "better.")
    return "\n".join(lines + [budget])
