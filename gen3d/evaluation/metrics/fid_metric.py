"""Fréchet Inception Distance (Heusel et al. 2017, arXiv 1706.08500) over a GAN's validation samples."""

import numpy as np

from gen3d.registry import METRICS

from .generative_base import GenerativeMetric
from .generative_functional import FID_EPS, feature_statistics, frechet_distance

__all__ = ["FrechetInceptionDistance"]


@METRICS.register_module()
class FrechetInceptionDistance(GenerativeMetric):
    """FID between the ``fake_img`` and ``real_img`` of the validation outputs (lower is better).

    Result key: ``'fid'`` with the FID Inception network; ``'fd_lite0'`` with the Lite0 fallback (not an FID); both
    with ``key_suffix`` appended (DepthGAN's FID on depth: ``fake_key='fake_depth_img'``,
    ``real_key='real_depth_img'``, ``key_suffix='_depth'`` gives ``'fid_depth'``).
    Only the number of validation samples sets the sample size (FID is biased upwards for small N: compare
    values computed on the same N, e.g. 50k for published numbers).

    Args:
        eps: Diagonal offset used when the covariance product is near singular.
        **kwargs: :class:`~gen3d.evaluation.metrics.generative_base.GenerativeMetric` arguments
            (``feature_extractor``, ``inception_weights``, ``fallback``, ``batch_size``, ``real_stats_name``,
            ``stats_dir``, ``device``, ``fake_key``, ``real_key``, ``key_suffix``, ``collect_device``, ``prefix``).
    """

    result_keys = {"inception": ("fid",), "lite0": ("fd_lite0",)}
    cache_keys = ("mu", "sigma")

    def __init__(self, eps: float = FID_EPS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.eps = float(eps)

    def cache_arrays(self, real_feats: np.ndarray) -> dict[str, np.ndarray]:
        """Mean, covariance and count of the real features."""
        mu, sigma = feature_statistics(real_feats)
        return {"mu": mu, "sigma": sigma, "num_real": np.array(len(real_feats))}

    def score(self, real: dict[str, np.ndarray], fake_feats: np.ndarray) -> dict[str, float]:
        """Fréchet distance between the real Gaussian (cached or from ``feats``) and the fake one."""
        mu, sigma = (real["mu"], real["sigma"]) if "mu" in real else feature_statistics(real["feats"])
        return {self.keys[0]: frechet_distance(mu, sigma, *feature_statistics(fake_feats), eps=self.eps)}
