"""IResNet with squeeze-and-excitation (IR-SE), the ArcFace backbone used by pSp and PadInv (arXiv 2203.11105).

Layout of TreB1eN/InsightFace_Pytorch ``model.py`` (``Backbone``, ``bottleneck_IR_SE``), which pSp
(eladrich/pixel2style2pixel ``models/encoders/model_irse.py``) and the official PadInv
(``EzioBy/padinv@49304d6`` ``models/arcface_model.py``, ``models/padinv_encoder.py``) follow:

* ``input_layer``: 3x3 conv (stride 1, 64 ch, no bias) -> BN -> PReLU;
* ``body``: one flat ``Sequential`` of bottlenecks, 4 stages of widths 64 / 128 / 256 / 512 with
  ``[3, 4, 14, 3]`` units (IResNet-50; 100: ``[3, 13, 30, 3]``, 152: ``[3, 8, 36, 3]``), the FIRST unit of every
  stage at stride 2 (so stage ``i`` runs at ``1 / 2^(i+1)`` of the input side);
* bottleneck ``res_layer``: BN -> 3x3 conv -> PReLU -> 3x3 conv (stride) -> BN -> SE (``fc1`` / ``fc2`` 1x1 convs
  without bias, reduction 16); ``shortcut_layer``: a 1x1 max-pool (identity with stride) when the widths match,
  else 1x1 conv (stride, no bias) + BN;
* ``output_layer`` (the ArcFace embedding, only with ``embedding=True``): BN2d(512) -> Dropout -> Flatten ->
  Linear(512 * (input_size / 16)^2, 512) -> BN1d(512); the embedding is L2-normalised.

Parameter names are those of ``Backbone``, so ``model_ir_se50.pth`` (TreB1eN / pSp) loads with strict key matching
through :func:`load_iresnet_weights`. The only key map it applies, documented there: a ``module.`` prefix of every key
(DataParallel) is dropped, BatchNorm ``num_batches_tracked`` counters missing from files of old PyTorch versions are
kept at the model's value, and without the output layer the file's ``output_layer.*`` keys are skipped (pSp loads
the same file into its encoder with ``strict=False`` for that reason).
"""

from __future__ import annotations

import os.path as osp

import torch
from torch import Tensor, nn
from torch.nn import functional as F

UNITS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}  # TreB1eN get_blocks
STAGE_CHANNELS = (64, 128, 256, 512)
INPLANES = 64
SE_REDUCTION = 16
EMBEDDING_DIM = 512
INPUT_SIZES = (112, 224)  # TreB1eN / pSp input_size of the output layer
DROP_RATIO = 0.4  # pSp IR_SE_50 (its ID loss builds it with 0.6; dropout is off in eval anyway)
OUTPUT_PREFIX = "output_layer."


class SEModule(nn.Module):
    """Squeeze-and-excitation (TreB1eN ``SEModule``): ``x * sigmoid(fc2(relu(fc1(avgpool(x)))))``.

    Args:
        channels: Channels of ``x``.
        reduction: Squeeze factor.
    """

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, C, H, W)``."""
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class IRBottleneck(nn.Module):
    """``bottleneck_IR`` / ``bottleneck_IR_SE`` of TreB1eN (see the module docstring for the order of layers).

    Args:
        in_channels: Input channels.
        depth: Output channels.
        stride: Stride of the second conv and of the shortcut.
        se: Append squeeze-and-excitation (``ir_se``).
    """

    def __init__(self, in_channels: int, depth: int, stride: int, se: bool = True) -> None:
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channels, depth, 1, stride, bias=False),
                                                nn.BatchNorm2d(depth))
        layers = [nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                  nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth)]
        if se:
            layers.append(SEModule(depth, SE_REDUCTION))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (N, depth, H / stride, W / stride)``."""
        return self.res_layer(x) + self.shortcut_layer(x)


class IResNet(nn.Module):
    """IResNet-50/100/152 (IR or IR-SE) with TreB1eN's parameter names, see the module docstring.

    As the PadInv encoder's backbone (``backbone='ir_se50'``) it gives the 4 stage maps through
    :meth:`forward_stages`; with ``embedding=True`` it is the ArcFace network of the identity loss.

    Args:
        depth: 50, 100 or 152.
        se: IR-SE units (True, ``ir_se``) or plain IR units.
        in_channels: Image channels (the ArcFace files are RGB: 3).
        embedding: Build ``output_layer`` (512-d embedding); it fixes the input side to ``input_size``.
        input_size: 112 or 224, the side the output layer is built for.
        drop_ratio: Dropout of the output layer.
        output_affine: Affine final BatchNorm1d (TreB1eN's file: True; pSp's ``IR_SE_50`` helper: False).
        weights: A weights file in TreB1eN naming (``model_ir_se50.pth``) to load, see :func:`load_iresnet_weights`;
            None keeps the random init (pSp starts its encoder from this ArcFace file; PadInv trains it).

    Attributes:
        out_channels: ``[64, 128, 256, 512]``.
        strides: ``[2, 4, 8, 16]``, each stage's stride w.r.t. the input.
    """

    def __init__(self, depth: int = 50, se: bool = True, in_channels: int = 3, embedding: bool = False,
                 input_size: int = 112, drop_ratio: float = DROP_RATIO, output_affine: bool = True,
                 weights: str | None = None) -> None:
        super().__init__()
        if depth not in UNITS:
            raise ValueError(f"depth must be one of {sorted(UNITS)}, got {depth}")
        if embedding and input_size not in INPUT_SIZES:
            raise ValueError(f"input_size must be one of {INPUT_SIZES} with embedding=True, got {input_size}")
        self.depth, self.se, self.in_channels = int(depth), bool(se), int(in_channels)
        self.embedding, self.input_size = bool(embedding), int(input_size)
        self.out_channels = list(STAGE_CHANNELS)
        self.strides = [2 ** (i + 1) for i in range(len(STAGE_CHANNELS))]
        self.input_layer = nn.Sequential(nn.Conv2d(in_channels, INPLANES, 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(INPLANES), nn.PReLU(INPLANES))
        units, prev, self.stage_ends = [], INPLANES, []
        for width, count in zip(STAGE_CHANNELS, UNITS[depth]):
            for i in range(count):
                units.append(IRBottleneck(prev if i == 0 else width, width, 2 if i == 0 else 1, se))
            prev = width
            self.stage_ends.append(len(units))
        self.body = nn.Sequential(*units)
        if self.embedding:
            side = input_size // 16
            self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop_ratio), nn.Flatten(),
                                              nn.Linear(512 * side * side, EMBEDDING_DIM),
                                              nn.BatchNorm1d(EMBEDDING_DIM, affine=output_affine))
        if weights is not None:
            load_iresnet_weights(self, weights)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be (N, {self.in_channels}, H, W) images, got {got}")

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """The output of every stage, finest first.

        Args:
            x: ``(N, in_channels, H, W)``.

        Returns:
            ``[(N, 64, H/2, W/2), (N, 128, H/4, W/4), (N, 256, H/8, W/8), (N, 512, H/16, W/16)]``.
        """
        self._check(x)
        x = self.input_layer(x)
        out, start = [], 0
        for end in self.stage_ends:
            for unit in self.body[start:end]:
                x = unit(x)
            out.append(x)
            start = end
        return out

    def forward(self, x: Tensor) -> Tensor:
        """The L2-normalised embedding ``(N, 512)`` with ``embedding=True``, else the last map ``(N, 512, H/16, W/16)``.

        Args:
            x: ``(N, in_channels, H, W)``; ``H = W = input_size`` with the embedding.
        """
        self._check(x)
        if self.embedding and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(f"x must be {self.input_size} x {self.input_size} for the embedding (input_size), got "
                             f"{tuple(x.shape[-2:])}")
        x = self.body(self.input_layer(x))
        if not self.embedding:
            return x
        return F.normalize(self.output_layer(x), dim=1)  # TreB1eN l2_norm (x / ||x||_2)


def read_weights_file(path: str, argument: str) -> dict[str, Tensor]:
    """A tensor state dict from ``path`` (``torch.load(weights_only=True)``; a ``'state_dict'`` entry is unwrapped).

    Args:
        path: The file.
        argument: What to name in errors (``weights``, ``arcface_weights``).

    Returns:
        ``{key: tensor}``.
    """
    if not isinstance(path, str) or not osp.isfile(path):
        raise FileNotFoundError(f"{argument}={path!r}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure: not a plain tensor file
        raise ValueError(f"{argument}={path!r}: not a weights file readable with weights_only=True ({err})") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{argument}={path!r}: expected a state dict of tensors, got {type(state).__name__}")
    return dict(state)


def _strip_prefix(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_iresnet_weights(model: IResNet, path: str, argument: str = "weights") -> IResNet:
    """Load a TreB1eN-named file (``model_ir_se50.pth``) into ``model``, every key and shape checked.

    Key map (nothing else is renamed): a ``module.`` prefix on every key is dropped; a missing
    ``*.num_batches_tracked`` keeps the model's counter (files of PyTorch < 0.4.1 have none); without
    ``model.embedding`` the file's ``output_layer.*`` keys are skipped (the backbone use of the ArcFace file).

    Args:
        model: The network.
        path: The file.
        argument: What to name in errors.

    Returns:
        ``model`` with the weights.
    """
    state = _strip_prefix(read_weights_file(path, argument), "module.")
    if not model.embedding:
        state = {k: v for k, v in state.items() if not k.startswith(OUTPUT_PREFIX)}
    own = model.state_dict()
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        what = (f"missing key {missing[0]!r}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else "")
                if missing else f"unexpected key {unexpected[0]!r}")
        raise ValueError(f"{argument}={path!r} does not fit IResNet-{model.depth}{'-SE' if model.se else ''} "
                         f"(embedding={model.embedding}): {what}")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(f"{argument}={path!r}: key {key!r} has shape {tuple(state[key].shape)}, the model needs "
                             f"{tuple(value.shape)}")
    model.load_state_dict(state, strict=True)
    return model

