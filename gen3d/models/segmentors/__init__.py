"""gen3d.models.segmentors: DeepLabV3+ (ASPP, decoder, U2PL representation head) and the encoder-decoder."""

from .aspp import ASPP, aspp_rates
from .deeplabv3plus_head import DeepLabV3PlusHead, RepresentationHead
from .encoder_decoder import EncoderDecoder, ohem_cross_entropy

__all__ = ["ASPP", "DeepLabV3PlusHead", "EncoderDecoder", "RepresentationHead", "aspp_rates", "ohem_cross_entropy"]
