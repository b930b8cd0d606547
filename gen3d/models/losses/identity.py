"""The ArcFace identity loss of pSp / PadInv (arXiv 2203.11105, Sec. 3.4: ``lambda_id (1 - cos)``, 0.1 for faces).

Semantics of pSp's ``criteria/id_loss.py`` (``IDLoss``) as used by the official PadInv
(``EzioBy/padinv@49304d6`` ``models/arcface_model.py``, ``runners/losses/gan_inversion_loss.py``):

1. a face image in ``[-1, 1]`` RGB, **resized to 256 x 256 first** when it has another side (bilinear,
   ``align_corners=False``, as the official PadInv ``ArcFace.forward``; pSp assumes 256-px input). An image smaller
   than 256 px is thus up-sampled: the crop below is defined in the 256-px frame of FFHQ-aligned faces, so a 32-px
   face gets the same relative crop, but its embedding sees a blurred face and the similarity means little;
2. the crop ``[35:223, 32:220]`` (rows, cols) of the 256-px image, adaptive average pooling to 112 x 112;
3. the ArcFace IR-SE50 embedding (:class:`gen3d.models.backbones.iresnet.IResNet`, ``embedding=True``), L2-normalised;
4. loss per image ``1 - <e(x_hat), e(x)>`` (cosine of unit vectors), the target's embedding detached; the caller
   averages (pSp returns the batch mean).

The weights come from a file only (TreB1eN's ``model_ir_se50.pth``, the one pSp and PadInv use), read with
``torch.load(weights_only=True)``; a missing file or a key / shape mismatch is an error naming the file and the key.
The network is frozen and always in eval mode.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.models.backbones.iresnet import IResNet, load_iresnet_weights

FRAME = 256  # side of the frame the crop is defined in
CROP = (35, 223, 32, 220)  # rows 35:223, cols 32:220 (pSp extract_feats)
ARCFACE_SIZE = 112  # input_size of the ArcFace IR-SE50


class IdentityLoss(nn.Module):
    """``1 - cos(ArcFace(x_hat), ArcFace(x))`` per image, see the module docstring.

    Args:
        weights: ArcFace IR-SE50 weights file (``model_ir_se50.pth``, TreB1eN naming).
        depth: IResNet depth of the file (50).
        argument: The name errors give the file under (the config key).
    """

    def __init__(self, weights: str, depth: int = 50, argument: str = "arcface_weights") -> None:
        super().__init__()
        if not weights:
            raise ValueError(f"{argument}: the identity loss needs the ArcFace weights file (model_ir_se50.pth); "
                             "none is given")
        self.facenet = IResNet(depth=depth, se=True, in_channels=3, embedding=True, input_size=ARCFACE_SIZE)
        load_iresnet_weights(self.facenet, weights, argument)
        self.facenet.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> IdentityLoss:
        """The ArcFace network stays in eval mode (frozen BatchNorm statistics and no dropout)."""
        super().train(mode)
        self.facenet.eval()
        return self

    def extract(self, img: Tensor, name: str = "img") -> Tensor:
        """Embeddings of face images.

        Args:
            img: ``(N, 3, H, W)`` RGB in ``[-1, 1]``; resized to 256 x 256 first when ``H, W != 256``.
            name: What to name in errors.

        Returns:
            ``(N, 512)`` unit vectors.
        """
        if not isinstance(img, Tensor) or img.ndim != 4 or img.shape[1] != 3:
            got = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
            raise ValueError(f"{name} must be (N, 3, H, W) RGB faces in [-1, 1], got {got}")
        if tuple(img.shape[-2:]) != (FRAME, FRAME):
            img = F.interpolate(img, size=(FRAME, FRAME), mode="bilinear", align_corners=False)
        top, bottom, left, right = CROP
        face = F.adaptive_avg_pool2d(img[:, :, top:bottom, left:right], ARCFACE_SIZE)
        return self.facenet(face)

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        """Identity loss of reconstructions against their targets.

        Args:
            fake: Reconstructions ``(N, 3, H, W)`` in ``[-1, 1]`` (gradients flow to them).
            real: Targets, same shape (their embedding is detached).

        Returns:
            ``(N,)`` ``1 - cos`` per image, in ``[0, 2]``.
        """
        if not isinstance(fake, Tensor) or not isinstance(real, Tensor) or fake.shape != real.shape:
            shapes = [tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for t in (fake, real)]
            raise ValueError(f"fake and real must be image batches of one shape, got {shapes[0]} and {shapes[1]}")
        e_fake = self.extract(fake, "fake")
        e_real = self.extract(real, "real").detach()
        return 1 - (e_fake * e_real).sum(dim=1)
