"""Cost of a StyleGAN2 training step with and without DynamicD, run by ``tools/benchmark.py gan-train``."""

from __future__ import annotations

import argparse
import copy
import os.path as osp
import statistics

import numpy as np
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

from gen3d.utils.benchmark import bench_device, device_label, flush_denormals, percentile, time_interleaved
from gen3d.utils.repo_paths import repo_file

GAN_CONFIGS = {
    "StyleGAN2 (plain D)": repo_file("configs/stylegan2/stylegan2_lite_1xb8-20kimg_lfw-faces-32.py"),
    "DynamicD increasing": repo_file("configs/dynamicd/dynamicd-increase_stylegan2-lite_1xb8-20kimg_lfw-faces-32.py"),
    "DynamicD decreasing": repo_file("configs/dynamicd/dynamicd-decrease_stylegan2-lite_1xb8-20kimg_lfw-faces-32.py"),
}
"""Default variants of ``tools/benchmark.py gan-train``: the 32-px demo config and its two DynamicD schedules
(genforce/dynamicd README: sufficient data grows D 0.5 -> 1.0, limited data shrinks it 1.0 -> 0.5 with random
channels)."""
GAN_COLUMNS = ("variant", "D width", "median s", "mean s", "p90 s", "img/s", "x plain D")
"""Printed columns of ``tools/benchmark.py gan-train``."""
ADAM = dict(lr=0.0025, betas=(0.0, 0.99), eps=1e-8)  # stylegan2-ada paper256 (spec gans.md section 2)


def face_batch(batch_size: int, resolution: int, channels: int) -> dict:
    """``batch_size`` LFW faces (``skimage.data.lfw_subset``) at ``resolution``, collated like the dataloader does."""
    import cv2

    from gen3d.datasets.gan_synthesis import lfw_faces

    faces = lfw_faces()[np.arange(batch_size) % 100]
    imgs = []
    for face in faces:
        img = cv2.resize(face, (resolution, resolution), interpolation=cv2.INTER_CUBIC)
        imgs.append(torch.from_numpy(img)[None].repeat(channels, 1, 1))
    return dict(inputs=imgs, data_samples=dict(gt_label=[-1] * batch_size, sample_idx=list(range(batch_size))))


def _optim(model: torch.nn.Module) -> OptimWrapperDict:
    return OptimWrapperDict(
        generator=OptimWrapper(torch.optim.Adam(model.generator.parameters(), **ADAM)),
        discriminator=OptimWrapper(torch.optim.Adam(model.discriminator.parameters(), **ADAM)))


def bench_gan_train(model_cfgs: dict[str, dict], batch_size: int = 8, rounds: int = 16, warmup: int = 2,
                    progress: float = 0.5, seed: int = 0, device: str | torch.device = "cpu") -> list[dict]:
    """One full StyleGAN2 ``train_step`` per call (G main, lazy PL, D main, lazy R1, EMA): plain D vs DynamicD.

    Every variant starts at iteration 0 and runs ``warmup + rounds`` steps in lock-step, so all of them do the
    same lazy-regularisation steps (PL every 4, R1 every 16 iterations with the defaults); ``rounds`` a multiple of
    16 averages a whole cycle. DynamicD masks weights but keeps every convolution full size (no FLOPs saved), so
    its cost is the masking itself (and the random channel draw of the decreasing schedule). On CPU the steps run
    with denormals flushed (:func:`~gen3d.utils.benchmark.flush_denormals`).

    Args:
        model_cfgs: ``{variant name: StyleGAN2 model config}``; the first is the baseline of the ratios.
        batch_size: Real images per step.
        rounds: Timed steps per variant (interleaved).
        warmup: Untimed steps per variant first.
        progress: Training progress in ``[0, 1]`` the DynamicD schedules are set to (ratio mid-way by default).
        seed: Seed of the models.
        device: ``'cpu'`` or ``'cuda'`` (:func:`gen3d.utils.benchmark.bench_device`).

    Returns:
        Table rows: variant, median / mean / p90 seconds per step, images/s (from the mean) and ``x plain D``
        (its mean step time over the plain one).
    """
    from gen3d.registry import MODELS

    dev = bench_device(device)
    variants, models = {}, {}
    for name, model_cfg in model_cfgs.items():
        cfg = copy.deepcopy(model_cfg)
        total = int(cfg.get("dynamic_d", {}).get("total_img", 0))
        torch.manual_seed(seed)
        model = MODELS.build(cfg).to(dev).train()
        gen = model.generator
        batch = face_batch(batch_size, int(gen.resolution), int(getattr(gen, "img_channels", 3)))
        model.seen_img.fill_(int(progress * total))  # where the schedule is: mid-way by default
        optim = _optim(model)
        models[name] = model
        variants[name] = (lambda m=model, o=optim, b=batch: m.train_step(b, o))
    with flush_denormals(dev):  # CPU: a fresh StyleGAN2's first steps run into denormals (10-100x slower)
        times = time_interleaved(variants, rounds=rounds, warmup=warmup, device=dev)
    base_mean = statistics.fmean(next(iter(times.values())))
    rows = []
    for name, ts in times.items():
        mean = statistics.fmean(ts)
        ratio = getattr(getattr(models[name], "discriminator", None), "ratio", None)
        dyn = model_cfgs[name].get("dynamic_d")
        label = name if dyn is None else f"{name} {dyn['start_ratio']}->{dyn['end_ratio']}"
        rows.append({"variant": label, "median s": statistics.median(ts), "mean s": mean, "p90 s": percentile(ts, 90),
                     "img/s": batch_size / mean, "x plain D": mean / base_mean,
                     "D width": "1.0" if ratio is None else f"{float(ratio):.2f}",
                     "threads": torch.get_num_threads(), "device": str(dev)})
    return rows


def gan_task(args: argparse.Namespace, device: torch.device) -> tuple[list[dict], str]:
    """``tools/benchmark.py gan-train``: :data:`GAN_CONFIGS` (or ``--config``) at ``--batch-size`` (default 8).

    Returns:
        The rows of :func:`bench_gan_train` and the printed title.
    """
    from gen3d.utils.config import load_config

    configs = GAN_CONFIGS if args.config is None else {osp.basename(args.config): args.config}
    bs = args.batch_size or 8
    rows = bench_gan_train({k: load_config(v).model.to_dict() for k, v in configs.items()}, bs, args.rounds,
                           device=device)
    return rows, (f"StyleGAN2 training step (G, lazy PL, D, lazy R1, EMA), batch {bs}, 32-px demo configs, "
                  f"{device_label(device)}")
