"""Mapping network z -> w of StyleGAN (Karras et al. 2019, arXiv 1812.04948, Sec. 2; StyleGAN2 arXiv 1912.04958).

Facts from stylegan2-ada-pytorch ``training/networks.py:MappingNetwork``: ``z`` is normalised by its second moment;
a class label ``c`` is embedded by a linear layer to ``w_dim`` features, normalised likewise and concatenated; then
``num_layers`` leaky-ReLU equalized FC layers with learning-rate multiplier 0.01. During training the moving average
``w_avg`` is tracked with decay 0.995, and truncation (Sec. 2 / appendix B of 1812.04948) interpolates
``w_avg + psi * (w - w_avg)`` on the first ``truncation_cutoff`` of the ``num_ws`` broadcast copies.
"""

import torch
from torch import Tensor, nn

from gen3d.models.layers.equalized import EqualLinear
from gen3d.models.layers.fir import static_int

MAPPING_LAYERS = 8  # StyleGAN config-F: 8 FC layers
MAPPING_LR_MULT = 0.01  # MappingNetwork(lr_multiplier=0.01)
W_AVG_BETA = 0.995  # MappingNetwork(w_avg_beta=0.995)
NORM_EPS = 1e-8  # normalize_2nd_moment(eps=1e-8)


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = NORM_EPS) -> Tensor:
    """Divide by the root mean square along ``dim`` (pixel norm of the latent).

    Args:
        x: Input, e.g. ``(N, D)``.
        dim: Dimension to normalise.
        eps: Numerical floor.

    Returns:
        Same shape as ``x`` with unit second moment along ``dim``.
    """
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """Map ``z`` (and an optional label ``c``) to ``w``, broadcast to ``num_ws`` copies.

    Args:
        z_dim: Latent dimension; 0 for a label-only mapping (the discriminator's ``cmap``).
        c_dim: Label dimension; 0 for unconditional.
        w_dim: Output dimension.
        num_ws: Broadcast copies; ``None`` returns ``(N, w_dim)``.
        num_layers: FC layers.
        lr_multiplier: Learning-rate multiplier of the FC layers.
        w_avg_beta: Decay of the ``w_avg`` moving average; ``None`` disables tracking (and truncation).
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = MAPPING_LAYERS,
                 lr_multiplier: float = MAPPING_LR_MULT, w_avg_beta: float | None = W_AVG_BETA) -> None:
        super().__init__()
        if z_dim + c_dim == 0:
            raise ValueError("the mapping network needs z_dim > 0 or c_dim > 0")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = w_dim if c_dim > 0 else 0
        if c_dim > 0:
            self.embed = EqualLinear(c_dim, embed_features)
        features = [z_dim + embed_features] + [w_dim] * num_layers
        for idx in range(num_layers):  # named fc0..fc{L-1} like the official code, so weights convert 1:1
            layer = EqualLinear(features[idx], features[idx + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor | None, c: Tensor | None = None, truncation_psi: float | Tensor = 1.0,
                truncation_cutoff: int | None = None, update_w_avg: bool = False) -> Tensor:
        """Map latents to ``w``.

        Args:
            z: ``(N, z_dim)``; ignored when ``z_dim == 0``.
            c: ``(N, c_dim)`` label (one-hot or any vector); required when ``c_dim > 0``.
            truncation_psi: 1 disables truncation; 0 returns ``w_avg``; a ``[1]`` tensor is always applied.
            truncation_cutoff: Truncate only the first ``cutoff`` of the ``num_ws`` copies; ``None`` = all.
            update_w_avg: Update ``w_avg`` with this batch (the training step of the generator does it).

        Returns:
            ``(N, num_ws, w_dim)``, or ``(N, w_dim)`` when ``num_ws`` is ``None``.
        """
        parts = []
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or static_int(z.shape[1]) != self.z_dim:
                raise ValueError(f"expected z of shape (N, {self.z_dim})")
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or static_int(c.shape[1]) != self.c_dim:
                raise ValueError(f"expected c of shape (N, {self.c_dim})")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        if update_w_avg:
            if self.w_avg_beta is None:
                raise ValueError("w_avg tracking is disabled (w_avg_beta=None)")
            with torch.no_grad():
                # fp32 even under autocast: the buffer is float32
                self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if isinstance(truncation_psi, Tensor) or truncation_psi != 1:  # a tensor psi: a graph input at export
            if self.w_avg_beta is None:
                raise ValueError("truncation needs w_avg (w_avg_beta=None)")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.to(x.dtype).lerp(x, truncation_psi)
            else:
                cut = int(truncation_cutoff)
                x = torch.cat([self.w_avg.to(x.dtype).lerp(x[:, :cut], truncation_psi), x[:, cut:]], dim=1)
        return x
