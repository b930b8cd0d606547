"""BigGAN training (Brock et al., arXiv 1809.11096) on the GAN spine, the GAN InterClassGAN interprets.

InterClassGAN: He et al., arXiv 2203.11173.

One :meth:`BigGAN.train_step` runs, as BigGAN-PyTorch's ``train_fns.GAN_training_function``::

    D x d_steps   relu(1 - D(x, y)) + relu(1 + D(G(z, y), y))    hinge loss (Lim & Ye, arXiv 1705.02894); the
                                                                  real batch is split into d_steps chunks, each step
                                                                  with its own reals, labels and fresh fakes
    G             -D(G(z, y), y)                                 on the whole batch, y = the batch's labels
    EMA           G_ema <- G + (G_ema - G) * 0.5 ** (global_batch / (ema_kimg * 1000))   (the spine)

Labels come from the data (``gt_label``, one-hot through the spine's ``sample_labels``), so fakes follow the class
frequencies of the training set; BigGAN samples fake classes uniformly, the same for a balanced set.
``d_steps``: BigGAN uses 2 D steps per G step (``num_D_steps``); the CPU configs use 1.

Batch norm and the EMA generator: the spine copies G's buffers into ``generator_ema`` after every step, so the
eval-mode EMA generator normalises with G's running statistics (BN ``momentum`` 0.1) and the spectral-norm vectors
of G. BigGAN's optional "standing statistics" (re-estimating the statistics of the EMA weights before sampling)
are not done here.
"""

from __future__ import annotations

import torch
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from gen3d.registry import MODELS

from ..base_gan import EMA_KIMG, BaseGAN


@MODELS.register_module()
class BigGAN(BaseGAN):
    """Class-conditional BigGAN with hinge loss, ``d_steps`` D steps per G step and G EMA (module docstring).

    Args:
        generator: Config or module (e.g. :class:`BigGANGenerator`) implementing the generator interface.
        discriminator: Config or module ``forward(img, c) -> logits [N, 1]`` (e.g. :class:`ProjectionDiscriminator`).
        data_preprocessor: Defaults to :class:`GANDataPreprocessor`.
        d_steps: D steps per iteration (and per G step); the batch must be divisible by it.
        adversarial_loss: ``'hinge'`` (BigGAN's) or ``'logistic'``.
        ema_kimg: Half-life of the generator EMA in thousands of images.
        ema_rampup: Cap the EMA half-life at ``seen_img * ema_rampup`` (None: no ramp-up).
        num_val_fakes: Validate on the samples with index ``< num_val_fakes`` only; None: one per real image.
        val_seed: Seed of the validation latents.
        init_cfg: mmengine init config.
    """

    def __init__(self, generator: dict | nn.Module, discriminator: dict | nn.Module,
                 data_preprocessor: dict | nn.Module | None = None, d_steps: int = 1, adversarial_loss: str = "hinge",
                 ema_kimg: float = EMA_KIMG, ema_rampup: float | None = None, num_val_fakes: int | None = None,
                 val_seed: int = 0, init_cfg: dict | None = None) -> None:
        super().__init__(generator, discriminator, data_preprocessor, None, adversarial_loss, ema_kimg, ema_rampup,
                         num_val_fakes, val_seed, init_cfg)
        if int(d_steps) < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}")
        self.d_steps = int(d_steps)

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """One iteration: ``d_steps`` D steps, one G step, EMA update.

        Args:
            data: A collated batch ``{'inputs': uint8 images, 'data_samples': ...}`` (with ``gt_label``).
            optim_wrapper: ``OptimWrapperDict`` with ``'generator'`` and ``'discriminator'``.

        Returns:
            Scalars to log: ``loss_d`` (mean over the D steps), ``d_real``, ``d_fake`` (mean logits of the last D
            step), ``loss_g`` and ``seen_kimg``.

        Raises:
            ValueError: A batch not divisible by ``d_steps``.
        """
        data = self.data_preprocessor(data, True)
        real = data["inputs"]
        batch = real.shape[0]
        if batch % self.d_steps:
            raise ValueError(f"BigGAN: batch {batch} must be divisible by d_steps={self.d_steps}")
        c = self.sample_labels(data["data_samples"], batch)
        gen, disc = self.net("generator"), self.net("discriminator")
        log: dict[str, Tensor] = {}

        # D steps: hinge loss on a chunk of reals and as many fresh fakes (no G gradients).
        self.toggle(optim_wrapper, "discriminator")
        chunk = batch // self.d_steps
        loss_d_sum = real.new_zeros(())
        for k in range(self.d_steps):
            real_k = real[k * chunk:(k + 1) * chunk]
            c_k = None if c is None else c[k * chunk:(k + 1) * chunk]
            self.zero_grad_optimizer(optim_wrapper, "discriminator")
            with self.optim_context(optim_wrapper, "discriminator"):
                with torch.no_grad():
                    fake = gen(self.sample_z(chunk), c_k).image
                d_real, d_fake = disc(real_k, c_k), disc(fake, c_k)
                loss_d = self.d_adv_loss(d_real, d_fake)
            self.step_optimizer(optim_wrapper, "discriminator", loss_d)
            loss_d_sum += loss_d.detach()
        log.update(loss_d=loss_d_sum / self.d_steps, d_real=d_real.detach().mean(), d_fake=d_fake.detach().mean())

        # G step: hinge (-D(G(z))) on the whole batch.
        self.toggle(optim_wrapper, "generator")
        self.zero_grad_optimizer(optim_wrapper, "generator")
        with self.optim_context(optim_wrapper, "generator"):
            loss_g = self.g_adv_loss(disc(gen(self.sample_z(batch), c).image, c))
        self.step_optimizer(optim_wrapper, "generator", loss_g)
        log["loss_g"] = loss_g.detach()

        disc.requires_grad_(True)
        return self.finish_iteration(batch, log)
