"""gen3d.models.gans: the GAN spine, the shared data preprocessor and DynamicD, one folder per generator family."""

from .biggan import BigGAN, BigGANGenerator, ProjectionDiscriminator  # noqa: F401
from .data_preprocessor import GANDataPreprocessor  # noqa: F401
from .depthgan import DepthGAN, DepthGANDiscriminator, DepthGANGenerator  # noqa: F401
from .dynamic_discriminator import DynamicDiscriminator  # noqa: F401
from .geod import GeometryAwareDiscriminator  # noqa: F401
from .pigan import PiGANGenerator  # noqa: F401
from .stylegan2 import StyleGAN2, StyleGAN2Discriminator, StyleGAN2Generator  # noqa: F401
