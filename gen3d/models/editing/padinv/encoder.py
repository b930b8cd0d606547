"""The PadInv encoder (Bai et al., ECCV'22, arXiv 2203.11105, Sec. 3.3): W+ codes and padding maps from an image.

After the official ``EzioBy/padinv@49304d6`` ``models/padinv_encoder.py`` (``PadInvEncoder``, ``FPN``,
``Map2StyleCodeHead``), a pSp-style encoder:

* a backbone gives a pyramid of maps; the last three (finest first) feed an FPN that brings them to
  ``fpn_channels`` (1x1 laterals, the coarsest level taken as is, each coarser level bilinearly up-sampled with
  ``align_corners=True`` and added to the next finer one);
* levels ordered coarse to fine carry ``num_latents_per_level`` Map2Style heads each (3x3 stride-2 convs + leaky ReLU
  down to 1x1, then an equalized linear layer), one per ``w`` of W+ in order (official ``[3, 4, 11]`` for 18 ws);
  with ``start_from_latent_avg`` the heads predict a residual on the generator's ``w_avg``;
* the padding head (``use_padding``): 2 IR-SE bottlenecks on FPN level ``padding_level`` (official
  ``feature_idx=1``: the 32x32 level at a 256-px input), a **bicubic** resize (``align_corners=True``) to
  ``S = padding_size`` (official 34), whose output is the map of the constant input (official ``padding_maps[0]``)
  and, through one 1x1 conv per padded layer (official ``use_padding_modulation_head``), the maps of the padded
  convs. ``use_padding=False`` is the W+-only encoder (pSp): the same modules without the padding head, built
  first, so both encoders start from the same W+ weights for a given seed.

Backbones: ``'ir_se50'`` is IResNet-50 with SE (the official one, :mod:`gen3d.models.backbones.iresnet`);
``'light'`` is :class:`~.blocks.LightBackbone`, a narrow IR-SE net trained from scratch for CPU demos.
"""

import inspect
import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.models.layers.equalized import EqualLinear

from .blocks import IRBottleneck, LightBackbone

FPN_CHANNELS = 512  # official fpn_channels
PADDING_SIZE = 34  # official 2 ** (pad_layer_num + 1) + 2
PADDING_LEVEL = 1  # official feature_idx (coarse-to-fine FPN level of the padding extractor)
PADDING_BLOCKS = 2  # official depth_padding_extractor
BACKBONES = ("light", "ir_se50")


def default_latents_per_level(num_ws: int) -> list[int]:
    """PSp's split of W+ over the coarse / medium / fine levels: ``[3, 4, rest]`` (``[3, 4, 11]`` for 18 ws).

    Args:
        num_ws: Number of ``w`` of the generator.

    Returns:
        Three counts summing to ``num_ws`` (a level may get 0).
    """
    coarse = min(3, num_ws)
    medium = min(4, num_ws - coarse)
    return [coarse, medium, num_ws - coarse - medium]


def build_backbone(backbone: str, img_channels: int, backbone_cfg: Mapping | None) -> nn.Module:
    """The encoder's backbone: ``forward_stages(x) -> maps, finest first`` and ``out_channels``.

    Args:
        backbone: ``'light'`` or ``'ir_se50'``.
        img_channels: Image channels.
        backbone_cfg: Extra keyword arguments of the backbone class.

    Returns:
        The backbone module.
    """
    cfg = dict(backbone_cfg or {})
    if backbone == "light":
        return LightBackbone(in_channels=img_channels, **cfg)
    if backbone != "ir_se50":
        raise ValueError(f"encoder backbone must be one of {BACKBONES}, got {backbone!r}")
    try:
        from gen3d.models.backbones.iresnet import IResNet
    except ImportError as err:
        raise ValueError("encoder backbone='ir_se50' needs gen3d.models.backbones.iresnet.IResNet, which is not "
                         f"available ({err}); use backbone='light'") from err
    params = inspect.signature(IResNet).parameters
    for key, value in (("depth", 50), ("se", True), ("in_channels", img_channels)):
        if key in params:
            cfg.setdefault(key, value)
    net = IResNet(**cfg)
    if not hasattr(net, "out_channels"):
        net.out_channels = [64, 128, 256, 512]  # official stage_out_channels
    return net


class FPN(nn.Module):
    """Feature pyramid over maps ordered finest first (official ``FPN``).

    Args:
        in_channels: Channels of each input level, finest first.
        out_channels: Common width; the coarsest level gets a 1x1 lateral only when its width differs.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        last = len(in_channels) - 1
        self.laterals = nn.ModuleList(
            nn.Identity() if i == last and c == out_channels else nn.Conv2d(c, out_channels, 1)
            for i, c in enumerate(in_channels))

    def forward(self, maps: Sequence[Tensor]) -> list[Tensor]:
        """``[(N, C_i, H_i, W_i)]`` finest first -> ``[(N, out_channels, H_i, W_i)]`` finest first."""
        feats = [lateral(x) for lateral, x in zip(self.laterals, maps)]
        for i in range(len(feats) - 1, 0, -1):
            up = F.interpolate(feats[i], size=feats[i - 1].shape[-2:], mode="bilinear", align_corners=True)
            feats[i - 1] = feats[i - 1] + up
        return feats


class Map2Style(nn.Module):
    """pSp's map-to-style head: stride-2 3x3 convs with leaky ReLU down to 1x1, then an equalized linear layer.

    Args:
        in_channels: Channels of the FPN level.
        w_dim: Size of the ``w`` it predicts.
        spatial: Side of the FPN level (a power of two, at least 2).
    """

    def __init__(self, in_channels: int, w_dim: int, spatial: int) -> None:
        super().__init__()
        num_convs = int(round(math.log2(spatial)))
        if spatial < 2 or 2**num_convs != spatial:
            raise ValueError(f"a Map2Style head needs a power-of-two map side >= 2, got {spatial}")
        layers: list[nn.Module] = []
        for i in range(num_convs):
            layers += [nn.Conv2d(in_channels if i == 0 else w_dim, w_dim, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(w_dim, w_dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, spatial, spatial) -> (N, w_dim)``."""
        return self.linear(self.convs(x).flatten(1))


class PadInvEncoder(nn.Module):
    """Image -> (W+, padding maps), see the module docstring (built by :class:`~.model.PadInv`, not registered).

    Args:
        num_ws: ``w`` count of the generator (W+ rows).
        w_dim: Size of ``w``.
        resolution: Side of the encoder's input; images of another side are resized (area / bilinear) to it.
        img_channels: Image channels.
        backbone: ``'light'`` (CPU) or ``'ir_se50'`` (official IResNet-50 with SE).
        backbone_cfg: Keyword arguments of the backbone (``widths``, ``blocks_per_stage`` for ``'light'``).
        fpn_channels: FPN width (official 512).
        num_latents_per_level: Heads per coarse / medium / fine level; None: :func:`default_latents_per_level`.
        start_from_latent_avg: Predict ``w - w_avg`` (official True); ``w_avg`` is the buffer set by the model.
        use_padding: Add the padding head (PadInv); False: the W+-only encoder.
        padding_channels: ``{'const': C_4, layer: C_layer}`` channels of the maps to predict (see
            :func:`gen3d.models.editing.padding_space.padding_shapes`); required with ``use_padding``.
        padding_size: Side ``S`` of every map (official 34).
        padding_level: Coarse-to-fine FPN level the padding head reads (official 1).
        padding_blocks: IR-SE bottlenecks of the padding extractor (official 2).
    """

    def __init__(self, num_ws: int, w_dim: int, resolution: int, img_channels: int = 3, backbone: str = "light",
                 backbone_cfg: dict | None = None, fpn_channels: int = FPN_CHANNELS,
                 num_latents_per_level: Sequence[int] | None = None, start_from_latent_avg: bool = True,
                 use_padding: bool = True, padding_channels: Mapping | None = None, padding_size: int = PADDING_SIZE,
                 padding_level: int = PADDING_LEVEL, padding_blocks: int = PADDING_BLOCKS) -> None:
        super().__init__()
        self.num_ws, self.w_dim, self.resolution, self.img_channels = num_ws, w_dim, int(resolution), img_channels
        self.start_from_latent_avg, self.use_padding = bool(start_from_latent_avg), bool(use_padding)
        per_level = list(num_latents_per_level or default_latents_per_level(num_ws))
        if len(per_level) != 3 or sum(per_level) != num_ws or min(per_level) < 0:
            raise ValueError(f"num_latents_per_level must be 3 counts summing to num_ws={num_ws}, got {per_level}")
        self.num_latents_per_level = per_level
        self.backbone = build_backbone(backbone, img_channels, backbone_cfg)
        channels, strides = list(self.backbone.out_channels)[-3:], self._strides()[-3:]
        if len(channels) != 3:
            raise ValueError(f"the {backbone!r} backbone needs at least 3 stages for the FPN, got {len(channels)}")
        self.fpn = FPN(channels, fpn_channels)
        sizes = [self.resolution // s for s in strides][::-1]  # coarse to fine
        self.level_sizes = sizes
        self.heads = nn.ModuleList(Map2Style(fpn_channels, w_dim, sizes[level])
                                   for level, count in enumerate(per_level) for _ in range(count))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.padding_size, self.padding_level = int(padding_size), int(padding_level)
        self.padding_keys: list = []
        if self.use_padding:  # built after the W+ parts: same initial W+ weights as the W+-only twin
            self._build_padding_head(fpn_channels, padding_channels, padding_blocks)

    def _strides(self) -> list[int]:
        strides = getattr(self.backbone, "strides", None)
        return list(strides) if strides else [2 ** (i + 1) for i in range(len(self.backbone.out_channels))]

    def _build_padding_head(self, fpn_channels: int, padding_channels: Mapping | None, blocks: int) -> None:
        if not padding_channels:
            raise ValueError("padding_channels: the padding head needs {'const': C, layer: C, ...} "
                             "(gen3d.models.editing.padding_space.padding_shapes)")
        if not 0 <= self.padding_level < 3:
            raise ValueError(f"padding_level must index one of the 3 FPN levels, got {self.padding_level}")
        self.padding_extractor = nn.Sequential(*[IRBottleneck(fpn_channels, fpn_channels) for _ in range(blocks)])
        self.padding_keys = list(padding_channels)
        heads = {}
        for key, c in padding_channels.items():
            if key == "const":  # official: the extractor's output itself (fpn_channels == 512 == C_4)
                heads["const"] = nn.Identity() if c == fpn_channels else nn.Conv2d(fpn_channels, c, 1)
            else:
                heads[f"layer{int(key)}"] = nn.Conv2d(fpn_channels, c, 1)
        self.padding_heads = nn.ModuleDict(heads)

    def check_input(self, img: Tensor, name: str = "img") -> None:
        """Refuse an image batch that is not ``(N, img_channels, H, W)`` with ``H == W``, naming ``name``."""
        ok = isinstance(img, Tensor) and img.ndim == 4 and img.shape[1] == self.img_channels
        if not ok or img.shape[-1] != img.shape[-2]:
            got = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
            raise ValueError(f"{name} must be (N, {self.img_channels}, R, R) images in [-1, 1], got {got}")

    def forward(self, img: Tensor) -> tuple[Tensor, dict | None]:
        """Encode images.

        Args:
            img: ``(N, img_channels, R, R)`` in ``[-1, 1]``.

        Returns:
            ``wplus (N, num_ws, w_dim)`` and, with ``use_padding``, ``{'const': (N, C_4, S, S), l: (N, C_l, S, S)}``
            (None without).
        """
        self.check_input(img)
        if img.shape[-1] != self.resolution:
            mode = "area" if img.shape[-1] > self.resolution else "bilinear"
            img = F.interpolate(img, size=(self.resolution, self.resolution), mode=mode,
                                **({} if mode == "area" else {"align_corners": False}))
        feats = self.fpn(list(self.backbone.forward_stages(img))[-3:])[::-1]  # coarse to fine
        codes, head = [], 0
        for level, count in enumerate(self.num_latents_per_level):
            for _ in range(count):
                codes.append(self.heads[head](feats[level]))
                head += 1
        wplus = torch.stack(codes, dim=1)
        if self.start_from_latent_avg:
            wplus = wplus + self.w_avg.to(wplus.dtype)
        if not self.use_padding:
            return wplus, None
        base = self.padding_extractor(feats[self.padding_level])
        base = F.interpolate(base, size=(self.padding_size, self.padding_size), mode="bicubic", align_corners=True)
        maps = {}
        for key in self.padding_keys:
            maps[key] = self.padding_heads["const" if key == "const" else f"layer{int(key)}"](base)
        return wplus, maps
