"""Models: importing this package registers every model, backbone, head and loss into ``gen3d.registry.MODELS``."""

from . import anomaly, backbones, depth_estimation, editing, gans, layers, losses, necks, segmentors  # noqa: F401
