"""Anomaly map and image score of UniAD (arXiv 2206.03687, Sec. 3.5; official ``utils/eval_helper.py``).

Map: per-location L2 distance between reconstructed and input features on the token grid, upsampled bilinearly
with ``align_corners=True`` (UniAD's ``nn.UpsamplingBilinear2d``) to the input size. No Gaussian blur.
Image score (MVTec setting, ``max``): the maximum of the map averaged over 16x16 windows, stride 1, no padding.
For an input size that is a multiple of 16 this equals UniAD's ``scale_factor=16``; otherwise the map is
resized to the exact input size.
"""

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS

SCORE_POOL_SIZE = 16  # official config `evaluator.metrics.auc: max, avgpool_size: [16, 16]`


def reconstruction_anomaly_map(features: Tensor, reconstruction: Tensor, output_size: Sequence[int]) -> Tensor:
    """Per-location L2 reconstruction error, upsampled.

    Args:
        features: Input features ``(B, C, h, w)``.
        reconstruction: Reconstructed features ``(B, C, h, w)``.
        output_size: ``(H, W)`` of the map.

    Returns:
        ``(B, 1, H, W)``.
    """
    dist = (reconstruction - features).pow(2).sum(dim=1, keepdim=True).sqrt()  # (B, 1, h, w)
    return F.interpolate(dist, size=tuple(output_size), mode="bilinear", align_corners=True)


def max_pooled_score(anomaly_map: Tensor, pool_size: int = SCORE_POOL_SIZE) -> Tensor:
    """Image score: max of the ``pool_size`` x ``pool_size`` box-averaged map (stride 1, no padding).

    Args:
        anomaly_map: ``(B, 1, H, W)`` with ``H, W >= pool_size``.
        pool_size: Averaging window.

    Returns:
        ``(B,)``.
    """
    return F.avg_pool2d(anomaly_map, pool_size, stride=1).flatten(1).amax(dim=1)


@MODELS.register_module()
class ReconstructionAnomalyMap(nn.Module):
    """Module form of :func:`reconstruction_anomaly_map` + :func:`max_pooled_score`.

    Args:
        output_size: ``(H, W)`` of the anomaly map (the model input size).
        score_pool_size: Averaging window of the image score.
    """

    def __init__(self, output_size: Sequence[int] = (224, 224), score_pool_size: int = SCORE_POOL_SIZE) -> None:
        super().__init__()
        self.output_size = (int(output_size[0]), int(output_size[1]))
        if min(self.output_size) < score_pool_size:
            raise ValueError(f"output_size {self.output_size} is smaller than score_pool_size {score_pool_size}")
        self.score_pool_size = score_pool_size

    def forward(self, features: Tensor, reconstruction: Tensor) -> tuple[Tensor, Tensor]:
        """Compute map and score.

        Args:
            features: Input features ``(B, C, h, w)``.
            reconstruction: Reconstructed features ``(B, C, h, w)``.

        Returns:
            ``anomaly_map`` ``(B, 1, H, W)`` and ``pred_score`` ``(B,)``.
        """
        anomaly_map = reconstruction_anomaly_map(features, reconstruction, self.output_size)
        return anomaly_map, max_pooled_score(anomaly_map, self.score_pool_size)
