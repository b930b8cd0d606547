"""gen3d.models.gans."""

from .data_preprocessor import GANDataPreprocessor  # noqa: F401
from .dynamic_discriminator import DynamicDiscriminator  # noqa: F401
from .stylegan2 import StyleGAN2  # noqa: F401
from .stylegan2_discriminator import StyleGAN2Discriminator  # noqa: F401
from .stylegan2_generator import StyleGAN2Generator  # noqa: F401
