"""GeoD (arXiv 2209.15637): geometry-aware discriminator, its losses and schedule, real-image geometry sources, NVS."""

from .geometry_discriminator import (  # noqa: F401
    GeometryAwareDiscriminator,
    build_geod_discriminator,
    check_geod_generator,
)
from .geometry_source import DatasetGeometry, InverseRendererGeometry, PrecomputedGeometry  # noqa: F401
from .inverse_renderer import Unsup3dInverseRenderer  # noqa: F401
from .losses import geod_due, geod_weight, geometry_loss, masked_normal_l1, nvs_loss  # noqa: F401
from .nvs import NovelViewTask, encode_pose, nvs_discriminator_args  # noqa: F401
