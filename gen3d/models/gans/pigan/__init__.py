"""pi-GAN (Chan et al. 2021, arXiv 2012.00926): FiLM-SIREN field, mapping network and the volume-rendered generator."""

from .generator import PiGANGenerator
from .siren import FiLMLayer, FiLMSiren, PiGANMappingNetwork, first_layer_film_init, frequency_init

__all__ = ["FiLMLayer", "FiLMSiren", "PiGANGenerator", "PiGANMappingNetwork", "first_layer_film_init",
           "frequency_init"]
