"""gen3d.models.losses: U2PL's losses, GAN losses, LPIPS and the ArcFace identity loss (weights from files)."""

from . import (
    gan_losses,  # noqa: F401 - GAN adversarial losses, R1 and path length
    lpips,  # noqa: F401 - registers LPIPS (ReconstructionMetric builds it by name)
)
from .identity import IdentityLoss
from .lpips import LPIPS
from .u2pl_losses import (
    U2PLContrastiveLoss,
    adaptive_alpha,
    entropy_map,
    entropy_masks,
    pseudo_label_loss,
)

__all__ = ["LPIPS", "IdentityLoss", "U2PLContrastiveLoss", "adaptive_alpha", "entropy_map", "entropy_masks",
           "pseudo_label_loss"]
