"""pi-GAN (Chan et al. 2021, arXiv 2012.00926): FiLM-SIREN field, mapping network and the volume-rendered generator."""

from .discriminator import PiGANDiscriminator
from .generator import PiGANGenerator
from .pigan import PiGAN
from .siren import FiLMLayer, FiLMSiren, PiGANMappingNetwork, first_layer_film_init, frequency_init

__all__ = ["FiLMLayer", "FiLMSiren", "PiGAN", "PiGANDiscriminator", "PiGANGenerator", "PiGANMappingNetwork",
           "first_layer_film_init", "frequency_init"]
