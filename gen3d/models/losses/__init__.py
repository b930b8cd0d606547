"""gen3d.models.losses: U2PL's pseudo-label and contrastive losses."""

from . import gan_losses  # noqa: F401 - GAN adversarial losses, R1 and path length
from .u2pl_losses import (
    U2PLContrastiveLoss,
    adaptive_alpha,
    entropy_map,
    entropy_masks,
    pseudo_label_loss,
)

__all__ = ["U2PLContrastiveLoss", "adaptive_alpha", "entropy_map", "entropy_masks", "pseudo_label_loss"]
