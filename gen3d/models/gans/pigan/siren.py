"""pi-GAN's FiLM-SIREN radiance field and mapping network.

Chan et al. 2021, "pi-GAN: Periodic Implicit Generative Adversarial Networks for 3D-Aware Image Synthesis",
arXiv 2012.00926, Sec. 3.1.

Official code: ``marcoamonteiro/pi-GAN:siren/siren.py`` (``SPATIALSIRENBASELINE``, ``CustomMappingNetwork``,
``FiLMLayer``, ``frequency_init``, ``first_layer_film_sine_init``, ``UniformBoxWarp``):

- a FiLM layer is ``sin(gamma * (W x + b) + beta)`` with ``gamma = 15 * f + 30`` from the mapping network's
  frequencies ``f`` and ``beta`` its phase shifts;
- ``n_layers`` FiLM layers on the points scaled by ``2 / 0.24`` (``UniformBoxWarp(0.24)``), a linear density head,
  and a colour branch: one FiLM layer on ``[ray_dir, x]`` (the last of the ``n_layers + 1`` frequency/phase slices)
  then linear + sigmoid;
- mapping: ``z -> 3 x (Linear, LeakyReLU 0.2) -> (n_layers + 1) * hidden * 2`` (frequencies, then phases), Kaiming
  init (leaky-relu gain, fan-in) and the last layer's weight scaled by 0.25;
- init: every linear layer of the field ``U(+-sqrt(6 / fan_in) / 25)``, the first FiLM layer ``U(+-1 / fan_in)``;
  biases keep PyTorch's default.
"""

import math

import torch
from torch import Tensor, nn

FREQ_SCALE = 15.0  # siren.py forward_with_frequencies_phase_shifts: frequencies * 15 + 30
FREQ_OFFSET = 30.0
FREQ_INIT = 25.0  # frequency_init(25)
BOX_SIDE = 0.24  # UniformBoxWarp(0.24): coordinates scaled by 2 / 0.24
MAPPING_LAYERS = 3  # hidden layers of CustomMappingNetwork
MAPPING_LRELU = 0.2
MAPPING_LAST_SCALE = 0.25


def frequency_init(freq: float = FREQ_INIT):  # noqa: ANN201 - returns an nn.Module.apply callback
    """Init callback for ``module.apply``: linear weights ``U(-sqrt(6 / fan_in) / freq, +sqrt(6 / fan_in) / freq)``.

    Args:
        freq: The divisor (pi-GAN: 25).

    Returns:
        A function of one module.
    """
    def init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            bound = math.sqrt(6 / m.weight.shape[-1]) / freq
            with torch.no_grad():
                m.weight.uniform_(-bound, bound)
    return init


def first_layer_film_init(m: nn.Module) -> None:
    """Init callback of the first FiLM layer: linear weights ``U(-1 / fan_in, 1 / fan_in)``.

    Args:
        m: A module; only ``nn.Linear`` is changed.
    """
    if isinstance(m, nn.Linear):
        bound = 1 / m.weight.shape[-1]
        with torch.no_grad():
            m.weight.uniform_(-bound, bound)


class FiLMLayer(nn.Module):
    """``sin(gamma * (W x + b) + beta)`` with per-sample ``gamma`` and ``beta``.

    Args:
        in_features: Input width.
        out_features: Output width ``H``.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.layer = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x: Inputs ``(B, N, in_features)``.
            gamma: Frequencies ``(B, H)`` (already ``15 f + 30``).
            beta: Phase shifts ``(B, H)``.

        Returns:
            ``(B, N, H)``.
        """
        return torch.sin(gamma[:, None] * self.layer(x) + beta[:, None])


class PiGANMappingNetwork(nn.Module):
    """Mapping from ``z`` to the frequencies and phase shifts of every FiLM layer.

    Args:
        z_dim: Latent size.
        hidden_dim: Width of the hidden layers (pi-GAN: 256).
        out_dim: Total FiLM width ``(n_layers + 1) * H``; the network outputs twice that.
        num_layers: Hidden layers (pi-GAN: 3).
    """

    def __init__(self, z_dim: int, hidden_dim: int, out_dim: int, num_layers: int = MAPPING_LAYERS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.Linear(z_dim if i == 0 else hidden_dim, hidden_dim), nn.LeakyReLU(MAPPING_LRELU)]
        layers.append(nn.Linear(hidden_dim, out_dim * 2))
        self.network = nn.Sequential(*layers)
        for m in self.network:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=MAPPING_LRELU, mode="fan_in", nonlinearity="leaky_relu")
        with torch.no_grad():
            self.network[-1].weight.mul_(MAPPING_LAST_SCALE)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Map latents.

        Args:
            z: ``(B, z_dim)``.

        Returns:
            ``(frequencies, phase_shifts)``, each ``(B, out_dim)`` (raw ``f``, before ``15 f + 30``).
        """
        out = self.network(z)
        half = out.shape[-1] // 2
        return out[..., :half], out[..., half:]


class FiLMSiren(nn.Module):
    """The pi-GAN field: points and view directions to colour and density, conditioned by FiLM codes.

    Args:
        hidden_dim: FiLM width ``H`` (pi-GAN: 256).
        num_layers: FiLM layers of the density trunk (pi-GAN: 8).
        box_side: Side of the box mapped to ``[-1, 1]`` (coordinates times ``2 / box_side``).
    """

    def __init__(self, hidden_dim: int = 256, num_layers: int = 8, box_side: float = BOX_SIDE) -> None:
        super().__init__()
        self.hidden_dim, self.num_layers = hidden_dim, num_layers
        self.scale = 2.0 / box_side
        self.network = nn.ModuleList([FiLMLayer(3 if i == 0 else hidden_dim, hidden_dim) for i in range(num_layers)])
        self.final_layer = nn.Linear(hidden_dim, 1)
        self.color_layer_sine = FiLMLayer(hidden_dim + 3, hidden_dim)
        self.color_layer_linear = nn.Linear(hidden_dim, 3)
        for m in (self.network, self.final_layer, self.color_layer_sine, self.color_layer_linear):
            m.apply(frequency_init(FREQ_INIT))
        self.network[0].apply(first_layer_film_init)

    @property
    def film_dim(self) -> int:
        """Frequencies (and phases) the field consumes: ``(num_layers + 1) * hidden_dim``."""
        return (self.num_layers + 1) * self.hidden_dim

    def forward(self, points: Tensor, directions: Tensor, frequencies: Tensor,
                phase_shifts: Tensor) -> tuple[Tensor, Tensor]:
        """Evaluate the field.

        Args:
            points: World points ``(B, ..., 3)``.
            directions: Unit view directions ``(B, ..., 3)``.
            frequencies: Raw frequencies ``(B, film_dim)``.
            phase_shifts: Phase shifts ``(B, film_dim)``.

        Returns:
            ``(rgb (B, ..., 3) in [0, 1], sigma (B, ..., 1))`` (sigma is raw; the integrator applies relu).
        """
        shape = points.shape[:-1]
        b = points.shape[0]
        x = points.reshape(b, -1, 3) * self.scale
        gammas = frequencies * FREQ_SCALE + FREQ_OFFSET
        h = self.hidden_dim
        for i, layer in enumerate(self.network):
            x = layer(x, gammas[:, i * h:(i + 1) * h], phase_shifts[:, i * h:(i + 1) * h])
        sigma = self.final_layer(x)
        dirs = directions.reshape(b, -1, 3)
        rgb = self.color_layer_sine(torch.cat([dirs, x], -1), gammas[:, -h:], phase_shifts[:, -h:])
        rgb = torch.sigmoid(self.color_layer_linear(rgb))
        return rgb.reshape(*shape, 3), sigma.reshape(*shape, 1)
