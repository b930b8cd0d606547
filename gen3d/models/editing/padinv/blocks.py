"""Blocks of the PadInv encoder (Bai et al., ECCV'22, arXiv 2203.11105): IR-SE bottlenecks and a light backbone.

The bottleneck follows the IResNet block of the official encoder (``EzioBy/padinv@49304d6``
``models/padinv_encoder.py``, ``IBottleneck`` / ``SEModule``): ``BN -> conv3x3 -> PReLU -> conv3x3(stride) -> BN
[-> SE]`` plus a shortcut (an identity max-pool when the widths match, else a strided 1x1 conv + BN). It builds the
padding extractor (2 blocks on one FPN level) and :class:`LightBackbone`, the CPU option of the encoder: the
official IResNet layout (3x3 stem at stride 1, then stages that halve the resolution) with few, narrow stages,
trained from scratch.
"""

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

SE_REDUCTION = 16  # official se_reduction


class SEModule(nn.Module):
    """Squeeze-and-excitation: ``x * sigmoid(fc2(relu(fc1(avgpool(x)))))``.

    Args:
        channels: Channels of ``x``.
        reduction: Squeeze factor (the hidden width is at least 1).
    """

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, C, H, W)``."""
        s = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        return x * s.sigmoid()


class IRBottleneck(nn.Module):
    """The IR(-SE) bottleneck of IResNet (see the module docstring).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the second conv and of the shortcut.
        use_se: Append squeeze-and-excitation.
        se_reduction: Its squeeze factor.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, use_se: bool = True,
                 se_reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        if in_channels == out_channels:
            self.shortcut = nn.MaxPool2d(kernel_size=1, stride=stride)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        layers = [nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
                  nn.PReLU(out_channels), nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
                  nn.BatchNorm2d(out_channels)]
        if use_se:
            layers.append(SEModule(out_channels, se_reduction))
        self.residual = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)``."""
        return self.residual(x) + self.shortcut(x)


class LightBackbone(nn.Module):
    """A narrow IResNet-style backbone for CPU demos: stem at stride 1, then one stage per width at stride 2.

    At a 32-px input and the default widths the stages give 16, 8 and 4 px maps: the three FPN levels.

    Args:
        in_channels: Image channels.
        widths: Output channels of the stages.
        blocks_per_stage: Bottlenecks per stage (the first one strided).
        use_se: Squeeze-and-excitation in every bottleneck.

    Attributes:
        out_channels: ``widths``.
        strides: Stride of each stage's output (2, 4, 8, ...).
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (32, 64, 128), blocks_per_stage: int = 1,
                 use_se: bool = True) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1 or blocks_per_stage < 1:
            raise ValueError(f"widths must be positive and blocks_per_stage >= 1, got {widths}, {blocks_per_stage}")
        self.out_channels, self.strides = widths, [2 ** (i + 1) for i in range(len(widths))]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.PReLU(widths[0]))
        stages, prev = [], widths[0]
        for width in widths:
            blocks = [IRBottleneck(prev if b == 0 else width, width, 2 if b == 0 else 1, use_se)
                      for b in range(blocks_per_stage)]
            stages.append(nn.Sequential(*blocks))
            prev = width
        self.stages = nn.ModuleList(stages)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """Every stage's output, finest first.

        Args:
            x: ``(N, in_channels, H, W)``.

        Returns:
            ``[(N, widths[i], H / 2^(i+1), W / 2^(i+1))]``.
        """
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out
