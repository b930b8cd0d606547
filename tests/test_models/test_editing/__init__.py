"""Tests of gen3d.models.editing (SeFa, ReSeFa); shared tiny models below."""

import numpy as np
import torch

from gen3d.registry import MODELS

TINY = dict(type="StyleGAN2Generator", resolution=16, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64,
            channel_max=16, img_channels=3)


def tiny_generator(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return MODELS.build({**TINY, **overrides}).eval()


def orthonormal(rows: int, cols: int, rng: np.random.RandomState) -> np.ndarray:
    q, _ = np.linalg.qr(rng.randn(rows, cols))
    return q


class LinearImage:
    """Synthetic generator x(w) = (J w + b) reshaped to (C, H, W): its Jacobian is J."""

    def __init__(self, jac: np.ndarray, shape: tuple[int, int, int], bias: np.ndarray | None = None):
        self.jac = torch.as_tensor(jac, dtype=torch.float64)
        self.shape = shape
        self.bias = torch.zeros(self.jac.shape[0], dtype=torch.float64) if bias is None else torch.as_tensor(bias)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return (self.jac @ w.double() + self.bias).reshape(self.shape)


def place_rows(j_r: np.ndarray, j_b: np.ndarray, mask: np.ndarray, channels: int) -> np.ndarray:
    """Jacobian (C*H*W, d) whose rows inside the (H, W) mask (all channels) are j_r and outside are j_b."""
    h, w = mask.shape
    d = j_r.shape[1]
    jac = np.zeros((channels, h, w, d))
    jac[:, mask] = j_r.reshape(channels, int(mask.sum()), d)
    jac[:, ~mask] = j_b.reshape(channels, int((~mask).sum()), d)
    return jac.reshape(-1, d)
