"""Where GeoD's real-image geometry comes from: pluggable sources with one call.

Every source is called as ``source(images, batch) -> {'normal': (N, 3, H, W), 'depth': (N, 1, H, W) | None,
'mask': (N, 1, H, W) | None}`` (the target of D's geometry loss on the real ``images``) and has ``step(images)``,
which trains it where it learns (a no-op otherwise):

- :class:`DatasetGeometry`: the dataset's ground truth, read from the batch keys the GAN data preprocessor fills in
  (``real_normal``, ``real_depth``, ``real_mask``).
- :class:`PrecomputedGeometry`: maps on disk by image stem in the posed-image layout of
  :mod:`gen3d.datasets.gan.pose_dataset` (``normal/<stem>.png``, ``depth/<stem>.npy``, ``mask/<stem>.png``); the
  dataset loads them (``require=('normal',)``), so this source reads the same batch keys; :meth:`save` writes them
  (for example from a frozen inverse renderer).
- :class:`InverseRendererGeometry`: an Unsup3d-style inverse renderer trained self-supervised on the real images with
  its own Adam and frozen after ``freeze_kimg`` thousand images (GeoD's source in ``VivianSZF/pof3d``:
  ``training/training_loop_geod.py`` removes its ``IRboth`` phase after ``IR_stop`` = 600 kimg). Its Adam state
  travels in the module's state dict (``<prefix>_extra_state``), so a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import broadcast, get_world_size
from torch import Tensor, nn

from gen3d.registry import MODELS
from gen3d.utils.dist import average_gradients

from .inverse_renderer import Unsup3dInverseRenderer

BATCH_KEYS = {"normal": "real_normal", "depth": "real_depth", "mask": "real_mask"}
FREEZE_KIMG = 600.0  # pof3d train_geod.py --ir_stop default (kimg)
EXTRA_STATE_SUFFIX = "_extra_state"  # nn.Module's state-dict key of get_extra_state
ADAM_MOMENTS = ("exp_avg", "exp_avg_sq")  # torch.optim.Adam's per-parameter state besides "step" (no amsgrad)
LR, BETAS, WEIGHT_DECAY = 1e-4, (0.9, 0.999), 5e-4  # elliottwu/unsup3d:unsup3d/model.py optimizer


@MODELS.register_module()
class DatasetGeometry(nn.Module):
    """Ground-truth geometry from the batch (the GAN data preprocessor's ``real_*`` keys).

    Args:
        outputs: Maps that must be present (``'normal'``, ``'depth'``); the mask is optional.
        keys: Batch key of each map (default :data:`BATCH_KEYS`).
    """

    def __init__(self, outputs: Sequence[str] = ("normal",), keys: dict[str, str] | None = None) -> None:
        super().__init__()
        self.outputs, self.keys = tuple(outputs), {**BATCH_KEYS, **(keys or {})}

    def step(self, images: Tensor) -> None:
        """Nothing to learn."""

    def forward(self, images: Tensor, batch: dict[str, Any] | None = None) -> dict[str, Tensor | None]:
        """Read the maps of ``images`` from ``batch``.

        Args:
            images: ``(N, C, H, W)`` real images (only their shape is checked).
            batch: The preprocessed batch, with ``real_normal (N, 3, H, W)``, ``real_depth (N, 1, H, W)``,
                ``real_mask (N, 1, H, W)``.

        Returns:
            ``{'normal', 'depth', 'mask'}`` (absent optional maps are None).
        """
        batch = batch or {}
        missing = [self.keys[k] for k in self.outputs if batch.get(self.keys[k]) is None]
        if missing:
            raise KeyError(f"{type(self).__name__} needs {missing} in the batch: a dataset with ground-truth "
                           f"geometry (PoseDataset(require={self.outputs})) and the GAN data preprocessor")
        out = {k: batch.get(key) for k, key in self.keys.items()}
        for k, t in out.items():
            if t is not None and (t.shape[0] != images.shape[0] or t.shape[-2:] != images.shape[-2:]):
                raise ValueError(f"{self.keys[k]} {tuple(t.shape)} does not match the images {tuple(images.shape)}")
        return out


@MODELS.register_module()
class PrecomputedGeometry(DatasetGeometry):
    """Precomputed maps on disk, loaded by the dataset (posed-image layout) and read from the batch.

    Args:
        outputs: Maps that must be present.
        keys: Batch key of each map.
    """

    @staticmethod
    def save(root: str | Path, stems: Sequence[str], normal: Tensor, depth: Tensor | None = None,
             mask: Tensor | None = None) -> Path:
        """Write maps in the posed-image layout (``normal/<stem>.png``, ``depth/<stem>.npy``, ``mask/<stem>.png``).

        Args:
            root: Dataset root (the folder holding ``images/``).
            stems: One image stem per sample.
            normal: ``(N, 3, H, W)`` unit camera-space normals.
            depth: ``(N, 1, H, W)`` or None (written as float32 ``.npy``; its kind is the producer's).
            mask: ``(N, 1, H, W)`` in ``[0, 1]`` or None.

        Returns:
            ``root`` as a Path.
        """
        from gen3d.datasets.transforms.pose_transforms import encode_normal  # models never import datasets at load

        root = Path(root)
        if len(stems) != normal.shape[0]:
            raise ValueError(f"{len(stems)} stems for {normal.shape[0]} maps")
        for name, t in (("normal", normal), ("depth", depth), ("mask", mask)):
            if t is not None:
                (root / name).mkdir(parents=True, exist_ok=True)
        for i, stem in enumerate(stems):
            if Path(stem).name != stem or stem in ("", ".", ".."):
                raise ValueError(f"stem {stem!r} is not a plain file name")
            rgb = encode_normal(normal[i].detach().permute(1, 2, 0).cpu().numpy())
            cv2.imwrite(str(root / "normal" / f"{stem}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            if depth is not None:
                np.save(root / "depth" / f"{stem}.npy", depth[i, 0].detach().cpu().numpy().astype(np.float32))
            if mask is not None:
                m = np.round(mask[i, 0].detach().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
                cv2.imwrite(str(root / "mask" / f"{stem}.png"), m)
        return root


@MODELS.register_module()
class InverseRendererGeometry(nn.Module):
    """Geometry from an Unsup3d-style inverse renderer trained on the real images, frozen after ``freeze_kimg``.

    Args:
        renderer: :class:`Unsup3dInverseRenderer` or its arguments / config.
        freeze_kimg: Stop training after this many thousand real images (pof3d 600).
        lr: Adam learning rate (Unsup3d 1e-4).
        betas: Adam betas (Unsup3d (0.9, 0.999)).
        weight_decay: Adam weight decay (Unsup3d 5e-4).

    Resuming: the Adam state is the module's extra state (:meth:`get_extra_state`, one tensor), loaded into the
    optimizer whether it is built already or built lazily later; a state dict without it (written before it existed)
    still loads, strict or not, and keeps the current optimizer. ``seen_img`` (hence :attr:`frozen`) is a buffer.

    Distributed: the renderer's parameters require grad only inside :meth:`step`, so the GAN's backward passes never
    reach them and ``MMSeparateDistributedDataParallel`` does not wrap this module; :meth:`step` broadcasts rank 0's
    weights before its first update (as a DDP wrapper would) and averages the gradients over ranks before each.

    Attributes:
        seen_img: Buffer, real images ``step`` trained on (summed over ranks).
    """

    def __init__(self, renderer: dict | nn.Module | None = None, freeze_kimg: float = FREEZE_KIMG, lr: float = LR,
                 betas: tuple[float, float] = BETAS, weight_decay: float = WEIGHT_DECAY) -> None:
        super().__init__()
        if isinstance(renderer, nn.Module):
            self.renderer = renderer
        else:
            cfg = dict(renderer or {})
            self.renderer = MODELS.build(cfg) if "type" in cfg else Unsup3dInverseRenderer(**cfg)
        self.freeze_kimg, self.lr, self.betas, self.weight_decay = float(freeze_kimg), lr, tuple(betas), weight_decay
        self.register_buffer("seen_img", torch.zeros((), dtype=torch.int64))
        # trained by step() only (class docstring); a frozen part (a perceptual net) stays frozen
        self._trained = [n for n, p in self.renderer.named_parameters() if p.requires_grad]
        self.renderer.requires_grad_(False)
        self._optimizer: torch.optim.Optimizer | None = None  # built at the first step (after .to(device))
        self._pending_state: Tensor | None = None  # a loaded Adam state for the lazy optimizer
        self._synced = False  # rank 0's weights broadcast (at the first step of the process)

    @property
    def frozen(self) -> bool:
        """True once ``seen_img`` has passed ``freeze_kimg`` thousand images."""
        return float(self.seen_img) > self.freeze_kimg * 1000

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The renderer's own Adam (not one of the GAN's optimizers; its state is this module's extra state)."""
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(self._params(), lr=self.lr, betas=self.betas,
                                               weight_decay=self.weight_decay)
            if self._pending_state is not None:
                self._load_adam(self._pending_state)
                self._pending_state = None
        return self._optimizer

    def _params(self) -> list[nn.Parameter]:
        named = dict(self.renderer.named_parameters())
        return [named[n] for n in self._trained]

    def get_extra_state(self) -> Tensor:
        """The Adam state as one float64 vector (saved as ``<prefix>_extra_state``).

        A tensor, so that every state-dict value stays one (mmengine broadcasts each at the start of training,
        checkpoint tools compare them); float64 holds the moments and the step count exactly.

        Returns:
            ``(sum_p (1 + 2 * numel_p),)``: per trained renderer parameter ``[step, exp_avg, exp_avg_sq]`` (zeros for
            one without state yet); ``(0,)`` before the first step.
        """
        if self._pending_state is not None:
            return self._pending_state
        if self._optimizer is None or not self._optimizer.state:
            return torch.zeros(0, dtype=torch.float64)
        parts = []
        for p in self._params():
            st = self._optimizer.state.get(p, {})
            step = torch.as_tensor(st.get("step", 0.0), dtype=torch.float64, device=p.device).reshape(1)
            moments = [st.get(k, torch.zeros_like(p)).detach().flatten().double() for k in ADAM_MOMENTS]
            parts += [step, *moments]
        return torch.cat(parts)

    def set_extra_state(self, state: Tensor) -> None:
        """Load :meth:`get_extra_state`'s vector: into the optimizer if built, else when it is built."""
        state = torch.as_tensor(state).detach().flatten()
        expected = sum(1 + 2 * p.numel() for p in self._params())
        if state.numel() not in (0, expected):
            raise ValueError(f"{type(self).__name__}: an Adam state of {state.numel()} values, expected {expected}")
        if state.numel() == 0:  # saved before the first step: start afresh
            self._optimizer, self._pending_state = None, None
        elif self._optimizer is not None:
            self._load_adam(state)
        else:
            self._pending_state = state.clone()

    def _load_adam(self, state: Tensor) -> None:
        """Unpack a :meth:`get_extra_state` vector into the built optimizer (a zero step: no state, as fresh)."""
        opt, offset = self._optimizer, 0
        opt.state.clear()
        for p in self._params():
            step, offset = float(state[offset]), offset + 1
            moments = []
            for _ in ADAM_MOMENTS:
                moments.append(state[offset:offset + p.numel()].view_as(p).to(p.device, p.dtype).clone())
                offset += p.numel()
            if step > 0:
                opt.state[p] = dict(step=torch.tensor(step, dtype=torch.float32), **dict(zip(ADAM_MOMENTS, moments)))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        """nn.Module's loading, tolerating a state dict without the extra state (checkpoints older than it)."""
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        key = prefix + EXTRA_STATE_SUFFIX
        if key not in state_dict and key in missing_keys:
            missing_keys.remove(key)

    def step(self, images: Tensor) -> dict[str, Tensor] | None:
        """One self-supervised step on real images, unless frozen.

        Args:
            images: ``(N, 3, H, W)`` real images in ``[-1, 1]`` (detached here).

        Returns:
            The detached losses (``loss``, ``l1``, ``l1_flip``, ...), or None when frozen.
        """
        if self.frozen:
            return None
        params = self._params()
        if not self._synced:  # every rank starts from rank 0's weights (a no-op on one process)
            for p in params:
                broadcast(p.data, 0)
            self._synced = True
        was_training = self.renderer.training
        self.renderer.train()
        for p in params:
            p.requires_grad_(True)
        try:
            with torch.enable_grad():
                losses = self.renderer.loss(images.detach())
                self.optimizer.zero_grad(set_to_none=True)
                losses["loss"].backward()
                average_gradients(params)
                self.optimizer.step()
        finally:
            self.renderer.train(was_training)
            for p in params:
                p.requires_grad_(False)
        self.seen_img += images.shape[0] * get_world_size()
        return {k: v.detach() for k, v in losses.items()}

    def forward(self, images: Tensor, batch: dict[str, Any] | None = None) -> dict[str, Tensor]:
        """Geometry of ``images`` at their own size (normals renormalised after bilinear resizing).

        Gradients flow to ``images`` (pof3d runs the renderer on fake images without detaching; wrap the call in
        ``torch.no_grad()`` for targets of real images).

        Args:
            images: ``(N, 3, H, W)`` in ``[-1, 1]``.
            batch: Unused (the source interface).

        Returns:
            ``normal (N, 3, H, W)`` camera space (+z to the viewer), ``depth (N, 1, H, W)`` planar, in the renderer's
            depth range, ``mask (N, 1, H, W)``.
        """
        out = self.renderer(images)
        size = images.shape[-2:]
        normal, depth, mask = out["normal"], out["depth"], out["mask"]
        if normal.shape[-2:] != size:
            normal = F.normalize(F.interpolate(normal, size=size, mode="bilinear", align_corners=False), dim=1)
            depth = F.interpolate(depth, size=size, mode="bilinear", align_corners=False)
            mask = F.interpolate(mask, size=size, mode="nearest")
        return dict(normal=normal, depth=depth, mask=mask)
