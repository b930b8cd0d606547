"""PadInv (Bai et al., ECCV'22, arXiv 2203.11105): GAN inversion with W+ and the padding space.

:class:`PadInvEncoder` (image -> W+ and padding maps), :class:`PadInvLoss`, the training model :class:`PadInv`
(registered; a frozen StyleGAN2 from ``generator_ckpt``) and :func:`load_padinv_checkpoint`. The padding space of
the generator itself is :mod:`gen3d.models.editing.padding_space`.
"""

from .encoder import PadInvEncoder, default_latents_per_level
from .load import load_gan_parts, load_padinv_checkpoint
from .loss import PadInvLoss, wnorm_loss
from .model import PadInv

__all__ = ["PadInv", "PadInvEncoder", "PadInvLoss", "default_latents_per_level", "load_gan_parts",
           "load_padinv_checkpoint", "wnorm_loss"]
