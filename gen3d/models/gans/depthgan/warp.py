"""DepthGAN's view warp and depth bins (arXiv 2202.08553, Sec. 3.3), shared with RotEval.

The one implementation is :mod:`gen3d.evaluation.metrics.depthgan_warp`.

Re-exported here for the training losses; the implementation and its documentation live in the evaluation module
(``evaluation`` never imports ``models``, so the one copy sits on that side).
"""

from gen3d.evaluation.metrics.depthgan_warp import (
    DEPTH_SHIFT,
    FOCAL_PX,
    MAX_WARP_ANGLE,
    NUM_DEPTH_BINS,
    YAW_MAX,
    YAW_RANGE,
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
    "DEPTH_SHIFT", "FOCAL_PX", "MAX_WARP_ANGLE", "NUM_DEPTH_BINS", "YAW_MAX", "YAW_RANGE", "Warp", "check_warp_angle",
    "check_yaw_range", "depth_bins", "depth_to_metric", "depthgan_intrinsics", "rotation_centre", "warp_by_yaw",
    "warp_views", "yaw_cam2world",
]
