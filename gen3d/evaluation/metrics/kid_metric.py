"""Kernel Inception Distance (Binkowski et al. 2018, arXiv 1801.01401) over a GAN's validation samples."""

import numpy as np

from gen3d.registry import METRICS

from .generative_base import GenerativeMetric
from .generative_functional import KID_MAX_SUBSET_SIZE, KID_NUM_SUBSETS, kid_subset_values

__all__ = ["KernelInceptionDistance"]


@METRICS.register_module()
class KernelInceptionDistance(GenerativeMetric):
    """KID between the ``fake_img`` and ``real_img`` of the validation outputs (lower is better; can be < 0).

    Result keys: ``'kid'`` and ``'kid_std'`` (mean and standard deviation over the subsets) with the FID Inception
    network; ``'kd_lite0'`` and ``'kd_lite0_std'`` with the Lite0 fallback (not a KID); ``key_suffix`` is appended
    to each (``fake_key='fake_depth_img'``, ``real_key='real_depth_img'``, ``key_suffix='_depth'``: ``'kid_depth'``,
    ``'kid_std_depth'``).

    Args:
        num_subsets: Random subsets averaged (stylegan2-ada-pytorch: 100).
        max_subset_size: Subset size cap (stylegan2-ada-pytorch: 1000); the size is ``min(cap, N_real, N_fake)``.
        seed: Seed of the subset sampling, so repeated evaluations are comparable.
        **kwargs: :class:`~gen3d.evaluation.metrics.generative_base.GenerativeMetric` arguments (including
            ``fake_key``, ``real_key``, ``key_suffix``).
    """

    result_keys = {"inception": ("kid", "kid_std"), "lite0": ("kd_lite0", "kd_lite0_std")}
    cache_keys = ("feats",)

    def __init__(
        self, num_subsets: int = KID_NUM_SUBSETS, max_subset_size: int = KID_MAX_SUBSET_SIZE, seed: int = 0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.num_subsets, self.max_subset_size, self.seed = int(num_subsets), int(max_subset_size), int(seed)

    def cache_arrays(self, real_feats: np.ndarray) -> dict[str, np.ndarray]:
        """All real features (KID needs the samples, not only moments), as float32."""
        return {"feats": real_feats.astype(np.float32)}

    def score(self, real: dict[str, np.ndarray], fake_feats: np.ndarray) -> dict[str, float]:
        """Mean and standard deviation of the per-subset unbiased MMD^2."""
        values = kid_subset_values(real["feats"], fake_feats, self.num_subsets, self.max_subset_size, self.seed)
        return {self.keys[0]: float(values.mean()), self.keys[1]: float(values.std())}
