"""LPIPS v0.1 (Zhang et al., CVPR'18), the perceptual term and metric of PadInv (arXiv 2203.11105: 0.8 LPIPS-alex).

The definition of the official ``lpips`` package (richzhang/PerceptualSimilarity ``lpips/lpips.py``,
``pretrained_networks.py``), for images in ``[-1, 1]``:

1. the scaling layer ``(x - shift) / scale`` with :data:`SHIFT` / :data:`SCALE`;
2. the torchvision feature net (``alex`` default, ``vgg`` = VGG16) cut into 5 slices after its ReLUs
   (:data:`NETS`: torchvision ``features`` indices), built **without** weights;
3. per slice output: channel-normalise ``f / (||f||_2 over channels + 1e-10)``, squared difference of the two
   images, the slice's ``lin`` 1x1 conv (1 output channel, no bias), spatial mean;
4. the sum over the slices: one distance per image.

The weights come from files only (:func:`load_lpips_state`; each read with ``torch.load(weights_only=True)``):

* one combined file: a full ``lpips.LPIPS(net=...).state_dict()`` (keys ``net.slice<k>.<i>.weight|bias``,
  ``lin<k>.model.1.weight``, optional ``scaling_layer.shift|scale`` which must equal the constants, optional
  ``lins.<k>.*`` duplicates of newer ``lpips`` versions), e.g. written by :func:`save_lpips_weights`;
* or two files: the ``lpips`` package's ``weights/v0.1/alex.pth`` (``lin<k>.model.1.weight``) and torchvision's
  ImageNet file (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``: ``features.<i>.*``; its ``classifier.*``
  is ignored), given as a list ``weights=[lin_file, torchvision_file]`` or as ``weights`` + ``backbone_weights``.

A missing file or key is an error naming it. Where ``lpips`` puts a Dropout before each ``lin`` conv (inactive in
eval, where LPIPS is used) this module has an Identity, keeping the key ``model.1.weight``. ``pretrained=False``
(no files, random weights) exists for shape / smoke tests only: its numbers mean nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gen3d.models.backbones.iresnet import read_weights_file
from gen3d.registry import MODELS

SHIFT = (-0.030, -0.088, -0.188)  # lpips ScalingLayer
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10  # lpips normalize_tensor
NETS = {  # torchvision features slices [start, end) and their channels (lpips pretrained_networks)
    "alex": dict(slices=((0, 2), (2, 5), (5, 8), (8, 10), (10, 12)), channels=(64, 192, 384, 256, 256)),
    "vgg": dict(slices=((0, 4), (4, 9), (9, 16), (16, 23), (23, 30)), channels=(64, 128, 256, 512, 512)),
}


def _torchvision_features(net: str) -> nn.Sequential:
    """The ``features`` of torchvision's AlexNet / VGG16, without weights.

    Built on the meta device (no memory for the classifier), then materialised with PyTorch's default init, which
    the weights files overwrite.
    """
    from torchvision import models

    with torch.device("meta"):
        full = models.alexnet(weights=None) if net == "alex" else models.vgg16(weights=None)
    features = full.features.to_empty(device="cpu")
    for module in features:
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
        elif isinstance(module, nn.ReLU):
            module.inplace = False  # the slice outputs are kept for the distance
    return features


class _LinLayer(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))


@MODELS.register_module()
class LPIPS(nn.Module):
    """LPIPS distance, see the module docstring; frozen (no parameter requires grad; gradients reach the images).

    Args:
        weights: The combined file, or the ``lin`` file (with ``backbone_weights``), or a list of files merged.
        net: ``'alex'`` (PadInv) or ``'vgg'``.
        backbone_weights: torchvision's ImageNet file of ``net`` when ``weights`` has the ``lin`` layers only.
        pretrained: False: no files, random weights (tests only).
        argument: The name errors give the file under (the config key).
    """

    def __init__(self, weights: str | Sequence[str] | None = None, net: str = "alex",
                 backbone_weights: str | None = None, pretrained: bool = True,
                 argument: str = "lpips_weights") -> None:
        super().__init__()
        if net not in NETS:
            raise ValueError(f"net must be one of {sorted(NETS)}, got {net!r}")
        self.net_type = net
        self.scaling_layer = nn.Module()
        self.scaling_layer.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None])
        self.scaling_layer.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None])
        features = _torchvision_features(net)
        self.net = nn.Module()
        for k, (start, end) in enumerate(NETS[net]["slices"], 1):
            block = nn.Sequential()
            for i in range(start, end):
                block.add_module(str(i), features[i])
            self.net.add_module(f"slice{k}", block)
        for k, channels in enumerate(NETS[net]["channels"]):
            self.add_module(f"lin{k}", _LinLayer(channels))
        if pretrained:
            files = [weights] if isinstance(weights, str) else list(weights or [])
            files += [backbone_weights] if backbone_weights else []
            if not files:
                raise ValueError(f"{argument}: LPIPS needs its weights files (the lpips package's "
                                 f"weights/v0.1/{net}.pth + torchvision's ImageNet {net} file, or one combined file);"
                                 " none is given")
            self.load_state_dict(load_lpips_state(files, net, argument, self.state_dict()), strict=True)
        elif weights or backbone_weights:
            raise ValueError("pretrained=False builds random weights: do not pass weights files with it")
        self.requires_grad_(False)
        self.eval()

    @property
    def num_layers(self) -> int:
        """Compared slices (5)."""
        return len(NETS[self.net_type]["channels"])

    def features(self, x: Tensor) -> list[Tensor]:
        """The scaled image's slice outputs ``[(N, C_k, H_k, W_k)]`` (before channel normalisation)."""
        h = (x - self.scaling_layer.shift) / self.scaling_layer.scale
        out = []
        for k in range(1, self.num_layers + 1):
            h = getattr(self.net, f"slice{k}")(h)
            out.append(h)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """LPIPS between two image batches.

        Args:
            x: ``(N, 3, H, W)`` RGB in ``[-1, 1]`` (AlexNet needs ``H, W >= 32``).
            y: Same shape.

        Returns:
            ``(N,)`` distances (``lpips`` returns them as ``(N, 1, 1, 1)``).
        """
        if not isinstance(x, Tensor) or not isinstance(y, Tensor) or x.shape != y.shape or x.ndim != 4 \
                or x.shape[1] != 3:
            shapes = [tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for t in (x, y)]
            raise ValueError(f"LPIPS compares two (N, 3, H, W) RGB batches in [-1, 1] of one shape, got {shapes[0]} "
                             f"and {shapes[1]}")
        total = x.new_zeros(x.shape[0])
        for k, (fx, fy) in enumerate(zip(self.features(x), self.features(y))):
            fx = fx / (fx.square().sum(dim=1, keepdim=True).sqrt() + EPS)
            fy = fy / (fy.square().sum(dim=1, keepdim=True).sqrt() + EPS)
            total = total + getattr(self, f"lin{k}").model((fx - fy).square()).mean(dim=(1, 2, 3))
        return total


def _map_key(key: str, net: str) -> str | None:
    """A key of a supported file in this module's naming; None for keys to skip (torchvision's classifier)."""
    parts = key.split(".")
    if parts[0] == "features" and len(parts) == 3 and parts[1].isdigit():  # torchvision features.<i>.<param>
        index = int(parts[1])
        for k, (start, end) in enumerate(NETS[net]["slices"], 1):
            if start <= index < end:
                return f"net.slice{k}.{index}.{parts[2]}"
        return key  # a layer after the last slice: reported as unexpected unless it has no parameters
    if parts[0] == "classifier":
        return None
    if parts[0] == "lins" and len(parts) > 1 and parts[1].isdigit():  # lpips >= 0.1.4 duplicates lin<k> as lins.<k>
        return ".".join([f"lin{parts[1]}", *parts[2:]])
    return key


def load_lpips_state(files: Sequence[str], net: str, argument: str, own: dict[str, Tensor]) -> dict[str, Tensor]:
    """Merge LPIPS weights files into one state dict in this module's naming, every key and shape checked.

    Args:
        files: The files (combined, or ``lin`` + torchvision), see the module docstring.
        net: ``'alex'`` or ``'vgg'``.
        argument: What to name in errors.
        own: The module's state dict (the keys and shapes to fill).

    Returns:
        A complete state dict for :class:`LPIPS`.
    """
    merged: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    for path in files:
        for key, value in read_weights_file(path, argument).items():
            if key.startswith("module."):
                key = key[len("module."):]
            mapped = _map_key(key, net)
            if mapped is None:
                continue
            if mapped not in own:
                raise ValueError(f"{argument}: {path!r} has key {key!r}, which LPIPS-{net} does not have (a file of "
                                 "another net?)")
            if mapped in merged and not torch.equal(merged[mapped], value):
                raise ValueError(f"{argument}: key {mapped!r} differs between {origin[mapped]!r} and {path!r}")
            if tuple(value.shape) != tuple(own[mapped].shape):
                raise ValueError(f"{argument}: {path!r} key {key!r} has shape {tuple(value.shape)}, LPIPS-{net} "
                                 f"needs {tuple(own[mapped].shape)}")
            merged[mapped], origin[mapped] = value, path
    for key in ("scaling_layer.shift", "scaling_layer.scale"):
        if key in merged and not torch.allclose(merged[key].float(), own[key]):
            raise ValueError(f"{argument}: {origin[key]!r} key {key!r} is not the LPIPS v0.1 constant")
        merged[key] = own[key]
    missing = [k for k in own if k not in merged]
    if missing:
        hint = ("the lpips package's weights/v0.1/" + f"{net}.pth" if missing[0].startswith("lin")
                else f"torchvision's ImageNet {net} file (features.*)")
        raise ValueError(f"{argument}: LPIPS-{net} key {missing[0]!r} is in none of {list(files)}"
                         f"{f' (+{len(missing) - 1} more missing)' if len(missing) > 1 else ''}; it comes from {hint}")
    return merged


def save_lpips_weights(files: Sequence[str], out: str, net: str = "alex") -> str:
    """Write the combined file (one ``lpips``-named state dict) from the ``lin`` and torchvision files.

    Args:
        files: ``[lin file, torchvision file]`` (or any set :func:`load_lpips_state` accepts).
        out: The ``.pth`` to write.
        net: ``'alex'`` or ``'vgg'``.

    Returns:
        ``out``.
    """
    model = LPIPS(list(files), net=net, argument="files")
    torch.save(model.state_dict(), out)
    return out
