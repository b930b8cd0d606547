"""pi-GAN render and training-step cost at 32 and 64 px, with and without GeoD (``tools/benchmark.py render``).

``tools/benchmark.py render`` times the generator, ``tools/benchmark.py pigan-train`` the training step. pi-GAN:
Chan et al. 2021, arXiv 2012.00926; GeoD: Shi et al. 2022, arXiv 2209.15637. The model is the CPU pi-GAN of
:data:`PIGAN_MODEL_CONFIG` (SIREN 4 x 64, 12 coarse + 12 fine samples per ray) re-sized to each resolution: the
generator's ``img_resolution``, the discriminator's ``img_resolution`` (a 64-px D has one level more) and a
one-stage curriculum at that side, faded in (``alpha = 1``). GeoD adds the ``geod`` block of :data:`GEOD_CONFIG`
(a geometry head on D trained on the dataset's true normals, and G's normal loss). Figures are throughput: ``img/s``
is images per second from the mean time per call and ``rays/s`` is ``img/s x H x W``; the ratios are taken within
one interleaved run (:func:`gen3d.utils.benchmark.time_interleaved`), because the machines are noisy.
"""

from __future__ import annotations

import argparse
import copy
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from gen3d.utils.benchmark import bench_device, device_label, flush_denormals, percentile, time_interleaved
from gen3d.utils.repo_paths import REPO_ROOT

if TYPE_CHECKING:
    from mmengine.config import Config

PIGAN_MODEL_CONFIG = "configs/_base_/models/pigan_siren-64x4-32.py"
"""The CPU pi-GAN whose generator and discriminator are timed."""
GEOD_CONFIG = "configs/geod/geod_pigan-siren-64x4_1xb8-4kimg_shape3d-32.py"
"""Its ``model.geod`` (``DatasetGeometry`` source, normals) is the GeoD variant's."""
SCHEDULE_CONFIG = "configs/_base_/schedules/pigan_adam.py"
"""pi-GAN's Adam optimizers (betas (0, 0.9), G 6e-5, D 2e-4, clip 10): the ``optim_wrapper`` of the train steps."""
RESOLUTIONS = (32, 64)
"""Image sides timed by default; the first is the baseline of ``render``'s ratios."""
RENDER_COLUMNS = ("variant", "px", "samples/ray", "median s", "p90 s", "img/s", "rays/s", "x time", "x rays/s")
"""Printed columns of ``tools/benchmark.py render``."""
PIGAN_COLUMNS = ("variant", "px", "median s", "p90 s", "img/s", "rays/s", "x pi-GAN")
"""Printed columns of ``tools/benchmark.py pigan-train``."""


def _load(path: str) -> Config:
    """``load_config`` of ``path``, relative to the working directory or else to the repository."""
    from gen3d.utils.config import load_config

    full = Path(path) if Path(path).is_file() else REPO_ROOT / path
    return load_config(str(full))


def posed_batch(batch_size: int, size: int, seed: int = 0) -> dict:
    """Offline 3D views with their true geometry, packed and collated as the posed-image dataloader does.

    Views ``0 .. batch_size - 1`` of :func:`gen3d.datasets.shape3d_synthesis.sample_view` (the set of ``seed``), each
    through ``PackPoseInputs`` (what ``PoseImageDataset``'s pipeline ends with, without the files and the flip),
    batched by mmengine's ``pseudo_collate`` (the runner's default).

    Args:
        batch_size: ``N`` views.
        size: Side ``R`` of the views.
        seed: Seed of the set.

    Returns:
        ``{'inputs': [uint8 (3, R, R)] * N, 'data_samples': {'pose': [(2,)], 'depth': [(1, R, R)], 'normal':
        [(3, R, R)], 'mask': [(1, R, R)], ...}}``; ``GANDataPreprocessor`` turns it into ``real_pose``,
        ``real_depth``, ``real_normal`` and ``real_mask``.
    """
    import numpy as np
    from mmengine.dataset import pseudo_collate

    from gen3d.datasets.shape3d_synthesis import sample_view
    from gen3d.datasets.transforms.pose_transforms import POSE_KEYS, PackPoseInputs

    pack = PackPoseInputs()
    samples = []
    for i in range(batch_size):
        view, pose = sample_view(seed, i, size)
        results = dict(img=view.image, depth=view.depth, normal=view.normal, mask=view.mask.astype(np.float32),
                       img_path=f"shape3d_{i:05d}.png", sample_idx=i, **{k: pose[k] for k in POSE_KEYS})
        samples.append(pack(results))
    return pseudo_collate(samples)


def pigan_at(model_cfg: dict, px: int, batch_size: int, geod: dict | None = None) -> dict:
    """A PiGAN model config re-sized to ``px``: G and D ``img_resolution`` and one faded-in curriculum stage.

    Args:
        model_cfg: A ``PiGAN`` config; its last curriculum stage gives the samples per ray, lr and batch split.
        px: Image side (a power of 2, >= 4, for the discriminator).
        batch_size: Images per step (the stage's ``batch_size``).
        geod: The ``geod`` block (None: plain pi-GAN, whatever ``model_cfg`` holds).

    Returns:
        A new config.
    """
    cfg = copy.deepcopy(model_cfg)
    stage = dict((cfg.get("curriculum") or [{}])[-1])
    stage.update(start_iter=0, resolution=px, batch_size=batch_size, fade_steps=0)
    cfg.update(curriculum=[stage], geod=copy.deepcopy(geod))
    cfg["generator"] = dict(cfg["generator"], img_resolution=px)
    cfg["discriminator"] = dict(cfg["discriminator"], img_resolution=px)
    return cfg


def bench_render(generator_cfg: dict, resolutions: tuple[int, ...] = RESOLUTIONS, batch_size: int = 8,
                 rounds: int = 8, warmup: int = 2, seed: int = 0, device: str | torch.device = "cpu") -> list[dict]:
    """The pi-GAN generator's forward under ``torch.no_grad`` (mapping, coarse + fine samples, compositing, normals).

    One generator per side, the same weights (seed); each call renders ``batch_size`` fixed latents at fixed poses
    drawn from the generator's pose distribution, with its default ``noise_mode='random'`` (jittered coarse depths,
    random fine ones, as pi-GAN renders) and no density noise. GeoD does not change this forward (the normals are
    computed from the depth map either way), so there is no GeoD row.

    Args:
        generator_cfg: A ``PiGANGenerator`` config (its ``img_resolution`` is replaced).
        resolutions: Sides to time; the first is the baseline of the ratios.
        batch_size: ``B`` images per call.
        rounds: Timed calls per side (interleaved).
        warmup: Untimed calls per side first.
        seed: Seed of the weights, latents and poses.
        device: ``'cpu'`` or ``'cuda'`` (:func:`gen3d.utils.benchmark.bench_device`).

    Returns:
        Table rows: variant, px, samples per ray, median / mean / p90 seconds per call, ``img/s`` (``B`` over the
        mean), ``rays/s`` (``B x px^2`` over the mean), ``x time`` (mean time over the first side's) and ``x rays/s``
        (rays/s over the first side's).
    """
    from gen3d.registry import MODELS

    dev = bench_device(device)
    variants, samples = {}, {}
    for px in resolutions:  # keyed "<px> px"
        torch.manual_seed(seed)
        gen = MODELS.build(dict(generator_cfg, img_resolution=px)).to(dev).eval()
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(batch_size, gen.z_dim, generator=g).to(dev)
        pose = gen.sample_pose(batch_size, generator=g).to(dev)
        r = gen.renderer
        samples[px] = r.num_steps + (r.num_fine if r.hierarchical else 0)

        def render(gen: torch.nn.Module = gen, z: torch.Tensor = z, pose: torch.Tensor = pose) -> None:
            with torch.no_grad():
                gen(z, None, pose)

        variants[f"{px} px"] = render
    times = time_interleaved(variants, rounds=rounds, warmup=warmup, device=dev)
    base = statistics.fmean(times[f"{resolutions[0]} px"])
    rows = []
    for px, ts in zip(resolutions, times.values()):
        mean = statistics.fmean(ts)
        rows.append({"variant": "render", "px": px, "samples/ray": samples[px], "median s": statistics.median(ts),
                     "mean s": mean, "p90 s": percentile(ts, 90), "img/s": batch_size / mean,
                     "rays/s": batch_size * px * px / mean, "x time": mean / base,
                     "x rays/s": base * px * px / (mean * resolutions[0] ** 2), "batch": batch_size,
                     "threads": torch.get_num_threads(), "device": str(dev)})
    return rows


def bench_pigan_train(model_cfg: dict, geod: dict, resolutions: tuple[int, ...] = RESOLUTIONS, batch_size: int = 8,
                      rounds: int = 4, warmup: int = 1, optim_cfg: dict | None = None, seed: int = 0,
                      device: str | torch.device = "cpu") -> list[dict]:
    """One full ``PiGAN.train_step`` per call (D + R1 + pose loss, G with top-k, EMA): plain pi-GAN vs GeoD.

    Every variant (model x side, :func:`pigan_at`) takes its own :func:`posed_batch` (true normals and masks, which
    GeoD's ``DatasetGeometry`` reads) and starts at the same images seen: mid-way through GeoD's G-weight ramp, so
    its G normal loss is on in every step (its D geometry loss always is). R1 runs every step (``r1_interval`` 1, as
    pi-GAN); the D and G phases each render ``batch_size`` fakes.

    Args:
        model_cfg: A ``PiGAN`` config (its own ``geod`` is ignored).
        geod: The ``geod`` block of the GeoD variant.
        resolutions: Sides to time.
        batch_size: ``B`` real images per step.
        rounds: Timed steps per variant (interleaved).
        warmup: Untimed steps per variant first.
        optim_cfg: ``MultiOptimWrapperConstructor`` config (default: ``optim_wrapper`` of :data:`SCHEDULE_CONFIG`).
        seed: Seed of the models and batches.
        device: ``'cpu'`` or ``'cuda'``.

    Returns:
        Table rows: variant (``'pi-GAN'`` / ``'GeoD'``), px, median / mean / p90 seconds per step, ``img/s``
        (``B`` over the mean), ``rays/s`` (``B x px^2`` over the mean) and ``x pi-GAN`` (mean step time over the
        plain pi-GAN's at the same side).
    """
    from gen3d.engine.optim_wrappers import MultiOptimWrapperConstructor
    from gen3d.registry import MODELS

    dev = bench_device(device)
    if optim_cfg is None:
        optim_cfg = _load(SCHEDULE_CONFIG).optim_wrapper.to_dict()
    optim_cfg = {k: v for k, v in optim_cfg.items() if k != "constructor"}
    ramp = geod.get("ramp_kimg") or (0.0, 0.0)
    seen = int(500 * (float(ramp[0]) + max(float(ramp[-1]), float(ramp[0]))))  # mid-ramp, in images
    variants, models = {}, {}
    for px in resolutions:
        batch = posed_batch(batch_size, px, seed)
        for name, block in (("pi-GAN", None), ("GeoD", geod)):
            torch.manual_seed(seed)
            model = MODELS.build(pigan_at(model_cfg, px, batch_size, block)).to(dev).train()
            model.seen_img.fill_(seen)
            model.train_iter.fill_(seen // batch_size)
            optim = MultiOptimWrapperConstructor(copy.deepcopy(optim_cfg))(model)
            models[f"{name} {px} px"] = model
            variants[f"{name} {px} px"] = (lambda m=model, o=optim, b=batch: m.train_step(b, o))
    with flush_denormals(dev):  # CPU: a fresh GAN's first steps can run in subnormal arithmetic
        times = time_interleaved(variants, rounds=rounds, warmup=warmup, device=dev)
    rows = []
    for key, ts in times.items():
        name, px = key.split()[0], int(key.split()[1])
        mean = statistics.fmean(ts)
        row = {"variant": name, "px": px, "median s": statistics.median(ts), "mean s": mean,
               "p90 s": percentile(ts, 90), "img/s": batch_size / mean, "rays/s": batch_size * px * px / mean,
               "x pi-GAN": mean / statistics.fmean(times[f"pi-GAN {px} px"]), "batch": batch_size,
               "threads": torch.get_num_threads(), "device": str(dev)}
        if name == "GeoD":
            row["geod_weight"] = models[key]._geod_weight()
        rows.append(row)
    return rows


def _model_and_geod(config: str | None) -> tuple[dict, dict, dict | None]:
    """``(model, geod, optim_wrapper or None)`` of ``--config`` (default :data:`PIGAN_MODEL_CONFIG`)."""
    cfg = _load(config or PIGAN_MODEL_CONFIG)
    model = cfg.model.to_dict()
    geod = model.pop("geod", None) or _load(GEOD_CONFIG).model.geod.to_dict()
    optim = cfg.get("optim_wrapper")
    return model, geod, None if optim is None else optim.to_dict()


def render_task(args: argparse.Namespace, device: torch.device) -> tuple[list[dict], str]:
    """``tools/benchmark.py render``: :func:`bench_render` at 32 and 64 px, ``--batch-size`` (default 8).

    Returns:
        The rows and the printed title.
    """
    model, _, _ = _model_and_geod(args.config)
    bs = args.batch_size or 8
    rows = bench_render(model["generator"], RESOLUTIONS, bs, args.rounds, device=device)
    return rows, (f"pi-GAN generator render (no grad), batch {bs}, {Path(args.config or PIGAN_MODEL_CONFIG).name}, "
                  f"ratios vs {RESOLUTIONS[0]} px, {device_label(device)}")


def pigan_train_task(args: argparse.Namespace, device: torch.device) -> tuple[list[dict], str]:
    """``tools/benchmark.py pigan-train``: :func:`bench_pigan_train` at 32 and 64 px, ``--batch-size`` (default 4).

    Returns:
        The rows and the printed title.
    """
    model, geod, optim = _model_and_geod(args.config)
    bs = args.batch_size or 4
    rows = bench_pigan_train(model, geod, RESOLUTIONS, bs, args.rounds, optim_cfg=optim, device=device)
    return rows, (f"pi-GAN training step (D + R1 + pose, G top-k, EMA) vs GeoD (DatasetGeometry normals), batch {bs}, "
                  f"{Path(args.config or PIGAN_MODEL_CONFIG).name}, {device_label(device)}")
