"""The GAN spine: what every GAN model shares, so that a method writes only its phases in ``train_step``.

After Hammer's ``BaseRunner`` (``zero_grad_optimizer(name)``, ``step_optimizer(name)``, ``smooth_model``; gans.md
section 8) and stylegan2-ada's ``training_loop.py``: the EMA generator, images seen, optimizer steps by name (any
number of optimizers: DepthGAN has three, PadInv an encoder and a D), lazy regularisation intervals, latent / label /
pose sampling, and validation through the generator interface (:mod:`.generator_output`).

Distributed training: phases call the unwrapped networks (a DDP ``forward`` cannot expose a generator's parts, nor
run several backward passes per iteration) and :meth:`BaseGAN.step_optimizer` averages the gradients of exactly the
parameters its optimizer holds over ranks before stepping, as stylegan2-ada does. Under mmengine's
``MMSeparateDistributedDataParallel`` the DDP wrappers thus only place the networks and broadcast rank 0's initial
weights. The optimizer names are the submodule names (mmengine's ``MultiOptimWrapperConstructor``).

Buffers in checkpoints (a resumed run continues exactly): ``seen_img`` (images seen, summed over ranks) and
``train_iter`` (iterations done, drives the lazy intervals).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank, get_world_size
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from gen3d.models.losses.gan_losses import ADVERSARIAL_LOSSES
from gen3d.registry import MODELS
from gen3d.utils.dist import average_gradients

from .data_preprocessor import sample_field
from .generator_output import GeneratorOutput
from .sampling import to_uint8

EMA_KIMG = 10.0  # Hammer g_ema_img = 10k for FFHQ-256 (gans.md section 8)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a (DDP) wrapper."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def build_module(cfg: dict | nn.Module) -> nn.Module:
    """``cfg`` itself when it is a module, else ``MODELS.build(cfg)``."""
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


class BaseGAN(BaseModel):
    """Generator, discriminator, EMA generator and the bookkeeping every GAN shares (see the module docstring).

    Submodules: ``generator``, ``discriminator`` (a :class:`DynamicDiscriminator` when ``dynamic_d``) and
    ``generator_ema``; a subclass adds its other networks (each trained network has an optimizer of its name).

    Args:
        generator: Config or module implementing the generator interface.
        discriminator: Config or module, ``forward(img, c) -> logits [N, 1]``.
        data_preprocessor: Defaults to :class:`GANDataPreprocessor`.
        dynamic_d: ``DynamicDiscriminator`` arguments except ``discriminator`` (``start_ratio``, ``end_ratio``,
            ``total_img``, ...); works on any discriminator built from gen3d's equalized layers. None: plain D.
        adversarial_loss: ``'logistic'`` (non-saturating) or ``'hinge'`` (:data:`ADVERSARIAL_LOSSES`).
        ema_kimg: Half-life of the generator EMA in thousands of images.
        ema_rampup: Cap the EMA half-life at ``seen_img * ema_rampup`` (None: no ramp-up).
        num_val_fakes: Validate on the samples with index ``< num_val_fakes`` only; None: one fake per real image.
        val_seed: Seed of the validation latents (a latent is fixed by ``(val_seed, sample index)``).
        init_cfg: mmengine init config.
    """

    def __init__(self, generator: dict | nn.Module, discriminator: dict | nn.Module,
                 data_preprocessor: dict | nn.Module | None = None, dynamic_d: dict | None = None,
                 adversarial_loss: str = "logistic", ema_kimg: float = EMA_KIMG, ema_rampup: float | None = None,
                 num_val_fakes: int | None = None, val_seed: int = 0, init_cfg: dict | None = None) -> None:
        data_preprocessor = data_preprocessor or dict(type="GANDataPreprocessor")
        if isinstance(data_preprocessor, dict):  # gen3d's registry (BaseModel would look in mmengine's root)
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(f"adversarial_loss must be one of {sorted(ADVERSARIAL_LOSSES)}, got {adversarial_loss!r}")
        self.generator = build_module(generator)
        disc = build_module(discriminator)
        if dynamic_d is not None:
            disc = MODELS.build(dict(type="DynamicDiscriminator", **dict(dynamic_d), discriminator=disc))
        self.discriminator = disc
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        self.dynamic = dynamic_d is not None
        self.adversarial_loss = adversarial_loss
        self.g_adv_loss, self.d_adv_loss = ADVERSARIAL_LOSSES[adversarial_loss]
        self.ema_kimg, self.ema_rampup = float(ema_kimg), ema_rampup
        self.num_val_fakes, self.val_seed = num_val_fakes, int(val_seed)
        self.register_buffer("seen_img", torch.zeros((), dtype=torch.int64))
        self.register_buffer("train_iter", torch.zeros((), dtype=torch.int64))
        self._val_count = 0  # fallback sample index when the data has no ``sample_idx``

    # ------------------------------------------------------------------ the generator interface
    def _gen_attr(self, name: str) -> int:
        return int(getattr(unwrap(self.generator), name, 0) or 0)

    @property
    def z_dim(self) -> int:
        """Latent size of the generator."""
        return self._gen_attr("z_dim")

    @property
    def c_dim(self) -> int:
        """Condition (class one-hot) size of the generator; 0 when unconditional."""
        return self._gen_attr("c_dim")

    @property
    def pose_dim(self) -> int:
        """Camera-pose size of the generator; 0 for a 2D generator."""
        return self._gen_attr("pose_dim")

    def init_weights(self) -> None:
        """Initialise the networks, then start the EMA generator as a copy of the generator."""
        super().init_weights()
        self.generator_ema.load_state_dict(unwrap(self.generator).state_dict())

    def train(self, mode: bool = True) -> BaseGAN:
        """Switch modes (``generator_ema`` stays in eval) and restart the fallback validation index."""
        super().train(mode)
        self.generator_ema.eval()
        self._val_count = 0
        return self

    # ------------------------------------------------------------------ sampling
    @property
    def _device(self) -> torch.device:
        return self.seen_img.device

    def sample_z(self, num: int) -> Tensor:
        """Standard-normal latents ``[num, z_dim]`` from the global torch generator."""
        return torch.randn(num, self.z_dim, device=self._device)

    def sample_labels(self, data_samples: Any, num: int) -> Tensor | None:
        """One-hot class conditions ``[N, c_dim]`` from ``gt_label`` (None for an unconditional generator).

        Raises:
            ValueError: A label out of ``[0, c_dim)`` or missing.
        """
        if self.c_dim == 0:
            return None
        labels = torch.tensor(sample_field(data_samples, "gt_label", num, -1), device=self._device)
        if (labels < 0).any() or (labels >= self.c_dim).any():
            raise ValueError(f"a conditional generator (c_dim={self.c_dim}) needs gt_label in [0, {self.c_dim}), "
                             f"got {labels.tolist()}")
        return F.one_hot(labels, self.c_dim).float()

    def sample_pose(self, num: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Camera poses ``[num, pose_dim]`` from the generator's ``sample_pose``; None for a 2D generator."""
        if self.pose_dim == 0:
            return None
        return unwrap(self.generator).sample_pose(num, self._device, generator=generator)

    def _val_generator(self, index: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.val_seed << 32) + int(index))

    def sample_latents(self, indices: list[int]) -> Tensor:
        """Fixed latents ``[N, z_dim]``, one per global sample index, seeded by ``(val_seed, index)``."""
        zs = [torch.randn(self.z_dim, generator=self._val_generator(i)) for i in indices]
        return torch.stack(zs).to(self._device)

    def sample_val_poses(self, indices: list[int]) -> Tensor | None:
        """Fixed poses ``[N, pose_dim]`` per global sample index (the draw after its latent); None for 2D."""
        if self.pose_dim == 0:
            return None
        poses = []
        for i in indices:
            g = self._val_generator(i)
            torch.randn(self.z_dim, generator=g)  # the latent's draw comes first
            poses.append(unwrap(self.generator_ema).sample_pose(1, "cpu", generator=g))
        return torch.cat(poses).to(self._device)

    # ------------------------------------------------------------------ optimizers by name
    def net(self, name: str) -> nn.Module:
        """Submodule ``name``, unwrapped."""
        return unwrap(getattr(self, name))

    def toggle(self, optim_wrapper: OptimWrapperDict, *names: str) -> None:
        """``requires_grad`` on for the networks ``names``, off for every other network that has an optimizer."""
        for name in optim_wrapper.keys():
            self.net(name).requires_grad_(name in names)

    def zero_grad_optimizer(self, optim_wrapper: OptimWrapperDict, name: str) -> None:
        """Zero the gradients of optimizer ``name``."""
        optim_wrapper[name].zero_grad()

    def step_optimizer(self, optim_wrapper: OptimWrapperDict, name: str, loss: Tensor) -> None:
        """Backward ``loss``, average the gradients of optimizer ``name``'s parameters over ranks, step, zero grads.

        Args:
            optim_wrapper: The dict of optimizers.
            name: Which one (a submodule name).
            loss: Scalar.
        """
        optim_wrapper[name].backward(loss)
        self.apply_gradients(optim_wrapper, name)

    def apply_gradients(self, optim_wrapper: OptimWrapperDict, name: str) -> None:
        """Average the gradients of optimizer ``name``'s parameters over ranks, step, zero them (after a backward).

        One backward may feed several optimizers (DepthGAN's adversarial G phase steps both generator paths).
        """
        wrapper = optim_wrapper[name]
        params = [p for group in wrapper.optimizer.param_groups for p in group["params"] if p.requires_grad]
        average_gradients(params)
        wrapper.step()
        wrapper.zero_grad()

    def optim_context(self, optim_wrapper: OptimWrapperDict, name: str) -> Any:  # noqa: ANN401 - a context
        """Optimizer ``name``'s context (autocast under ``--amp``)."""
        return optim_wrapper[name].optim_context(getattr(self, name))

    def lazy(self, interval: int) -> bool:
        """Whether a lazy regulariser of this interval runs at this iteration (``train_iter % interval == 0``)."""
        return int(self.train_iter) % int(interval) == 0

    def update_dynamic_d(self, log: dict[str, Tensor]) -> None:
        """Set DynamicD's width for ``seen_img`` (logged as ``ratio``); no-op for a plain discriminator."""
        if self.dynamic:
            log["ratio"] = torch.tensor(float(self.net("discriminator").set_progress(int(self.seen_img))))

    def finish_iteration(self, batch: int, log: dict[str, Tensor]) -> dict[str, Tensor]:
        """EMA update, count the images of all ranks, advance ``train_iter``; adds ``seen_kimg`` to ``log``."""
        global_batch = batch * get_world_size()
        self.ema_update(self.net("generator"), global_batch)
        self.seen_img += global_batch
        self.train_iter += 1
        log["seen_kimg"] = self.seen_img.double() / 1000
        return log

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

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """The method's phases; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must write its phases in train_step")

    # ------------------------------------------------------------------ evaluation
    to_uint8 = staticmethod(to_uint8)

    def val_step(self, data: dict) -> list[dict[str, Tensor]]:
        """One dict per real image: ``fake_img`` and ``real_img``, uint8 ``[C, R, R]`` each.

        ``fake_img`` comes from ``generator_ema`` with const noise and a latent (and, for a 3D-aware generator, a pose)
        fixed by ``(val_seed, sample_idx)``.
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
        c = self.sample_labels(data["data_samples"], num)
        chosen = [indices[k] for k in keep]
        c_keep = None if c is None else c[keep]
        fakes = self.val_fakes(self.sample_latents(chosen), c_keep, self.sample_val_poses(chosen))
        return [{**f, **r} for f, r in zip(fakes, self.val_reals(data, keep, c_keep))]

    def val_reals(self, data: dict, keep: list[int], c: Tensor | None) -> list[dict[str, Any]]:
        """The real side of the validation outputs of the kept samples: ``{'real_img': uint8 [C, R, R]}`` each.

        A method whose data carry more (DepthGAN's depth) adds it.

        Args:
            data: The preprocessed batch.
            keep: Batch indices of the kept samples.
            c: Their conditions ``[len(keep), c_dim]`` or None.
        """
        return [{"real_img": data["real_img"][k].cpu()} for k in keep]

    def val_fakes(self, z: Tensor, c: Tensor | None, pose: Tensor | None) -> list[dict[str, Any]]:
        """Per-sample validation outputs of ``generator_ema`` (const noise): ``{'fake_img': uint8 [C, R, R]}``.

        A 3D-aware method adds its geometry and cameras (what the geometry metrics read).

        Args:
            z: Latents ``[N, z_dim]``.
            c: Conditions ``[N, c_dim]`` or None.
            pose: Poses ``[N, pose_dim]`` or None.
        """
        with torch.no_grad():
            fake = self.generator_ema(z, c, pose, noise_mode="const").image
        return [{"fake_img": self.to_uint8(f).cpu()} for f in fake]

    def test_step(self, data: dict) -> list[dict[str, Tensor]]:
        """Same as :meth:`val_step`."""
        return self.val_step(data)

    def forward(self, inputs: Tensor | None = None, data_samples: Any = None, mode: str = "tensor",
                pose: Tensor | None = None) -> GeneratorOutput:
        """``generator_ema``'s output (const noise) for latents ``inputs [N, z_dim]``; image ``[N, C, R, R]``.

        ``data_samples`` gives the classes of a conditional generator (``gt_label``). Training goes through
        :meth:`train_step` only.

        Raises:
            ValueError: ``mode`` other than ``'tensor'``, or latents of the wrong shape.
        """
        name = type(self).__name__
        if mode != "tensor":
            raise ValueError(f"{name}.forward supports mode='tensor' only (got {mode!r}); training runs through "
                             "train_step and evaluation through val_step")
        if inputs is None or inputs.ndim != 2 or inputs.shape[1] != self.z_dim:
            raise ValueError(f"{name}.forward needs latents [N, {self.z_dim}], got "
                             f"{None if inputs is None else tuple(inputs.shape)}")
        return self.generator_ema(inputs, self.sample_labels(data_samples, inputs.shape[0]), pose, noise_mode="const")
