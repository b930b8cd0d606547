"""gen3d.models.backbones: feature extractors over timm, and IResNet (IR-SE50: PadInv's encoder, ArcFace)."""

from gen3d.utils.lite0_weights import lite0_weights_path, load_lite0_imagenet, lukemelas_to_timm

from .iresnet import IResNet, load_iresnet_weights
from .timm_dilated_backbone import TimmSegBackbone
from .timm_feature_extractor import UNIAD_OUT_BLOCKS, TimmFeatureExtractor

__all__ = [
    "UNIAD_OUT_BLOCKS",
    "IResNet",
    "TimmFeatureExtractor",
    "TimmSegBackbone",
    "lite0_weights_path",
    "load_iresnet_weights",
    "load_lite0_imagenet",
    "lukemelas_to_timm",
]
