"""gen3d.models.necks: feature alignment between backbones and heads."""

from .feature_aligner import FeatureAligner

__all__ = ["FeatureAligner"]
