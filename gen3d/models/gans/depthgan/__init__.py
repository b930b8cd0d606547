"""DepthGAN family (arXiv 2202.08553): the dual-path generator, the switchable discriminator and the view warp."""

from .depthgan import DepthGAN
from .discriminator import DepthBinHead, DepthGANDiscriminator
from .generator import DepthGANGenerator
from .warp import (
    DEPTH_SHIFT,
    FOCAL_PX,
    MAX_WARP_ANGLE,
    NUM_DEPTH_BINS,
    Warp,
    check_warp_angle,
    check_yaw_range,
    depth_bins,
    depth_to_metric,
    depthgan_intrinsics,
    rotation_centre,
    warp_by_yaw,
    warp_views,
    yaw_cam2world,
)

__all__ = [
    "DEPTH_SHIFT", "FOCAL_PX", "DepthGAN", "MAX_WARP_ANGLE", "NUM_DEPTH_BINS", "DepthBinHead", "DepthGANDiscriminator",
    "DepthGANGenerator", "Warp", "check_warp_angle", "check_yaw_range", "depth_bins", "depth_to_metric",
    "depthgan_intrinsics", "rotation_centre", "warp_by_yaw", "warp_views", "yaw_cam2world",
]
