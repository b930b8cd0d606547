"""BigGAN family (arXiv 1809.11096): the class-conditional GAN that InterClassGAN (arXiv 2203.11173) interprets."""

from .biggan import BigGAN
from .discriminator import ProjectionDiscriminator
from .generator import BigGANGenerator

__all__ = ["BigGAN", "BigGANGenerator", "ProjectionDiscriminator"]
