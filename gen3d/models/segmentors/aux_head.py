"""FCN auxiliary head on an intermediate backbone stage (deep supervision; PSPNet, arXiv 1612.01105, Sec. 3.3).

U2PL (arXiv 2203.03884) trains its Cityscapes models with such a head on ResNet layer 3 (1024 channels, stride 8 at
output stride 8): ``u2pl/models/decoder.py`` ``Aux_Module`` is ``Conv3x3(in -> 256, bias) -> BN -> ReLU ->
Dropout2d(0.1) -> Conv1x1(256 -> C, bias)``; ``u2pl/models/model_helper.py`` feeds it the encoder's third output
(layer 3) and ``u2pl/utils/loss_helper.py`` adds ``loss_weight`` (``net.aux_loss.loss_weight: 0.4`` in
``experiments/cityscapes/744/*/config.yaml``) times the same criterion (OHEM CE) on its logits, upsampled
(bilinear) to the label size, to the supervised loss. The head is used in training only.

The head picks its input from the backbone's list of taps by ``in_index`` (MMSeg's naming), so the backbone must
also tap that stage, e.g. ``TimmSegBackbone(out_indices=(1, 3, 4))`` for ``[layer1, layer3, layer4]``.
"""

from collections.abc import Sequence

from torch import Tensor, nn

from gen3d.registry import MODELS

# U2PL `Aux_Module` (u2pl/models/decoder.py): 256 hidden channels, Dropout2d(0.1).
AUX_CHANNELS = 256
AUX_DROPOUT = 0.1
# U2PL experiments/cityscapes/744/{ours,suponly}/config.yaml: net.aux_loss.loss_weight (aux_plane 1024 = layer 3).
AUX_LOSS_WEIGHT = 0.4
# Position of layer 3 in the taps of TimmSegBackbone(out_indices=(1, 3, 4)).
AUX_IN_INDEX = 1


@MODELS.register_module()
class FCNAuxHead(nn.Module):
    """Auxiliary classifier on one backbone tap: conv 3x3 -> BN -> ReLU -> Dropout2d -> conv 1x1.

    Args:
        in_channels: Channels of the selected tap (U2PL: 1024, ResNet-101 layer 3).
        num_classes: Number of classes.
        channels: Hidden channels (U2PL: 256).
        dropout: Dropout2d probability before the classifier (U2PL: 0.1).
        in_index: Index of the tap in the backbone's feature list.
        loss_weight: Weight of the auxiliary loss, read by ``EncoderDecoder`` (U2PL Cityscapes: 0.4).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: int = AUX_CHANNELS,
        dropout: float = AUX_DROPOUT,
        in_index: int = AUX_IN_INDEX,
        loss_weight: float = AUX_LOSS_WEIGHT,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.in_index = int(in_index)
        self.loss_weight = float(loss_weight)
        # U2PL's convs keep nn.Conv2d's default bias, the 3x3 one included (it is followed by BN).
        self.conv = nn.Sequential(
            nn.Conv2d(self.in_channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )
        self.classifier = nn.Conv2d(channels, self.num_classes, 1)

    def forward(self, feats: Sequence[Tensor] | Tensor) -> Tensor:
        """Auxiliary logits at the stride of the selected tap.

        Args:
            feats: Backbone taps (``feats[in_index]`` is ``(B, in_channels, h, w)``) or that tensor itself.

        Returns:
            ``(B, num_classes, h, w)``.
        """
        x = feats if isinstance(feats, Tensor) else feats[self.in_index]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"FCNAuxHead expects (B, {self.in_channels}, h, w) at in_index {self.in_index}, "
                             f"got {tuple(x.shape)}")
        return self.classifier(self.conv(x))
