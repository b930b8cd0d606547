"""DepthGAN training (Shi et al., ECCV'22 oral, arXiv 2202.08553) with the seven phases written out on the GAN spine.

One :meth:`DepthGAN.train_step` runs the iteration of ``VivianSZF/depthgan@80b259d`` ``runners/depthgan_runner.py``
with the losses of ``runners/losses/depthgan_loss.py``; every phase draws its own latents and yaws (the official
``run_G`` per loss) and steps the optimizers named::

    1 G adv    softplus(-D([x_f, d_f]))                                     -> generator_depth and generator_rgb
    2 rot D    drot_weight * L1(m * warp(d_2 -> view 1), m * z'(d_1))       -> generator_depth
    3 rot RGB  rgbrot_weight * L1(m * warp(x_2 -> view 1), m * x_1)         -> generator_rgb
    4 G depth  gdepth_weight * CE(D_depth(x_f, RGB only), bin(d_f))         -> generator_rgb
    5 D adv    softplus(D([x_f, d_f])) + softplus(-D([x_r, d_r]))  (one step) -> discriminator
    6 D depth  ddepth_weight * CE(D_depth(x_r, RGB only), bin(d_r))         -> discriminator
    7 lazy R1  every r1_interval: r1_gamma / 2 * |grad D([x_r, d_r])|^2 * r1_interval (RGBD input)
      EMA      of both paths (one ``generator_ema`` holds them; official g_ema_img 20k)

Phases 2 and 3 render pairs: each latent twice (``repeat=True``: the first half of the batch and the second half
share ``[z_depth, z_rgb]``) at two yaws drawn independently from the generator's ``U(yaw_range)``; ``m`` is the
in-bounds mask of :func:`~.warp.warp_views` and ``L1(a, b)`` the mean over every pixel, masked ones included (the
official ``F.l1_loss(mask * a, mask * b)``). ``occlusion_aware=True`` is the official variant: both directions, each
masked to ``z' < warp(d)``, summed. Path length is off in every official script (``pl_weight=0``) and not offered;
style mixing (``style_mixing_prob``) applies to the appearance path only, as the official depth generator ignores it,
with a fresh latent per sample as Hammer's generator draws it in training mode: the two renders of a rotation pair
share their appearance styles up to the mixing cutoff only (official behaviour, kept).

Optimizers: three, named ``generator_depth`` (the depth StyleGAN2 and the angle mapping), ``generator_rgb`` (the
appearance StyleGAN2 and the injection layers) and ``discriminator``. The two generator names are views of
``generator``'s parts (:meth:`DepthGANGenerator.path_modules`), so the checkpoint keeps one generator and one EMA
copy; ``MultiOptimWrapperConstructor`` reads them like submodules.

Validation (:meth:`val_fakes`, :meth:`val_reals`): per sample the EMA generator's RGBD at the sample's yaw and at a
second yaw (RotEval's pair), the warp's focal length and shift, the fake depth as an 8-bit image (FID on depth), and
D's RGB-only depth logits of the fake and, where the data has depth, of the real image.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from gen3d.evaluation.metrics.depthgan_warp import (
    DEPTH_SHIFT,
    FOCAL_PX,
    NUM_DEPTH_BINS,
    check_yaw_range,
    depth_bins,
    depthgan_intrinsics,
    warp_views,
)
from gen3d.models.losses.gan_losses import r1_penalty
from gen3d.registry import MODELS

from ..base_gan import BaseGAN

# scripts/training_demos/depthgan_lsun_*.sh and runners/losses/depthgan_loss.py (gans.md sections 3 and 10)
DROT_WEIGHT = 50.0  # --drotloss=50
RGBROT_WEIGHT = 0.5  # --rgbrotloss: 0.3 at 128, 0.5 bedroom-256, 0.4 kitchen-256 (the class default 10 never used)
GDEPTH_WEIGHT = 0.001  # --gdloss
DDEPTH_WEIGHT = 0.8  # --ddloss
R1_GAMMA = 0.5  # --r1_gamma: 0.3 at 128, 0.5 at 256
R1_INTERVAL = 16
STYLE_MIXING_PROB = 0.9
EMA_KIMG = 20.0  # g_ema_img = 20000
TRAIN_NOISE_MODE = "none"  # model_kwargs_train noise_mode='none': the two views of a pair see the same noise
GENERATOR_PARTS = ("generator_depth", "generator_rgb")


def masked_l1(a: Tensor, b: Tensor, mask: Tensor) -> Tensor:
    """Official ``F.l1_loss(mask * a, mask * b)``: the mean over every element, masked ones counted as zeros.

    Args:
        a: ``(N, C, H, W)``.
        b: ``(N, C, H, W)``.
        mask: ``(N, 1, H, W)`` bool or float.
    """
    m = mask.to(a.dtype)
    return F.l1_loss(m * a, m * b)


@MODELS.register_module()
class DepthGAN(BaseGAN):
    """DepthGAN: dual-path generator, switchable discriminator, rotation consistency and depth-bin losses.

    Submodules and buffers of :class:`BaseGAN`; ``generator`` is a
    :class:`~gen3d.models.gans.depthgan.generator.DepthGANGenerator`, ``discriminator`` a
    :class:`~gen3d.models.gans.depthgan.discriminator.DepthGANDiscriminator`.

    Args:
        generator: Config or module (the dual-path generator).
        discriminator: Config or module, ``forward(rgb or rgbd, c) -> {'logit', 'depth_logits'}``.
        data_preprocessor: Defaults to :class:`GANDataPreprocessor` (stacks the data's depth as ``real_depth``).
        drot_weight: Weight of the depth rotation loss (official ``drotloss``).
        rgbrot_weight: Weight of the RGB rotation loss (``rgbrotloss``).
        gdepth_weight: Weight of D's depth prediction on fakes in G_rgb's loss (``gdloss``).
        ddepth_weight: Weight of D's depth prediction on reals in D's loss (``ddloss``).
        r1_gamma: R1 weight on the RGBD reals (0 disables it).
        r1_interval: Lazy R1 interval.
        style_mixing_prob: Style mixing of the appearance path.
        occlusion_aware: The official occlusion-aware rotation losses (both directions, hidden points dropped).
        warp_focal: Focal length of the warp in pixels at the training resolution (official 260 at every size;
            data rendered at a fixed field of view, as the offline rooms, need ``260 * R / 256``).
        depth_shift: The warp's ``s`` (:func:`~.warp.depth_to_metric`; official -0.13, 0 for the rooms' depth).
        train_noise_mode: Noise of the training renders (official ``'none'``).
        adversarial_loss: ``'logistic'`` (official) or ``'hinge'``.
        ema_kimg: EMA half-life in thousands of images.
        ema_rampup: Cap the EMA half-life at ``seen_img * ema_rampup`` (None: none, official).
        num_val_fakes: Validate on the first samples only; None: one fake per real image.
        val_seed: Seed of the validation latents and yaws.
        val_pairs: Render each validation latent at its second yaw too (RotEval's input); False halves the
            validation renders of a config without RotEval (refused with one, naming ``model.val_pairs``).
        init_cfg: mmengine init config.

    Raises:
        ValueError: A yaw range the warp cannot handle (naming ``generator.yaw_range``), DynamicD, or a bad weight.
    """

    def __init__(self, generator: dict | nn.Module, discriminator: dict | nn.Module,
                 data_preprocessor: dict | nn.Module | None = None, drot_weight: float = DROT_WEIGHT,
                 rgbrot_weight: float = RGBROT_WEIGHT, gdepth_weight: float = GDEPTH_WEIGHT,
                 ddepth_weight: float = DDEPTH_WEIGHT, r1_gamma: float = R1_GAMMA, r1_interval: int = R1_INTERVAL,
                 style_mixing_prob: float = STYLE_MIXING_PROB, occlusion_aware: bool = False,
                 warp_focal: float = FOCAL_PX, depth_shift: float = DEPTH_SHIFT,
                 train_noise_mode: str = TRAIN_NOISE_MODE, adversarial_loss: str = "logistic",
                 ema_kimg: float = EMA_KIMG, ema_rampup: float | None = None, num_val_fakes: int | None = None,
                 val_seed: int = 0, val_pairs: bool = True, dynamic_d: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        if dynamic_d is not None:
            raise ValueError("DepthGAN does not take dynamic_d: its discriminator's depth stem and depth head have no "
                             "DynamicD width mask")
        super().__init__(generator, discriminator, data_preprocessor, None, adversarial_loss, ema_kimg, ema_rampup,
                         num_val_fakes, val_seed, init_cfg)
        gen = self.net("generator")
        for attr in ("path_modules", "synthesize_depth", "synthesize_rgb", "map_latents"):
            if not hasattr(gen, attr):
                raise ValueError(f"DepthGAN needs a DepthGANGenerator-like generator (no {attr!r} on "
                                 f"{type(gen).__name__})")
        check_yaw_range(gen.yaw_range, key="generator.yaw_range")
        weights = dict(drot_weight=drot_weight, rgbrot_weight=rgbrot_weight, gdepth_weight=gdepth_weight,
                       ddepth_weight=ddepth_weight, r1_gamma=r1_gamma)
        for key, value in weights.items():
            if float(value) < 0:
                raise ValueError(f"{key} must be >= 0, got {value}")
        if r1_interval < 1:
            raise ValueError(f"r1_interval must be >= 1, got {r1_interval}")
        if not warp_focal > 0:
            raise ValueError(f"warp_focal must be > 0, got {warp_focal}")
        self.drot_weight, self.rgbrot_weight = float(drot_weight), float(rgbrot_weight)
        self.gdepth_weight, self.ddepth_weight = float(gdepth_weight), float(ddepth_weight)
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.style_mixing_prob, self.occlusion_aware = float(style_mixing_prob), bool(occlusion_aware)
        self.warp_focal, self.depth_shift = float(warp_focal), float(depth_shift)
        self.train_noise_mode, self.val_pairs = str(train_noise_mode), bool(val_pairs)
        self.num_bins = int(getattr(self.net("discriminator"), "num_bins", NUM_DEPTH_BINS))

    # ------------------------------------------------------------------ the two generator optimizers
    @property
    def generator_depth(self) -> nn.ModuleList:
        """The parameters optimizer ``generator_depth`` steps: the depth path and the angle mapping (a view)."""
        return self.net("generator").path_modules("depth")

    @property
    def generator_rgb(self) -> nn.ModuleList:
        """The parameters optimizer ``generator_rgb`` steps: the appearance path and the injections (a view)."""
        return self.net("generator").path_modules("rgb")

    # ------------------------------------------------------------------ rendering for the losses
    def _mixed_rgb_ws(self, gen: nn.Module, ws_rgb: Tensor, z: Tensor, c: Tensor | None) -> Tensor:
        """Style mixing of the appearance ``ws`` (prob ``style_mixing_prob``, a random cutoff, a fresh z_rgb)."""
        num_ws = ws_rgb.shape[1]
        if self.style_mixing_prob <= 0 or num_ws < 2 or float(torch.rand(())) >= self.style_mixing_prob:
            return ws_rgb
        cutoff = int(torch.randint(1, num_ws, ()))
        z_rgb = torch.randn_like(gen.split_latent(z)[1])
        ws2 = gen.rgb.mapping(z_rgb, c, update_w_avg=False)
        return torch.cat([ws_rgb[:, :cutoff], ws2[:, cutoff:]], dim=1)

    def render(self, batch: int, c: Tensor | None = None, pairs: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """Fakes of the training generator: ``(rgb (N, 3, R, R), depth (N, 1, R, R), yaw (N, 1))``.

        Args:
            batch: ``N``.
            c: Labels ``(N, c_dim)`` of a conditional generator (repeated halves when ``pairs``).
            pairs: The latents of the first ``N // 2`` samples repeated for the second half (official
                ``repeat=True``); the yaws are drawn for all ``N``.
        """
        gen = self.net("generator")
        if pairs:
            if batch < 2:
                raise ValueError(f"the rotation losses need a batch of at least 2 (pairs), got {batch}")
            z = self.sample_z(batch // 2).repeat(2, 1)
            c = None if c is None else c[: batch // 2].repeat(2, 1)
        else:
            z = self.sample_z(batch)
        yaw = gen.sample_pose(z.shape[0], self._device)
        ws_depth, ws_rgb = gen.map_latents(z, c, update_w_avg=True)
        ws_rgb = self._mixed_rgb_ws(gen, ws_rgb, z, c)
        depth, features = gen.synthesize_depth(ws_depth, yaw, noise_mode=self.train_noise_mode)
        rgb = gen.synthesize_rgb(ws_rgb, features, noise_mode=self.train_noise_mode)
        return rgb, depth, yaw

    def intrinsics(self, size: int) -> Tensor:
        """The warp's ``K`` ``(3, 3)`` at ``size`` px (focal ``warp_focal``)."""
        return depthgan_intrinsics(size, size, focal=self.warp_focal).to(self._device)

    def rotation_losses(self, rgb: Tensor, depth: Tensor, yaw: Tensor) -> tuple[Tensor, Tensor]:
        """Depth and RGB rotation losses of a pair batch (first half view 1, second half view 2).

        Args:
            rgb: ``(2P, 3, R, R)``.
            depth: ``(2P, 1, R, R)`` normalised.
            yaw: ``(2P, 1)``.

        Returns:
            ``(L1 depth, L1 RGB)`` unweighted (summed over both directions when ``occlusion_aware``).
        """
        half = rgb.shape[0] // 2
        rgbd = torch.cat([rgb, depth], dim=1)
        k = self.intrinsics(rgb.shape[-1])
        views = [(slice(0, half), slice(half, 2 * half))]
        if self.occlusion_aware:
            views.append((views[0][1], views[0][0]))
        loss_depth = loss_rgb = rgb.new_zeros(())
        for a, b in views:
            warp = warp_views(rgbd[a], yaw[a], rgbd[b], yaw[b], occlusion_aware=self.occlusion_aware,
                              intrinsics=k, shift=self.depth_shift)
            loss_depth = loss_depth + masked_l1(warp.depth, warp.z, warp.mask)
            loss_rgb = loss_rgb + masked_l1(warp.image, rgb[a], warp.mask)
        return loss_depth, loss_rgb

    def _d_logit(self, x: Tensor, c: Tensor | None) -> Tensor:
        return self.net("discriminator")(x, c)["logit"]

    # ------------------------------------------------------------------ the iteration
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """The seven phases of the module docstring.

        Args:
            data: A collated RGBD batch (``inputs`` uint8 RGB, ``data_samples`` with ``depth``).
            optim_wrapper: ``OptimWrapperDict`` with ``generator_depth``, ``generator_rgb`` and ``discriminator``.

        Returns:
            Scalars to log: ``loss_g``, ``loss_rot_depth``, ``loss_rot_rgb``, ``loss_g_depth``, ``loss_d``,
            ``d_real``, ``d_fake``, ``loss_d_depth``, ``r1`` / ``loss_r1`` on R1 iterations, ``seen_kimg``.

        Raises:
            KeyError: A batch without ``real_depth`` (the dataset must load depth), or a missing optimizer.
        """
        missing = [n for n in (*GENERATOR_PARTS, "discriminator") if n not in optim_wrapper.keys()]
        if missing:
            raise KeyError(f"DepthGAN needs optim_wrapper entries {missing} (one per optimizer: generator_depth, "
                           "generator_rgb, discriminator)")
        data = self.data_preprocessor(data, True)
        if "real_depth" not in data:
            raise KeyError("DepthGAN trains on RGBD: the batch has no real_depth. Give train_dataloader.dataset a "
                           "depth folder (RGBDDataset with_depth=True) and LoadRGBDDepth in its pipeline")
        real, real_depth = data["inputs"], data["real_depth"]
        real_rgbd = torch.cat([real, real_depth], dim=1)
        batch = real.shape[0]
        c = self.sample_labels(data["data_samples"], batch)
        disc = self.net("discriminator")
        log: dict[str, Tensor] = {}

        # 1: adversarial G loss on RGBD fakes, both paths stepped.
        self.toggle(optim_wrapper, *GENERATOR_PARTS)
        for name in GENERATOR_PARTS:
            self.zero_grad_optimizer(optim_wrapper, name)
        rgb, depth, _ = self.render(batch, c)
        loss_g = self.g_adv_loss(self._d_logit(torch.cat([rgb, depth], 1), c))
        optim_wrapper["generator_depth"].backward(loss_g)
        for name in GENERATOR_PARTS:
            self.apply_gradients(optim_wrapper, name)
        log["loss_g"] = loss_g.detach()

        # 2: depth rotation consistency, depth path only.
        if self.drot_weight > 0:
            self.toggle(optim_wrapper, "generator_depth")
            rgb, depth, yaw = self.render(batch, c, pairs=True)
            loss_rot_depth, _ = self.rotation_losses(rgb, depth, yaw)
            self.step_optimizer(optim_wrapper, "generator_depth", loss_rot_depth * self.drot_weight)
            log["loss_rot_depth"] = loss_rot_depth.detach()

        # 3 and 4: RGB rotation consistency, then D's depth prediction on fakes, appearance path only.
        self.toggle(optim_wrapper, "generator_rgb")
        if self.rgbrot_weight > 0:
            rgb, depth, yaw = self.render(batch, c, pairs=True)
            _, loss_rot_rgb = self.rotation_losses(rgb, depth, yaw)
            self.step_optimizer(optim_wrapper, "generator_rgb", loss_rot_rgb * self.rgbrot_weight)
            log["loss_rot_rgb"] = loss_rot_rgb.detach()
        if self.gdepth_weight > 0:
            rgb, depth, _ = self.render(batch, c)
            loss_g_depth = F.cross_entropy(disc(rgb, c)["depth_logits"], depth_bins(depth.detach(), self.num_bins))
            self.step_optimizer(optim_wrapper, "generator_rgb", loss_g_depth * self.gdepth_weight)
            log["loss_g_depth"] = loss_g_depth.detach()

        # 5: adversarial D loss, fakes and reals in one step.
        self.toggle(optim_wrapper, "discriminator")
        with torch.no_grad():
            rgb, depth, _ = self.render(batch, c)
        d_fake, d_real = self._d_logit(torch.cat([rgb, depth], 1), c), self._d_logit(real_rgbd, c)
        loss_d = self.d_adv_loss(d_real, d_fake)
        self.step_optimizer(optim_wrapper, "discriminator", loss_d)
        log.update(loss_d=loss_d.detach(), d_fake=d_fake.detach().mean(), d_real=d_real.detach().mean())

        # 6: D's depth prediction on real RGB.
        if self.ddepth_weight > 0:
            loss_d_depth = F.cross_entropy(disc(real, c)["depth_logits"], depth_bins(real_depth, self.num_bins))
            self.step_optimizer(optim_wrapper, "discriminator", loss_d_depth * self.ddepth_weight)
            log["loss_d_depth"] = loss_d_depth.detach()

        # 7: lazy R1 on the RGBD reals; EMA of both paths.
        if self.r1_gamma > 0 and self.lazy(self.r1_interval):
            r1 = r1_penalty(self._d_logit, real_rgbd, c)
            loss_r1 = r1.mean() * (self.r1_gamma / 2)
            self.step_optimizer(optim_wrapper, "discriminator", loss_r1 * self.r1_interval)
            log.update(loss_r1=loss_r1.detach(), r1=r1.detach().mean())

        self.net("generator").requires_grad_(True)
        return self.finish_iteration(batch, log)

    # ------------------------------------------------------------------ validation
    def sample_val_poses(self, indices: list[int]) -> Tensor:
        """Two fixed yaws per sample index, ``(N, 2)``: the view (the draw after the latent) and RotEval's second."""
        gen, yaws = self.generator_ema, []
        for i in indices:
            g = self._val_generator(i)
            torch.randn(self.z_dim, generator=g)  # the latent's draw comes first
            yaws.append(torch.cat([gen.sample_pose(1, "cpu", generator=g), gen.sample_pose(1, "cpu", generator=g)], 1))
        return torch.cat(yaws).to(self._device)

    def val_fakes(self, z: Tensor, c: Tensor | None, pose: Tensor | None) -> list[dict[str, Any]]:
        """EMA renders of the validation latents at two yaws, with D's depth logits of the first view.

        Args:
            z: ``(N, z_dim)``.
            c: ``(N, c_dim)`` or None.
            pose: ``(N, 2)`` of :meth:`sample_val_poses`.

        Returns:
            Per sample: ``fake_img`` uint8 ``(3, R, R)``, ``fake_rgbd`` / ``fake_rgbd_b`` float ``(4, R, R)`` (raw RGB
            and normalised depth), ``yaw`` / ``yaw_b`` (radians; the ``_b`` pair only with ``val_pairs``),
            ``fake_depth`` float ``(1, R, R)``,
            ``fake_depth_img`` uint8 ``(1, R, R)``, ``fake_depth_logits`` ``(num_bins, R, R)``, ``warp_focal``,
            ``warp_shift``.
        """
        gen, disc = self.generator_ema, self.net("discriminator")
        with torch.no_grad():
            views = [gen(z, c, pose[:, k:k + 1], noise_mode="const") for k in ((0, 1) if self.val_pairs else (0,))]
            logits = disc(views[0].image, c)["depth_logits"].float()
        out = []
        for i in range(z.shape[0]):
            rgbd = [torch.cat([v.image[i], v.depth[i]], 0).float().cpu() for v in views]
            depth = views[0].depth[i].float().cpu()
            sample = {"fake_img": self.to_uint8(views[0].image[i]).cpu(), "fake_rgbd": rgbd[0],
                      "yaw": float(pose[i, 0]), "fake_depth": depth,
                      "fake_depth_img": self.to_uint8(depth.clamp(-1, 1)),
                      "fake_depth_logits": logits[i].cpu(), "warp_focal": self.warp_focal,
                      "warp_shift": self.depth_shift}
            if self.val_pairs:
                sample.update(fake_rgbd_b=rgbd[1], yaw_b=float(pose[i, 1]))
            out.append(sample)
        return out

    def val_reals(self, data: dict, keep: list[int], c: Tensor | None) -> list[dict[str, Any]]:
        """The real side: ``real_img``, and where the data has depth its D outputs.

        Adds ``real_depth`` ``(1, R, R)``, ``real_depth_img`` uint8 and D's RGB-only ``real_depth_logits``
        ``(num_bins, R, R)`` to each kept sample when the batch has ``real_depth``.
        """
        out = super().val_reals(data, keep, c)
        if "real_depth" not in data:
            return out
        with torch.no_grad():
            logits = self.net("discriminator")(data["inputs"][keep], c)["depth_logits"].float()
        for j, k in enumerate(keep):
            depth = data["real_depth"][k].float().cpu()
            out[j].update(real_depth=depth, real_depth_img=self.to_uint8(depth.clamp(-1, 1)),
                          real_depth_logits=logits[j].cpu())
        return out
