"""PatchCore scoring: nearest-neighbour patch scores, the re-weighted image score and the anomaly map.

Roth et al., CVPR 2022 (arXiv 2106.08265), Sec. 3.3: a test patch's score is its distance to the nearest coreset
member; the image score is the largest patch score ``s*`` re-weighted by how isolated its nearest member ``m*`` is
(Eq. 7). The map is the patch-score grid upsampled to the input and smoothed by a Gaussian of ``sigma = 4``
(as anomalib's ``AnomalyMapGenerator``: nearest-neighbour upsampling, then the blur).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

DEFAULT_NUM_NEIGHBORS = 9  # b of Eq. 7 (anomalib's num_neighbors)
DEFAULT_SIGMA = 4.0
_CHUNK_ELEMENTS = 1 << 24  # distance-matrix elements per chunk (64 MB in float32)


def euclidean_distances(x: Tensor, y: Tensor) -> Tensor:
    """Pairwise Euclidean distances from the expansion ``|x|^2 - 2 x.y + |y|^2`` (ONNX-friendly, unlike cdist).

    Args:
        x: ``(..., P, C)``.
        y: ``(..., M, C)``.

    Returns:
        ``(..., P, M)`` non-negative distances.
    """
    x_sq = x.pow(2).sum(-1, keepdim=True)
    y_sq = y.pow(2).sum(-1, keepdim=True)
    sq = x_sq - 2.0 * x @ y.transpose(-2, -1) + y_sq.transpose(-2, -1)
    return sq.clamp_min_(0.0).sqrt_()


def nearest_neighbors(queries: Tensor, bank: Tensor, k: int = 1) -> tuple[Tensor, Tensor]:
    """Distances and indices of the ``k`` nearest bank rows of each query, in chunks bounding memory.

    Args:
        queries: ``(P, C)``.
        bank: ``(M, C)``; ``k <= M``.
        k: Number of neighbours.

    Returns:
        ``(P, k)`` distances (ascending) and ``(P, k)`` long indices into ``bank``.
    """
    if bank.shape[0] == 0:
        raise ValueError("the memory bank is empty")
    k = min(int(k), bank.shape[0])
    chunk = max(1, _CHUNK_ELEMENTS // bank.shape[0])
    dists, idxs = [], []
    for start in range(0, queries.shape[0], chunk):
        dist = euclidean_distances(queries[start : start + chunk], bank)
        if k == 1:
            d, i = dist.min(1, keepdim=True)
        else:
            d, i = dist.topk(k, dim=1, largest=False)
        dists.append(d)
        idxs.append(i)
    return torch.cat(dists), torch.cat(idxs)


def reweighted_image_score(patch_scores: Tensor, nn_index: Tensor, embedding: Tensor, bank: Tensor,
                           num_neighbors: int = DEFAULT_NUM_NEIGHBORS) -> Tensor:
    """Image score of Eq. 7: ``s = (1 - exp|m_test* - m*| / sum_{m in N_b(m*)} exp|m_test* - m|) * s*``.

    ``m_test*`` is the image's patch with the largest score ``s*``, ``m*`` its nearest bank member and ``N_b(m*)``
    the ``b`` nearest bank members of ``m*`` (``m*`` itself first, at distance 0). With ``b = 1`` the score is
    ``s*`` (anomalib's shortcut; the formula would give 0).

    Args:
        patch_scores: ``(B, P)`` nearest-member distance of every patch.
        nn_index: ``(B, P)`` index of that member in ``bank``.
        embedding: ``(B, P, C)`` patch features.
        bank: ``(M, C)`` memory bank.
        num_neighbors: ``b``.

    Returns:
        ``(B,)`` image scores.
    """
    score, arg = patch_scores.max(1)  # s*, index of m_test*
    if num_neighbors <= 1:
        return score
    rows = torch.arange(patch_scores.shape[0], device=patch_scores.device)
    test_feat = embedding[rows, arg]  # (B, C) m_test*
    nearest = bank[nn_index[rows, arg]]  # (B, C) m*
    _, support = nearest_neighbors(nearest, bank, num_neighbors)  # (B, b) N_b(m*)
    dist = euclidean_distances(test_feat.unsqueeze(1), bank[support]).squeeze(1)  # (B, b)
    weight = 1.0 - F.softmax(dist, dim=1)[:, 0]
    return weight * score


def gaussian_kernel1d(sigma: float) -> Tensor:
    """Normalised 1-D Gaussian of size ``2 * int(4 sigma + 0.5) + 1`` (anomalib's kernel size rule)."""
    radius = int(4.0 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


class PatchCoreAnomalyMap(nn.Module):
    """Patch-score grid -> anomaly map: nearest upsampling to the input size, then a separable Gaussian blur.

    Args:
        input_size: ``(H, W)`` of the map.
        sigma: Blur standard deviation in pixels (anomalib: 4); 0 disables the blur.
    """

    def __init__(self, input_size: tuple[int, int], sigma: float = DEFAULT_SIGMA) -> None:
        super().__init__()
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.sigma = float(sigma)
        kernel = gaussian_kernel1d(self.sigma) if self.sigma > 0 else torch.ones(1)
        self.register_buffer("kernel", kernel, persistent=False)  # derived from sigma: not in checkpoints

    def forward(self, patch_scores: Tensor) -> Tensor:
        """Map ``(B, 1, h, w)`` patch scores to ``(B, 1, H, W)``."""
        amap = F.interpolate(patch_scores, size=self.input_size, mode="nearest")
        if self.kernel.numel() == 1:
            return amap
        pad = self.kernel.numel() // 2
        # Reflect padding (anomalib's blur); replicate where the map is too small to reflect.
        mode = "reflect" if pad < min(self.input_size) else "replicate"
        amap = F.conv2d(F.pad(amap, (pad, pad, 0, 0), mode=mode), self.kernel.view(1, 1, 1, -1))
        return F.conv2d(F.pad(amap, (0, 0, pad, pad), mode=mode), self.kernel.view(1, 1, -1, 1))


__all__ = ["DEFAULT_NUM_NEIGHBORS", "DEFAULT_SIGMA", "PatchCoreAnomalyMap", "euclidean_distances", "gaussian_kernel1d",
           "nearest_neighbors", "reweighted_image_score"]
