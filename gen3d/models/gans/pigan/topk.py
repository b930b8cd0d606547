"""pi-GAN's top-k generator loss (marcoamonteiro/pi-GAN ``train.py``): G trains on the fakes D finds most real."""

import math

import torch
from torch import Tensor

# marcoamonteiro/pi-GAN curriculums.py (CelebA) and train.py
TOPK_INTERVAL = 2000  # 'topk_interval'
TOPK_MIN = 0.6  # 'topk_v'
TOPK_BASE = 0.99  # topk_percentage = max(0.99 ** (step / topk_interval), topk_v)


def topk_fraction(step: int, interval: int = TOPK_INTERVAL, floor: float = TOPK_MIN, base: float = TOPK_BASE) -> float:
    """Fraction of a batch whose logits train G: ``max(base ** (step / interval), floor)`` (pi-GAN's top-k).

    Args:
        step: Training iteration.
        interval: Steps per factor ``base``.
        floor: Final fraction (1 disables top-k).
        base: Decay per interval.

    Returns:
        The fraction in ``[floor, 1]``.
    """
    return max(base ** (step / interval), floor)


def topk_logits(logits: Tensor, fraction: float) -> Tensor:
    """The ``ceil(fraction * N)`` largest logits (the fakes D finds most real).

    Args:
        logits: ``(N, 1)``.
        fraction: In ``(0, 1]``.

    Returns:
        ``(k, 1)``.
    """
    k = max(1, math.ceil(fraction * logits.shape[0]))
    return torch.topk(logits, k, dim=0).values
