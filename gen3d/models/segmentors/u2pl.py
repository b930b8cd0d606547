"""U2PL (Wang et al., CVPR'22, arXiv 2203.03884): reliable pseudo-labels + contrastive use of unreliable pixels.

``L = L_s + lambda_u L_u + lambda_c L_c`` (Sec. 3.1 Eq. 1). Warm-up step (``epoch < sup_only_epochs``)::

    L_s(S(x_l)); with no grad: T.train()(x_l)   # output unused: T's BN running stats follow the data (train_semi.py)

Semi-supervised step (spec A5)::

    P = softmax(up(T.eval()(x_u)));  conf, y_hat = max(P);  CutMix(x_u, y_hat, conf) with prob 0.5
    out_S = S([x_l; x_u_mix]);  L_s on the labeled part (CE or OHEM; + 0.4 x the layer-3 aux head's loss, Cityscapes)
    out_T = T.train()([x_l; x_u_mix]) without grad   # entropy for L_u and the partitions, probs/rep at stride 4
    alpha_t = 20 (1 - epoch / E);  L_u = mean CE on pixels with H < pct(H, 100 - alpha_t), x B*H*W / #kept
    L_c = memory-bank InfoNCE (U2PLContrastiveLoss; the paper's negatives, see gen3d.models.losses.u2pl_losses)

The teacher's entropy pass runs in train mode (BN batch statistics, dropout), as the official code does; the paper
does not say otherwise (``teacher_train_bn=False`` switches it to eval mode). The auxiliary head of the student
(``EncoderDecoder.auxiliary_head``, Cityscapes) runs on the whole student batch, as ``outs["aux"]`` in the official
code, and its loss is taken on the labeled part only. The teacher carries an EMA copy of it that is never run (its
output is unused in the official code too). SyncBN is not part of the model (``sync_bn='torch'`` in the runner).
"""

import torch
from mmengine.logging import MessageHub
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.models.losses.u2pl_losses import (
    ALPHA_0,
    U2PLContrastiveLoss,
    adaptive_alpha,
    entropy_map,
    entropy_masks,
    pseudo_label_loss,
)
from gen3d.registry import MODELS

from .cutmix import CUTMIX_PROB, random_cutmix
from .teacher_student import EMA_MOMENTUM, TeacherStudentSegmentor

#: Sec. 4.1: lambda_u = 1, lambda_c = 0.1 (the official main-branch configs leave lambda_c at 1, deviation 4).
LAMBDA_U, LAMBDA_C = 1.0, 0.1
#: U2PL ``sup_only_epoch`` default when the key is absent (VOC); Cityscapes sets 0.
SUP_ONLY_EPOCHS = 1


def _nearest(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Nearest resize of a ``(B, H, W)`` map (any dtype) to ``size``."""
    return F.interpolate(x[:, None].float(), size=tuple(size), mode="nearest")[:, 0].to(x.dtype)


@MODELS.register_module()
class U2PL(TeacherStudentSegmentor):
    """U2PL on a student ``EncoderDecoder`` whose decode head has ``with_repr=True``.

    Args:
        lambda_u: Weight of L_u.
        lambda_c: Weight of L_c (paper 0.1, code 1).
        alpha0: Initial unreliable percentage alpha_0.
        max_epochs: Epochs E of the alpha schedule; ``None`` reads ``max_epochs`` from the runner's MessageHub.
        cutmix_prob: Probability of CutMix per unlabeled batch (0 disables it).
        student_view: ``'weak'`` (U2PL: the student sees the CutMix-ed weak crop) or ``'strong'`` (the dataset's
            colour-augmented view, then CutMix).
        teacher_train_bn: Run the teacher's entropy / contrastive pass in train mode (official code).
        warmup_teacher_pass: During the supervised-only warm-up, forward the teacher in train mode on the labeled
            batch (no gradient, output unused) so that its BN running statistics track the data, as the official
            ``train_semi.py`` does; ``False`` leaves them at their initial values until the first semi step.
        contrastive: Kwargs of :class:`U2PLContrastiveLoss` (``num_classes`` and ``feat_dim`` are filled in).
        seed: Seed of the CutMix generator.
        ema_momentum: See :class:`TeacherStudentSegmentor`.
        sup_only_epochs: See :class:`TeacherStudentSegmentor` (U2PL default 1).
        **kwargs: Other :class:`TeacherStudentSegmentor` arguments (``segmentor`` or the EncoderDecoder fields).
    """

    def __init__(
        self,
        lambda_u: float = LAMBDA_U,
        lambda_c: float = LAMBDA_C,
        alpha0: float = ALPHA_0,
        max_epochs: int | None = None,
        cutmix_prob: float = CUTMIX_PROB,
        student_view: str = "weak",
        teacher_train_bn: bool = True,
        warmup_teacher_pass: bool = True,
        contrastive: dict | None = None,
        seed: int = 0,
        ema_momentum: float = EMA_MOMENTUM,
        sup_only_epochs: int = SUP_ONLY_EPOCHS,
        **kwargs,
    ) -> None:
        super().__init__(ema_momentum=ema_momentum, sup_only_epochs=sup_only_epochs, **kwargs)
        head = self.student.decode_head
        if getattr(head, "repr_head", None) is None:
            raise ValueError("U2PL needs decode_head.with_repr=True (the representation head)")
        if student_view not in ("weak", "strong"):
            raise ValueError(f"student_view must be 'weak' or 'strong', got {student_view!r}")
        self.lambda_u, self.lambda_c, self.alpha0 = lambda_u, lambda_c, alpha0
        self.max_epochs, self.cutmix_prob, self.student_view = max_epochs, cutmix_prob, student_view
        self.teacher_train_bn, self.warmup_teacher_pass = teacher_train_bn, warmup_teacher_pass
        feat_dim = head.repr_head.out_channels if hasattr(head.repr_head, "out_channels") else 256
        cfg = dict(num_classes=self.num_classes, feat_dim=feat_dim, seed=seed, **(contrastive or {}))
        self.contrastive: nn.Module = U2PLContrastiveLoss(**cfg)
        self.generator = torch.Generator().manual_seed(seed)

    def alpha_at(self, iteration: int) -> float:
        """alpha_t (percent) at ``iteration``, stepped per epoch (spec A4)."""
        max_epochs = self.max_epochs or MessageHub.get_current_instance().get_info("max_epochs") or 1
        return adaptive_alpha(self.epoch_of(iteration), int(max_epochs), self.alpha0)

    def compute_losses(self, batch: dict, iteration: int) -> dict[str, Tensor]:
        """All U2PL losses of one step.

        Args:
            batch: Output of :meth:`preprocess_batch` (labeled ``(B_l, 3, H, W)``, unlabeled ``(B_u, 3, H, W)``).
            iteration: 0-based global iteration.

        Returns:
            ``loss_sup``, ``loss_unsup``, ``loss_contra`` (the latter two weighted), ``loss_aux`` (weighted) with
            an auxiliary head, and logs ``acc_seg``, ``alpha_t``, ``unsup_kept``, ``cutmix``.
        """
        unl = batch.get("unlabeled")
        if unl is None or self.is_sup_only(iteration):
            losses = self.supervised_losses(batch)  # warm-up: L_s only (spec A5)
            if self.warmup_teacher_pass:
                self.teacher_bn_pass(batch["labeled"]["inputs"])
            return losses
        x_l, y_l, x_u = batch["labeled"]["inputs"], batch["labeled"]["gt"], unl["inputs"]
        x_s = unl["inputs_strong"] if self.student_view == "strong" and unl["inputs_strong"] is not None else x_u
        n_l, size = x_l.shape[0], x_u.shape[-2:]
        with torch.no_grad():  # 1. pseudo-labels: teacher in eval mode on the weak view
            self.teacher.eval()
            prob = self.teacher._resize(self.teacher.extract_logits_and_repr(x_u)[0], size).softmax(dim=1)
            conf, pseudo = prob.max(dim=1)
        (x_u, x_s, pseudo, conf), mix = random_cutmix(x_u, x_s, pseudo, conf, prob=self.cutmix_prob,
                                                      generator=self.generator)
        # 2. student on [labeled; mixed unlabeled]
        logits_s, rep_s, aux_s = self.student.extract_train_outputs(torch.cat([x_l, x_s]))
        loss_sup = self.student.seg_loss(logits_s[:n_l], y_l)
        aux = {} if aux_s is None else {"loss_aux": self.student.aux_loss(aux_s[:n_l], y_l)}  # labeled part only
        # 3. teacher pass (train-mode BN as the official code) for entropies, probs and keys at stride 4
        with torch.no_grad():
            self.teacher.train(self.teacher_train_bn)
            logits_t, rep_t = self.teacher.extract_logits_and_repr(torch.cat([x_l, x_u]))
            self.teacher.eval()
            prob_t = logits_t.softmax(dim=1)
            entropy = entropy_map(self.teacher._resize(logits_t[n_l:], size).softmax(dim=1))
        alpha = self.alpha_at(iteration)
        loss_u, kept = pseudo_label_loss(self.student._resize(logits_s[n_l:], size), pseudo, entropy, alpha,
                                         self.ignore_index)
        # 4. contrastive loss at stride 4: labeled pixels are all reliable and all unreliable (spec A3)
        valid_u = pseudo != self.ignore_index
        reliable_u, unreliable_u = entropy_masks(entropy, valid_u, alpha)
        h4 = logits_s.shape[-2:]
        labels = torch.cat([_nearest(y_l, h4), _nearest(pseudo, h4)])
        valid_l = labels[:n_l] != self.ignore_index
        reliable = torch.cat([valid_l, _nearest(reliable_u, h4)])
        unreliable = torch.cat([valid_l, _nearest(unreliable_u, h4)])
        is_labeled = torch.arange(labels.shape[0], device=labels.device) < n_l
        loss_c = self.contrastive(rep_s, rep_t, prob_t, labels, reliable, unreliable, is_labeled)
        with torch.no_grad():
            valid = y_l != self.ignore_index
            pred = self.student._resize(logits_s[:n_l], y_l.shape[-2:]).argmax(dim=1)
            acc = (pred[valid] == y_l[valid]).float().mean() * 100 if valid.any() else loss_sup.new_zeros(())
        return {
            "loss_sup": loss_sup, "loss_unsup": self.lambda_u * loss_u, "loss_contra": self.lambda_c * loss_c,
            "acc_seg": acc, "alpha_t": torch.tensor(alpha), "unsup_kept": kept,
            "cutmix": torch.tensor(float(mix is not None)), **aux,
        }
