"""The Inception-v3 of the FID (Heusel et al. 2017, arXiv 1706.08500), in pure PyTorch, returning 2048-d pool features.

FID numbers are only comparable when computed with one network: the TF graph ``inception-2015-12-05`` of the
original TTUR code, ported to PyTorch by pytorch-fid as ``pt_inception-2015-12-05-6726825d.pth``. That checkpoint
is a state dict of torchvision's ``Inception3(num_classes=1008, aux_logits=False)`` layout, but the graph differs
from torchvision's Inception-v3 in the pooling branches (facts from ``mseitzer/pytorch-fid``
``src/pytorch_fid/inception.py``):

* the ``branch_pool`` average pooling of the A blocks (``Mixed_5b..5d``), C blocks (``Mixed_6b..6e``) and the first
  E block (``Mixed_7b``) does not count the zero padding (TF semantics: ``count_include_pad=False``; torchvision
  counts it);
* the last E block (``Mixed_7c``) max-pools its ``branch_pool`` (torchvision average-pools);
* features are the global average of ``Mixed_7c`` (``pool_3``, 2048-d); the 1008-class ``fc`` is not built.

Input handling also follows pytorch-fid: bilinear resize to 299x299 (``align_corners=False``, no antialias), then
``[0, 255] -> [-1, 1]`` (``x / 127.5 - 1``, i.e. its ``2 * (x / 255) - 1``).

The blocks are written here (not subclassed from torchvision) so the pooling is a parameter-free submodule; the
parameter names and shapes are torchvision's, hence the checkpoint's. With ``tv_pooling=True`` every pool becomes
torchvision's, which the tests use to check this graph against ``torchvision.models.inception_v3``.
"""

import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "FID_INCEPTION_FILENAME",
    "FID_INCEPTION_URL",
    "FIDInceptionV3",
    "cached_fid_inception_path",
    "load_fid_inception_state",
]

#: pytorch-fid's release asset (``FID_WEIGHTS_URL`` in ``src/pytorch_fid/inception.py``).
FID_INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FID_INCEPTION_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_INPUT_SIZE = 299  # TF graph input (pytorch-fid resizes every image to it)
FID_FEATURE_DIM = 2048  # pool_3
_BN_EPS = 1e-3  # torchvision BasicConv2d, as in the TF graph
# Checkpoint keys the network does not use: the 1008-class classifier and, if present, the auxiliary head.
_IGNORED_PREFIXES = ("fc.", "AuxLogits.")


class BasicConv2d(nn.Sequential):
    """Conv (no bias) -> BN (eps 1e-3) -> ReLU; submodules ``conv`` and ``bn`` as in the checkpoint."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], **kwargs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        self.relu = nn.ReLU(inplace=True)


def _pool(kind: str) -> nn.Module:
    """3x3 stride-1 ``branch_pool`` pooling: ``'avg_tf'`` (FID), ``'avg_tv'`` (torchvision) or ``'max'``."""
    if kind == "max":
        return nn.MaxPool2d(3, stride=1, padding=1)
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=kind == "avg_tv")


class InceptionA(nn.Module):
    """35x35 block (``Mixed_5b..5d``): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1, 224 + pool_features channels."""

    def __init__(self, in_channels: int, pool_features: int, pool: str) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.pool = _pool(pool)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, 224 + pool_features, H, W)``."""
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(self.pool(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (``Mixed_6a``): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, 480 + C, (H - 3) // 2 + 1, (W - 3) // 2 + 1)``."""
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block (``Mixed_6b..6e``) with factorised 7x7 convolutions, 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int, pool: str) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.pool = _pool(pool)
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, 768, H, W)``."""
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = x
        for i in range(1, 6):
            b7dbl = getattr(self, f"branch7x7dbl_{i}")(b7dbl)
        return torch.cat([self.branch1x1(x), b7, b7dbl, self.branch_pool(self.pool(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (``Mixed_7a``): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, 512 + C, (H - 3) // 2 + 1, (W - 3) // 2 + 1)``."""
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block (``Mixed_7b``, ``Mixed_7c``) with split 1x3 / 3x1 outputs, 2048 channels."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.pool = _pool(pool)
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, 2048, H, W)``."""
        b3 = self.branch3x3_1(x)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl),
            self.branch_pool(self.pool(x)),
        ], 1)


class FIDInceptionV3(nn.Module):
    """FID Inception-v3: images in ``[0, 255]`` -> 2048-d ``pool_3`` features. Always frozen, in eval mode.

    Args:
        weights: ``None``: random initialisation (tests, structure only); ``'download'``: pytorch-fid's checkpoint
            through torch.hub's cache (downloads once); any other string: a local ``.pth`` state dict.
        resize_input: Resize to 299x299 (bilinear) as the FID reference does. Only turn off for smoke tests.
        tv_pooling: Use torchvision's pooling everywhere instead of the FID graph's (tests only).
    """

    def __init__(self, weights: str | None = None, resize_input: bool = True, tv_pooling: bool = False) -> None:
        super().__init__()
        self.resize_input = resize_input
        avg = "avg_tv" if tv_pooling else "avg_tf"
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, 32, avg)
        self.Mixed_5c = InceptionA(256, 64, avg)
        self.Mixed_5d = InceptionA(288, 64, avg)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, avg)
        self.Mixed_6c = InceptionC(768, 160, avg)
        self.Mixed_6d = InceptionC(768, 160, avg)
        self.Mixed_6e = InceptionC(768, 192, avg)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, avg)
        self.Mixed_7c = InceptionE(2048, avg if tv_pooling else "max")
        self.out_dim = FID_FEATURE_DIM
        if weights is not None:
            self.load_fid_weights(load_fid_inception_state(weights))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FIDInceptionV3":
        """Stay in eval mode: the network is a fixed measuring instrument."""
        return super().train(False)

    def load_fid_weights(self, state: dict[str, Tensor]) -> None:
        """Load a pytorch-fid-layout state dict after checking every key and shape.

        ``fc.*`` / ``AuxLogits.*`` are ignored and ``*.num_batches_tracked`` is optional.

        Raises:
            KeyError: Listing the missing and the unexpected keys, if any.
            ValueError: Naming a key whose shape differs.
        """
        state = {k: v for k, v in state.items() if not k.startswith(_IGNORED_PREFIXES)}
        own = self.state_dict()
        required = {k for k in own if not k.endswith("num_batches_tracked")}
        missing, unexpected = sorted(required - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"not a pt_inception-2015-12-05 checkpoint: {len(missing)} missing keys {missing[:8]}, "
                f"{len(unexpected)} unexpected keys {unexpected[:8]}"
            )
        for key, value in state.items():
            if value.shape != own[key].shape:
                raise ValueError(f"shape of {key}: checkpoint {tuple(value.shape)}, network {tuple(own[key].shape)}")
        self.load_state_dict(state, strict=False)

    def forward(self, x: Tensor) -> Tensor:
        """Extract FID features.

        Args:
            x: Images ``(N, 3, H, W)`` (or 1 channel, repeated), uint8 or float, values in ``[0, 255]``.

        Returns:
            ``(N, 2048)`` float32 ``pool_3`` features.
        """
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.resize_input and tuple(x.shape[-2:]) != (FID_INPUT_SIZE, FID_INPUT_SIZE):
            x = F.interpolate(x, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False)
        x = x / 127.5 - 1.0
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))


def cached_fid_inception_path() -> str | None:
    """The checkpoint in torch.hub's cache (``<hub dir>/checkpoints/``) if an earlier download left it there."""
    path = os.path.join(torch.hub.get_dir(), "checkpoints", FID_INCEPTION_FILENAME)
    return path if os.path.isfile(path) else None


def load_fid_inception_state(weights: str) -> dict[str, Tensor]:
    """Read the FID Inception state dict with weights-only unpickling.

    Args:
        weights: ``'download'`` (torch.hub cache, downloading :data:`FID_INCEPTION_URL` if absent) or a file path.

    Raises:
        FileNotFoundError: If ``weights`` is a path that does not exist; the message says how to get the file.
    """
    if weights == "download":
        # No check_hash: the file-name suffix is not verified to be a SHA-256 prefix; weights_only guards loading.
        return torch.hub.load_state_dict_from_url(FID_INCEPTION_URL, map_location="cpu", weights_only=True)
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f"FID Inception weights not found at {weights!r}. Download {FID_INCEPTION_URL} to that path, "
            "or pass inception_weights='download' to fetch it into torch.hub's cache."
        )
    state = torch.load(weights, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)
