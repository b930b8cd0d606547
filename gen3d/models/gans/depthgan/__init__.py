"""DepthGAN family (arXiv 2202.08553): the dual-path generator, the switchable discriminator and the training model.

The view warp and the depth bins, shared by the losses and RotEval, are :mod:`gen3d.evaluation.metrics.depthgan_warp`.
"""

from .depthgan import DepthGAN
from .discriminator import DepthBinHead, DepthGANDiscriminator
from .generator import DepthGANGenerator

__all__ = ["DepthBinHead", "DepthGAN", "DepthGANDiscriminator", "DepthGANGenerator"]
