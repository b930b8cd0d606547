"""The padding space of PadInv (Bai et al., ECCV'22, arXiv 2203.11105, Sec. 3.2) on the StyleGAN2 generator.

"High-fidelity GAN Inversion with Padding Space": which layers take padding maps, their shapes, and neutral maps.
The generator stays frozen; an encoder predicts instance-aware maps that replace the zero padding of the
non-upsampling 3x3 convs at resolutions 4..32 (official ``only_pad_even=True``, ``pad_layer_num=4``: conv layers
0, 2, 4, 6) and, centre-cropped to 4x4, the constant input (``encode_const_input=True``). The official encoder
(``EzioBy/padinv@49304d6`` ``models/padinv_encoder.py``) makes every map ``S = 2 ** (pad_layer_num + 1) + 2 = 34``
pixels wide (bicubic resize) and the generator centre-crops it to ``R + 2`` per layer
(``models/stylegan2_generator_padinv.py``). The maps are passed as
``generator.synthesis(ws, padding_maps={'const': ..., 0: ..., 2: ...})`` (see
:mod:`gen3d.models.gans.stylegan2.padded_conv`); :func:`padding_maps_from_list` converts the official list.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gen3d.models.gans.stylegan2.padded_conv import CONST_KEY, center_crop, conv_layers

__all__ = ["CONST_KEY", "PAD_LAYER_NUM", "center_crop", "padding_layers", "padding_map_size",
           "padding_maps_from_list", "padding_shapes", "zero_padding_maps"]

PAD_LAYER_NUM = 4  # official --pad_layer_num=4 (padinv_encoder_config.py): resolutions 4, 8, 16, 32


def _synthesis(generator: nn.Module) -> nn.Module:
    return getattr(generator, "synthesis", generator)


def padding_layers(generator: nn.Module, num_layers: int = PAD_LAYER_NUM) -> list[tuple[int, int, int]]:
    """The non-upsampling synthesis convs PadInv pads: the first ``num_layers`` of them, lowest resolution first.

    Args:
        generator: A StyleGAN2 generator (or its ``synthesis``).
        num_layers: Official ``pad_layer_num`` (4: resolutions 4..32; 0: only the constant input). A generator
            with fewer such convs gives all it has.

    Returns:
        ``(layer index, resolution, channels)`` per padded conv: the conv reads ``ws[:, layer]`` and its map has
        ``channels`` (its input channels).
    """
    if num_layers < 0:
        raise ValueError(f"num_layers must be >= 0, got {num_layers}")
    convs = [(layer, conv) for layer, _, conv in conv_layers(_synthesis(generator)) if conv.up == 1]
    return [(layer, conv.resolution, conv.in_channels) for layer, conv in convs[:num_layers]]


def padding_map_size(generator: nn.Module, num_layers: int = PAD_LAYER_NUM) -> int:
    """Side ``S`` of every map: the last padded resolution + 2 (official ``2 ** (pad_layer_num + 1) + 2``, 34).

    Args:
        generator: A StyleGAN2 generator (or its ``synthesis``).
        num_layers: Official ``pad_layer_num``.

    Returns:
        ``S`` (at least 4, the constant input's side).
    """
    layers = padding_layers(generator, num_layers)
    return max(4, layers[-1][1] + 2) if layers else 4


def padding_shapes(generator: nn.Module, batch: int, num_layers: int = PAD_LAYER_NUM,
                   encode_const: bool = True) -> dict:
    """Shapes of the maps of :func:`padding_layers` (and of the constant-input map).

    Args:
        generator: A StyleGAN2 generator (or its ``synthesis``).
        batch: ``N``.
        num_layers: Official ``pad_layer_num``.
        encode_const: Include the ``'const'`` map (official ``encode_const_input``).

    Returns:
        ``{'const': (N, C_4, S, S), layer: (N, C_layer, S, S), ...}``.
    """
    size = padding_map_size(generator, num_layers)
    shapes = {}
    if encode_const:
        const = getattr(_synthesis(generator), f"b{_synthesis(generator).block_resolutions[0]}").const
        shapes[CONST_KEY] = (batch, const.shape[0], size, size)
    for layer, _, channels in padding_layers(generator, num_layers):
        shapes[layer] = (batch, channels, size, size)
    return shapes


def zero_padding_maps(generator: nn.Module, batch: int, num_layers: int = PAD_LAYER_NUM, encode_const: bool = True,
                      device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> dict:
    """Neutral maps: zero rings (the plain zero padding) and the generator's own constant for ``'const'``.

    With them the synthesis reproduces its plain output (bit for bit: the ring term is an exact zero). They are
    fresh tensors, not tied to the generator (the constant is copied), e.g. a starting point to optimise.

    Args:
        generator: A StyleGAN2 generator (or its ``synthesis``).
        batch: ``N``.
        num_layers: Official ``pad_layer_num``.
        encode_const: Include the ``'const'`` map.
        device: Device of the maps (default: the generator's).
        dtype: Their dtype.

    Returns:
        ``{key: tensor}`` with the shapes of :func:`padding_shapes`.
    """
    synthesis = _synthesis(generator)
    const = getattr(synthesis, f"b{synthesis.block_resolutions[0]}").const
    device = const.device if device is None else device
    maps = {key: torch.zeros(shape, device=device, dtype=dtype)
            for key, shape in padding_shapes(generator, batch, num_layers, encode_const).items()}
    if CONST_KEY in maps:
        with torch.no_grad():
            crop = center_crop(maps[CONST_KEY], const.shape[-1])
            crop.copy_(const.detach().to(device, dtype).expand(batch, -1, -1, -1))
    return maps


def padding_maps_from_list(maps: Sequence[Tensor | None]) -> dict:
    """The official list of padding maps as the ``padding_maps`` dict of the synthesis network.

    Args:
        maps: Official order (``latent_dict['padding_maps']`` of ``models/padinv_encoder.py``): index 0 replaces
            the constant input, index ``l + 1`` pads conv ``l``.

    Returns:
        ``{'const': maps[0], l: maps[l + 1]}`` without the None entries.
    """
    out = {}
    for index, value in enumerate(maps):
        if value is not None:
            out[CONST_KEY if index == 0 else index - 1] = value
    return out
