"""StyleGAN2 training (Karras et al., arXiv 1912.04958) with the phases written out, optionally with DynamicD.

One :meth:`StyleGAN2.train_step` runs the phases of stylegan2-ada-pytorch's ``training_loop.py`` /
Hammer's ``stylegan2_runner.py``, each with its own optimizer step::

    Gmain  softplus(-D(G(z)))                          (non-saturating loss; style mixing with prob 0.9)
    Greg   every pl_interval: pl_weight * (|J_w^T y| - a)^2 * pl_interval   (path length, half batch)
    Dmain  softplus(D(G(z))) + softplus(-D(x))         (logistic loss)
    Dreg   every r1_interval: gamma / 2 * |grad_x D(x)|^2 * r1_interval      (lazy R1 on reals)
    EMA    G_ema <- G + (G_ema - G) * 0.5 ** (global_batch / (ema_kimg * 1000))

Lazy regularisation runs extra optimizer steps, so the configs scale Adam's lr and betas by
``c = interval / (interval + 1)`` (StyleGAN2 Sec. 3.1, stylegan2-ada ``train.py``).

Distributed training: the G phase needs the mapping and synthesis networks separately (style mixing, path
length w.r.t. ``w``), which a DDP ``forward`` cannot expose, so the phases call the unwrapped networks and
average the gradients over ranks before each optimizer step (as stylegan2-ada's training loop does). Under
mmengine's ``MMSeparateDistributedDataParallel`` the DDP wrappers thus only place the networks and broadcast
rank 0's initial weights; ``generator_ema`` (no gradients) is left unwrapped.

DynamicD (arXiv 2209.09897): ``dynamic_d=dict(start_ratio, end_ratio, total_img, ...)`` wraps the configured
discriminator in :class:`DynamicDiscriminator`, whose width ratio follows ``seen_img`` at every iteration.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import Tensor, nn

from gen3d.registry import MODELS
from gen3d.utils.dist import average_gradients

from ..data_preprocessor import sample_field

#: StyleGAN2 config F / Hammer FFHQ-256 defaults (spec gans.md section 8; stylegan2-ada ``train.py`` cfg_specs).
R1_GAMMA = 10.0
R1_INTERVAL = 16  # lazy regularisation, StyleGAN2 Sec. 3.1
PL_WEIGHT = 2.0  # path length regularisation, StyleGAN2 Sec. 3.2
PL_INTERVAL = 4
PL_DECAY = 0.01
PL_BATCH_SHRINK = 2
STYLE_MIXING_PROB = 0.9  # StyleGAN (arXiv 1812.04948) Sec. 3.1 mixing regularisation
EMA_KIMG = 10.0  # Hammer g_ema_img = 10k for FFHQ-256


def _unwrap(module: nn.Module) -> nn.Module:
    """The network inside a (DDP) wrapper."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


@MODELS.register_module()
class StyleGAN2(BaseModel):
    """Unconditional or class-conditional StyleGAN2 with lazy R1, path length, style mixing and G EMA.

    Submodules: ``generator``, ``discriminator`` (a :class:`DynamicDiscriminator` when ``dynamic_d``) and
    ``generator_ema``. Buffers (saved in checkpoints, so a resumed run continues exactly): ``seen_img`` (images
    seen, summed over ranks), ``train_iter`` (iterations done, drives the lazy intervals) and ``pl_mean``.

    Args:
        generator: Config or module with ``mapping(z, c, update_w_avg=...) -> ws [N, num_ws, w_dim]``,
            ``synthesis(ws, noise_mode=...) -> img [N, C, R, R]``, ``z_dim`` and ``c_dim``.
        discriminator: Config or module, ``forward(img, c) -> logits [N, 1]``.
        data_preprocessor: Defaults to :class:`GANDataPreprocessor`.
        dynamic_d: ``DynamicDiscriminator`` arguments except ``discriminator`` (``start_ratio``, ``end_ratio``,
            ``total_img``, ``random_select``, ``keep_layers``); None trains the plain discriminator.
        r1_gamma: R1 weight ``gamma`` (0 disables R1).
        r1_interval: Run R1 every this many iterations (lazy regularisation).
        pl_weight: Path length weight (0 disables it).
        pl_interval: Run the path length step every this many iterations.
        pl_decay: EMA decay of the path length target ``pl_mean``.
        pl_batch_shrink: The path length step uses ``batch // pl_batch_shrink`` samples.
        style_mixing_prob: Probability that a batch mixes two latents at a random layer.
        ema_kimg: Half-life of the generator EMA in thousands of images.
        ema_rampup: Cap the EMA half-life at ``seen_img * ema_rampup`` (None: no ramp-up).
        num_val_fakes: Validate on the samples with index ``< num_val_fakes`` only; None: every sample (one
            fake per real image).
        val_seed: Seed of the validation latents (a latent is fixed by ``(val_seed, sample index)``).
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        generator: dict | nn.Module,
        discriminator: dict | nn.Module,
        data_preprocessor: dict | nn.Module | None = None,
        dynamic_d: dict | None = None,
        r1_gamma: float = R1_GAMMA,
        r1_interval: int = R1_INTERVAL,
        pl_weight: float = PL_WEIGHT,
        pl_interval: int = PL_INTERVAL,
        pl_decay: float = PL_DECAY,
        pl_batch_shrink: int = PL_BATCH_SHRINK,
        style_mixing_prob: float = STYLE_MIXING_PROB,
        ema_kimg: float = EMA_KIMG,
        ema_rampup: float | None = None,
        num_val_fakes: int | None = None,
        val_seed: int = 0,
        init_cfg: dict | None = None,
    ) -> None:
        data_preprocessor = data_preprocessor or dict(type="GANDataPreprocessor")
        if isinstance(data_preprocessor, dict):  # gen3d's registry (BaseModel would look in mmengine's root)
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if r1_interval < 1 or pl_interval < 1 or pl_batch_shrink < 1:
            raise ValueError("r1_interval, pl_interval and pl_batch_shrink must be >= 1")
        self.generator = generator if isinstance(generator, nn.Module) else MODELS.build(generator)
        disc = discriminator if isinstance(discriminator, nn.Module) else MODELS.build(discriminator)
        if dynamic_d is not None:
            disc = MODELS.build(dict(type="DynamicDiscriminator", **dict(dynamic_d), discriminator=disc))
        self.discriminator = disc
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        self.dynamic = dynamic_d is not None
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.pl_weight, self.pl_interval, self.pl_decay = float(pl_weight), int(pl_interval), float(pl_decay)
        self.pl_batch_shrink = int(pl_batch_shrink)
        self.style_mixing_prob = float(style_mixing_prob)
        self.ema_kimg, self.ema_rampup = float(ema_kimg), ema_rampup
        self.num_val_fakes, self.val_seed = num_val_fakes, int(val_seed)
        self.register_buffer("seen_img", torch.zeros((), dtype=torch.int64))
        self.register_buffer("train_iter", torch.zeros((), dtype=torch.int64))
        self.register_buffer("pl_mean", torch.zeros(()))
        self._val_count = 0  # fallback sample index when the data has no ``sample_idx``

    # ------------------------------------------------------------------ helpers
    @property
    def z_dim(self) -> int:
        """Latent size of the generator."""
        return int(_unwrap(self.generator).z_dim)

    @property
    def c_dim(self) -> int:
        """Condition (class one-hot) size of the generator; 0 when unconditional."""
        return int(getattr(_unwrap(self.generator), "c_dim", 0) or 0)

    def init_weights(self) -> None:
        """Initialise the networks, then start the EMA generator as a copy of the generator."""
        super().init_weights()
        self.generator_ema.load_state_dict(_unwrap(self.generator).state_dict())

    def train(self, mode: bool = True) -> StyleGAN2:
        """Switch modes (``generator_ema`` stays in eval) and restart the fallback validation index."""
        super().train(mode)
        self.generator_ema.eval()
        self._val_count = 0
        return self

    def _labels(self, data_samples: Any, num: int) -> Tensor | None:
        """One-hot class conditions ``[N, c_dim]`` from ``gt_label`` (None for an unconditional generator)."""
        if self.c_dim == 0:
            return None
        labels = torch.tensor(sample_field(data_samples, "gt_label", num, -1), device=self.seen_img.device)
        if (labels < 0).any() or (labels >= self.c_dim).any():
            raise ValueError(f"a conditional generator (c_dim={self.c_dim}) needs gt_label in [0, {self.c_dim}), "
                             f"got {labels.tolist()}")
        return F.one_hot(labels, self.c_dim).float()

    def _mapping_with_mixing(self, gen: nn.Module, z: Tensor, c: Tensor | None) -> Tensor:
        """``ws [N, num_ws, w_dim]``; with prob ``style_mixing_prob`` layers from a random cutoff on use a 2nd z."""
        ws = gen.mapping(z, c, update_w_avg=True)
        if self.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, ())) if num_ws > 1 else num_ws
            if float(torch.rand(())) >= self.style_mixing_prob:
                cutoff = num_ws
            if cutoff < num_ws:
                ws2 = gen.mapping(torch.randn_like(z), c, update_w_avg=False)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    @staticmethod
    def _step(wrapper: OptimWrapper, net: nn.Module, loss: Tensor) -> None:
        """Backward, average gradients over ranks, optimizer step, zero gradients."""
        wrapper.backward(loss)
        average_gradients([p for p in net.parameters() if p.requires_grad])
        wrapper.step()
        wrapper.zero_grad()

    # ------------------------------------------------------------------ training
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """One iteration: G main, lazy path length, D main, lazy R1, EMA update.

        Args:
            data: A collated batch ``{'inputs': uint8 images, 'data_samples': ...}``.
            optim_wrapper: ``OptimWrapperDict`` with ``'generator'`` and ``'discriminator'``.

        Returns:
            Scalars to log: ``loss_g``, ``loss_d``, ``d_real``, ``d_fake`` (mean logits), ``pl`` / ``pl_mean``
            and ``loss_pl`` on path-length iterations, ``r1`` and ``loss_r1`` on R1 iterations, ``ratio``
            (DynamicD width) and ``seen_kimg``.
        """
        data = self.data_preprocessor(data, True)
        real = data["inputs"]
        batch = real.shape[0]
        c = self._labels(data["data_samples"], batch)
        gen, disc = _unwrap(self.generator), _unwrap(self.discriminator)
        g_opt, d_opt = optim_wrapper["generator"], optim_wrapper["discriminator"]
        it = int(self.train_iter)
        log: dict[str, Tensor] = {}
        if self.dynamic:
            log["ratio"] = torch.tensor(float(disc.set_progress(int(self.seen_img))))

        # G main: non-saturating logistic loss.
        gen.requires_grad_(True)
        disc.requires_grad_(False)
        g_opt.zero_grad()
        with g_opt.optim_context(self.generator):
            z = torch.randn(batch, self.z_dim, device=real.device)
            fake = gen.synthesis(self._mapping_with_mixing(gen, z, c), noise_mode="random")
            loss_g = F.softplus(-disc(fake, c)).mean()
        self._step(g_opt, gen, loss_g)
        log["loss_g"] = loss_g.detach()

        # G reg: path length on batch // pl_batch_shrink samples, scaled by the interval.
        if self.pl_weight > 0 and it % self.pl_interval == 0:
            # Regularisers (double backward) run in fp32 even under --amp, as stylegan2-ada keeps them out of fp16.
            with torch.autocast(real.device.type, enabled=False):
                loss_pl, pl = self._path_length_loss(gen, batch, c, real.device)
            self._step(g_opt, gen, loss_pl * self.pl_interval)
            log.update(loss_pl=loss_pl.detach(), pl=pl, pl_mean=self.pl_mean.clone())

        # D main: logistic loss on fakes (no G gradients) and reals.
        gen.requires_grad_(False)
        disc.requires_grad_(True)
        d_opt.zero_grad()
        with d_opt.optim_context(self.discriminator):
            with torch.no_grad():
                z = torch.randn(batch, self.z_dim, device=real.device)
                fake = gen.synthesis(self._mapping_with_mixing(gen, z, c), noise_mode="random")
            d_fake, d_real = disc(fake, c), disc(real, c)
            loss_d = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        self._step(d_opt, disc, loss_d)
        log.update(loss_d=loss_d.detach(), d_fake=d_fake.detach().mean(), d_real=d_real.detach().mean())

        # D reg: lazy R1 on reals, scaled by the interval.
        if self.r1_gamma > 0 and it % self.r1_interval == 0:
            with torch.autocast(real.device.type, enabled=False):
                r1 = self.r1_penalty(disc, real, c)
                loss_r1 = r1.mean() * (self.r1_gamma / 2)
            self._step(d_opt, disc, loss_r1 * self.r1_interval)
            log.update(loss_r1=loss_r1.detach(), r1=r1.detach().mean())

        gen.requires_grad_(True)
        global_batch = batch * get_world_size()
        self.ema_update(gen, global_batch)
        self.seen_img += global_batch
        self.train_iter += 1
        log["seen_kimg"] = self.seen_img.double() / 1000
        return log

    def _path_length_loss(self, gen: nn.Module, batch: int, c: Tensor | None,
                          device: torch.device) -> tuple[Tensor, Tensor]:
        """``(pl_weight * mean((|J_w^T y| - pl_mean)^2), mean |J_w^T y|)``; updates ``pl_mean``.

        ``y`` is Gaussian noise scaled by ``1 / sqrt(H * W)`` (StyleGAN2 Sec. 3.2 / stylegan2-ada ``loss.py``);
        ``pl_mean`` follows the rank-averaged mean length with decay ``pl_decay``.
        """
        n = max(batch // self.pl_batch_shrink, 1)
        z = torch.randn(n, self.z_dim, device=device)
        ws = self._mapping_with_mixing(gen, z, None if c is None else c[:n])
        img = gen.synthesis(ws, noise_mode="random")
        noise = torch.randn_like(img) / (img.shape[2] * img.shape[3]) ** 0.5
        (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        mean_len = lengths.detach().mean()
        if get_world_size() > 1:
            all_reduce(mean_len, op="mean")
        self.pl_mean.copy_(self.pl_mean.lerp(mean_len, self.pl_decay))
        return (lengths - self.pl_mean).square().mean() * self.pl_weight, mean_len

    @staticmethod
    def r1_penalty(disc: nn.Module, real: Tensor, c: Tensor | None) -> Tensor:
        """``|grad_x D(x)|^2`` per real image, ``[N]``, with a graph for the second-order backward."""
        real = real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(disc(real, c).sum(), real, create_graph=True)
        return grad.square().sum(dim=(1, 2, 3))

    @torch.no_grad()
    def ema_update(self, gen: nn.Module, global_batch: int) -> float:
        """``G_ema <- G + (G_ema - G) * beta`` with ``beta = 0.5 ** (global_batch / ema_nimg)``; buffers copied.

        Returns:
            ``beta``.
        """
        ema_nimg = self.ema_kimg * 1000
        if self.ema_rampup is not None:
            ema_nimg = min(ema_nimg, int(self.seen_img) * self.ema_rampup)
        beta = 0.5 ** (global_batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.generator_ema.parameters(), gen.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.generator_ema.buffers(), gen.buffers()):
            b_ema.copy_(b)
        return beta

    # ------------------------------------------------------------------ sampling and evaluation
    def sample_latents(self, indices: list[int]) -> Tensor:
        """Fixed latents ``[N, z_dim]``, one per global sample index, seeded by ``(val_seed, index)``."""
        zs = [torch.randn(self.z_dim, generator=torch.Generator().manual_seed((self.val_seed << 32) + int(i)))
              for i in indices]
        return torch.stack(zs).to(self.seen_img.device)

    @staticmethod
    def to_uint8(img: Tensor) -> Tensor:
        """``[-1, 1]`` float -> uint8 ``[0, 255]`` (rounded, clamped)."""
        return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)

    def val_step(self, data: dict) -> list[dict[str, Tensor]]:
        """One dict per real image: ``fake_img`` and ``real_img``, uint8 ``[C, R, R]`` each.

        ``fake_img`` comes from ``generator_ema`` with const noise and a latent fixed by ``(val_seed, sample_idx)``.
        Samples whose index is ``>= num_val_fakes`` are dropped (no dict), so a metric sees the first
        ``num_val_fakes`` samples only. Without ``sample_idx`` in the data the index counts the samples this
        rank validated since the last ``train()``/``eval()`` switch, offset by ``rank * 2**24``.
        """
        data = self.data_preprocessor(data, False)
        real = data["real_img"]
        num = real.shape[0]
        indices = sample_field(data["data_samples"], "sample_idx", num, None)
        if any(i is None for i in indices):
            indices = [get_rank() * 2**24 + self._val_count + k for k in range(num)]
        self._val_count += num
        keep = [k for k, i in enumerate(indices) if self.num_val_fakes is None or i < self.num_val_fakes]
        if not keep:
            return []
        c = self._labels(data["data_samples"], num)
        with torch.no_grad():
            fake = self.generator_ema(self.sample_latents([indices[k] for k in keep]),
                                      None if c is None else c[keep], noise_mode="const")
        return [{"fake_img": self.to_uint8(f).cpu(), "real_img": real[k].cpu()} for f, k in zip(fake, keep)]

    def test_step(self, data: dict) -> list[dict[str, Tensor]]:
        """Same as :meth:`val_step`."""
        return self.val_step(data)

    def forward(self, inputs: Tensor | None = None, data_samples: Any = None, mode: str = "tensor") -> Tensor:
        """Images of ``generator_ema`` (const noise) for latents ``inputs [N, z_dim]``, ``[N, C, R, R]`` in ~[-1, 1].

        ``data_samples`` gives the classes of a conditional generator (``gt_label``). Training goes through
        :meth:`train_step` only.

        Raises:
            ValueError: ``mode`` other than ``'tensor'``.
        """
        if mode != "tensor":
            raise ValueError(f"StyleGAN2.forward supports mode='tensor' only (got {mode!r}); training runs through "
                             "train_step and evaluation through val_step")
        if inputs is None or inputs.ndim != 2 or inputs.shape[1] != self.z_dim:
            raise ValueError(f"StyleGAN2.forward needs latents [N, {self.z_dim}], got "
                             f"{None if inputs is None else tuple(inputs.shape)}")
        return self.generator_ema(inputs, self._labels(data_samples, inputs.shape[0]), noise_mode="const")
