"""gen3d.datasets.transforms: registered pipeline steps."""

from .albu import Albu
from .formatting import PackAnomalyInputs
from .loading import LoadAnomalyImage, LoadAnomalyMask, imread_rgb
from .seg_augment import SegAlbu, SegStrongAug, SegWeakAug
from .seg_formatting import PackSegInputs
from .seg_geometry import CatMaxRatioCrop, SegKeepRatioResize
from .seg_loading import LoadSegImage, LoadSegMask, read_label_map

__all__ = [
    "Albu", "CatMaxRatioCrop", "LoadAnomalyImage", "LoadAnomalyMask", "LoadSegImage", "LoadSegMask",
    "PackAnomalyInputs", "PackSegInputs", "SegAlbu", "SegKeepRatioResize", "SegStrongAug", "SegWeakAug", "imread_rgb",
    "read_label_map",
]

from .gan_transforms import GANRandomFlip, GANResizeCrop, LoadGANImage, PackGANInputs  # noqa: E402

__all__ += ["GANRandomFlip", "GANResizeCrop", "LoadGANImage", "PackGANInputs"]
from .pose_transforms import LoadPoseGeometry, PackPoseInputs, PoseRandomFlip  # noqa: E402

__all__ += ["LoadPoseGeometry", "PackPoseInputs", "PoseRandomFlip"]
from .rgbd_transforms import LoadRGBDDepth, PackRGBDInputs, RGBDResizeCrop  # noqa: E402

__all__ += ["LoadRGBDDepth", "PackRGBDInputs", "RGBDResizeCrop"]
