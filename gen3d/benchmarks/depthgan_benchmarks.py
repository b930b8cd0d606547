"""DepthGAN training-iteration cost against a same-size StyleGAN2 (``tools/benchmark.py depthgan-train``).

DepthGAN: Shi et al., ECCV 2022, arXiv 2202.08553. Its appearance path is a StyleGAN2 generator, so the baseline is
the StyleGAN2 of :data:`STYLEGAN2_CONFIG` (that path's size: 64-d latents, 2-layer mapping, channels
``min(1024 // r, 64)``, RGB) with its own regularisers (lazy path length every 4, lazy R1 every 16 iterations). The
DepthGAN rows are the CPU model of :data:`DEPTHGAN_CONFIG` with all seven phases, and the same model with the
rotation losses off (``drot_weight = rgbrot_weight = 0``: two pair renders fewer), with the depth losses off
(``gdepth_weight = ddepth_weight = 0``: one render and two RGB-only D passes fewer), and with both off (adversarial
loss and lazy R1 only: the dual-path generator and the RGBD discriminator alone). The batches are the offline rooms
(:func:`gen3d.datasets.rooms_synthesis.sample_view`) rendered in memory, depth normalised from ``(0, far)`` to
``[-1, 1]`` as the rooms config's pipeline does; StyleGAN2 reads their RGB alone.
"""

from __future__ import annotations

import argparse
import copy
import statistics
from pathlib import Path

import torch

from gen3d.utils.benchmark import bench_device, device_label, flush_denormals, percentile, time_interleaved
from gen3d.utils.repo_paths import REPO_ROOT

DEPTHGAN_CONFIG = "configs/depthgan/depthgan_lite_1xb8-20kimg_rooms-32.py"
"""The CPU DepthGAN whose iteration is timed (model and its three optimizers)."""
STYLEGAN2_CONFIG = "configs/stylegan2/stylegan2_lite-rgb_1xb8-20kimg_rooms-32.py"
"""The same-size RGB StyleGAN2 baseline (model and optimizers)."""
STYLEGAN2_FALLBACK = ("configs/_base_/models/stylegan2_lite-32.py", "configs/_base_/schedules/stylegan2_adam_20kimg.py")
"""Model and schedule of the baseline where :data:`STYLEGAN2_CONFIG` is absent (G and D set to 3 channels)."""
RESOLUTIONS = (32,)
"""Image sides timed by default."""
BASELINE = "StyleGAN2"
VARIANTS = {
    "DepthGAN": {},
    "DepthGAN, no rotation losses": dict(drot_weight=0.0, rgbrot_weight=0.0),
    "DepthGAN, no depth losses": dict(gdepth_weight=0.0, ddepth_weight=0.0),
    "DepthGAN, adversarial + R1 only": dict(drot_weight=0.0, rgbrot_weight=0.0, gdepth_weight=0.0,
                                            ddepth_weight=0.0),
}
"""DepthGAN rows: ``{name: loss-weight overrides}``."""
LAZY_CYCLE = 16
"""Iterations of one cycle of the lazy regularisers (R1 every 16 in both models, StyleGAN2's PL every 4)."""
DEPTHGAN_COLUMNS = ("variant", "px", "median s", "mean s", "p90 s", "img/s", "x StyleGAN2")
"""Printed columns of ``tools/benchmark.py depthgan-train``."""


def _load(path: str) -> object:
    """``load_config`` of ``path``, relative to the working directory or else to the repository."""
    from gen3d.utils.config import load_config

    full = Path(path) if Path(path).is_file() else REPO_ROOT / path
    return load_config(str(full))


def rooms_batch(batch_size: int, size: int, seed: int = 0, with_depth: bool = True) -> dict:
    """Offline room views collated as the RGBD dataloader does (``PackRGBDInputs`` + ``pseudo_collate``), no files.

    Args:
        batch_size: ``N`` views (views ``0 .. N - 1`` of the set of ``seed``).
        size: Side ``R``.
        seed: Seed of the set.
        with_depth: Give each sample its ``depth``; False for the RGB-only StyleGAN2.

    Returns:
        ``{'inputs': [uint8 (3, R, R)] * N, 'data_samples': [{'depth': float (1, R, R) in [-1, 1], 'sample_idx'}]}``;
        ``GANDataPreprocessor`` stacks the depths as ``real_depth`` ``(N, 1, R, R)``.
    """
    from gen3d.datasets.rooms_synthesis import DEPTH_FAR, sample_view
    from gen3d.datasets.transforms.rgbd_transforms import normalise_metric_depth

    inputs, samples = [], []
    for i in range(batch_size):
        view, _ = sample_view(seed, i, size)
        inputs.append(torch.from_numpy(view.image.copy()).permute(2, 0, 1).contiguous())
        sample: dict = {"sample_idx": i}
        if with_depth:
            sample["depth"] = torch.from_numpy(normalise_metric_depth(view.depth, (0.0, DEPTH_FAR)))[None].float()
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}


def depthgan_at(model_cfg: dict, px: int, **weights: float) -> dict:
    """A DepthGAN config re-sized to ``px``: G and D ``resolution``, D's depth-head taps, the warp's focal length.

    Args:
        model_cfg: A ``DepthGAN`` config.
        px: Image side (a power of 2, >= 8).
        **weights: Loss-weight overrides (``drot_weight`` ...).

    Returns:
        A new config: the taps kept are those ``<= px`` (8 at least), ``warp_focal`` scaled by ``px`` over the
        generator's resolution (the same field of view).
    """
    cfg = copy.deepcopy(model_cfg)
    old = int(cfg["generator"]["resolution"])
    taps = tuple(t for t in cfg["discriminator"].get("depth_head_resolutions", (32, 16, 8)) if t <= px) or (8,)
    cfg["generator"] = dict(cfg["generator"], resolution=px)
    cfg["discriminator"] = dict(cfg["discriminator"], resolution=px, depth_head_resolutions=taps)
    if "warp_focal" in cfg:
        cfg["warp_focal"] = float(cfg["warp_focal"]) * px / old
    cfg.update(weights)
    return cfg


def stylegan2_at(model_cfg: dict, px: int) -> dict:
    """A StyleGAN2 config with G and D at ``px`` (a new dict)."""
    cfg = copy.deepcopy(model_cfg)
    cfg["generator"] = dict(cfg["generator"], resolution=px)
    cfg["discriminator"] = dict(cfg["discriminator"], resolution=px)
    return cfg


def bench_depthgan_train(depthgan_cfg: dict, stylegan2_cfg: dict, resolutions: tuple[int, ...] = RESOLUTIONS,
                         batch_size: int = 8, rounds: int = 16, warmup: int = 2, depthgan_optim: dict | None = None,
                         stylegan2_optim: dict | None = None, seed: int = 0,
                         device: str | torch.device = "cpu") -> list[dict]:
    """One full ``train_step`` per call: StyleGAN2 (G, lazy PL, D, lazy R1, EMA) vs DepthGAN and its variants.

    Every variant (model x side) starts at iteration 0 and runs ``warmup + rounds`` steps in lock-step
    (:func:`time_interleaved`), so all do their lazy regularisers at the same iterations; with ``warmup + rounds``
    covering whole :data:`LAZY_CYCLE` cycles from a cycle start (the default ``rounds`` 16 after 2 warm-up steps times
    iterations 2 .. 17: one R1 iteration, four PL ones), ``mean s`` is the cost per iteration of a training run, the
    figure the ratios use; ``median s`` is the typical iteration without R1. On CPU the steps run with denormals
    flushed to zero (``torch.set_flush_denormal``, turned off again after): a fresh StyleGAN2 otherwise spends its
    first ~8 steps in subnormal arithmetic, seconds each, which a 2500-iteration run does not see.

    Args:
        depthgan_cfg: A ``DepthGAN`` config (re-sized by :func:`depthgan_at`).
        stylegan2_cfg: The ``StyleGAN2`` baseline config (re-sized by :func:`stylegan2_at`), RGB.
        resolutions: Sides to time.
        batch_size: ``B`` real images per step.
        rounds: Timed steps per variant (interleaved).
        warmup: Untimed steps per variant first.
        depthgan_optim: ``MultiOptimWrapperConstructor`` config with ``generator_depth``, ``generator_rgb`` and
            ``discriminator`` (default: :data:`DEPTHGAN_CONFIG`'s ``optim_wrapper``).
        stylegan2_optim: The same with ``generator`` and ``discriminator`` (default: the baseline config's).
        seed: Seed of the models.
        device: ``'cpu'`` or ``'cuda'``.

    Returns:
        Table rows: variant, px, median / mean / p90 seconds per step, ``img/s`` (``B`` over the mean), ``x StyleGAN2``
        (mean step time over the StyleGAN2 one at the same side) and, in the JSON, ``r1_iters`` (timed R1 steps).
    """
    from gen3d.engine.optim_wrappers import MultiOptimWrapperConstructor
    from gen3d.registry import MODELS

    dev = bench_device(device)
    if depthgan_optim is None:
        depthgan_optim = _load(DEPTHGAN_CONFIG).optim_wrapper.to_dict()
    if stylegan2_optim is None:
        stylegan2_optim = _stylegan2_baseline()[1]
    variants, intervals = {}, {}
    for px in resolutions:
        batches = {True: rooms_batch(batch_size, px, seed), False: rooms_batch(batch_size, px, seed, False)}
        cfgs = {BASELINE: (stylegan2_at(stylegan2_cfg, px), stylegan2_optim, False)}
        cfgs.update({k: (depthgan_at(depthgan_cfg, px, **w), depthgan_optim, True) for k, w in VARIANTS.items()})
        for name, (model_cfg, optim_cfg, depth) in cfgs.items():
            torch.manual_seed(seed)
            model = MODELS.build(model_cfg).to(dev).train()
            optim = MultiOptimWrapperConstructor({k: v for k, v in copy.deepcopy(optim_cfg).items()
                                                  if k != "constructor"})(model)
            intervals[f"{name}|{px}"] = int(model.r1_interval)
            variants[f"{name}|{px}"] = (lambda m=model, o=optim, b=batches[depth]: m.train_step(b, o))
    with flush_denormals(dev):  # CPU: a fresh StyleGAN2's first steps run into denormals (10-100x slower)
        times = time_interleaved(variants, rounds=rounds, warmup=warmup, device=dev)
    rows = []
    for key, ts in times.items():
        name, px = key.split("|")[0], int(key.split("|")[1])
        mean = statistics.fmean(ts)
        r1 = sum((warmup + i) % intervals[key] == 0 for i in range(rounds))
        rows.append({"variant": name, "px": px, "median s": statistics.median(ts), "mean s": mean,
                     "p90 s": percentile(ts, 90), "img/s": batch_size / mean,
                     "x StyleGAN2": mean / statistics.fmean(times[f"{BASELINE}|{px}"]), "r1_iters": r1,
                     "batch": batch_size, "threads": torch.get_num_threads(), "device": str(dev)})
    return rows


def _stylegan2_baseline() -> tuple[dict, dict]:
    """``(model, optim_wrapper)`` of :data:`STYLEGAN2_CONFIG`, or of :data:`STYLEGAN2_FALLBACK` at 3 channels."""
    if (REPO_ROOT / STYLEGAN2_CONFIG).is_file():
        cfg = _load(STYLEGAN2_CONFIG)
        return cfg.model.to_dict(), cfg.optim_wrapper.to_dict()
    model = _load(STYLEGAN2_FALLBACK[0]).model.to_dict()
    model["generator"]["img_channels"] = model["discriminator"]["img_channels"] = 3
    return model, _load(STYLEGAN2_FALLBACK[1]).optim_wrapper.to_dict()


def depthgan_train_task(args: argparse.Namespace, device: torch.device) -> tuple[list[dict], str]:
    """``tools/benchmark.py depthgan-train``: :func:`bench_depthgan_train`, ``--batch-size`` (default 8).

    ``--config`` replaces the DepthGAN config (model and ``optim_wrapper``); the sides are ``args.resolution``
    where the tool has that option, else :data:`RESOLUTIONS`.

    Returns:
        The rows and the printed title (with the note on the lazy regularisers).
    """
    cfg = _load(args.config or DEPTHGAN_CONFIG)
    sg2_model, sg2_optim = _stylegan2_baseline()
    bs = args.batch_size or 8
    sides = getattr(args, "resolution", None) or RESOLUTIONS
    sides = (sides,) if isinstance(sides, int) else tuple(sides)
    warmup = 2
    rows = bench_depthgan_train(cfg.model.to_dict(), sg2_model, sides, bs, args.rounds, warmup,
                                depthgan_optim=cfg.optim_wrapper.to_dict(), stylegan2_optim=sg2_optim, device=device)
    note = (f"means over {args.rounds // LAZY_CYCLE} whole {LAZY_CYCLE}-iteration R1 cycle(s)"
            if args.rounds % LAZY_CYCLE == 0 else
            f"--rounds {args.rounds} is not a multiple of {LAZY_CYCLE}: R1/PL steps not in proportion")
    return rows, (f"DepthGAN training iteration (7 phases, lazy R1 every 16) vs StyleGAN2 of its RGB path's size "
                  f"(lazy PL every 4, R1 every 16), batch {bs}, {Path(args.config or DEPTHGAN_CONFIG).name}, "
                  f"{device_label(device)}\n({note}; img/s and x StyleGAN2 from the means, median = a typical "
                  "iteration without a lazy regulariser; CPU: denormals flushed)")
