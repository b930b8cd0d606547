"""StyleGAN2 generator (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", arXiv 1912.04958).

Config-F layout as in stylegan2-ada-pytorch ``training/networks.py`` (``Generator``, ``SynthesisNetwork``,
``SynthesisBlock``): a learned constant 4x4 input, two modulated 3x3 convs per resolution (the first of each block
above 4x4 up-samples 2x with a [1, 3, 3, 1] FIR filter), per-pixel noise, and the "skip" output architecture (Fig. 7b):
every block adds its ToRGB output to the FIR-up-sampled image of the previous block. Channels at resolution ``r``
are ``min(channel_base // r, channel_max)``.

``num_ws = 2 * log2(resolution) - 2``: one ``w`` per conv plus one for the last ToRGB; the ToRGB of each block shares
its ``w`` with the next block's first conv. Style mixing is done by the GAN model on the ``ws`` it passes to
:meth:`StyleGAN2Generator.synthesis`. Module names follow the official code, so weights convert key by key.

Two optional hooks of :meth:`SynthesisNetwork.forward`, inert by default (the output is then bit-identical to the
plain network), let a method build on the synthesis network without copying it (DepthGAN, arXiv 2202.08553):
``conv_ws`` gives the convolutions other ``w`` than the ToRGB layers that share their index, and ``layer_hook`` sees
(and may replace) the features after every convolution, numbered as the ``ws`` they use (conv ``l`` reads ``ws[:, l]``,
Hammer's ``layer{l}``).

A third, ``padding_maps`` (PadInv, arXiv 2203.11105 Sec. 3.2; official ``EzioBy/padinv@49304d6``
``models/stylegan2_generator_padinv.py``), replaces the zero padding of chosen non-upsampling convs and the constant
input with given maps: a dict ``{conv index l: (N, C_l, S, S), 'const': (N, C_4, S, S)}``, centre-cropped to
``R_l + 2`` (``4``); see :mod:`.padded_conv`. None or ``{}``: the plain network.
"""

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from gen3d.models.layers.fir import RESAMPLE_FILTER, setup_filter, static_int, upsample2d
from gen3d.registry import MODELS

from ..generator_output import GeneratorOutput
from .mapping import MAPPING_LAYERS, MAPPING_LR_MULT, W_AVG_BETA, MappingNetwork
from .modulated_conv import ModulatedConv2d, ToRGB
from .padded_conv import CONST_KEY, check_padding_maps

CHANNEL_BASE = 32768  # stylegan2-ada cfg_specs 'stylegan2': fmaps=1 -> channel_base = 32768
CHANNEL_MAX = 512


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature channels at one resolution: ``min(channel_base // resolution, channel_max)``.

    Args:
        resolution: Spatial size.
        channel_base: Overall channel multiplier.
        channel_max: Cap.

    Returns:
        The channel count.
    """
    return min(channel_base // resolution, channel_max)


#: ``(layer index, features (N, C, H, W)) -> features``, called after every synthesis conv (see the module docstring).
LayerHook = Callable[[int, Tensor], Tensor]


def _run_conv(conv: ModulatedConv2d, x: Tensor, w_iter: Iterator[Tensor], conv_w_iter: Iterator[Tensor] | None,
              noise_mode: str, layer_hook: LayerHook | None, layer: int, padding_maps: dict | None = None) -> Tensor:
    """One synthesis conv with the block's ``w`` (or the ``conv_ws`` override), then the optional hook.

    Args:
        conv: The conv.
        x: Its input ``(N, C_in, H, W)``.
        w_iter: The block's ``ws``, advanced by one.
        conv_w_iter: The block's ``conv_ws`` or None, advanced by one.
        noise_mode: Noise mode of the conv.
        layer_hook: Optional hook.
        layer: Network-wide conv index passed to the hook.
        padding_maps: Checked, cropped PadInv maps or None; ``padding_maps[layer]`` (if any) pads this conv.

    Returns:
        ``(N, C_out, H', W')``.
    """
    w = next(w_iter)
    if conv_w_iter is not None:
        w = next(conv_w_iter)
    if padding_maps and layer in padding_maps:
        x = conv(x, w, noise_mode=noise_mode, padding_map=padding_maps[layer])
    else:
        x = conv(x, w, noise_mode=noise_mode)
    return x if layer_hook is None else layer_hook(layer, x)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network.

    Args:
        in_channels: Input channels; 0 for the 4x4 block (learned constant input).
        out_channels: Output channels.
        w_dim: Dimension of ``w``.
        resolution: Output resolution of the block.
        img_channels: Image channels.
        is_last: Whether this is the last block.
        architecture: ``"skip"`` (ToRGB in every block) or ``"orig"`` (ToRGB in the last block only).
        clamp: Optional output clamp of the convs.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.architecture = architecture
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_FILTER), persistent=False)
        self.num_conv = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = ModulatedConv2d(in_channels, out_channels, w_dim, resolution, up=2, clamp=clamp)
            self.num_conv += 1
        self.conv1 = ModulatedConv2d(out_channels, out_channels, w_dim, resolution, clamp=clamp)
        self.num_conv += 1
        self.num_torgb = int(is_last or architecture == "skip")
        if self.num_torgb:
            self.torgb = ToRGB(out_channels, img_channels, w_dim, clamp=clamp)

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, noise_mode: str = "random",
                conv_ws: Tensor | None = None, layer_hook: LayerHook | None = None,
                first_layer: int = 0, padding_maps: dict | None = None) -> tuple[Tensor, Tensor | None]:
        """Run the block.

        Args:
            x: Features ``(N, in_channels, R / 2, R / 2)``; ``None`` for the first block.
            img: Image so far ``(N, img_channels, R / 2, R / 2)`` or ``None``.
            ws: ``(N, num_conv + num_torgb, w_dim)``.
            noise_mode: ``"random"``, ``"const"`` or ``"none"``.
            conv_ws: Optional ``w`` of the convs, same shape as ``ws`` (its ToRGB entries are unused); None: ``ws``.
            layer_hook: Optional ``(layer, features (N, out_channels, R, R)) -> features`` after every conv.
            first_layer: Network-wide index of this block's first conv (the ``layer`` the hook receives).
            padding_maps: Optional PadInv maps checked and cropped by :func:`.padded_conv.check_padding_maps`,
                keyed by network-wide conv index (and ``'const'``, ``(N, C, R, R)``, for the first block).

        Returns:
            Features ``(N, out_channels, R, R)`` and the image ``(N, img_channels, R, R)`` (``None`` before the last
            block of an ``"orig"`` generator).
        """
        w_iter = iter(ws.unbind(dim=1))
        conv_w_iter = None if conv_ws is None else iter(conv_ws.unbind(dim=1))
        if self.in_channels == 0 and padding_maps and CONST_KEY in padding_maps:
            x = padding_maps[CONST_KEY].to(self.const.dtype)  # PadInv encode_const_input: replaces the constant
        elif self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        else:
            x = _run_conv(self.conv0, x, w_iter, conv_w_iter, noise_mode, layer_hook, first_layer, padding_maps)
        x = _run_conv(self.conv1, x, w_iter, conv_w_iter, noise_mode, layer_hook, first_layer + self.num_conv - 1,
                      padding_maps)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w_iter))
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """``ws -> image`` for the blocks 4, 8, ..., resolution.

    Args:
        w_dim: Dimension of ``w``.
        resolution: Output resolution (power of two, at least 4).
        img_channels: Image channels.
        channel_base: Channel multiplier.
        channel_max: Channel cap.
        architecture: ``"skip"`` or ``"orig"``.
        clamp: Optional output clamp of the convs.
    """

    def __init__(self, w_dim: int, resolution: int, img_channels: int, channel_base: int = CHANNEL_BASE,
                 channel_max: int = CHANNEL_MAX, architecture: str = "skip", clamp: float | None = None) -> None:
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
        if architecture not in ("skip", "orig"):
            raise ValueError(f"unsupported generator architecture {architecture!r}")
        self.w_dim, self.resolution, self.img_channels = w_dim, resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            block = SynthesisBlock(in_ch, channels_at(res, channel_base, channel_max), w_dim, res, img_channels,
                                   is_last=res == resolution, architecture=architecture, clamp=clamp)
            self.num_ws += block.num_conv + (block.num_torgb if res == resolution else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: Tensor, noise_mode: str = "random", conv_ws: Tensor | None = None,
                layer_hook: LayerHook | None = None, padding_maps: dict | None = None) -> Tensor:
        """Synthesise images.

        Args:
            ws: ``(N, num_ws, w_dim)``.
            noise_mode: ``"random"``, ``"const"`` (stored noise maps; deterministic) or ``"none"``.
            conv_ws: Optional ``(N, num_ws, w_dim)``: conv ``l`` reads ``conv_ws[:, l]`` instead of ``ws[:, l]``
                (the ToRGB layers keep reading ``ws``). None: the plain network.
            layer_hook: Optional ``(l, features (N, C_l, R_l, R_l)) -> features`` called after conv ``l``
                (``l = 0 .. num_ws - 2``); what it returns feeds the next conv and the block's ToRGB.
            padding_maps: Optional PadInv maps (arXiv 2203.11105 Sec. 3.2): ``{l: (N, C_in of conv l, S, S)}`` for
                non-upsampling convs ``l`` (their zero padding becomes the border ring of the map centre-cropped
                to ``R_l + 2``) and ``'const': (N, C_4, S, S)`` (its centre 4x4 replaces the constant input).
                Bad keys or shapes raise ``ValueError`` naming the layer. None / ``{}``: the plain network.

        Returns:
            ``(N, img_channels, resolution, resolution)``, roughly in ``[-1, 1]``.
        """
        if ws.ndim != 3 or (static_int(ws.shape[1]), static_int(ws.shape[2])) != (self.num_ws, self.w_dim):
            raise ValueError(f"expected ws of shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        if conv_ws is not None and tuple(conv_ws.shape) != tuple(ws.shape):
            raise ValueError(f"conv_ws must have the shape of ws {tuple(ws.shape)}, got {tuple(conv_ws.shape)}")
        if padding_maps is not None:
            padding_maps = check_padding_maps(self, padding_maps, ws.shape[0])
        ws = ws.float()
        conv_ws = None if conv_ws is None else conv_ws.float()
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            count = block.num_conv + block.num_torgb
            block_conv_ws = None if conv_ws is None else conv_ws.narrow(1, w_idx, count)
            x, img = block(x, img, ws.narrow(1, w_idx, count), noise_mode=noise_mode, conv_ws=block_conv_ws,
                           layer_hook=layer_hook, first_layer=w_idx, padding_maps=padding_maps)
            w_idx += block.num_conv
        return img


@MODELS.register_module()
class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator: mapping network plus skip synthesis network.

    Args:
        resolution: Output resolution (power of two).
        z_dim: Latent dimension.
        w_dim: Intermediate latent dimension.
        c_dim: Label dimension; 0 for unconditional.
        mapping_layers: FC layers of the mapping network.
        channel_base: Channel multiplier (channels ``min(channel_base // r, channel_max)``).
        channel_max: Channel cap.
        img_channels: Image channels.
        w_avg_beta: Decay of the tracked ``w_avg``.
        mapping_lr_mult: Learning-rate multiplier of the mapping network.
        architecture: ``"skip"`` (config F) or ``"orig"``.
        conv_clamp: Optional activation clamp of the synthesis convs (stylegan2-ada uses 256 with mixed precision).

    Attributes:
        z_dim, c_dim, pose_dim, img_resolution, img_channels: The generator interface (``pose_dim = 0``).
        num_ws: Number of ``w`` vectors the synthesis network consumes.
        mapping: :class:`MappingNetwork` with the ``w_avg`` buffer.
        synthesis: :class:`SynthesisNetwork`.
    """

    def __init__(self, resolution: int, z_dim: int = 512, w_dim: int = 512, c_dim: int = 0,
                 mapping_layers: int = MAPPING_LAYERS, channel_base: int = CHANNEL_BASE, channel_max: int = CHANNEL_MAX,
                 img_channels: int = 3, w_avg_beta: float = W_AVG_BETA, mapping_lr_mult: float = MAPPING_LR_MULT,
                 architecture: str = "skip", conv_clamp: float | None = None) -> None:
        super().__init__()
        self.resolution, self.z_dim, self.w_dim, self.c_dim = resolution, z_dim, w_dim, c_dim
        self.img_resolution, self.img_channels, self.pose_dim = resolution, img_channels, 0
        self.synthesis = SynthesisNetwork(w_dim, resolution, img_channels, channel_base, channel_max,
                                          architecture=architecture, clamp=conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers,
                                      lr_multiplier=mapping_lr_mult, w_avg_beta=w_avg_beta)

    def forward(self, z: Tensor, c: Tensor | None = None, pose: Tensor | None = None,
                truncation_psi: float | Tensor = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "random", update_w_avg: bool = False,
                padding_maps: dict | None = None) -> GeneratorOutput:
        """Generate images from latents (the generator interface of :mod:`gen3d.models.gans.generator_output`).

        Args:
            z: ``(N, z_dim)``.
            c: ``(N, c_dim)`` labels, required when ``c_dim > 0``.
            pose: Must be None (a 2D generator, ``pose_dim = 0``).
            truncation_psi: Truncation strength (1: none); a ``[1]`` tensor in an exported graph.
            truncation_cutoff: Truncate only the first ``cutoff`` ws.
            noise_mode: ``"random"``, ``"const"`` or ``"none"``; ``"const"`` is deterministic and export-clean.
            update_w_avg: Update the ``w_avg`` moving average with this batch.
            padding_maps: Optional PadInv padding maps of :meth:`SynthesisNetwork.forward`; None: the plain generator.

        Returns:
            ``GeneratorOutput(image=(N, img_channels, resolution, resolution))``.
        """
        if pose is not None:
            raise ValueError("StyleGAN2Generator is a 2D generator (pose_dim 0): pass pose=None")
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_w_avg=update_w_avg)
        return GeneratorOutput(image=self.synthesis(ws, noise_mode=noise_mode, padding_maps=padding_maps))
