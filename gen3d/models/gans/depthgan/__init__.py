"""DepthGAN family (arXiv 2202.08553): the dual-path generator and its blocks."""

from .generator import DepthGANGenerator

__all__ = ["DepthGANGenerator"]
