"""StyleGAN2 family (arXiv 1912.04958): the training model, its generator and discriminator, and their blocks."""

from .discriminator import StyleGAN2Discriminator
from .generator import StyleGAN2Generator
from .stylegan2 import StyleGAN2

__all__ = ["StyleGAN2", "StyleGAN2Discriminator", "StyleGAN2Generator"]
