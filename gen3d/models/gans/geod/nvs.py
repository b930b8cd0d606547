"""GeoD's optional third task: novel-view synthesis (NVS) by the discriminator (Shi et al. 2022, arXiv 2209.15637).

The project page (``VivianSZF/geod:docs/index.html``) says that an NVS task for D "further assists the generator with
a better multi-view consistency": D maps an image ``x1`` at pose 1 and a target pose 2 to ``x_hat`` at pose 2. It is
trained on fake pairs that G renders from one latent at two poses, and G then gets a consistency loss between its own
render at pose 2 and D's prediction::

    D   + nvs_weight * L1(D_nvs(sg(G(z, p1)), e(p2)), sg(G(z, p2)))                  every iteration
    G   + nvs_weight * r(kimg) * L1(G(z, p2), sg(D_nvs(G(z, p1), e(p2))))            D frozen; when GeoD's G term is due

Neither the GeoD code nor an NVS path in the same author's ``VivianSZF/pof3d`` is public (its ``training/
loss_pose.py`` has no NVS term), so everything below is gen3d's choice, named as such:

- Pose 2 is drawn independently from the generator's own pose distribution (``sample_pose``), as DepthGAN draws the
  two views of a pair (``VivianSZF/depthgan``: ``run_G(repeat=True)``, two independent yaws). Assumed.
- Pose encoding ``e``: ``(sin, cos)`` of every angle, so ``nvs_pose_dim = 2 * pose_dim`` (4 for pi-GAN's
  ``(pitch, yaw)``); bounded and continuous across a yaw wrap (CARLA's uniform sphere). Assumed.
- Loss: L1 (:func:`.losses.nvs_loss`), as GeoD's geometry term (pof3d ``normal_loss_calc``). Assumed.
- D's term uses detached fakes (D learns the task; G is not moved by it) and has no schedule, as D's geometry term
  on reals: the head learns from the start, so it is a usable target once G's term ramps in. Assumed.
- G's term: D frozen (the phase's ``requires_grad`` toggle) and D's prediction detached by default
  (``nvs_detach_target=True``): G is pulled only through its render at pose 2. ``False`` also lets the gradient
  reach G's pose-1 render through frozen D, as pof3d's geometry target does. Assumed; configurable.
- G's weight ``r(kimg)`` follows GeoD's geometry schedule (:func:`.losses.geod_weight`) rescaled to ``0 -> 1``: the
  same ramp window (``ramp_kimg``), off after ``stop_kimg``, on the iterations :func:`.losses.geod_due` allows.
  Assumed: pof3d's only GeoD schedule is the geometry one.
- ``nvs_weight``: no public value; 0 (off) by default, and no shipped config turns it on.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from .losses import RAMP_KIMG, STOP_KIMG, geod_weight, nvs_loss

NVS_DETACH_TARGET = True  # G's target is D's prediction without grad (assumed, see the module docstring)
NVS_POSE_ENCODING = "sincos"  # (sin, cos) of each pose angle (assumed)


def encode_pose(pose: Tensor) -> Tensor:
    """The NVS head's target-pose code.

    Args:
        pose: ``(N, P)`` angles (pi-GAN: ``(pitch, yaw)`` in radians).

    Returns:
        ``(N, 2 P)``: ``[sin(pose), cos(pose)]``.
    """
    if pose.dim() != 2:
        raise ValueError(f"pose must be (N, P) angles, got {tuple(pose.shape)}")
    return torch.cat([pose.sin(), pose.cos()], 1)


def nvs_pose_dim(pose_dim: int) -> int:
    """Size of :func:`encode_pose` for ``pose_dim`` angles (the discriminator's ``nvs_pose_dim``)."""
    return 2 * int(pose_dim)


def nvs_discriminator_args(geod: dict, pose_dim: int) -> dict:
    """The ``geod`` config with ``nvs_pose_dim`` set from the pose encoding, checked against ``nvs_weight``.

    Args:
        geod: A model's ``geod`` config (``nvs_weight``, optionally ``nvs_pose_dim``).
        pose_dim: The generator's pose size.

    Returns:
        A copy of ``geod``; with ``nvs_weight > 0`` its ``nvs_pose_dim`` is ``2 * pose_dim``.

    Raises:
        ValueError: A negative ``nvs_weight``, a ``nvs_pose_dim`` that is not the encoding's, or one given with
            ``nvs_weight == 0`` (a head that nothing trains).
    """
    geod = dict(geod)
    weight, given = float(geod.get("nvs_weight", 0.0)), geod.get("nvs_pose_dim")
    if weight < 0:
        raise ValueError(f"geod.nvs_weight must be >= 0, got {weight}")
    if weight == 0:
        if given:
            raise ValueError(f"geod.nvs_pose_dim={given} builds an NVS head that nothing trains (nvs_weight=0): "
                             "set geod.nvs_weight > 0 or drop nvs_pose_dim")
        return geod
    expected = nvs_pose_dim(pose_dim)
    if given is not None and int(given) != expected:
        raise ValueError(f"geod.nvs_pose_dim={given} does not match the NVS pose encoding ({NVS_POSE_ENCODING} of "
                         f"the generator's {pose_dim} angles: {expected}); leave nvs_pose_dim unset")
    geod["nvs_pose_dim"] = expected
    return geod


class NovelViewTask:
    """GeoD's NVS losses for the D and G phases (module docstring); a plain object, no parameters.

    Args:
        weight: ``nvs_weight`` (> 0).
        ramp_kimg: G's ramp window, as :func:`.losses.geod_weight` (the geometry term's ``ramp_kimg``).
        stop_kimg: G's term is off from here on.
        detach_target: Detach D's prediction in G's term.
    """

    def __init__(self, weight: float, ramp_kimg: tuple[float, float] | None = RAMP_KIMG,
                 stop_kimg: float = STOP_KIMG, detach_target: bool = NVS_DETACH_TARGET) -> None:
        if not weight > 0:
            raise ValueError(f"NovelViewTask needs a weight > 0, got {weight}")
        self.weight, self.ramp_kimg = float(weight), ramp_kimg
        self.stop_kimg, self.detach_target = float(stop_kimg), bool(detach_target)

    def g_weight(self, kimg: float) -> float:
        """G's weight after ``kimg`` thousand images: ``weight`` times the geometry ramp rescaled to ``0 -> 1``."""
        ramped = self.ramp_kimg is not None and float(self.ramp_kimg[1]) >= 0
        return self.weight * geod_weight(kimg, 0.0 if ramped else 1.0, 1.0, self.ramp_kimg, self.stop_kimg)

    @staticmethod
    def second_view(sample_pose: Callable[[int], Tensor], render: Callable[[Tensor, Tensor], Tensor],
                    z: Tensor) -> tuple[Tensor, Tensor]:
        """Draw pose 2 from the generator's pose distribution and render the latents there.

        Args:
            sample_pose: ``num -> (num, P)`` poses.
            render: ``(z, pose) -> (N, C, H, W)`` images.
            z: ``(N, z_dim)`` the latents of the pose-1 images.

        Returns:
            ``(pose2 (N, P), x2 (N, C, H, W))``.
        """
        pose2 = sample_pose(z.shape[0])
        return pose2, render(z, pose2)

    def d_phase(self, disc: nn.Module, x1: Tensor, z: Tensor, sample_pose: Callable[[int], Tensor],
                render: Callable[[Tensor, Tensor], Tensor], log: dict[str, Tensor], **kwargs: object) -> Tensor:
        """D phase: render the pair's second view without grad, D's loss on it; logs ``loss_nvs_d``.

        Args:
            disc: A :class:`GeometryAwareDiscriminator` with an NVS head.
            x1: ``(N, C, H, W)`` fakes of ``z`` at pose 1.
            z: ``(N, z_dim)``.
            sample_pose: As :meth:`second_view`.
            render: As :meth:`second_view`.
            log: Scalars to log.
            **kwargs: Passed to ``disc.novel_view`` (``alpha``).

        Returns:
            Scalar weighted loss (:meth:`d_loss`).
        """
        with torch.no_grad():
            pose2, x2 = self.second_view(sample_pose, render, z)
        loss = self.d_loss(disc, x1, pose2, x2, **kwargs)
        log["loss_nvs_d"] = loss.detach()
        return loss

    def g_phase(self, disc: nn.Module, x1: Tensor, z: Tensor, sample_pose: Callable[[int], Tensor],
                render: Callable[[Tensor, Tensor], Tensor], weight: float, **kwargs: object) -> Tensor:
        """G phase: render the same latents at pose 2 with grad, G's consistency loss (:meth:`g_loss`).

        Args:
            disc: A :class:`GeometryAwareDiscriminator` with an NVS head, its parameters frozen.
            x1: ``(N, C, H, W)`` G's renders of ``z`` at pose 1.
            z: ``(N, z_dim)``.
            sample_pose: As :meth:`second_view`.
            render: As :meth:`second_view` (with grad).
            weight: This iteration's weight.
            **kwargs: Passed to ``disc.novel_view`` (``alpha``).

        Returns:
            Scalar weighted loss.
        """
        pose2, x2 = self.second_view(sample_pose, render, z)
        return self.g_loss(disc, x1, pose2, x2, weight, **kwargs)

    def d_loss(self, disc: nn.Module, x1: Tensor, pose2: Tensor, x2: Tensor, **kwargs: object) -> Tensor:
        """D's weighted NVS loss on a detached fake pair.

        Args:
            disc: A :class:`GeometryAwareDiscriminator` with an NVS head.
            x1: ``(N, C, H, W)`` fakes at pose 1.
            pose2: ``(N, P)`` pose 2.
            x2: ``(N, C, H, W)`` the same latents rendered at pose 2.
            **kwargs: Passed to ``disc.novel_view`` (``alpha``).

        Returns:
            Scalar ``weight * L1(D_nvs(x1, e(pose2)), x2)``, gradients to D only.
        """
        pred = disc.novel_view(x1.detach(), encode_pose(pose2).to(x1.dtype), **kwargs)
        return nvs_loss(pred.float(), x2.detach().float()) * self.weight

    def g_loss(self, disc: nn.Module, x1: Tensor, pose2: Tensor, x2: Tensor, weight: float,
               **kwargs: object) -> Tensor:
        """G's consistency loss: its render at pose 2 against D's prediction from its render at pose 1.

        D's parameters must be frozen by the caller (the G phase's toggle); with ``detach_target`` the prediction
        is taken without grad.

        Args:
            disc: A :class:`GeometryAwareDiscriminator` with an NVS head.
            x1: ``(N, C, H, W)`` G's renders at pose 1.
            pose2: ``(N, P)`` pose 2.
            x2: ``(N, C, H, W)`` G's renders of the same latents at pose 2 (with grad).
            weight: This iteration's weight (:meth:`g_weight`, 0 when the term is not due).
            **kwargs: Passed to ``disc.novel_view`` (``alpha``).

        Returns:
            Scalar ``weight * L1(x2, D_nvs(x1, e(pose2)))``.
        """
        with torch.no_grad() if self.detach_target else nullcontext():
            pred = disc.novel_view(x1, encode_pose(pose2).to(x1.dtype), **kwargs)
        return nvs_loss(x2.float(), pred.float()) * float(weight)
