"""gen3d.models.gans."""

from .dynamic_discriminator import DynamicDiscriminator  # noqa: F401
from .stylegan2_discriminator import StyleGAN2Discriminator  # noqa: F401
from .stylegan2_generator import StyleGAN2Generator  # noqa: F401
