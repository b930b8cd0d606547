"""Evaluation: importing this package registers every metric into ``gen3d.registry.METRICS``."""

from . import metrics  # noqa: F401
