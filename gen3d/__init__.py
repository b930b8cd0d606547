"""gen3d: anomaly detection, semi-supervised segmentation and GANs on one registry, one config system.

Importing the package does nothing heavy: no version asserts, no registration side effects. Registries find
their modules through ``locations`` (see :mod:`gen3d.registry`).
"""

from .version import __version__

__all__ = ["__version__"]
