"""StyleGAN2 training (Karras et al., arXiv 1912.04958) with the phases written out, optionally with DynamicD.

One :meth:`StyleGAN2.train_step` runs the phases of stylegan2-ada-pytorch's ``training_loop.py`` /
Hammer's ``stylegan2_runner.py``, each with its own optimizer step::

    Gmain  softplus(-D(G(z)))                          (non-saturating loss; style mixing with prob 0.9)
    Greg   every pl_interval: pl_weight * (|J_w^T y| - a)^2 * pl_interval   (path length, half batch)
    Dmain  softplus(D(G(z))) + softplus(-D(x))         (logistic loss)
    Dreg   every r1_interval: gamma / 2 * |grad_x D(x)|^2 * r1_interval      (lazy R1 on reals)
    EMA    G_ema <- G + (G_ema - G) * 0.5 ** (global_batch / (ema_kimg * 1000))

Lazy regularisation runs extra optimizer steps, so the configs scale Adam's lr and betas by
``c = interval / (interval + 1)`` (StyleGAN2 Sec. 3.1, stylegan2-ada ``train.py``).

The EMA generator, images seen, optimizer steps by name (with the gradient averaging of distributed training), lazy
intervals, sampling and validation come from the GAN spine (:class:`~gen3d.models.gans.base_gan.BaseGAN`), the loss
terms from :mod:`gen3d.models.losses.gan_losses`; this file holds the phases only.

DynamicD (arXiv 2209.09897): ``dynamic_d=dict(start_ratio, end_ratio, total_img, ...)`` wraps the configured
discriminator in :class:`DynamicDiscriminator`, whose width ratio follows ``seen_img`` at every iteration.
"""

from __future__ import annotations

import torch
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from gen3d.models.losses.gan_losses import path_length_penalty, r1_penalty
from gen3d.registry import MODELS

from ..base_gan import EMA_KIMG, BaseGAN

#: StyleGAN2 config F / Hammer FFHQ-256 defaults (gans.md section 8; stylegan2-ada ``train.py`` cfg_specs).
R1_GAMMA = 10.0
R1_INTERVAL = 16  # lazy regularisation, StyleGAN2 Sec. 3.1
PL_WEIGHT = 2.0  # path length regularisation, StyleGAN2 Sec. 3.2
PL_INTERVAL = 4
PL_DECAY = 0.01
PL_BATCH_SHRINK = 2
STYLE_MIXING_PROB = 0.9  # StyleGAN (arXiv 1812.04948) Sec. 3.1 mixing regularisation


@MODELS.register_module()
class StyleGAN2(BaseGAN):
    """Unconditional or class-conditional StyleGAN2 with lazy R1, path length, style mixing and G EMA.

    Submodules and buffers of :class:`BaseGAN`, plus the buffer ``pl_mean`` (path length target).

    Args:
        generator: Config or module with ``mapping(z, c, update_w_avg=...) -> ws [N, num_ws, w_dim]``,
            ``synthesis(ws, noise_mode=...) -> img [N, C, R, R]`` and the generator interface.
        discriminator: Config or module, ``forward(img, c) -> logits [N, 1]``.
        data_preprocessor: Defaults to :class:`GANDataPreprocessor`.
        dynamic_d: ``DynamicDiscriminator`` arguments except ``discriminator``; None trains the plain one.
        r1_gamma: R1 weight ``gamma`` (0 disables R1).
        r1_interval: Run R1 every this many iterations (lazy regularisation).
        pl_weight: Path length weight (0 disables it).
        pl_interval: Run the path length step every this many iterations.
        pl_decay: EMA decay of the path length target ``pl_mean``.
        pl_batch_shrink: The path length step uses ``batch // pl_batch_shrink`` samples.
        style_mixing_prob: Probability that a batch mixes two latents at a random layer.
        adversarial_loss: ``'logistic'`` (non-saturating, StyleGAN2's) or ``'hinge'``.
        ema_kimg: Half-life of the generator EMA in thousands of images.
        ema_rampup: Cap the EMA half-life at ``seen_img * ema_rampup`` (None: no ramp-up).
        num_val_fakes: Validate on the samples with index ``< num_val_fakes`` only; None: one per real image.
        val_seed: Seed of the validation latents.
        init_cfg: mmengine init config.
    """

    def __init__(self, generator: dict | nn.Module, discriminator: dict | nn.Module,
                 data_preprocessor: dict | nn.Module | None = None, dynamic_d: dict | None = None,
                 r1_gamma: float = R1_GAMMA, r1_interval: int = R1_INTERVAL, pl_weight: float = PL_WEIGHT,
                 pl_interval: int = PL_INTERVAL, pl_decay: float = PL_DECAY, pl_batch_shrink: int = PL_BATCH_SHRINK,
                 style_mixing_prob: float = STYLE_MIXING_PROB, adversarial_loss: str = "logistic",
                 ema_kimg: float = EMA_KIMG, ema_rampup: float | None = None, num_val_fakes: int | None = None,
                 val_seed: int = 0, init_cfg: dict | None = None) -> None:
        super().__init__(generator, discriminator, data_preprocessor, dynamic_d, adversarial_loss, ema_kimg,
                         ema_rampup, num_val_fakes, val_seed, init_cfg)
        if r1_interval < 1 or pl_interval < 1 or pl_batch_shrink < 1:
            raise ValueError("r1_interval, pl_interval and pl_batch_shrink must be >= 1")
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.pl_weight, self.pl_interval, self.pl_decay = float(pl_weight), int(pl_interval), float(pl_decay)
        self.pl_batch_shrink = int(pl_batch_shrink)
        self.style_mixing_prob = float(style_mixing_prob)
        self.register_buffer("pl_mean", torch.zeros(()))

    def _mapping_with_mixing(self, gen: nn.Module, z: Tensor, c: Tensor | None) -> Tensor:
        """``ws [N, num_ws, w_dim]``; with prob ``style_mixing_prob`` layers from a random cutoff on use a 2nd z."""
        ws = gen.mapping(z, c, update_w_avg=True)
        if self.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, ())) if num_ws > 1 else num_ws
            if float(torch.rand(())) >= self.style_mixing_prob:
                cutoff = num_ws
            if cutoff < num_ws:
                ws2 = gen.mapping(torch.randn_like(z), c, update_w_avg=False)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """One iteration: G main, lazy path length, D main, lazy R1, EMA update.

        Args:
            data: A collated batch ``{'inputs': uint8 images, 'data_samples': ...}``.
            optim_wrapper: ``OptimWrapperDict`` with ``'generator'`` and ``'discriminator'``.

        Returns:
            Scalars to log: ``loss_g``, ``loss_d``, ``d_real``, ``d_fake`` (mean logits), ``pl`` / ``pl_mean``
            and ``loss_pl`` on path-length iterations, ``r1`` and ``loss_r1`` on R1 iterations, ``ratio``
            (DynamicD width) and ``seen_kimg``.
        """
        data = self.data_preprocessor(data, True)
        real = data["inputs"]
        batch = real.shape[0]
        c = self.sample_labels(data["data_samples"], batch)
        gen, disc = self.net("generator"), self.net("discriminator")
        log: dict[str, Tensor] = {}
        self.update_dynamic_d(log)

        # G main: adversarial loss (non-saturating logistic by default).
        self.toggle(optim_wrapper, "generator")
        self.zero_grad_optimizer(optim_wrapper, "generator")
        with self.optim_context(optim_wrapper, "generator"):
            fake = gen.synthesis(self._mapping_with_mixing(gen, self.sample_z(batch), c), noise_mode="random")
            loss_g = self.g_adv_loss(disc(fake, c))
        self.step_optimizer(optim_wrapper, "generator", loss_g)
        log["loss_g"] = loss_g.detach()

        # G reg: path length on batch // pl_batch_shrink samples, scaled by the interval.
        if self.pl_weight > 0 and self.lazy(self.pl_interval):
            # Regularisers (double backward) run in fp32 even under --amp, as stylegan2-ada keeps them out of fp16.
            with torch.autocast(real.device.type, enabled=False):
                loss_pl, pl = self._path_length_loss(gen, batch, c)
            self.step_optimizer(optim_wrapper, "generator", loss_pl * self.pl_interval)
            log.update(loss_pl=loss_pl.detach(), pl=pl, pl_mean=self.pl_mean.clone())

        # D main: adversarial loss on fakes (no G gradients) and reals.
        self.toggle(optim_wrapper, "discriminator")
        self.zero_grad_optimizer(optim_wrapper, "discriminator")
        with self.optim_context(optim_wrapper, "discriminator"):
            with torch.no_grad():
                fake = gen.synthesis(self._mapping_with_mixing(gen, self.sample_z(batch), c), noise_mode="random")
            d_fake, d_real = disc(fake, c), disc(real, c)
            loss_d = self.d_adv_loss(d_real, d_fake)
        self.step_optimizer(optim_wrapper, "discriminator", loss_d)
        log.update(loss_d=loss_d.detach(), d_fake=d_fake.detach().mean(), d_real=d_real.detach().mean())

        # D reg: lazy R1 on reals, scaled by the interval.
        if self.r1_gamma > 0 and self.lazy(self.r1_interval):
            with torch.autocast(real.device.type, enabled=False):
                r1 = r1_penalty(disc, real, c)
                loss_r1 = r1.mean() * (self.r1_gamma / 2)
            self.step_optimizer(optim_wrapper, "discriminator", loss_r1 * self.r1_interval)
            log.update(loss_r1=loss_r1.detach(), r1=r1.detach().mean())

        gen.requires_grad_(True)
        return self.finish_iteration(batch, log)

    def _path_length_loss(self, gen: nn.Module, batch: int, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(pl_weight * mean((|J_w^T y| - pl_mean)^2), mean |J_w^T y|)``; updates ``pl_mean``."""
        n = max(batch // self.pl_batch_shrink, 1)
        ws = self._mapping_with_mixing(gen, self.sample_z(n), None if c is None else c[:n])
        img = gen.synthesis(ws, noise_mode="random")
        penalty, mean_len = path_length_penalty(img, ws, self.pl_mean, self.pl_decay)
        return penalty * self.pl_weight, mean_len

    @staticmethod
    def r1_penalty(disc: nn.Module, real: Tensor, c: Tensor | None) -> Tensor:
        """``|grad_x D(x)|^2`` per real image, ``[N]`` (:func:`gen3d.models.losses.gan_losses.r1_penalty`)."""
        return r1_penalty(disc, real, c)
