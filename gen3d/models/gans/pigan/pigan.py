"""pi-GAN training (Chan et al. 2021, arXiv 2012.00926) with the phases written out on the GAN spine.

One :meth:`PiGAN.train_step` runs the iteration of ``marcoamonteiro/pi-GAN:train.py`` (D before G, one optimizer
step each)::

    stage  the curriculum stage of train_iter: resolution, batch, samples per ray, lr; alpha = min(1, t / fade_steps)
           (t = iterations since the stage began); density noise std = max(0, 1 - train_iter / 5000)
    D      softplus(D(G(z))) + softplus(-D(x))                       (non-saturating logistic)
           + r1_gamma / 2 * |grad_x D(x)|^2                          (R1 on reals, every step; r1_interval > 1 is lazy)
           + pose_weight * MSE(D_pose(G(z, p)), p)                   (pose loss on fakes, 'pos_lambda')
           + latent_weight * MSE(D_latent(G(z, p)), z)               ('z_lambda', 0 in the released curricula)
    G      softplus(-topk(D(G(z)))) + the same pose / latent terms   (top-k fraction max(0.99^(t/2000), 0.6))
    EMA    G_ema <- decay G_ema + (1 - decay) G, decay = min(0.999, (1 + n) / (10 + n)) (torch_ema, n updates)

Gradients are clipped to norm 10 by the optimizer wrappers (``clip_grad=dict(max_norm=10)`` in the configs, after the
gradients are averaged over ranks, as ``clip_grad_norm_`` after DDP's all-reduce). ``batch_split`` renders a batch in
parts (and, for G, backpropagates each part, the top-k taken per part) as the official code does to save memory.

Curriculum: a list of stages ``dict(start_iter, resolution, batch_size, num_steps, lr_g, lr_d, fade_steps,
batch_split)`` (all but ``start_iter`` optional). The dataloader delivers the largest batch; a stage with a smaller
``batch_size`` uses the first images. Reals are resized (nearest, as the official ``Resize(..., interpolation=0)``) to
the stage resolution; the training generator renders at it, with the stage's samples per ray; the EMA generator
keeps its constructor's settings for validation and export. The released CelebA curriculum is one 64 px stage, its
first discriminator level faded in over 10k steps; CARLA grows 32 -> 64 -> 128.

EMA mapping: the spine's EMA is a half-life ``ema_kimg``; a per-update decay ``d`` at a global batch ``B`` is the
half-life ``B * ln 0.5 / ln d`` images, which :meth:`PiGAN.ema_update` sets before each update (``ema_decay=None``
keeps the spine's half-life).

GeoD (``geod=dict(...)``, Shi et al. 2022, arXiv 2209.15637; :mod:`gen3d.models.gans.geod`): D is wrapped in a
:class:`GeometryAwareDiscriminator` (a geometry head over its level features) and the phases gain::

    D      + d_weight * L1(D_geo(x), source(x))        (the source steps on the reals first; targets without grad)
    G      + w(kimg) * masked L1(n_G(z, p), D_geo(G(z, p)))   (w: geod_weight; every `interval` iterations; D frozen)

R1 takes D's realness alone (``geometry=False``); D's fakes are not given a geometry term (GeoD's D loss has one on
reals only). GeoD's optional novel-view task (``nvs_weight > 0``; :mod:`gen3d.models.gans.geod.nvs`, e = sin/cos of
the angles, p2 drawn as p) adds an NVS head to D and::

    D      + nvs_weight * L1(D_nvs(G(z, p), e(p2)), G(z, p2))            (the pair rendered without grad)
    G      + nvs_weight * r(kimg) * L1(G(z, p2), sg(D_nvs(G(z, p), e(p2))))  (r: the geometry ramp to 1; D frozen)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from gen3d.models.losses.gan_losses import r1_penalty
from gen3d.models.rendering import noise_std_schedule
from gen3d.models.rendering.integrator import NOISE_FADE_STEPS
from gen3d.registry import MODELS

from ..base_gan import EMA_KIMG, BaseGAN, unwrap
from ..generator_output import GeneratorOutput
from ..geod import build_geod_discriminator, check_geod_generator
from ..geod import losses as geod_losses
from ..geod.geometry_source import BATCH_KEYS
from ..geod.losses import geod_due, geod_weight, geometry_loss, masked_normal_l1
from ..geod.nvs import NVS_DETACH_TARGET, NovelViewTask, nvs_discriminator_args
from .topk import TOPK_INTERVAL, TOPK_MIN, topk_fraction, topk_logits

# marcoamonteiro/pi-GAN curriculums.py (CelebA) and train.py
R1_GAMMA = 0.2  # 'r1_lambda'
R1_INTERVAL = 1  # R1 in every discriminator step
POSE_WEIGHT = 15.0  # 'pos_lambda'
LATENT_WEIGHT = 0.0  # 'z_lambda'
EMA_DECAY = 0.999  # ExponentialMovingAverage(generator.parameters(), decay=0.999) (ema2, 0.9999, is not used)
FADE_STEPS = 10000  # 'fade_steps'
REAL_RESIZE_MODE = "nearest"  # datasets.py: transforms.Resize((img_size, img_size), interpolation=0)
VAL_YAW_DELTA = 0.3  # second validation view: + one CelebA yaw std ('h_stddev'), for MultiViewConsistency
CELEBA_CURRICULUM = (dict(start_iter=0, resolution=64, batch_size=56, num_steps=12, lr_g=6e-5, lr_d=2e-4,
                          fade_steps=FADE_STEPS, batch_split=2),)
GEOD_D_WEIGHT = 1.0  # D's geometry-loss weight: not public (gans.md section 10, U); unit weight assumed
GEOD_DEFAULTS = dict(source=dict(type="DatasetGeometry"), weight_start=geod_losses.WEIGHT_START,
                     weight_end=geod_losses.WEIGHT_END, ramp_kimg=geod_losses.RAMP_KIMG,
                     stop_kimg=geod_losses.STOP_KIMG, interval=geod_losses.INTERVAL,
                     interval_start_kimg=geod_losses.INTERVAL_START_KIMG, d_weight=GEOD_D_WEIGHT, nvs_weight=0.0,
                     nvs_detach_target=NVS_DETACH_TARGET,  # NVS: gen3d's choices (geod.nvs)
                     detach_target=False)  # pof3d loss_pose.py defaults (geod.losses); detach: pof3d does not
GEOD_PROBE = dict(resolution=8, num_steps=4)  # check_geod_generator renders at this size (normals or not)
STAGE_KEYS = ("start_iter", "resolution", "batch_size", "num_steps", "lr_g", "lr_d", "fade_steps", "batch_split")


@MODELS.register_module()
class PiGAN(BaseGAN):
    """pi-GAN: a :class:`PiGANGenerator` against a :class:`PiGANDiscriminator` on a progressive curriculum.

    Submodules and buffers of :class:`BaseGAN`.

    Args:
        generator: Config or module (the generator interface plus ``renderer``, ``cam2world`` and
            ``forward(..., noise_std=)``, as :class:`PiGANGenerator`).
        discriminator: Config or module, ``forward(img, alpha=) -> {'logit', 'pose', 'latent'}``.
        data_preprocessor: Defaults to :class:`GANDataPreprocessor`.
        curriculum: Stages (module docstring); None: one stage at the generator's settings from iteration 0.
        r1_gamma: R1 weight (0 disables it).
        r1_interval: R1 every this many iterations, scaled by the interval (1: every step, as pi-GAN).
        pose_weight: Weight of the pose loss on fakes, in D and G (0 disables it).
        latent_weight: Weight of the latent-prediction loss (needs a discriminator with ``latent_dim = z_dim``).
        topk_interval: Top-k decay interval (steps).
        topk_min: Top-k floor (1 disables top-k).
        noise_fade_steps: Density noise fades from 1 to 0 over this many iterations (0: none).
        ema_decay: Per-update EMA decay (torch_ema with its ``(1 + n) / (10 + n)`` warm-up); None: ``ema_kimg``.
        ema_kimg: Half-life of the EMA when ``ema_decay`` is None.
        val_yaw_delta: Yaw offset of a second validation view of each latent (``fake_img_b``, ``fake_depth_b``,
            ``cam2world_b``, for :class:`MultiViewConsistency`); None: one view.
        num_val_fakes: Validate on the samples with index ``< num_val_fakes`` only; None: one per real image.
        val_seed: Seed of the validation latents and poses.
        geod: GeoD (module docstring): :data:`GEOD_DEFAULTS` keys (``source`` is the geometry source's config, the
            others set the losses and schedule, as :func:`geod_weight` / :func:`geod_due`; ``nvs_weight > 0`` adds
            the NVS task) plus :class:`GeometryAwareDiscriminator` arguments (``outputs``, ``head_channels``; its
            ``nvs_pose_dim`` is set from the pose encoding); None: plain pi-GAN.
        init_cfg: mmengine init config.

    Raises:
        TypeError: ``geod`` with a 2D generator or one that renders no normals.
        ValueError: An inconsistent NVS config (:func:`nvs_discriminator_args`).
    """

    def __init__(self, generator: dict | nn.Module, discriminator: dict | nn.Module,
                 data_preprocessor: dict | nn.Module | None = None, curriculum: list[dict] | None = None,
                 r1_gamma: float = R1_GAMMA, r1_interval: int = R1_INTERVAL, pose_weight: float = POSE_WEIGHT,
                 latent_weight: float = LATENT_WEIGHT, topk_interval: int = TOPK_INTERVAL,
                 topk_min: float = TOPK_MIN, noise_fade_steps: int = NOISE_FADE_STEPS,
                 ema_decay: float | None = EMA_DECAY, ema_kimg: float = EMA_KIMG,
                 val_yaw_delta: float | None = VAL_YAW_DELTA, num_val_fakes: int | None = None, val_seed: int = 0,
                 geod: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(generator, discriminator, data_preprocessor, None, "logistic", ema_kimg, None,
                         num_val_fakes, val_seed, init_cfg)
        if r1_interval < 1:
            raise ValueError(f"r1_interval must be >= 1, got {r1_interval}")
        self.curriculum = self._check_curriculum(curriculum or [dict(start_iter=0)])
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.pose_weight, self.latent_weight = float(pose_weight), float(latent_weight)
        self.topk_interval, self.topk_min = int(topk_interval), float(topk_min)
        self.noise_fade_steps = int(noise_fade_steps)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.val_yaw_delta = val_yaw_delta
        self._avg_fresh = False
        self.geod = None if geod is None else {**GEOD_DEFAULTS, **dict(geod)}
        self.nvs: NovelViewTask | None = None  # GeoD's NVS task (a plain object: no state_dict keys)
        if self.geod is not None:  # no new submodule or key without GeoD: plain checkpoints keep their keys
            probe = self._render_at(self.generator, GEOD_PROBE) if hasattr(self.generator, "renderer") else None
            with probe or nullcontext():
                check_geod_generator(self.generator)
            self.geod = g = nvs_discriminator_args(self.geod, int(self.generator.pose_dim))
            self.discriminator = build_geod_discriminator(self.discriminator, self.geod)
            self.geometry_source = MODELS.build(self.geod["source"])
            if float(g["nvs_weight"]) > 0:
                self.nvs = NovelViewTask(float(g["nvs_weight"]), g["ramp_kimg"], float(g["stop_kimg"]),
                                         bool(g["nvs_detach_target"]))

    @staticmethod
    def _check_curriculum(stages: list[dict]) -> list[dict]:
        stages = [dict(s) for s in stages]
        for s in stages:
            unknown = set(s) - set(STAGE_KEYS)
            if unknown:
                raise ValueError(f"unknown curriculum keys {sorted(unknown)}; expected a subset of {STAGE_KEYS}")
        starts = [int(s.get("start_iter", 0)) for s in stages]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError(f"curriculum start_iter must begin at 0 and increase, got {starts}")
        return stages

    # ------------------------------------------------------------------ curriculum
    def stage(self, it: int | None = None) -> dict[str, Any]:
        """The stage of iteration ``it`` (default ``train_iter``) with ``alpha`` and ``index`` added."""
        it = int(self.train_iter) if it is None else int(it)
        index = max(i for i, s in enumerate(self.curriculum) if int(s.get("start_iter", 0)) <= it)
        stage = dict(self.curriculum[index], index=index)
        fade = int(stage.get("fade_steps", 0))
        stage["alpha"] = min(1.0, (it - int(stage.get("start_iter", 0))) / fade) if fade > 0 else 1.0
        return stage

    @contextmanager
    def _render_at(self, gen: nn.Module, stage: dict) -> Iterator[None]:
        """Render at the stage's resolution and samples per ray inside the block (restored after)."""
        r = unwrap(gen).renderer
        saved = (r.resolution, r.num_steps, r.num_fine)
        if "resolution" in stage:
            r.resolution = (int(stage["resolution"]),) * 2
        if "num_steps" in stage:
            r.num_steps = r.num_fine = int(stage["num_steps"])
        try:
            yield
        finally:
            r.resolution, r.num_steps, r.num_fine = saved

    @staticmethod
    def _set_lr(optim_wrapper: OptimWrapperDict, name: str, lr: float | None) -> None:
        if lr is not None:
            for group in optim_wrapper[name].optimizer.param_groups:
                group["lr"] = float(lr)

    def _render(self, gen: nn.Module, z: Tensor, pose: Tensor, noise_std: float) -> GeneratorOutput:
        return gen(z, None, pose, noise_mode="random", noise_std=noise_std)

    def _fakes(self, gen: nn.Module, z: Tensor, pose: Tensor, noise_std: float, split: int) -> Tensor:
        """Images ``(N, 3, R, R)`` rendered in ``split`` parts."""
        return torch.cat([self._render(gen, zs, ps, noise_std).image
                          for zs, ps in zip(z.chunk(split), pose.chunk(split))])

    def _disc(self, disc: nn.Module, img: Tensor, alpha: float, geometry: bool = False) -> dict[str, Tensor]:
        """D's ``{'logit', 'pose', 'latent'}``, with GeoD and ``geometry`` also its ``'normal'`` (/ ``'depth'``)."""
        if self.geod is None:
            return disc(img, alpha=alpha)
        out = disc(img, geometry=geometry, alpha=alpha)
        return {**out.pop("logits"), **out}

    def _geod_target(self, real: Tensor, data: dict, log: dict) -> dict[str, Tensor | None]:
        """Step the geometry source on the reals, then its targets ``(N, C, H, W)`` at their size (no grad)."""
        losses = self.geometry_source.step(real)
        if losses:
            log["loss_geo_source"] = losses["loss"]
        n, size = real.shape[0], real.shape[-2:]
        batch = {}
        for key in getattr(self.geometry_source, "keys", BATCH_KEYS).values():
            if isinstance(data.get(key), Tensor):  # the dataset's maps, cut and resized (nearest) as the reals
                v = data[key][:n]
                batch[key] = F.interpolate(v, size=size, mode=REAL_RESIZE_MODE) if v.shape[-2:] != size else v
        with torch.no_grad():
            return self.geometry_source(real, batch)

    def _aux_loss(self, out: dict, z: Tensor, pose: Tensor, log: dict, tag: str) -> Tensor:
        """Pose (and latent) prediction loss on fakes; logs ``loss_pose_<tag>``."""
        loss = z.new_zeros(())
        if self.pose_weight > 0:
            loss_pose = F.mse_loss(out["pose"].float(), pose.float()) * self.pose_weight
            log[f"loss_pose_{tag}"] = loss_pose.detach()
            loss = loss + loss_pose
        if self.latent_weight > 0:
            loss = loss + F.mse_loss(out["latent"].float(), z.float()) * self.latent_weight
        return loss

    # ------------------------------------------------------------------ the phases
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """One iteration: D (adversarial + R1 + pose), then G (top-k adversarial + pose), then EMA.

        Args:
            data: A collated batch ``{'inputs': uint8 images, 'data_samples': ...}``.
            optim_wrapper: ``OptimWrapperDict`` with ``'generator'`` and ``'discriminator'``.

        Returns:
            Scalars to log: ``loss_d``, ``d_real``, ``d_fake``, ``r1`` / ``loss_r1`` (R1 iterations), ``loss_pose_d``
            / ``loss_pose_g`` (with the pose loss), ``loss_g``, ``topk``, ``alpha``, ``noise_std``, ``resolution``,
            ``seen_kimg``; with GeoD ``loss_geo_d``, ``loss_geo_g`` (weighted, 0 when the weight is), ``geod_weight``
            and ``loss_geo_source`` (a source that learns, while it does); with GeoD's NVS ``loss_nvs_d`` and
            ``loss_nvs_g`` (weighted, 0 when the weight is).
        """
        data = self.data_preprocessor(data, True)
        stage = self.stage()
        real = data["inputs"]
        batch = int(stage.get("batch_size", real.shape[0]))
        if batch > real.shape[0]:
            raise ValueError(f"curriculum stage {stage['index']} needs batches of {batch}, the loader gives "
                             f"{real.shape[0]}: set train_dataloader.batch_size to the largest stage batch")
        real = real[:batch]
        res = int(stage.get("resolution", real.shape[-1]))
        if real.shape[-1] != res:
            real = F.interpolate(real, size=(res, res), mode=REAL_RESIZE_MODE)
        split = int(stage.get("batch_split", 1))
        alpha = float(stage["alpha"])
        noise_std = noise_std_schedule(int(self.train_iter), self.noise_fade_steps) if self.noise_fade_steps else 0.0
        gen, disc = self.net("generator"), self.net("discriminator")
        self._set_lr(optim_wrapper, "generator", stage.get("lr_g"))
        self._set_lr(optim_wrapper, "discriminator", stage.get("lr_d"))
        log: dict[str, Tensor] = {"alpha": torch.tensor(alpha), "noise_std": torch.tensor(noise_std),
                                  "resolution": torch.tensor(float(res))}

        with self._render_at(gen, stage):
            # D: logistic loss on reals and fakes, R1 on the reals, pose loss on the fakes (GeoD: + geometry of the
            # reals against the source's targets); one step.
            self.toggle(optim_wrapper, "discriminator")
            self.zero_grad_optimizer(optim_wrapper, "discriminator")
            target = self._geod_target(real, data, log) if self.geod is not None else None
            with self.optim_context(optim_wrapper, "discriminator"):
                with torch.no_grad():
                    z = self.sample_z(batch)
                    pose = self.sample_pose(batch)
                    fake = self._fakes(gen, z, pose, noise_std, split)
                out_fake = self._disc(disc, fake, alpha)
                loss_aux_d = self._aux_loss(out_fake, z, pose, log, "d")
                if self.geod is not None:  # GeoD: D's geometry of the reals against the source's
                    pred = disc.geometry(real, alpha=alpha)
                    loss_geo_d = geometry_loss(pred, target, disc.outputs) * float(self.geod["d_weight"])
                    log["loss_geo_d"] = loss_geo_d.detach()
                    loss_aux_d = loss_aux_d + loss_geo_d
                if self.nvs is not None:  # GeoD's NVS: from each fake, D predicts its latent's render at a 2nd pose
                    loss_aux_d = loss_aux_d + self.nvs.d_phase(disc, fake, z, self.sample_pose, lambda z_, p_: (
                        self._fakes(gen, z_, p_, noise_std, split)), log, alpha=alpha)
            do_r1 = self.r1_gamma > 0 and self.lazy(self.r1_interval)
            # The real pass runs in fp32 (R1 is a double backward), its logits serve the adversarial loss too.
            with torch.autocast(real.device.type, enabled=False):
                real_out: dict[str, Tensor] = {}

                def real_logits(x: Tensor) -> Tensor:
                    real_out.update(self._disc(disc, x, alpha))
                    return real_out["logit"]

                if do_r1:
                    r1 = r1_penalty(real_logits, real)
                    loss_r1 = r1.mean() * (self.r1_gamma / 2)
                    log.update(r1=r1.detach().mean(), loss_r1=loss_r1.detach())
                else:
                    real_logits(real)
                    loss_r1 = real.new_zeros(())
                loss_adv = self.d_adv_loss(real_out["logit"], out_fake["logit"].float())
            loss_d = loss_adv + loss_r1 * self.r1_interval + loss_aux_d
            self.step_optimizer(optim_wrapper, "discriminator", loss_d)
            log.update(loss_d=loss_adv.detach(), d_real=real_out["logit"].detach().mean(),
                       d_fake=out_fake["logit"].detach().mean())

            # G: non-saturating loss on the top-k fakes of each part, pose loss; parts backpropagated one by one.
            self.toggle(optim_wrapper, "generator")
            self.zero_grad_optimizer(optim_wrapper, "generator")
            frac = topk_fraction(int(self.train_iter), self.topk_interval, self.topk_min)
            z, pose = self.sample_z(batch), self.sample_pose(batch)
            parts = list(zip(z.chunk(split), pose.chunk(split)))
            loss_g_sum, loss_geo_g, loss_nvs_g = z.new_zeros(()), z.new_zeros(()), z.new_zeros(())
            w_geo, w_nvs = self._geod_weight(), self._geod_weight(nvs=True)
            for i, (zs, ps) in enumerate(parts):
                with self.optim_context(optim_wrapper, "generator"):
                    fake = self._render(gen, zs, ps, noise_std)
                    out = self._disc(disc, fake.image, alpha, geometry=w_geo > 0)
                    loss_g = self.g_adv_loss(topk_logits(out["logit"].float(), frac))
                    loss_g = loss_g + self._aux_loss(out, zs, ps, log, "g")
                    if w_geo > 0:  # GeoD: the rendered normals against D's normals of the same fake
                        loss_geo = w_geo * masked_normal_l1(fake.normal.float(), out["normal"].float(), fake.mask,
                                                            bool(self.geod["detach_target"]))
                        loss_g, loss_geo_g = loss_g + loss_geo, loss_geo_g + loss_geo.detach()
                    if w_nvs > 0:  # GeoD's NVS: G's render at a second pose against D's prediction (D frozen)
                        loss_nvs = self.nvs.g_phase(disc, fake.image, zs, self.sample_pose, lambda z_, p_: (
                            self._render(gen, z_, p_, noise_std).image), w_nvs, alpha=alpha)
                        loss_g, loss_nvs_g = loss_g + loss_nvs, loss_nvs_g + loss_nvs.detach()
                if i < len(parts) - 1:
                    optim_wrapper["generator"].backward(loss_g)  # accumulate, as the official per-split backward
                else:
                    self.step_optimizer(optim_wrapper, "generator", loss_g)
                loss_g_sum = loss_g_sum + loss_g.detach()
            log.update(loss_g=loss_g_sum, topk=torch.tensor(frac))
            if self.geod is not None:
                log.update(loss_geo_g=loss_geo_g, geod_weight=torch.tensor(w_geo))
            if self.nvs is not None:
                log["loss_nvs_g"] = loss_nvs_g
        self.toggle(optim_wrapper, "generator", "discriminator")
        self._avg_fresh = False
        return self.finish_iteration(batch, log)

    def _geod_weight(self, nvs: bool = False) -> float:
        """G's GeoD weight (``nvs``: its NVS term's) at ``seen_img``: 0 without it, outside its window, or not due."""
        if self.geod is None or (nvs and self.nvs is None):
            return 0.0
        g, kimg = self.geod, float(self.seen_img) / 1e3
        if not geod_due(int(self.train_iter), kimg, int(g["interval"]), float(g["interval_start_kimg"])):
            return 0.0
        if nvs:
            return self.nvs.g_weight(kimg)
        return geod_weight(kimg, float(g["weight_start"]), float(g["weight_end"]), g["ramp_kimg"],
                           float(g["stop_kimg"]))

    @torch.no_grad()
    def ema_update(self, gen: nn.Module, global_batch: int) -> float:
        """The spine's EMA with the half-life set so that its decay is torch_ema's (module docstring).

        Returns:
            The decay used.
        """
        if self.ema_decay is not None:
            n = int(self.train_iter) + 1  # torch_ema counts this update
            decay = min(self.ema_decay, (1 + n) / (10 + n))
            self.ema_kimg = global_batch * math.log(0.5) / math.log(decay) / 1000
        return super().ema_update(gen, global_batch)

    # ------------------------------------------------------------------ evaluation
    def train(self, mode: bool = True) -> PiGAN:
        """Switch modes; the truncation centre of ``generator_ema`` is refreshed at the next validation."""
        super().train(mode)
        self._avg_fresh = self._avg_fresh and not mode
        return self

    def val_fakes(self, z: Tensor, c: Tensor | None, pose: Tensor | None) -> list[dict[str, Any]]:
        """``generator_ema`` renders of validation latents with their geometry and cameras.

        Refreshes ``generator_ema``'s truncation centre (``update_avg_frequencies``) once per validation, so a
        checkpoint saved after it truncates around the current means.

        Args:
            z: ``(N, z_dim)``.
            c: Unused.
            pose: ``(N, 2)`` ``(pitch, yaw)``.

        Returns:
            Per sample: ``fake_img`` uint8 ``(3, R, R)``, ``fake_depth`` / ``fake_mask`` ``(1, R, R)``,
            ``fake_normal`` ``(3, R, R)``, ``cam2world`` ``(4, 4)``, ``fov`` (degrees); with ``val_yaw_delta``
            also ``fake_img_b``, ``fake_depth_b``, ``cam2world_b`` (the same latent at yaw + delta).
        """
        gen = self.generator_ema
        if not self._avg_fresh:
            gen.update_avg_frequencies()
            self._avg_fresh = True
        views = {"": pose}
        if self.val_yaw_delta is not None:
            views["_b"] = pose + pose.new_tensor([0.0, float(self.val_yaw_delta)])
        per_view = {}
        with torch.no_grad():
            for suffix, p in views.items():
                out = gen(z, None, p, noise_mode="const")
                per_view[suffix] = (out, gen.cam2world(p))
        fov = float(gen.renderer.fov)
        results = []
        for i in range(z.shape[0]):
            out, c2w = per_view[""]
            res = {"fake_img": self.to_uint8(out.image[i]).cpu(), "fake_depth": out.depth[i].cpu(),
                   "fake_normal": out.normal[i].cpu(), "fake_mask": out.mask[i].cpu(), "cam2world": c2w[i].cpu(),
                   "fov": fov}
            if "_b" in per_view:
                out_b, c2w_b = per_view["_b"]
                res.update(fake_img_b=self.to_uint8(out_b.image[i]).cpu(), fake_depth_b=out_b.depth[i].cpu(),
                           cam2world_b=c2w_b[i].cpu())
            results.append(res)
        return results
