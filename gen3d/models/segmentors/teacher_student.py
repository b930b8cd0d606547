"""Teacher-student base for semi-supervised segmentation (U2PL arXiv 2203.03884, Mean Teacher arXiv 1703.01780).

One step (:meth:`TeacherStudentSegmentor.train_step`)::

    batch = preprocess_batch(data)            # normalised labeled / unlabeled / strong float tensors
    losses = compute_losses(batch, it)        # ALL losses; teacher -> pseudo-labels, student -> predictions
    optim_wrapper.update_params(sum(losses))  # one optimizer step on the student
    ema_update(momentum_at(it))               # teacher <- EMA of the student (parameters only, U2PL spec A2)

EMA schedule (U2PL ``train_semi.py``, spec A2): no teacher update during the ``sup_only_epochs`` supervised
warm-up; in the epoch right after it (epoch 0 when there is no warm-up: ``epoch == sup_only_epoch`` in the official
loop) the teacher copies the student at every step; afterwards ``m = min(1 - 1 / (it - it0 + 1), ema_momentum)``
with ``it0`` the warm-up length in iterations.
Evaluation uses the teacher by default (U2PL validates and tests ``teacher_state``).

Subclasses implement :meth:`compute_losses`; FST wraps any subclass through this interface.
"""

import copy
from abc import abstractmethod

import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from gen3d.registry import MODELS

#: U2PL ``net.ema_decay`` (spec A2).
EMA_MOMENTUM = 0.99


class TeacherStudentSegmentor(BaseModel):
    """Student :class:`EncoderDecoder` + EMA teacher.

    Args:
        segmentor: Config or module of the student; when ``None`` the student is an ``EncoderDecoder`` built from
            ``backbone``, ``decode_head``, ``ignore_index``, ``ohem``, ``align_corners``, ``test_cfg`` and
            ``data_preprocessor`` (so method configs can inherit the ``_base_/models`` EncoderDecoder dict).
        ema_momentum: Upper bound of the EMA momentum (U2PL 0.99).
        sup_only_epochs: Supervised-only warm-up epochs (U2PL: 1 on VOC, 0 on Cityscapes).
        iters_per_epoch: Iterations per epoch; ``None`` reads ``max_iters // max_epochs`` from the runner's
            MessageHub (1 when there is no runner).
        ema_buffers: Also EMA floating-point buffers (U2PL: False, the teacher's BN statistics come from its own
            forward passes).
        eval_model: ``'teacher'`` (U2PL) or ``'student'``: the network used by ``forward`` / validation.
        backbone: See ``segmentor``.
        decode_head: See ``segmentor``.
        auxiliary_head: See ``segmentor`` (``EncoderDecoder.auxiliary_head``; its loss joins ``loss_aux`` on the
            labeled images only).
        ignore_index: See ``segmentor``.
        ohem: See ``segmentor``; ``True`` means U2PL's defaults (lets a config switch OHEM on over ``None``).
        align_corners: See ``segmentor``.
        test_cfg: See ``segmentor``.
        train_cfg: Unused, kept for MMSeg-style configs.
        data_preprocessor: See ``segmentor``; the student's preprocessor normalises every stream.
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        segmentor: dict | nn.Module | None = None,
        ema_momentum: float = EMA_MOMENTUM,
        sup_only_epochs: int = 0,
        iters_per_epoch: int | None = None,
        ema_buffers: bool = False,
        eval_model: str = "teacher",
        backbone: dict | None = None,
        decode_head: dict | None = None,
        auxiliary_head: dict | None = None,
        ignore_index: int = 255,
        ohem: dict | bool | None = None,
        align_corners: bool = False,
        test_cfg: dict | None = None,
        train_cfg: dict | None = None,
        data_preprocessor: dict | nn.Module | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        if segmentor is None:
            ohem = {} if ohem is True else (ohem or None)
            segmentor = dict(type="EncoderDecoder", ignore_index=ignore_index, ohem=ohem, align_corners=align_corners,
                             test_cfg=test_cfg, data_preprocessor=data_preprocessor)
            parts = dict(backbone=backbone, decode_head=decode_head, auxiliary_head=auxiliary_head)
            segmentor.update({k: v for k, v in parts.items() if v})
        student = segmentor if isinstance(segmentor, nn.Module) else MODELS.build(segmentor)
        super().__init__(data_preprocessor=student.data_preprocessor, init_cfg=init_cfg)
        if eval_model not in ("teacher", "student"):
            raise ValueError(f"eval_model must be 'teacher' or 'student', got {eval_model!r}")
        self.student = student
        self.teacher = copy.deepcopy(student)
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.ema_momentum = float(ema_momentum)
        self.sup_only_epochs = int(sup_only_epochs)
        self.iters_per_epoch = iters_per_epoch
        self.ema_buffers = ema_buffers
        self.eval_model = eval_model
        self.ignore_index = self.student.ignore_index
        self.num_classes = self.student.num_classes
        self.train_cfg = dict(train_cfg or {})

    # ------------------------------------------------------------------ schedule
    def _iters_per_epoch(self) -> int:
        if self.iters_per_epoch:
            return int(self.iters_per_epoch)
        hub = MessageHub.get_current_instance()
        max_iters, max_epochs = hub.get_info("max_iters"), hub.get_info("max_epochs")
        return max(int(max_iters) // int(max_epochs), 1) if max_iters and max_epochs else 1

    def epoch_of(self, iteration: int) -> int:
        """Epoch (0-based) that ``iteration`` belongs to."""
        return iteration // self._iters_per_epoch()

    def is_sup_only(self, iteration: int) -> bool:
        """Whether ``iteration`` lies in the supervised-only warm-up."""
        return self.epoch_of(iteration) < self.sup_only_epochs

    def momentum_at(self, iteration: int) -> float | None:
        """EMA momentum after step ``iteration``: ``None`` (no update), 0 (copy) or the U2PL ramp (spec A2)."""
        epoch = self.epoch_of(iteration)
        if epoch < self.sup_only_epochs:
            return None
        if epoch == self.sup_only_epochs:
            # train_semi.py re-aliases the teacher to the student at every step of the epoch equal to
            # sup_only_epoch, also when it is 0 (Cityscapes: the whole first epoch copies the student).
            return 0.0
        it0 = self.sup_only_epochs * self._iters_per_epoch()
        return min(1.0 - 1.0 / (iteration - it0 + 1), self.ema_momentum)

    # ------------------------------------------------------------------ teacher
    def train(self, mode: bool = True) -> "TeacherStudentSegmentor":
        """Switch the student; the teacher stays in eval mode (methods switch it per forward pass)."""
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def ema_update(self, momentum: float | None = None) -> None:
        """``teacher <- m * teacher + (1 - m) * student`` over parameters (and float buffers if ``ema_buffers``).

        Args:
            momentum: ``m``; ``None`` uses ``self.ema_momentum``; 0 copies the student.
        """
        m = self.ema_momentum if momentum is None else float(momentum)
        for t, s in zip(self.teacher.parameters(), self.student.parameters()):
            t.mul_(m).add_(s.detach(), alpha=1.0 - m)
        if self.ema_buffers:
            for t, s in zip(self.teacher.buffers(), self.student.buffers()):
                if t.dtype.is_floating_point:
                    t.mul_(m).add_(s, alpha=1.0 - m)

    @torch.no_grad()
    def teacher_bn_pass(self, inputs: Tensor) -> None:
        """Forward the teacher in train mode on ``inputs``, output unused (U2PL / FST-semi ``train_semi.py``).

        The EMA covers parameters only, so the teacher's BN running statistics come only from its own train-mode
        passes. During the supervised-only warm-up the official loop runs ``model_teacher.train();
        model_teacher(image_l)`` at every step, so these statistics follow the training data although the teacher's
        parameters do not move; afterwards its train-mode pass on ``[x_l; x_u]`` keeps them up to date. Without such
        passes the eval-mode teacher predicts with its initial statistics.
        """
        self.teacher.train(True)
        self.teacher.extract_logits_and_repr(inputs)
        self.teacher.eval()

    # ------------------------------------------------------------------ data
    def preprocess_batch(self, data: dict, training: bool = True) -> dict:
        """Normalise the two-stream batch of ``SemiSupervisedDataset``.

        Args:
            data: ``{'labeled': {'inputs', 'data_samples'}, 'unlabeled': {'inputs', 'inputs_strong'?,
                'data_samples'}}`` with uint8 ``(3, H, W)`` images.
            training: Passed to the data preprocessor.

        Returns:
            ``{'labeled': {'inputs': (B, 3, H, W) float, 'data_samples', 'gt': (B, H, W) long},
            'unlabeled': {'inputs': (B, 3, H, W), 'inputs_strong': (B, 3, H, W) or None, 'data_samples'}}``.
        """
        pre = self.data_preprocessor
        lab = pre(dict(inputs=data["labeled"]["inputs"], data_samples=data["labeled"]["data_samples"]), training)
        gt = self.student.stack_gt(lab["data_samples"], lab["inputs"].shape[-2:]).to(lab["inputs"].device)
        out = {"labeled": {"inputs": lab["inputs"], "data_samples": lab["data_samples"], "gt": gt}}
        unl_data = data.get("unlabeled")
        if unl_data is not None:
            unl = pre(dict(inputs=unl_data["inputs"], data_samples=unl_data.get("data_samples")), training)
            strong = None
            if unl_data.get("inputs_strong") is not None:
                strong = pre(dict(inputs=unl_data["inputs_strong"], data_samples=None), training)["inputs"]
            out["unlabeled"] = {"inputs": unl["inputs"], "inputs_strong": strong,
                                "data_samples": unl.get("data_samples")}
        return out

    # ------------------------------------------------------------------ training
    @abstractmethod
    def compute_losses(self, batch: dict, iteration: int) -> dict[str, Tensor]:
        """All losses of one step (keys starting with ``loss`` are summed by :meth:`parse_losses`).

        Args:
            batch: Output of :meth:`preprocess_batch`.
            iteration: 0-based global iteration.

        Returns:
            Loss and metric scalars.
        """

    def supervised_losses(self, batch: dict) -> dict[str, Tensor]:
        """Student cross-entropy (or OHEM) on the labeled stream: ``{'loss_sup', 'acc_seg'}``.

        With an auxiliary head on the student, its weighted loss on the labeled images is added as ``loss_aux``
        (U2PL / FST-semi ``train_semi.py``: ``sup_loss_fn([pred, aux], label_l)``).
        """
        losses = self.student.loss(batch["labeled"]["inputs"], batch["labeled"]["data_samples"])
        out = {"loss_sup": losses["loss_ce"], "acc_seg": losses["acc_seg"]}
        if "loss_aux" in losses:
            out["loss_aux"] = losses["loss_aux"]
        return out

    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> dict[str, Tensor]:
        """Run preprocess -> compute_losses -> update_params -> ema_update -> log vars."""
        iteration = int(MessageHub.get_current_instance().get_info("iter", 0) or 0)
        return self.train_step_at(data, optim_wrapper, iteration)

    def train_step_at(self, data: dict, optim_wrapper: OptimWrapper, iteration: int) -> dict[str, Tensor]:
        """:meth:`train_step` with an explicit 0-based iteration (tests, custom loops)."""
        momentum = self.momentum_at(iteration)
        if momentum == 0.0:
            self.ema_update(0.0)  # the teacher equals the current student during the copy epoch
        with optim_wrapper.optim_context(self):
            batch = self.preprocess_batch(data, True)
            losses = self.compute_losses(batch, iteration)
        loss, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(loss)
        if momentum is not None:
            self.ema_update(momentum)
        log_vars["ema_momentum"] = torch.tensor(-1.0 if momentum is None else momentum)
        return log_vars

    # ------------------------------------------------------------------ evaluation
    @property
    def eval_net(self) -> nn.Module:
        """The network used for ``forward`` (``eval_model``)."""
        return self.teacher if self.eval_model == "teacher" else self.student

    def forward(
        self, inputs: Tensor, data_samples: list[BaseDataElement] | None = None, mode: str = "tensor"
    ) -> Tensor | dict[str, Tensor] | list[BaseDataElement]:
        """Delegate to :attr:`eval_net` (``'loss'`` uses the student's supervised loss).

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.
            data_samples: Segmentation samples.
            mode: ``'tensor'`` -> ``(B, C, H, W)`` logits, ``'predict'`` -> samples, ``'loss'`` -> supervised losses.
        """
        if mode == "loss":
            return self.student(inputs, data_samples, mode="loss")
        return self.eval_net(inputs, data_samples, mode=mode)
