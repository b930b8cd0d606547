"""PadInv training model (Bai et al., ECCV'22, arXiv 2203.11105): an encoder trained against a frozen StyleGAN2.

After the official ``EzioBy/padinv@49304d6`` ``runners/padinv_runner.py`` (``train_step``) and
``runners/losses/gan_inversion_loss.py``. One :meth:`PadInv.train_step`::

    E   x -> encoder -> (W+, padding maps) -> frozen G.synthesis -> x_hat;  L_E (see .loss), Adam on the encoder
    D   (adversarial term only) softplus(D(x_hat)) + softplus(-D(x)) + r1_gamma / 2 |grad_x D(x)|^2 on reals,
        x_hat re-encoded without gradients after the E step; D starts from the GAN checkpoint's discriminator

The generator is the EMA generator of ``generator_ckpt`` (a StyleGAN2 checkpoint of ``tools/train.py``), frozen
(no optimizer, eval mode, no gradients to its weights; gradients flow through it to W+ and the maps). The encoder's
``w_avg`` is the generator's (official ``avg_latent``). Synthesis uses ``noise_mode='const'`` (deterministic
reconstructions; configurable). Checkpoints hold the generator once and its config as extra state (see
:mod:`.load`). A plain mmengine model rather than the GAN spine: there is no EMA generator, no latent sampling and
no image generation to validate, only reconstructions.
"""

from __future__ import annotations

from typing import Any

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.models.editing.padding_space import PAD_LAYER_NUM, padding_map_size, padding_shapes
from gen3d.models.gans.base_gan import unwrap
from gen3d.models.losses.gan_losses import r1_penalty
from gen3d.registry import MODELS

from .encoder import PadInvEncoder
from .load import GENERATOR_KEY, check_stylegan2, load_gan_parts
from .loss import PadInvLoss

R1_GAMMA = 10.0  # official d_loss_kwargs r1_gamma


@MODELS.register_module()
class PadInv(BaseModel):
    """Encoder + frozen StyleGAN2 (+ optional discriminator), see the module docstring.

    Args:
        generator_ckpt: StyleGAN2 checkpoint whose EMA generator is inverted (required unless ``generator`` is
            given).
        generator: Generator config instead of a checkpoint: random weights (tests) or, in
            :func:`~.load.load_padinv_checkpoint`, weights from the PadInv checkpoint.
        encoder: :class:`~.encoder.PadInvEncoder` arguments; the generator's ``num_ws``, ``w_dim``, channels,
            resolution and padding shapes are filled in.
        use_padding: W+ and padding maps (PadInv); False: W+ only (the baseline).
        pad_layer_num: Padded non-upsampling convs (official 4: resolutions 4-32).
        encode_const: Predict the constant input too (official ``encode_const_input``).
        loss: :class:`~.loss.PadInvLoss` arguments.
        discriminator: The adversarial term's D: True takes the GAN checkpoint's, a dict builds one; None: no D
            (needs ``loss.adv_weight == 0``).
        r1_gamma: R1 weight of the D step.
        noise_mode: Noise of the synthesis.
        image_size: Side of the images the model takes and the losses compare (official 256 for the 1024-px FFHQ
            generator, whose output is average-pooled to it); None: the generator's resolution.
        data_preprocessor: Defaults to :class:`~gen3d.models.gans.data_preprocessor.GANDataPreprocessor`.
        init_cfg: Unused (networks keep their construction init; the generator its checkpoint).
    """

    def __init__(self, generator_ckpt: str | None = None, generator: dict | None = None, encoder: dict | None = None,
                 use_padding: bool = True, pad_layer_num: int = PAD_LAYER_NUM, encode_const: bool = True,
                 loss: dict | None = None, discriminator: bool | dict | None = None, r1_gamma: float = R1_GAMMA,
                 noise_mode: str = "const", image_size: int | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        data_preprocessor = data_preprocessor or dict(type="GANDataPreprocessor")
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.criterion = PadInvLoss(**(loss or {}))
        adversarial = self.criterion.adv_weight > 0
        if adversarial != bool(discriminator):
            raise ValueError(f"discriminator: loss.adv_weight={self.criterion.adv_weight} needs a discriminator "
                             "(True: the GAN checkpoint's) and a discriminator needs adv_weight > 0")
        gen, disc = self._build_networks(generator_ckpt, generator, discriminator)
        self.generator = gen.eval().requires_grad_(False)
        self.noise_mode, self.r1_gamma = noise_mode, float(r1_gamma)
        self.resolution, self.img_channels = int(gen.synthesis.resolution), int(gen.synthesis.img_channels)
        self.image_size = int(image_size or self.resolution)
        if not 0 < self.image_size <= self.resolution:
            raise ValueError(f"image_size must be in (0, {self.resolution}] (the generator's output is pooled to it), "
                             f"got {image_size}")
        enc = {k: v for k, v in (encoder or {}).items() if k != "type"}
        enc.update(num_ws=gen.num_ws, w_dim=gen.w_dim, img_channels=self.img_channels, use_padding=use_padding)
        enc.setdefault("resolution", self.image_size)
        if use_padding:
            shapes = padding_shapes(gen, 1, pad_layer_num, encode_const)
            enc.update(padding_channels={k: s[1] for k, s in shapes.items()},
                       padding_size=padding_map_size(gen, pad_layer_num))
        self.encoder = PadInvEncoder(**enc)
        with torch.no_grad():
            self.encoder.w_avg.copy_(gen.mapping.w_avg)
        self.discriminator = disc
        self.register_buffer("seen_img", torch.zeros((), dtype=torch.int64))

    def _build_networks(self, generator_ckpt: str | None, generator: dict | None,
                        discriminator: bool | dict | None) -> tuple[nn.Module, nn.Module | None]:
        if generator_ckpt is None and generator is None:
            raise ValueError(f"{GENERATOR_KEY} is required: the StyleGAN2 checkpoint to invert (tools/train.py "
                             f"... --cfg-options model.{GENERATOR_KEY}=PATH)")
        disc = None
        if generator_ckpt is not None:
            parts = load_gan_parts(generator_ckpt, discriminator=discriminator is True)
            gen, self.generator_cfg = parts["generator"], parts["generator_cfg"]
            disc, self.discriminator_cfg = parts["discriminator"], parts["discriminator_cfg"]
        else:
            gen, self.generator_cfg, self.discriminator_cfg = MODELS.build(dict(generator)), dict(generator), None
            check_stylegan2(gen, "generator")
        if isinstance(discriminator, dict):
            disc, self.discriminator_cfg = MODELS.build(dict(discriminator)), dict(discriminator)
        elif discriminator is True and disc is None:
            raise ValueError("discriminator=True takes the GAN checkpoint's discriminator: set generator_ckpt")
        return gen, disc

    # ------------------------------------------------------------------ checkpoint extra state
    def get_extra_state(self) -> dict[str, Any]:
        """The generator's (and discriminator's) config, so a checkpoint rebuilds without the GAN file."""
        return {"generator_cfg": self.generator_cfg, "discriminator_cfg": self.discriminator_cfg}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_extra_state`."""
        self.generator_cfg = state.get("generator_cfg", self.generator_cfg)
        self.discriminator_cfg = state.get("discriminator_cfg", self.discriminator_cfg)

    def init_weights(self) -> None:
        """Nothing to do: the encoder (and D) keep their construction init, the generator its checkpoint."""

    def train(self, mode: bool = True) -> PadInv:
        """Switch modes; the frozen generator stays in eval."""
        super().train(mode)
        self.generator.eval()
        return self

    # ------------------------------------------------------------------ the public interface
    @property
    def use_padding(self) -> bool:
        """Whether the encoder predicts padding maps (PadInv) or W+ only."""
        return bool(unwrap(self.encoder).use_padding)

    def check_image(self, img: Tensor, name: str = "img") -> None:
        """Refuse images that are not ``(N, img_channels, R, R)`` with ``R = image_size``, naming ``name``."""
        want = (self.img_channels, self.image_size, self.image_size)
        if not isinstance(img, Tensor) or img.ndim != 4 or tuple(img.shape[1:]) != want:
            got = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
            raise ValueError(f"{name} must be (N, {want[0]}, {want[1]}, {want[2]}) images in [-1, 1] (the "
                             f"generator's channels, image_size {self.image_size}), got {got}")

    def encode(self, img: Tensor) -> tuple[Tensor, dict | None]:
        """``img (N, C, R, R)`` in ``[-1, 1]`` -> ``(wplus (N, num_ws, w_dim), padding maps dict | None)``."""
        self.check_image(img)
        return self.encoder(img)

    def decode(self, wplus: Tensor, padding_maps: dict | None = None) -> Tensor:
        """Synthesise ``wplus (N, num_ws, w_dim)`` with maps ``{key: (N, C, S, S)}`` or None: ``(N, C, R, R)``."""
        gen = self.generator
        if not isinstance(wplus, Tensor) or wplus.ndim != 3 or tuple(wplus.shape[1:]) != (gen.num_ws, gen.w_dim):
            got = tuple(wplus.shape) if isinstance(wplus, Tensor) else type(wplus).__name__
            raise ValueError(f"wplus must be (N, {gen.num_ws}, {gen.w_dim}), got {got}")
        return gen.synthesis(wplus, noise_mode=self.noise_mode, padding_maps=padding_maps)

    def reconstruct(self, img: Tensor) -> Tensor:
        """``img (N, C, R, R)`` in ``[-1, 1]`` -> its reconstruction ``(N, C, R, R)`` (not clamped)."""
        return self.pool(self.decode(*self.encode(img)))

    def pool(self, img: Tensor) -> Tensor:
        """The generator's output average-pooled to ``image_size`` (official, for G above 256 px)."""
        return img if img.shape[-1] == self.image_size else F.adaptive_avg_pool2d(img, self.image_size)

    def forward(self, inputs: Tensor | None = None, data_samples: Any = None, mode: str = "tensor") -> Tensor:
        """Reconstructions ``(N, C, R, R)`` of images ``inputs`` in ``[-1, 1]`` (``mode='tensor'`` only)."""
        if mode != "tensor":
            raise ValueError(f"PadInv.forward supports mode='tensor' only (got {mode!r}); training runs through "
                             "train_step and evaluation through val_step")
        return self.reconstruct(inputs)

    # ------------------------------------------------------------------ training
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict | OptimWrapper) -> dict[str, Tensor]:
        """One E step (and a D step with the adversarial term).

        Args:
            data: A collated batch ``{'inputs': uint8 images, 'data_samples': ...}``.
            optim_wrapper: ``OptimWrapperDict`` with ``'encoder'`` (and ``'discriminator'``), or the encoder's wrapper.

        Returns:
            Scalars to log: the loss terms of :class:`~.loss.PadInvLoss`, ``loss_d`` / ``r1`` with a D.
        """
        data = self.data_preprocessor(data, True)
        real = data["inputs"]
        self.check_image(real, "inputs")
        enc_opt = optim_wrapper["encoder"] if isinstance(optim_wrapper, OptimWrapperDict) else optim_wrapper
        disc = self.discriminator
        if disc is not None:
            disc.requires_grad_(False)
        self.encoder.requires_grad_(True)
        with enc_opt.optim_context(self.encoder):
            wplus, maps = self.encoder(real)
            fake = self.pool(self.decode(wplus, maps))
            terms = self.criterion(fake, real, wplus, unwrap(self.encoder).w_avg,
                                   None if disc is None else disc(fake, None))
        enc_opt.update_params(terms["loss"])
        log = {k: v.detach() for k, v in terms.items()}
        if disc is not None:
            log.update(self._d_step(real, optim_wrapper["discriminator"]))
        self.seen_img += real.shape[0]
        return log

    def _d_step(self, real: Tensor, d_opt: OptimWrapper) -> dict[str, Tensor]:
        """Official ``D_loss``: logistic loss on reals and re-encoded fakes plus R1 on the reals (every step)."""
        disc = self.discriminator
        self.encoder.requires_grad_(False)
        disc.requires_grad_(True)
        with d_opt.optim_context(disc):
            with torch.no_grad():
                fake = self.pool(self.decode(*self.encoder(real)))
            loss_d = F.softplus(disc(fake, None)).mean() + F.softplus(-disc(real, None)).mean()
            r1 = r1_penalty(disc, real, None).mean() if self.r1_gamma > 0 else real.new_zeros(())
            total = loss_d + r1 * (self.r1_gamma / 2)
        d_opt.update_params(total)
        self.encoder.requires_grad_(True)
        return {"loss_d": loss_d.detach(), "r1": r1.detach()}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def val_step(self, data: dict) -> list[dict[str, Tensor]]:
        """One dict per image: ``real`` and ``recon``, float ``(C, R, R)`` in ``[-1, 1]`` (``recon`` clamped)."""
        data = self.data_preprocessor(data, False)
        real = data["inputs"]
        recon = self.reconstruct(real).clamp(-1, 1)
        return [{"real": r.cpu(), "recon": f.cpu()} for r, f in zip(real, recon)]

    def test_step(self, data: dict) -> list[dict[str, Tensor]]:
        """Same as :meth:`val_step`."""
        return self.val_step(data)
