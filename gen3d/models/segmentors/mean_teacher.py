"""Mean-Teacher baseline for semi-supervised segmentation (Tarvainen & Valpola, arXiv 1703.01780).

``L = CE(S(x_l), y_l) + lambda_u * CE(S(aug(x_u)), y_hat)`` where ``y_hat`` is the EMA teacher's argmax on the
weak view, kept where its confidence is at least ``conf_thresh`` (hard pseudo-labels with a confidence gate as in
FixMatch, arXiv 2001.07685). The student sees the strong view (when the dataset provides one), optionally CutMix-ed
with the same boxes as the pseudo-labels. This is the "no unreliable pixels" reference U2PL improves on.
"""

import torch
from torch import Tensor
from torch.nn import functional as F

from gen3d.registry import MODELS

from .cutmix import CUTMIX_PROB, random_cutmix
from .teacher_student import TeacherStudentSegmentor

#: FixMatch (arXiv 2001.07685 Sec. 3.2) confidence threshold tau = 0.95.
CONF_THRESH = 0.95


@MODELS.register_module()
class MeanTeacher(TeacherStudentSegmentor):
    """Supervised CE + confident pseudo-label CE from the EMA teacher.

    Args:
        lambda_u: Weight of the unlabeled loss.
        conf_thresh: Teacher confidence needed to keep a pseudo-label.
        cutmix_prob: Probability of CutMix per unlabeled batch (0 disables it).
        seed: Seed of the CutMix generator.
        teacher_bn: Keep the teacher's BN running statistics up to date with a no-grad train-mode teacher pass on
            the labeled batch during the warm-up and on ``[x_l; x_u]`` afterwards, as FST's ``semi_seg/train_semi.py``
            (the U2PL loop its MT baseline runs in) does; without it the eval-mode teacher keeps its initial
            statistics for the whole run (the EMA covers parameters only).
        **kwargs: :class:`TeacherStudentSegmentor` arguments.
    """

    def __init__(
        self, lambda_u: float = 1.0, conf_thresh: float = CONF_THRESH, cutmix_prob: float = CUTMIX_PROB, seed: int = 0,
        teacher_bn: bool = True, **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.teacher_bn = teacher_bn
        self.lambda_u, self.conf_thresh, self.cutmix_prob = lambda_u, conf_thresh, cutmix_prob
        self.generator = torch.Generator().manual_seed(seed)

    def compute_losses(self, batch: dict, iteration: int) -> dict[str, Tensor]:
        """Supervised + pseudo-label losses.

        Args:
            batch: Output of :meth:`preprocess_batch`.
            iteration: 0-based global iteration.

        Returns:
            ``loss_sup``, ``loss_unsup`` (weighted), ``acc_seg`` and ``unsup_kept`` (fraction of kept pixels).
        """
        losses = self.supervised_losses(batch)
        unl = batch.get("unlabeled")
        if unl is None or self.is_sup_only(iteration):
            if self.teacher_bn:
                self.teacher_bn_pass(batch["labeled"]["inputs"])  # warm-up, as U2PL / FST-semi train_semi.py
            return losses
        x_u = unl["inputs"]
        x_s = unl["inputs_strong"] if unl["inputs_strong"] is not None else x_u
        with torch.no_grad():
            self.teacher.eval()
            conf, pseudo = self.teacher(x_u, mode="tensor").softmax(dim=1).max(dim=1)
        (x_s, pseudo, conf), _ = random_cutmix(x_s, pseudo, conf, prob=self.cutmix_prob, generator=self.generator)
        target = pseudo.masked_fill(conf < self.conf_thresh, self.ignore_index)
        logits = self.student(x_s, mode="tensor")
        if self.teacher_bn:  # FST-semi train_semi.py: no-grad teacher.train() pass on [x_l; x_u_aug] at every step
            self.teacher_bn_pass(torch.cat([batch["labeled"]["inputs"], x_s]))
        kept = (target != self.ignore_index).float().mean()
        loss_u = F.cross_entropy(logits, target, ignore_index=self.ignore_index) if kept > 0 else logits.sum() * 0.0
        losses.update(loss_unsup=self.lambda_u * loss_u, unsup_kept=kept.detach())
        return losses
