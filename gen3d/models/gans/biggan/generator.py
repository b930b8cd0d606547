"""BigGAN's generator (Brock et al., arXiv 1809.11096) at any small resolution, for InterClassGAN (arXiv 2203.11173).

Architecture (BigGAN Sec. 3 and Appendix B, BigGAN-PyTorch ``BigGAN.py``)::

    z [N, z_dim] = [z_0 | z_1 | ... | z_B]            hierarchical latent: B + 1 equal chunks
    e = E c          [N, shared_dim]                  shared class embedding (a bias-free linear on the one-hot c,
                                                      i.e. an embedding table that also takes soft labels)
    h = SNLinear(z_0) -> [N, C_0, 4, 4]               layer 'fc'
    h = GBlock_b(h, y_b = [e | z_{b+1}])              layers 'block0' ... : [N, C_{b+1}, 8 * 2^b, 8 * 2^b];
                                                      y_b drives the block's two conditional BNs, whose
                                                      CCBN + ReLU outputs are layers 'block{b}.act1'
                                                      [N, C_b, 4 * 2^b, ..] and 'block{b}.act2' [N, C_{b+1}, ..]
    img = tanh(SNConv3x3(a = ReLU(BN(h))))            [N, img_channels, R, R]; a is layer 'out.act' (a plain BN)

Channels: ``C_i = ch * channel_mults[i]``. Spectral norm on every conv and linear of G (BigGAN), orthogonal init.

Per-layer features, for channel awareness: ``forward(..., return_features=True)`` fills ``GeneratorOutput.features``
with, in forward order, ``'fc' [N, C_0, 4, 4]``, then per block ``'block{b}.act1'``, ``'block{b}.act2'`` (its CCBN +
ReLU activations) and ``'block{b}'`` (its output, after the residual sum), then ``'out.act' [N, C_B, R, R]`` (see
:attr:`BigGANGenerator.layer_names` / :meth:`BigGANGenerator.layer_shapes`); ``layer_hook(name, features) ->
features`` may replace any of them (channel masking) before the next layer reads it. InterClassGAN (arXiv
2203.11173, Sec. 3) studies "CCBN followed by ReLU": :attr:`BigGANGenerator.awareness_layers` are the
``'block{b}.act{1,2}'``, :attr:`BigGANGenerator.block_layer_names` the ``'fc'`` and block outputs. Without
``layer_hook`` and ``return_features`` the forward runs exactly the ops it ran before these hook points existed.

Interface (:mod:`gen3d.models.gans.generator_output`): ``truncation_psi`` scales ``z`` towards its mean 0 (the
latent analogue of StyleGAN's ``w_avg`` lerp; BigGAN's own truncation resamples ``|z| > threshold`` instead, see
:func:`truncated_z`); ``truncation_cutoff``, ``noise_mode`` and ``update_w_avg`` have nothing to act on (no noise
inputs, no ``w_avg``) and are accepted for the interface. In eval mode the batch norms use their running statistics,
so an eval output is a deterministic, batch-independent function of ``(z, c)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.registry import MODELS

from ..generator_output import GeneratorOutput
from .layers import BN_EPS, GBlock, sn_conv, sn_linear

BOTTOM_WIDTH = 4
LayerHook = Callable[[str, Tensor], Tensor]


def truncated_z(num: int, z_dim: int, threshold: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """BigGAN's truncation trick (Sec. 3.1): ``N(0, I)`` latents ``[num, z_dim]`` with ``|z_i| > threshold`` redrawn."""
    z = torch.randn(num, z_dim, generator=generator)
    while (bad := z.abs() > threshold).any():
        z[bad] = torch.randn(int(bad.sum()), generator=generator)
    return z


@MODELS.register_module()
class BigGANGenerator(nn.Module):
    """Class-conditional BigGAN generator: ``z [N, z_dim], c [N, c_dim] -> image [N, C, R, R]`` (module docstring).

    Args:
        resolution: Output side ``R`` (a power of two >= 8); ``log2(R / 4)`` up-blocks.
        z_dim: Latent size, split into ``num_blocks + 1`` equal chunks (must divide).
        c_dim: Number of classes (one-hot condition size); 0 gives an unconditional G (BNs driven by z chunks).
        shared_dim: Size of the shared class embedding (BigGAN: 128).
        ch: Channel unit (BigGAN: 96 at 128 px, 64 in its CIFAR config).
        channel_mults: ``num_blocks + 1`` multipliers of ``ch``: the 4x4 input, then each block's output; None: all 4
            (BigGAN's 32-px architecture).
        img_channels: Output channels.
    """

    pose_dim = 0

    def __init__(self, resolution: int = 32, z_dim: int = 64, c_dim: int = 0, shared_dim: int = 32, ch: int = 16,
                 channel_mults: Sequence[int] | None = None, img_channels: int = 3) -> None:
        super().__init__()
        num_blocks = int(round(math.log2(resolution / BOTTOM_WIDTH)))
        if resolution < 8 or BOTTOM_WIDTH * 2**num_blocks != resolution:
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        if z_dim % (num_blocks + 1):
            raise ValueError(f"z_dim={z_dim} must split into {num_blocks + 1} equal chunks (one per block + fc)")
        mults = tuple(channel_mults) if channel_mults is not None else (4,) * (num_blocks + 1)
        if len(mults) != num_blocks + 1:
            raise ValueError(f"channel_mults needs {num_blocks + 1} entries at {resolution} px, got {len(mults)}")
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, c_dim, resolution, img_channels
        self.shared_dim = shared_dim if c_dim > 0 else 0
        self.chunk = z_dim // (num_blocks + 1)
        self.channels = tuple(ch * m for m in mults)
        self.shared = nn.Linear(c_dim, shared_dim, bias=False) if c_dim > 0 else None
        if self.shared is not None:
            nn.init.normal_(self.shared.weight)  # nn.Embedding's init; not spectrally normalised (BigGAN)
        self.fc = sn_linear(self.chunk, self.channels[0] * BOTTOM_WIDTH**2)
        cond_dim = self.shared_dim + self.chunk
        self.blocks = nn.ModuleList(GBlock(self.channels[i], self.channels[i + 1], cond_dim)
                                    for i in range(num_blocks))
        self.out_bn = nn.BatchNorm2d(self.channels[-1], eps=BN_EPS)
        self.out_conv = sn_conv(self.channels[-1], img_channels)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the feature layers, in forward order (module docstring).

        E.g. at 16 px ``('fc', 'block0.act1', 'block0.act2', 'block0', 'block1.act1', 'block1.act2', 'block1',
        'out.act')``.
        """
        return tuple(self.layer_shapes())

    @property
    def block_layer_names(self) -> tuple[str, ...]:
        """``('fc', 'block0', ..., 'block{B-1}')``: the first linear and the block outputs (after the residual sum)."""
        return ("fc", *(f"block{i}" for i in range(len(self.blocks))))

    @property
    def awareness_layers(self) -> tuple[str, ...]:
        """``('block0.act1', 'block0.act2', ...)``: every CCBN + ReLU activation, where InterClassGAN reads channels."""
        return tuple(f"block{i}.act{j}" for i in range(len(self.blocks)) for j in (1, 2))

    def layer_shapes(self) -> dict[str, tuple[int, int, int]]:
        """``{name: (C, H, W)}`` of each feature layer, in forward order."""
        shapes = {"fc": (self.channels[0], BOTTOM_WIDTH, BOTTOM_WIDTH)}
        for i in range(len(self.blocks)):
            side = BOTTOM_WIDTH * 2**i
            shapes[f"block{i}.act1"] = (self.channels[i], side, side)
            shapes[f"block{i}.act2"] = shapes[f"block{i}"] = (self.channels[i + 1], 2 * side, 2 * side)
        shapes["out.act"] = (self.channels[-1], self.img_resolution, self.img_resolution)
        return shapes

    def embed(self, c: Tensor | None, num: int) -> Tensor | None:
        """Shared class embedding ``[N, shared_dim]`` of ``c [N, c_dim]`` (None when unconditional).

        Raises:
            ValueError: ``c`` missing or of the wrong shape for a conditional generator.
        """
        if self.shared is None:
            return None
        if c is None or c.shape != (num, self.c_dim):
            raise ValueError(f"a conditional BigGANGenerator needs c [{num}, {self.c_dim}], got "
                             f"{None if c is None else tuple(c.shape)}")
        return self.shared(c.to(self.shared.weight.dtype))

    def block_conditions(self, z: Tensor, c: Tensor | None = None) -> list[Tensor]:
        """The condition ``y_b = [E c | z_{b+1}]`` ``[N, shared_dim + chunk]`` of each block."""
        zs = z.split(self.chunk, dim=1)
        e = self.embed(c, z.shape[0])
        return [zb if e is None else torch.cat([e, zb], 1) for zb in zs[1:]]

    def forward(self, z: Tensor, c: Tensor | None = None, pose: Tensor | None = None, *,
                truncation_psi: float | Tensor = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "random", update_w_avg: bool = False, return_features: bool = False,
                layer_hook: LayerHook | None = None) -> GeneratorOutput:
        """Generate images.

        Args:
            z: Latents ``[N, z_dim]``.
            c: One-hot (or soft) classes ``[N, c_dim]``; None only when ``c_dim == 0``.
            pose: Unused (a 2D generator); must be None.
            truncation_psi: ``z`` is scaled by it (towards the mean latent 0).
            truncation_cutoff: Unused (interface).
            noise_mode: Unused (BigGAN has no noise inputs; interface).
            update_w_avg: Unused (interface).
            return_features: Fill ``features`` with every layer's output (after ``layer_hook``).
            layer_hook: Optional ``(name, features [N, C_l, H_l, W_l]) -> features`` applied at each layer of
                :attr:`layer_names` (CCBN + ReLU activations included).

        Returns:
            ``GeneratorOutput(image [N, img_channels, R, R] in [-1, 1], features {name: [N, C_l, H_l, W_l]}?)``.
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"BigGANGenerator needs z [N, {self.z_dim}], got {tuple(z.shape)}")
        if pose is not None:
            raise ValueError("BigGANGenerator is a 2D generator: pose must be None")
        if isinstance(truncation_psi, Tensor) or truncation_psi != 1:
            z = z * truncation_psi
        ys = self.block_conditions(z, c)
        features: dict[str, Tensor] = {}

        def visit(name: str, h: Tensor) -> Tensor:
            h = layer_hook(name, h) if layer_hook is not None else h
            if return_features:
                features[name] = h
            return h

        h = self.fc(z[:, : self.chunk]).view(z.shape[0], self.channels[0], BOTTOM_WIDTH, BOTTOM_WIDTH)
        h = visit("fc", h)
        hooked = layer_hook is not None or return_features
        for i, (block, y) in enumerate(zip(self.blocks, ys)):
            inner = (lambda name, a, i=i: visit(f"block{i}.{name}", a)) if hooked else None
            h = visit(f"block{i}", block(h, y, inner))
        a = F.relu(self.out_bn(h))
        if hooked:
            a = visit("out.act", a)
        img = torch.tanh(self.out_conv(a))
        return GeneratorOutput(image=img, features=features if return_features else None)
