"""Mean-Teacher baseline for semi-supervised segmentation (Tarvainen & Valpola, arXiv 1703.01780).

``L = CE(S(x_l), y_l) + lambda_u * CE(S(aug(x_u)), y_hat)`` where ``y_hat`` is the argmax of the EMA teacher (eval
mode) on the weak view, optionally CutMix-ed together with the student's input. Two recipes are exposed:

* ``pseudo_filter='confidence'`` (default): keep ``y_hat`` where the teacher's confidence is at least
  ``conf_thresh`` (hard pseudo-labels with a FixMatch gate, arXiv 2001.07685); mean CE over the kept pixels. With
  ``student_view='strong'`` and ``joint_forward=False`` (defaults) the student sees the colour-augmented view in a
  forward of its own, separate from the labeled one.
* FST's Mean-Teacher baseline (FST arXiv 2209.06993, official ``semi_seg/train_semi.py`` ``loss_backward`` l. 312-370
  and ``semi_seg/fst/utils/loss_helper.py`` ``compute_unsupervised_loss`` l. 10-28; configs
  ``semi_seg/experiments/pascal/662/{mt,cutmix}/config.yaml``): ``pseudo_filter='entropy'``, ``keep_percent=80``
  (``drop_percent: 80``), ``student_view='weak'`` (the official unlabeled loader has no colour view),
  ``joint_forward=True``, ``cutmix_prob`` 0 for ``mt`` (``apply_aug: False``) or 0.5 for ``cutmix``,
  ``sup_only_epochs=0`` (no ``sup_only_epoch`` key: epoch 0 is the copy epoch). One step is::

      P = softmax(up(T.eval()(x_u)));  y_hat = argmax P                   # l. 320-324
      with prob cutmix_prob: CutMix(x_u, y_hat)  (one box per image, partner (i + 1) mod B)   # l. 327-332
      out = S([x_l; x_u_aug]);  L_s = CE(up(out[:B_l]), y_l)              # l. 335-349, ONE student forward
      H = entropy(softmax(up(T.train()([x_l; x_u_aug])[B_l:])))  no grad  # l. 351-363, also moves T's BN stats
      drop H >= pct(H[valid], keep_percent);  L_u = CE over kept x B*H*W / #kept   # loss_helper.py l. 18-26

  ``keep_percent`` is fixed (no annealing, unlike U2PL's alpha_t) and there is no contrastive term. One difference:
  ``keep_percent=100`` keeps every pixel, while the official ``drop_percent: 100`` (its default when the key is
  absent, e.g. ``cityscapes/372/mt``) still drops the pixels whose entropy equals the batch maximum.

``teacher_bn`` runs that no-grad train-mode teacher pass on ``[x_l; x_u_aug]`` also with the confidence filter, and on
``x_l`` during the supervised-only warm-up (``train_semi.py`` l. 307-308); with ``teacher_bn=False`` the entropy comes
from an eval-mode teacher pass on ``x_u_aug`` instead.
"""

import torch
from torch import Tensor
from torch.nn import functional as F

from gen3d.models.losses.u2pl_losses import entropy_map, pseudo_label_loss
from gen3d.registry import MODELS

from .cutmix import CUTMIX_PROB, random_cutmix
from .teacher_student import TeacherStudentSegmentor

#: FixMatch (arXiv 2001.07685 Sec. 3.2) confidence threshold tau = 0.95.
CONF_THRESH = 0.95
#: FST ``semi_seg/experiments/pascal/662/*/config.yaml``: ``trainer.unsupervised.drop_percent: 80`` is the entropy
#: percentile above which pixels are dropped, i.e. the lowest-entropy 80 % of the pseudo-labels are kept.
KEEP_PERCENT = 80.0
PSEUDO_FILTERS = ("confidence", "entropy")
STUDENT_VIEWS = ("strong", "weak")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


@MODELS.register_module()
class MeanTeacher(TeacherStudentSegmentor):
    """Supervised CE + pseudo-label CE from the EMA teacher (confidence-gated, or FST's entropy filter).

    Args:
        lambda_u: Weight of the unlabeled loss (FST ``trainer.unsupervised.loss_weight``, default 1).
        conf_thresh: Teacher confidence needed to keep a pseudo-label (``pseudo_filter='confidence'`` only).
        cutmix_prob: Probability of CutMix per unlabeled batch (0 disables it; FST ``cutmix`` configs: 0.5).
        seed: Seed of the CutMix generator.
        teacher_bn: Keep the teacher's BN running statistics up to date with a no-grad train-mode teacher pass on
            the labeled batch during the warm-up and on ``[x_l; x_u_aug]`` afterwards, as FST's
            ``semi_seg/train_semi.py`` (the U2PL loop its MT baseline runs in) does; without it the eval-mode teacher
            keeps its initial statistics for the whole run (the EMA covers parameters only).
        pseudo_filter: ``'confidence'`` (gate at ``conf_thresh``, mean CE over the kept pixels) or ``'entropy'``
            (FST / U2PL ``compute_unsupervised_loss``: keep the ``keep_percent`` % lowest-entropy pixels of the
            teacher's ``[x_l; x_u_aug]`` pass, CE rescaled by ``B * H * W / #kept``).
        keep_percent: Percentage of valid pixels kept by the entropy filter, in ``(0, 100]`` (FST ``drop_percent``).
        student_view: ``'strong'`` (the dataset's colour-augmented view when it provides one, else the weak one) or
            ``'weak'`` (FST: the weak crop the teacher pseudo-labels). CutMix applies on top of either.
        joint_forward: One student forward on ``[x_l; x_u_aug]`` whose labeled part gives the supervised loss (FST /
            U2PL: BN statistics over both streams); ``False`` runs the labeled and unlabeled images separately.
        **kwargs: :class:`TeacherStudentSegmentor` arguments.
    """

    def __init__(
        self, lambda_u: float = 1.0, conf_thresh: float = CONF_THRESH, cutmix_prob: float = CUTMIX_PROB, seed: int = 0,
        teacher_bn: bool = True, pseudo_filter: str = "confidence", keep_percent: float = KEEP_PERCENT,
        student_view: str = "strong", joint_forward: bool = False, **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        _check_choice("pseudo_filter", pseudo_filter, PSEUDO_FILTERS)
        _check_choice("student_view", student_view, STUDENT_VIEWS)
        _check_bool("joint_forward", joint_forward)
        _check_bool("teacher_bn", teacher_bn)
        if isinstance(keep_percent, bool) or not isinstance(keep_percent, (int, float)) or not 0 < keep_percent <= 100:
            raise ValueError(f"keep_percent must be a number in (0, 100], got {keep_percent!r}")
        if not 0.0 <= cutmix_prob <= 1.0:
            raise ValueError(f"cutmix_prob must be in [0, 1], got {cutmix_prob!r}")
        if lambda_u < 0:
            raise ValueError(f"lambda_u must be >= 0, got {lambda_u!r}")
        self.teacher_bn = teacher_bn
        self.lambda_u, self.conf_thresh, self.cutmix_prob = lambda_u, conf_thresh, cutmix_prob
        self.pseudo_filter, self.keep_percent = pseudo_filter, float(keep_percent)
        self.student_view, self.joint_forward = student_view, joint_forward
        self.generator = torch.Generator().manual_seed(seed)

    def compute_losses(self, batch: dict, iteration: int) -> dict[str, Tensor]:
        """Supervised + pseudo-label losses.

        Args:
            batch: Output of :meth:`preprocess_batch` (labeled ``(B_l, 3, H, W)``, unlabeled ``(B_u, 3, H, W)``).
            iteration: 0-based global iteration.

        Returns:
            ``loss_sup``, ``loss_unsup`` (weighted), ``loss_aux`` with an auxiliary head, ``acc_seg`` and
            ``unsup_kept`` (fraction of the pseudo-labelled pixels kept).
        """
        unl = batch.get("unlabeled")
        if unl is None or self.is_sup_only(iteration):
            losses = self.supervised_losses(batch)
            if self.teacher_bn:
                self.teacher_bn_pass(batch["labeled"]["inputs"])  # warm-up, as U2PL / FST-semi train_semi.py
            return losses
        x_l, x_u = batch["labeled"]["inputs"], unl["inputs"]
        x_s = unl["inputs_strong"] if self.student_view == "strong" and unl["inputs_strong"] is not None else x_u
        with torch.no_grad():  # pseudo-labels: teacher in eval mode on the weak view, softmax of the upsampled logits
            self.teacher.eval()
            conf, pseudo = self.teacher(x_u, mode="tensor").softmax(dim=1).max(dim=1)
        (x_s, pseudo, conf), _ = random_cutmix(x_s, pseudo, conf, prob=self.cutmix_prob, generator=self.generator)
        if self.joint_forward:
            losses, logits = self._joint_student_pass(batch, x_s)
        else:
            losses = self.supervised_losses(batch)
            logits = self.student(x_s, mode="tensor")
        entropy = self._teacher_pass(x_l, x_s)
        if self.pseudo_filter == "entropy":
            loss_u, kept = pseudo_label_loss(logits, pseudo, entropy, 100.0 - self.keep_percent, self.ignore_index)
        else:
            target = pseudo.masked_fill(conf < self.conf_thresh, self.ignore_index)
            kept = (target != self.ignore_index).float().mean().detach()
            loss_u = F.cross_entropy(logits, target, ignore_index=self.ignore_index) if kept > 0 else logits.sum() * 0
        losses.update(loss_unsup=self.lambda_u * loss_u, unsup_kept=kept)
        return losses

    def _joint_student_pass(self, batch: dict, x_s: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """One student forward on ``[x_l; x_s]``.

        Args:
            batch: Output of :meth:`preprocess_batch`.
            x_s: The student's unlabeled input ``(B_u, 3, H, W)`` (same ``H, W`` as the labeled images).

        Returns:
            ``{'loss_sup', 'acc_seg', 'loss_aux'?}`` on the labeled part and the unlabeled logits ``(B_u, C, H, W)``.
        """
        x_l, y_l = batch["labeled"]["inputs"], batch["labeled"]["gt"]
        if x_l.shape[-2:] != x_s.shape[-2:]:
            raise ValueError(f"joint_forward needs labeled and unlabeled crops of one size, got {tuple(x_l.shape)} "
                             f"and {tuple(x_s.shape)}")
        n_l = x_l.shape[0]
        logits, _, aux = self.student.extract_train_outputs(torch.cat([x_l, x_s]))
        losses = {"loss_sup": self.student.seg_loss(logits[:n_l], y_l)}
        with torch.no_grad():
            valid = y_l != self.ignore_index
            pred = self.student._resize(logits[:n_l], y_l.shape[-2:]).argmax(dim=1)
            acc = (pred[valid] == y_l[valid]).float().mean() * 100 if valid.any() else logits.new_zeros(())
        losses["acc_seg"] = acc
        if aux is not None:  # official: aux loss on the labeled part of outs["aux"] only
            losses["loss_aux"] = self.student.aux_loss(aux[:n_l], y_l)
        return losses, self.student._resize(logits[n_l:], x_s.shape[-2:])

    @torch.no_grad()
    def _teacher_pass(self, x_l: Tensor, x_s: Tensor) -> Tensor | None:
        """Teacher pass on the student's batch: BN statistics (``teacher_bn``) and the entropy filter's entropy.

        Args:
            x_l: Labeled images ``(B_l, 3, H, W)``.
            x_s: The student's unlabeled input ``(B_u, 3, H, W)``.

        Returns:
            Entropy ``(B_u, H, W)`` of the softmax of the upsampled teacher logits (``pseudo_filter='entropy'``),
            else ``None``.
        """
        want_entropy = self.pseudo_filter == "entropy"
        if self.teacher_bn:  # FST-semi train_semi.py: no-grad teacher.train() pass on [x_l; x_u_aug] at every step
            self.teacher.train(True)
            logits = self.teacher.extract_logits_and_repr(torch.cat([x_l, x_s]))[0][x_l.shape[0]:]
            self.teacher.eval()
        elif want_entropy:
            self.teacher.eval()
            logits = self.teacher.extract_logits_and_repr(x_s)[0]
        if not want_entropy:
            return None
        return entropy_map(self.teacher._resize(logits, x_s.shape[-2:]).softmax(dim=1))
