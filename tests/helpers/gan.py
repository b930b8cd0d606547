"""A tiny StyleGAN2 checkpoint (16 px, widths <= 16, random weights) for tools and deploy tests, and a toy GAN on the
spine with three optimizers (and a generator that also renders depth)."""

from pathlib import Path

import torch
from mmengine.config import Config
from torch import Tensor, nn

from gen3d.models.gans.base_gan import BaseGAN
from gen3d.models.gans.generator_output import GeneratorOutput
from gen3d.models.losses.gan_losses import r1_penalty
from gen3d.registry import MODELS

TINY_GAN_CFG = """
default_scope = "gen3d"
model = dict(
    type="StyleGAN2",
    generator=dict(type="StyleGAN2Generator", resolution=16, z_dim=16, w_dim=16, c_dim={c_dim}, mapping_layers=2,
                   channel_base=128, channel_max=16, img_channels={channels}),
    discriminator=dict(type="StyleGAN2Discriminator", resolution=16, img_channels={channels}, c_dim={c_dim},
                       channel_base=128, channel_max=16),
)
"""


def make_tiny_gan_checkpoint(path: Path, c_dim: int = 0, channels: int = 3, seed: int = 0) -> Path:
    """Build the tiny StyleGAN2 of :data:`TINY_GAN_CFG`, perturb ``w_avg`` (so truncation matters) and save it
    like ``tools/train.py`` does (``state_dict`` + ``meta.cfg``)."""
    import gen3d.models  # noqa: F401 - registers the GAN modules

    cfg = Config.fromstring(TINY_GAN_CFG.format(c_dim=c_dim, channels=channels), file_format=".py")
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model.to_dict())
    with torch.no_grad():
        for gen in (model.generator, model.generator_ema):
            gen.mapping.w_avg.copy_(torch.randn_like(gen.mapping.w_avg))
    meta = {"cfg": cfg.pretty_text, "model_type": "StyleGAN2"}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


# ------------------------------------------------------------------------------------------------ toy spine GAN
# A GAN on the spine with THREE optimizers (a generator pair and a discriminator), like DepthGAN (G, depth G, D) or
# PadInv (encoder, D): it exercises named optimizers, lazy intervals and DDP gradient averaging for any count.


@MODELS.register_module(force=True)
class ToyDepthGenerator(nn.Module):
    """``z [N, z_dim]`` (+ ``c``, + ``pose [N, pose_dim]``) -> image ``[N, C, R, R]`` and depth ``[N, 1, R, R]``."""

    def __init__(self, z_dim: int = 8, img_resolution: int = 16, img_channels: int = 3, c_dim: int = 0,
                 pose_dim: int = 0) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.pose_dim = z_dim, c_dim, pose_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.fc = nn.Linear(z_dim + c_dim + pose_dim, (img_channels + 1) * img_resolution**2)
        self.register_buffer("w_avg", torch.zeros(z_dim))

    def sample_pose(self, num: int, device: torch.device | str | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
        """``[num, pose_dim]`` poses ~ N(0, 0.1^2)."""
        return (torch.randn(num, self.pose_dim, generator=generator) * 0.1).to(device)

    def forward(self, z: Tensor, c: Tensor | None = None, pose: Tensor | None = None,
                truncation_psi: float | Tensor = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "random", update_w_avg: bool = False) -> GeneratorOutput:
        """Image and depth of latents ``z`` (truncated towards ``w_avg``)."""
        z = self.w_avg.lerp(z, truncation_psi) if isinstance(truncation_psi, Tensor) or truncation_psi != 1 else z
        if (pose is None) != (self.pose_dim == 0):
            raise ValueError(f"pose must be [N, {self.pose_dim}]")
        x = self.fc(torch.cat([t for t in (z, c, pose) if t is not None], 1))
        x = x.view(-1, self.img_channels + 1, self.img_resolution, self.img_resolution)
        return GeneratorOutput(image=torch.tanh(x[:, :-1]), depth=torch.sigmoid(x[:, -1:]))


@MODELS.register_module(force=True)
class ToyRefiner(nn.Module):
    """The second generator of the pair: ``image [N, C, R, R] -> image`` (a residual 3x3 conv)."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, img: Tensor) -> Tensor:  # noqa: D102
        return (img + self.conv(img)).clamp(-1, 1)


@MODELS.register_module(force=True)
class ToyDiscriminator(nn.Module):
    """``img [N, C, R, R] -> logits [N, 1]``."""

    def __init__(self, img_resolution: int = 16, img_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(img_channels, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * (img_resolution // 2) ** 2, 1)

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:  # noqa: D102
        return self.fc(torch.nn.functional.leaky_relu(self.conv(img), 0.2).flatten(1))


@MODELS.register_module(force=True)
class ToyThreeOptimGAN(BaseGAN):
    """Phases: G (adversarial through the refiner), refiner (adversarial, lazy every ``refine_interval``), D (+ lazy
    R1 every ``r1_interval``); optimizers ``generator``, ``refiner``, ``discriminator``."""

    def __init__(self, generator: dict, discriminator: dict, refiner: dict, r1_interval: int = 2,
                 refine_interval: int = 2, r1_gamma: float = 1.0, **kwargs) -> None:
        super().__init__(generator, discriminator, **kwargs)
        self.refiner = MODELS.build(refiner)
        self.r1_interval, self.refine_interval, self.r1_gamma = r1_interval, refine_interval, r1_gamma

    def train_step(self, data: dict, optim_wrapper) -> dict[str, Tensor]:  # noqa: D102
        data = self.data_preprocessor(data, True)
        real = data["inputs"]
        batch = real.shape[0]
        gen, ref, disc = self.net("generator"), self.net("refiner"), self.net("discriminator")
        log: dict[str, Tensor] = {}
        self.update_dynamic_d(log)
        self.toggle(optim_wrapper, "generator")
        with self.optim_context(optim_wrapper, "generator"):
            loss_g = self.g_adv_loss(disc(ref(gen(self.sample_z(batch), None, self.sample_pose(batch)).image)))
        self.step_optimizer(optim_wrapper, "generator", loss_g)
        log["loss_g"] = loss_g.detach()
        if self.lazy(self.refine_interval):
            self.toggle(optim_wrapper, "refiner")
            with torch.no_grad():
                fake = gen(self.sample_z(batch), None, self.sample_pose(batch)).image
            loss_ref = self.g_adv_loss(disc(ref(fake)))
            self.step_optimizer(optim_wrapper, "refiner", loss_ref * self.refine_interval)
            log["loss_refiner"] = loss_ref.detach()
        self.toggle(optim_wrapper, "discriminator")
        with torch.no_grad():
            fake = ref(gen(self.sample_z(batch), None, self.sample_pose(batch)).image)
        loss_d = self.d_adv_loss(disc(real), disc(fake))
        self.step_optimizer(optim_wrapper, "discriminator", loss_d)
        log["loss_d"] = loss_d.detach()
        if self.lazy(self.r1_interval):
            loss_r1 = r1_penalty(disc, real).mean() * (self.r1_gamma / 2)
            self.step_optimizer(optim_wrapper, "discriminator", loss_r1 * self.r1_interval)
            log["loss_r1"] = loss_r1.detach()
        self.toggle(optim_wrapper, *optim_wrapper.keys())
        return self.finish_iteration(batch, log)


TOY_THREE_OPTIM_CFG = """
_base_ = ['{repo}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.helpers.gan', 'tests.helpers.gan_data', 'tests.helpers.toy'],
                      allow_failed_imports=False)
model = dict(type='ToyThreeOptimGAN', generator=dict(type='ToyDepthGenerator', z_dim=8),
             refiner=dict(type='ToyRefiner'), discriminator=dict(type='ToyDiscriminator'), ema_kimg=0.01)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False)
pipeline = [dict(type='LoadGANImage'), dict(type='GANResizeCrop', resolution=16),
            dict(type='GANRandomFlip', prob=0.5, seed=0), dict(type='PackGANInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type='ImageFolderDataset', data_root='data/gan-missing', pipeline=pipeline))
adam = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.01, betas=(0.0, 0.99)))
optim_wrapper = dict(constructor='MultiOptimWrapperConstructor', generator=adam, refiner=adam, discriminator=adam)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=10))
custom_hooks = [dict(type='AssertRanksInSyncHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=7, deterministic=True)
"""


def write_toy_three_optim_config(path: Path, repo: Path) -> Path:
    """Write the config of :class:`ToyThreeOptimGAN` (16 px, batch 2, 4 iterations, checkpoints every 2)."""
    path.write_text(TOY_THREE_OPTIM_CFG.format(repo=repo))
    return path
