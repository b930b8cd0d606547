"""gen3d.datasets.transforms: registered pipeline steps."""

from .albu import Albu
from .formatting import PackAnomalyInputs
from .loading import LoadAnomalyImage, LoadAnomalyMask, imread_rgb

__all__ = ["Albu", "LoadAnomalyImage", "LoadAnomalyMask", "PackAnomalyInputs", "imread_rgb"]
