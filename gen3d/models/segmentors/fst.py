"""FST: "Learning from Future: A Novel Self-Training Framework for Semantic Segmentation" (NeurIPS'22).

Paper: https://arxiv.org/abs/2209.06993; official code: https://github.com/usr922/FST (``mmseg/models/uda/fst_d.py``,
``fst_w.py``; ``semi_seg/train_semi.py``).

A mean teacher only aggregates past students. FST first optimises the student *virtually*, EMA-updates the teacher
with the virtual future student(s), then lets this *future teacher* pseudo-label the real update of the current
student. :class:`FST` wraps any teacher-student segmentor exposing (duck typing)::

    student: nn.Module; teacher: nn.Module (EMA, no grads)
    preprocess_batch(data) -> dict; compute_losses(batch, iteration) -> dict[str, Tensor]
    ema_update(momentum: float | None = None)       # teacher <- m * teacher + (1 - m) * student
    forward(inputs, data_samples, mode); val_step(data); test_step(data)

Per iteration ``t`` (``m_t = min(1 - 1/(t+1), ema_alpha)``, or the wrapped method's ``momentum_at(t)`` when
``ema_alpha=None``; spec B1/B2):

* ``t < warmup_iters``: a plain step (losses, optimiser step, ``EMA(T, S; m_t)``).
* FST-D: snapshot S (and the optimiser); K times ``EMA(T, S); virtual step``; ``EMA(T, S)`` (future teacher);
  restore S; real step with the future teacher's pseudo-labels; ``EMA(T, S)`` if ``ema_after_real_step``.
* FST-W: snapshot S; K virtual students, each one step from the snapshot on its own batch with the unchanged T;
  ``EMA(T, mean of the K virtual students)``; restore S; real step; ``EMA(T, S)`` if ``ema_after_real_step``.

The teacher is never rolled back (virtual students stay in it, as in the official code). Cost: K + 1 student
forward/backward passes and K + 1 teacher forwards per iteration, plus one parameter copy (two for FST-W).

State of the wrapped method outside its student and teacher (its own buffers: U2PL's memory queues) is put back
before every pass by default (``restore_method_buffers``), so each iteration enqueues one batch's negatives, those
of the real step, as a plain U2PL step does (U2PL paper Sec. 3.3 "Memory bank"; gen3d decision). Every pass, virtual
or real, samples from the queues of the real history plus its own batch. The official code would enqueue on all
K + 1 passes: ``semi_seg/train_semi.py`` calls ``loss_backward`` (whose ``compute_contra_memobank_loss`` pushes into
``memobank``) in each virtual step, and ``record_model`` / ``restore_model`` copy parameters only. No official FST
config turns the contrastive term on (``semi_seg/experiments/**/config.yaml`` have no ``contrastive`` key), so no
reported FST number depends on it; ``restore_method_buffers=False`` reproduces that code path.
"""

from collections.abc import Mapping
from typing import Any

import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from torch import Tensor, nn

from gen3d.registry import MODELS

from .state_utils import (
    INNER_COUNT_KEY,
    BufferRefs,
    average_snapshots,
    restore_buffer_refs,
    restore_module,
    restore_optimizer,
    snapshot_buffer_refs,
    snapshot_module,
    snapshot_optimizer,
)

FST_K = 3  # official `ahead_step` (UDA) and the hard-coded 3 of semi_seg/train_semi.py
SSL_EMA_ALPHA = 0.99  # semi_seg/experiments/**/config.yaml
UDA_EMA_ALPHA = 0.999  # configs/_base_/uda/nesterov.py
FUTURE_KEY = "future"  # data['future']: list of K extra two-stream batches (FST-W, or FST-D with same_batch=False)
_METHOD_API = ("student", "teacher", "preprocess_batch", "compute_losses", "ema_update")


def fst_momentum(iteration: int, alpha: float) -> float:
    """EMA momentum of FST / U2PL: ``min(1 - 1 / (t + 1), alpha)`` (0 at ``t = 0``: the teacher copies the student)."""
    return min(1.0 - 1.0 / (iteration + 1), alpha)


@MODELS.register_module()
class FST(BaseModel):
    """Future-teacher training around any teacher-student segmentor (FST-D / FST-W).

    Args:
        method: Config (built through MODELS) or module of the wrapped teacher-student segmentor, e.g.
            ``dict(type='MeanTeacher', ...)`` or ``dict(type='U2PL', ...)``.
        mode: ``'D'`` (deep: K chained virtual steps) or ``'W'`` (wide: K virtual students, parameter-averaged).
        k: Number of virtual steps (D) or virtual students (W); official 3.
        ema_alpha: Upper bound ``alpha`` of ``m_t = min(1 - 1/(t+1), alpha)`` (SSL 0.99, UDA 0.999). ``None``
            (default) takes the wrapped method's schedule ``method.momentum_at(t)`` (U2PL ramp with its
            supervised-only warm-up, where it returns ``None``) or, without one, ``ema_update(None)``.
        same_batch: Virtual steps reuse the real batch (official FST-D; augmentations inside ``compute_losses`` are
            re-sampled on every pass). ``False`` reads K extra batches from ``data['future']`` (official FST-W).
        ema_after_real_step: One more ``EMA(T, S)`` after the real step (official SSL code and FST-W). The official
            UDA FST-D leaves it out: the next iteration's first virtual EMA absorbs the real student instead.
        restore_optimizer: Restore the optimiser state (momenta / Adam moments / step counts / AMP grad scaler)
            before the real step, so virtual steps leave no trace in the student. The official code does not.
        restore_buffers: Restore the student's buffers (BN running statistics) as well; the official code restores
            the parameters only.
        restore_method_buffers: Put the wrapped method's own buffers (outside its student and teacher: U2PL's
            memory queues) back to their state of the iteration's start before every virtual pass and before the
            real step, so one iteration enqueues the real step's negatives only (see the module docstring).
            ``False``: the official code path, each of the K + 1 passes enqueues its negatives.
        warmup_iters: Iterations ``t < warmup_iters`` take a plain step. Plain steps are also taken whenever the
            momentum is 0 (teacher := student, e.g. ``t == 0``: official UDA) or ``None`` (no teacher update).
        init_cfg: mmengine init config.
        **method_kwargs: Merged into the ``method`` config (its own keys win): lets a config inherit
            ``configs/_base_/models/*.py`` (``backbone``, ``decode_head``, ``data_preprocessor``, ...) unchanged.
    """

    def __init__(
        self,
        method: dict | nn.Module,
        mode: str = "D",
        k: int = FST_K,
        ema_alpha: float | None = None,
        same_batch: bool = True,
        ema_after_real_step: bool = True,
        restore_optimizer: bool = True,
        restore_buffers: bool = True,
        restore_method_buffers: bool = True,
        warmup_iters: int = 0,
        init_cfg: dict | None = None,
        **method_kwargs,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(method, nn.Module):
            if method_kwargs:
                raise TypeError(f"unexpected arguments {sorted(method_kwargs)} for an already built method")
            self.method = method
        else:
            self.method = MODELS.build({**method_kwargs, **method})
        missing = [name for name in _METHOD_API if not hasattr(self.method, name)]
        if missing:
            raise TypeError(f"FST wraps a teacher-student segmentor; {type(self.method).__name__} lacks {missing}")
        if mode not in ("D", "W"):
            raise ValueError(f"mode must be 'D' or 'W', got {mode!r}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.mode = mode
        self.k = int(k)
        self.ema_alpha = ema_alpha
        self.same_batch = same_batch
        self.ema_after_real_step = ema_after_real_step
        self.restore_optimizer = restore_optimizer
        self.restore_buffers = restore_buffers
        self.restore_method_buffers = restore_method_buffers
        self.warmup_iters = int(warmup_iters)
        self._iter = 0

    # ------------------------------------------------------------------ delegation
    @property
    def student(self) -> nn.Module:
        """The wrapped method's student."""
        return self.method.student

    @property
    def teacher(self) -> nn.Module:
        """The wrapped method's EMA teacher."""
        return self.method.teacher

    def forward(self, inputs: Tensor, data_samples: list | None = None, mode: str = "tensor") -> Any:
        """Delegate to the wrapped method.

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.
            data_samples: Samples with ``gt_sem_seg`` (loss) or metainfo (predict).
            mode: ``'tensor'`` (logits ``(B, C, H, W)``), ``'loss'`` or ``'predict'``.
        """
        return self.method(inputs, data_samples, mode=mode)

    def val_step(self, data: dict | tuple | list) -> list:
        """Delegate to the wrapped method (it owns the data preprocessor)."""
        return self.method.val_step(data)

    def test_step(self, data: dict | tuple | list) -> list:
        """Delegate to the wrapped method (it owns the data preprocessor)."""
        return self.method.test_step(data)

    # ------------------------------------------------------------------ training
    def _iteration(self) -> int:
        """Global iteration from the runner's MessageHub (resumable), else an internal counter."""
        it = MessageHub.get_current_instance().get_info("iter")
        return int(it) if it is not None else self._iter

    def _momentum(self, iteration: int) -> tuple[float | None, bool]:
        """``(momentum passed to ema_update, whether the teacher is updated at all)``."""
        if self.ema_alpha is not None:
            return fst_momentum(iteration, self.ema_alpha), True
        if hasattr(self.method, "momentum_at"):
            m = self.method.momentum_at(iteration)
            return m, m is not None
        return None, True

    def _step(self, batch: dict, iteration: int, optim_wrapper: Any) -> dict[str, Tensor]:
        """One optimiser step of the student on ``batch``; returns the parsed log variables."""
        with optim_wrapper.optim_context(self):
            losses = self.method.compute_losses(dict(batch), iteration)
        loss, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(loss)
        return log_vars

    def _virtual_batches(self, batch: dict, future: Any) -> list[dict]:
        if self.same_batch:
            return [batch] * self.k
        if future is None or len(future) < self.k:
            raise ValueError(
                f"FST-{self.mode} with same_batch=False needs data['{FUTURE_KEY}'] with {self.k} extra two-stream "
                f"batches, got {0 if future is None else len(future)}"
            )
        return [self.method.preprocess_batch(b) for b in list(future)[: self.k]]

    def train_step(self, data: dict, optim_wrapper: Any) -> dict[str, Tensor]:
        """One FST iteration: virtual steps, future teacher, exact restore, real step.

        Args:
            data: Two-stream batch ``{'labeled': {...}, 'unlabeled': {...}}`` (see
                ``gen3d.datasets.segmentation.semi``), optionally with ``'future'``: a list of K such batches.
            optim_wrapper: mmengine ``OptimWrapper`` (or ``AmpOptimWrapper``) over the student's parameters.

        Returns:
            Log variables of the real step, plus ``fst_v{i}_loss`` (total loss of virtual step / student ``i``) and
            ``ema_momentum`` (-1 when the teacher is not updated).
        """
        t = self._iteration()
        self._iter = t + 1
        return self.train_step_at(data, optim_wrapper, t)

    def train_step_at(self, data: dict, optim_wrapper: Any, t: int) -> dict[str, Tensor]:
        """:meth:`train_step` at an explicit 0-based iteration ``t`` (tests, custom loops)."""
        if getattr(optim_wrapper, "_accumulative_counts", 1) != 1:
            raise ValueError("FST takes one optimiser step per pass: gradient accumulation is not supported")
        future = data.get(FUTURE_KEY) if isinstance(data, Mapping) else None
        main = {key: v for key, v in data.items() if key != FUTURE_KEY} if isinstance(data, Mapping) else data
        batch = self.method.preprocess_batch(main)
        m, update = self._momentum(t)
        extra = {"ema_momentum": torch.tensor(-1.0 if not update or m is None else float(m))}
        if t < self.warmup_iters or not update or m == 0.0:  # plain step (no future teacher to look at)
            if update and m == 0.0:
                self.method.ema_update(0.0)  # teacher := current student, as the wrapped method's own step
            log_vars = self._step(batch, t, optim_wrapper)
            if update:
                self.method.ema_update(m)
            return {**log_vars, **extra}

        virtual = self._virtual_batches(batch, future)
        student = self.method.student
        snap = snapshot_module(student, buffers=self.restore_buffers)
        if self.restore_optimizer:
            optim_snap = snapshot_optimizer(optim_wrapper)
        else:  # official: keep the virtual steps' optimiser state; only the wrapper's counter goes back
            optim_snap = {INNER_COUNT_KEY: int(getattr(optim_wrapper, "_inner_count", 0))}
        # U2PL's queues: references suffice (enqueue assigns new tensors; an in-place change raises on restore)
        method_refs = (snapshot_buffer_refs(self.method, exclude=(student, self.method.teacher))
                       if self.restore_method_buffers else [])
        if self.mode == "D":
            for i, vbatch in enumerate(virtual):
                if i > 0:
                    restore_buffer_refs(method_refs)  # every pass sees the real queue history + its own batch
                self.method.ema_update(m)  # i = 0 absorbs the real student, then the virtual ones
                extra[f"fst_v{i}_loss"] = self._step(vbatch, t, optim_wrapper)["loss"].detach()
            self.method.ema_update(m)  # absorb the last virtual student: the future teacher
        else:
            soup: list[dict[str, Tensor]] = []
            for i, vbatch in enumerate(virtual):
                if i > 0:
                    self._restore(optim_wrapper, snap, optim_snap, method_refs, consume=False)
                extra[f"fst_v{i}_loss"] = self._step(vbatch, t, optim_wrapper)["loss"].detach()
                soup.append(snapshot_module(student, buffers=self.restore_buffers))
            restore_module(student, average_snapshots(soup))
            del soup
            self.method.ema_update(m)  # EMA(T, soup / K)
        self._restore(optim_wrapper, snap, optim_snap, method_refs, consume=True)
        del snap, optim_snap, method_refs

        log_vars = self._step(batch, t, optim_wrapper)  # pseudo-labels from the future teacher
        if self.ema_after_real_step:
            self.method.ema_update(m)
        return {**log_vars, **extra}

    def _restore(self, optim_wrapper: Any, snap: dict[str, Tensor], optim_snap: dict[str, Any],
                 method_refs: BufferRefs, consume: bool) -> None:
        """Put the student, the method's own buffers and the optimiser state (or its counter) back to the snapshot."""
        restore_module(self.method.student, snap)
        restore_buffer_refs(method_refs)
        if self.restore_optimizer:
            restore_optimizer(optim_wrapper, optim_snap, consume=consume)
        elif INNER_COUNT_KEY in optim_snap:
            optim_wrapper._inner_count = optim_snap[INNER_COUNT_KEY]
