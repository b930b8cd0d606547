"""Category-wise evaluation (InterClassGAN, arXiv 2203.11173, Sec. 5): total awareness vs per-class quality.

The paper reports that classes with a high total awareness are synthesised with high quality and low diversity.
Per class ``y`` this computes, on the features of one extractor (the project's offline ImageNet EfficientNet-Lite0,
:func:`lite0_extractor`: the numbers are ``fd_lite0``, NOT FID):

* ``fd``: the Fréchet distance between the class's real images and as many fakes of that class (a small-sample,
  biased estimate, comparable between classes only at equal sample counts);
* ``diversity``: the mean pairwise feature distance among the fakes over that among the reals (1 = as diverse);
* ``total_awareness``: :meth:`ChannelAwareness.total`;

and the Pearson and Spearman correlations of ``total_awareness`` with ``fd`` and with ``diversity`` over classes.
With six classes a correlation is anecdotal (demo scale), not evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from scipy import stats
from torch import Tensor, nn

from gen3d.evaluation.metrics.generative_functional import compute_fid, extract_features
from gen3d.models.gans.sampling import to_uint8

from .applications import onehot
from .awareness import ChannelAwareness, check_class, check_class_generator

__all__ = ["category_wise_evaluation", "lite0_extractor"]


def lite0_extractor() -> nn.Module:
    """The offline ImageNet EfficientNet-Lite0 pooled features (``fd_lite0``), built once per process."""
    from gen3d.evaluation.metrics.generative_base import build_feature_extractor

    return build_feature_extractor("lite0")


def _mean_pairwise(f: np.ndarray) -> float:
    d = np.sqrt(np.maximum(((f[:, None] - f[None]) ** 2).sum(-1), 0))
    return float(d.sum() / max(1, len(f) * (len(f) - 1)))


def _corr(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"pearson": float("nan"), "spearman": float("nan")}
    return {"pearson": float(stats.pearsonr(a, b)[0]), "spearman": float(stats.spearmanr(a, b)[0])}


@torch.no_grad()
def category_wise_evaluation(generator: nn.Module, real_by_class: Mapping[int, np.ndarray | Tensor],
                             aw: ChannelAwareness, num_fake: int | None = None,
                             extractor: Callable[[Tensor], Tensor] | None = None, seed: int = 0,
                             batch: int = 50) -> dict:
    """Per-class ``fd`` / ``diversity`` / ``total_awareness`` and their correlations (module docstring).

    Args:
        generator: Class-conditional generator.
        real_by_class: ``{class index: uint8 real images [N_y, C, R, R]}`` (N_y >= 2).
        aw: Its awareness (for the total per class).
        num_fake: Fakes per class; None: as many as the class's reals.
        extractor: ``uint8-valued images [B, 3, H, W] -> [B, D]``; None: :func:`lite0_extractor`.
        seed: Seed of the fakes' latents (the same latents for every class).
        batch: Images per generator / extractor pass.

    Returns:
        ``{'per_class': {y: {'fd', 'diversity', 'total_awareness', 'num_real', 'num_fake'}},
        'corr_total_vs_fd': {'pearson', 'spearman'}, 'corr_total_vs_diversity': {...}}``.

    Raises:
        ValueError: A class out of range, fewer than 2 real images of a class.
    """
    c_dim = check_class_generator(generator)
    extractor = extractor if extractor is not None else lite0_extractor()
    totals = aw.total()
    generator.eval()
    per_class: dict[int, dict] = {}
    for y, real in sorted(real_by_class.items()):
        y = check_class(y, min(c_dim, aw.num_classes), "real_by_class")
        real = torch.as_tensor(np.asarray(real))
        if len(real) < 2:
            raise ValueError(f"real_by_class[{y}]: need >= 2 images, got {len(real)}")
        n = int(num_fake or len(real))
        z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(int(seed)))
        fakes = torch.cat([to_uint8(generator(z[i:i + batch], onehot(generator, y, len(z[i:i + batch]))).image)
                           for i in range(0, n, batch)])
        f_real = extract_features(real, extractor, batch)
        f_fake = extract_features(fakes, extractor, batch)
        per_class[y] = {"fd": compute_fid(f_real, f_fake),
                        "diversity": _mean_pairwise(f_fake) / max(_mean_pairwise(f_real), 1e-12),
                        "total_awareness": float(totals[y]), "num_real": len(real), "num_fake": n}
    ys = sorted(per_class)
    tot = np.array([per_class[y]["total_awareness"] for y in ys])
    return {"per_class": per_class,
            "corr_total_vs_fd": _corr(tot, np.array([per_class[y]["fd"] for y in ys])),
            "corr_total_vs_diversity": _corr(tot, np.array([per_class[y]["diversity"] for y in ys]))}
