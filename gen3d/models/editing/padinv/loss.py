"""The PadInv encoder loss (Bai et al., ECCV'22, arXiv 2203.11105, Sec. 3.4), a weighted sum of terms.

After the official ``EzioBy/padinv@49304d6`` ``runners/losses/gan_inversion_loss.py`` (``E_loss``)::

    L_E = 1.0 MSE(x_hat, x) + 0.8 LPIPS_alex(x, x_hat) + lambda_id (1 - cos(ArcFace(x_hat), ArcFace(x)))
          + 0.003 mean_n ||W+_n - w_avg||_F + lambda_adv softplus(-D(x_hat))

``lambda_id`` is 0.1 for faces (0 for scenes), ``lambda_adv`` 0.05 bedroom / 0.03 church (0 for faces). LPIPS and
ArcFace need pretrained weights: each term is on only when its weights file is given
(``lpips_weights`` / ``arcface_weights``); with a positive weight and no file a warning names the missing key and
the term is off (never faked). Their networks are frozen and kept out of the model's ``state_dict`` (they come from
their files, not from PadInv checkpoints). Grey images are repeated to 3 channels for them.
"""

import warnings

from torch import Tensor, nn
from torch.nn import functional as F

MSE_WEIGHT = 1.0
LPIPS_WEIGHT = 0.8  # lpips_net='alex'
ID_WEIGHT = 0.1  # faces
WNORM_WEIGHT = 0.003
ADV_WEIGHT = 0.0  # FFHQ: use_discriminator=false; bedroom 0.05, church 0.03


def wnorm_loss(wplus: Tensor, w_avg: Tensor) -> Tensor:
    """Official ``compute_wnorm_loss``: the batch mean of the Frobenius norm of ``W+ - w_avg``.

    Args:
        wplus: ``(N, num_ws, w_dim)``.
        w_avg: ``(w_dim,)``.

    Returns:
        Scalar.
    """
    return (wplus - w_avg.to(wplus.dtype)).flatten(1).norm(dim=1).mean()


def _rgb(x: Tensor) -> Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class PadInvLoss(nn.Module):
    """``L_E`` of the module docstring; :meth:`forward` returns every term and the total.

    Args:
        mse_weight: Weight of the pixel MSE (images in ``[-1, 1]``).
        lpips_weight: Weight of LPIPS; on only with ``lpips_weights``.
        lpips_weights: LPIPS weights file (:class:`gen3d.models.losses.lpips.LPIPS`); None: LPIPS off.
        id_weight: Weight of the identity loss; on only with ``arcface_weights``.
        arcface_weights: ArcFace weights file (:class:`gen3d.models.losses.identity.IdentityLoss`); None: off.
        wnorm_weight: Weight of the W+ norm term.
        adv_weight: Weight of the adversarial term (the model runs D when it is positive).
    """

    def __init__(self, mse_weight: float = MSE_WEIGHT, lpips_weight: float = LPIPS_WEIGHT,
                 lpips_weights: str | None = None, id_weight: float = 0.0, arcface_weights: str | None = None,
                 wnorm_weight: float = WNORM_WEIGHT, adv_weight: float = ADV_WEIGHT) -> None:
        super().__init__()
        self.mse_weight, self.wnorm_weight, self.adv_weight = float(mse_weight), float(wnorm_weight), float(adv_weight)
        self._nets: dict[str, nn.Module] = {}  # frozen, outside state_dict (see the module docstring)
        self.lpips_weight = self._optional("lpips", float(lpips_weight), lpips_weights, "lpips_weights")
        self.id_weight = self._optional("id", float(id_weight), arcface_weights, "arcface_weights")

    def _optional(self, name: str, weight: float, path: str | None, key: str) -> float:
        if weight <= 0:
            return 0.0
        if not path:
            warnings.warn(f"PadInv loss: {name}_weight={weight} but no {key} file is given: the {name} term is OFF "
                          f"(set loss.{key} to a weights file to enable it)", stacklevel=3)
            return 0.0
        try:
            if name == "lpips":
                from gen3d.models.losses.lpips import LPIPS as Net
            else:
                from gen3d.models.losses.identity import IdentityLoss as Net
        except ImportError as err:
            raise ValueError(f"loss.{key}={path!r}: the {name} network is not available ({err})") from err
        net = Net(weights=path)
        self._nets[name] = net.eval().requires_grad_(False)
        return weight

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001, ANN202 - nn.Module's signature
        for net in self._nets.values():
            net._apply(fn, recurse)
        return super()._apply(fn, recurse)

    @property
    def enabled(self) -> dict[str, float]:
        """The terms that are on, with their weights."""
        terms = dict(mse=self.mse_weight, lpips=self.lpips_weight, id=self.id_weight, wnorm=self.wnorm_weight,
                     adv=self.adv_weight)
        return {k: v for k, v in terms.items() if v > 0}

    def forward(self, fake: Tensor, real: Tensor, wplus: Tensor, w_avg: Tensor,
                d_fake: Tensor | None = None) -> dict[str, Tensor]:
        """The terms and their weighted sum.

        Args:
            fake: Reconstructions ``(N, C, R, R)`` in ``[-1, 1]``.
            real: Targets, same shape.
            wplus: Encoded ``(N, num_ws, w_dim)``.
            w_avg: The generator's ``(w_dim,)``.
            d_fake: Discriminator logits of ``fake`` ``(N, 1)``; required when ``adv_weight > 0``.

        Returns:
            ``{'loss_mse', 'loss_wnorm', ['loss_lpips', 'loss_id', 'loss_adv'], 'loss'}`` scalars (unweighted
            terms; ``'loss'`` is the weighted total).
        """
        if fake.shape != real.shape:
            raise ValueError(f"reconstructions {tuple(fake.shape)} and targets {tuple(real.shape)} differ in shape")
        out = {"loss_mse": F.mse_loss(fake, real), "loss_wnorm": wnorm_loss(wplus, w_avg)}
        if self.lpips_weight > 0:
            out["loss_lpips"] = self._nets["lpips"](_rgb(real), _rgb(fake)).mean()
        if self.id_weight > 0:
            out["loss_id"] = self._nets["id"](_rgb(fake), _rgb(real)).mean()
        if self.adv_weight > 0:
            if d_fake is None:
                raise ValueError("d_fake: adv_weight > 0 needs the discriminator logits of the reconstructions")
            out["loss_adv"] = F.softplus(-d_fake).mean()
        weights = dict(loss_mse=self.mse_weight, loss_wnorm=self.wnorm_weight, loss_lpips=self.lpips_weight,
                       loss_id=self.id_weight, loss_adv=self.adv_weight)
        out["loss"] = sum(weights[k] * v for k, v in out.items())
        return out
