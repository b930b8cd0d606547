"""DACS self-training for UDA, as DAFormer and FST run it (DACS arXiv 2007.08702; DAFormer arXiv 2111.14887).

Official code: usr922/FST ``mmseg/models/uda/dacs.py`` (DAFormer's ``DACS``; FST's ``fst_d.py`` / ``fst_w.py``
reuse its ``forward_train`` unchanged). One step at iteration ``t`` (:meth:`DACS.train_step_at`)::

    T <- S if t == 0 else EMA(T, S; min(1 - 1/(t+1), alpha))   # parameters only, BEFORE the losses (L205-211)
    L_src = CE(S(x_s), y_s)                                     # mean over all pixels (mmseg 0.16, see below)
    L_fd  = lambda_fd * mean over thing pixels of ||F_S(x_s) - F_ImNet(x_s)||_2     (optional, L157-182)
    p = softmax(T(x_t)); y_hat = argmax p                       # T in train mode, dropout / DropPath off (L256-266)
    q = fraction of pixels with max p >= 0.968; w = q, w[:top] = w[-bottom:] = 0    (L267-279)
    M = ClassMix(y_s); x_m, y_m, w_m = mix(M, (x_s, y_s, 1), (x_t, y_hat, w)); x_m = blur(jitter(x_m))   (L283-296)
    L_mix = mean(w_m * CE(S(x_m), y_m))                         # (L299-305)

:class:`FST` wraps it through :meth:`DACS.compute_losses` (no EMA in there) and runs its own EMA schedule.
Cross-entropy is mmseg 0.16's: per-pixel CE (0 on ignored pixels) times the weight, averaged over *all* pixels
(``losses/cross_entropy_loss.py`` L11-34, ``losses/utils.py`` ``weight_reduce_loss`` L48-77), also for the source
loss. Evaluation uses the student, as ``UDADecorator.inference`` / ``simple_test`` (``uda_decorator.py`` L72-91).
"""

import copy
from collections.abc import Sequence

import torch
from mmengine.optim import OptimWrapper
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.modules.dropout import _DropoutNd

from gen3d.registry import MODELS

from .classmix import COLOR_JITTER_PROBABILITY, COLOR_JITTER_STRENGTH, class_mix_masks, mix, strong_transform
from .teacher_student import TeacherStudentSegmentor

#: ``configs/fst_d/*.py`` and DAFormer ``dacs_a999_fdthings.py``: ``alpha=0.999`` (``_base_/uda/dacs.py``: 0.99).
DACS_EMA_ALPHA = 0.999
#: ``pseudo_threshold=0.968`` (``_base_/uda/dacs.py``; DACS ``trainUDA.py`` L463).
PSEUDO_THRESHOLD = 0.968
#: "Pseudo-label crop" of the FST / DAFormer GTA->CS configs (rows of the 512 x 512 target crop); 0 in the base.
PSWEIGHT_IGNORE_TOP, PSWEIGHT_IGNORE_BOTTOM = 15, 120
#: Thing-class ImageNet feature distance (``dacs_a999_fdthings.py``): lambda, Cityscapes train ids, min ratio.
FD_LAMBDA = 0.005
FD_THING_CLASSES = (6, 7, 11, 12, 13, 14, 15, 16, 17, 18)
FD_SCALE_MIN_RATIO = 0.75


def pseudo_weight_map(
    confidence: Tensor, threshold: float = PSEUDO_THRESHOLD, ignore_top: int = 0, ignore_bottom: int = 0,
    per_image: bool = True,
) -> Tensor:
    """Pixel weights of the pseudo-labels: the confident-pixel fraction ``q``, zero in the ignored rows.

    Args:
        confidence: Teacher max softmax probability ``(B, H, W)``.
        threshold: ``tau``; a pixel is confident when ``confidence >= tau`` (``ge``, ``dacs.py`` L267).
        ignore_top: Rows (pixels of the network input) zeroed at the top.
        ignore_bottom: Rows zeroed at the bottom.
        per_image: One ``q`` per target image, as DAFormer Sec. 3.1 defines ``q_T`` (confident pixels of
            ``x_T`` over ``H * W``). ``False``: one ``q`` for the whole batch, as the official code (L268-269)
            and DACS's ``trainUDA.py`` L463 compute it.

    Returns:
        ``(B, H, W)`` float.
    """
    confident = (confidence >= threshold).float()
    q = confident.mean(dim=(1, 2)) if per_image else confident.mean().expand(confident.shape[0])
    weight = q[:, None, None].expand_as(confident).clone()
    if ignore_top > 0:
        weight[:, :ignore_top] = 0
    if ignore_bottom > 0:
        weight[:, -ignore_bottom:] = 0
    return weight


def downscale_label_ratio(
    label: Tensor, scale: int, min_ratio: float | None, num_classes: int, ignore_index: int = 255
) -> Tensor:
    """Majority label per ``scale x scale`` block, ignored when its share is below ``min_ratio`` (utils.py L18-39).

    Args:
        label: ``(B, H, W)`` long.
        scale: Block side (``>= 1``).
        min_ratio: Minimum share of the majority label (``None``: no minimum).
        num_classes: Number of classes; ``ignore_index`` (and any value outside ``[0, num_classes)``) competes as
            one extra class.
        ignore_index: Label of ignored pixels / blocks.

    Returns:
        ``(B, H // scale, W // scale)`` long.
    """
    lab = label.clone()
    lab[(lab < 0) | (lab >= num_classes)] = num_classes
    onehot = F.one_hot(lab, num_classes + 1).permute(0, 3, 1, 2).float()
    ratio, out = F.avg_pool2d(onehot, kernel_size=scale).max(dim=1)
    out[out == num_classes] = ignore_index
    if min_ratio is not None:
        out[ratio < min_ratio] = ignore_index
    return out


def weighted_cross_entropy(
    logits: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = 255
) -> Tensor:
    """Cross-entropy of mmseg 0.16: ``mean(weight * CE)`` over all pixels (ignored pixels add 0 but count).

    Args:
        logits: ``(B, C, H, W)`` at the label size.
        target: ``(B, H, W)`` long.
        weight: ``(B, H, W)`` or ``None`` (all ones).
        ignore_index: Ignored label.

    Returns:
        Scalar.
    """
    ce = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    return (ce if weight is None else ce * weight.to(ce.dtype)).mean()


@MODELS.register_module()
class DACS(TeacherStudentSegmentor):
    """DACS / DAFormer self-training: source CE + ClassMix-ed pseudo-label CE (+ ImageNet feature distance).

    Args:
        pseudo_threshold: Confidence ``tau`` of the pseudo-weight.
        pseudo_weight_ignore_top: Rows of the target crop whose pseudo-weight is 0 (official GTA->CS: 15).
        pseudo_weight_ignore_bottom: Same at the bottom (official GTA->CS: 120; ego-car hood / rectification).
        pseudo_weight_per_image: See :func:`pseudo_weight_map` (paper: True; official code: False).
        classmix_per_image: See :func:`~gen3d.models.segmentors.classmix.class_mix_masks` (paper: True; DAFormer /
            FST code: False).
        color_jitter_strength: ``s`` of the colour jitter.
        color_jitter_probability: ``p``: the jitter is *skipped* with probability ``p`` (official semantics).
        blur: Gaussian blur with probability 0.5.
        imnet_feature_dist_lambda: Weight of the ImageNet feature distance; 0 (default) disables it and builds no
            frozen copy.
        imnet_feature_dist_classes: Classes whose (downscaled) source pixels enter the distance; ``None``: all.
        imnet_feature_dist_scale_min_ratio: ``min_ratio`` of :func:`downscale_label_ratio`.
        teacher_train_mode: Forward the teacher in train mode (BN batch statistics, its running statistics
            updated) with dropout / DropPath off, as the official code, where the EMA model follows the runner's
            ``train()``; ``False``: eval mode.
        seed: Seed of the ClassMix / augmentation generator.
        ema_momentum: ``alpha`` of ``min(1 - 1/(t+1), alpha)``.
        eval_model: ``'student'`` (official: UDADecorator evaluates the student) or ``'teacher'``.
        **kwargs: Other :class:`TeacherStudentSegmentor` arguments.

    The frozen ImageNet backbone is a copy of the student's backbone taken here, at construction: build the student
    with its ImageNet weights (``pretrained=...``), not through a later ``load_from``.
    """

    def __init__(
        self,
        pseudo_threshold: float = PSEUDO_THRESHOLD,
        pseudo_weight_ignore_top: int = 0,
        pseudo_weight_ignore_bottom: int = 0,
        pseudo_weight_per_image: bool = True,
        classmix_per_image: bool = True,
        color_jitter_strength: float = COLOR_JITTER_STRENGTH,
        color_jitter_probability: float = COLOR_JITTER_PROBABILITY,
        blur: bool = True,
        imnet_feature_dist_lambda: float = 0.0,
        imnet_feature_dist_classes: Sequence[int] | None = None,
        imnet_feature_dist_scale_min_ratio: float | None = None,
        teacher_train_mode: bool = True,
        seed: int = 0,
        ema_momentum: float = DACS_EMA_ALPHA,
        eval_model: str = "student",
        **kwargs,
    ) -> None:
        super().__init__(ema_momentum=ema_momentum, eval_model=eval_model, **kwargs)
        self.pseudo_threshold = float(pseudo_threshold)
        self.psweight_ignore_top, self.psweight_ignore_bottom = int(pseudo_weight_ignore_top), int(
            pseudo_weight_ignore_bottom)
        self.pseudo_weight_per_image, self.classmix_per_image = pseudo_weight_per_image, classmix_per_image
        self.color_jitter_s, self.color_jitter_p, self.blur = color_jitter_strength, color_jitter_probability, blur
        self.fd_lambda = float(imnet_feature_dist_lambda)
        self.fd_classes = None if imnet_feature_dist_classes is None else tuple(imnet_feature_dist_classes)
        self.fd_min_ratio = imnet_feature_dist_scale_min_ratio
        self.teacher_train_mode = teacher_train_mode
        self.generator = torch.Generator().manual_seed(seed)
        self.imnet_backbone: nn.Module | None = None
        if self.fd_lambda > 0:  # dacs.py L75-78 builds a third segmentor; only its backbone is ever used
            self.imnet_backbone = copy.deepcopy(self.student.backbone).requires_grad_(False).eval()

    # ------------------------------------------------------------------ schedule / modes
    def momentum_at(self, iteration: int) -> float:
        """``min(1 - 1/(t+1), alpha)``: 0 at ``t = 0`` (copy), as ``_update_ema`` L97-98 (no warm-up)."""
        return min(1.0 - 1.0 / (iteration + 1), self.ema_momentum)

    def train(self, mode: bool = True) -> "DACS":
        """Switch the student; the teacher and the frozen ImageNet backbone stay in eval mode."""
        super().train(mode)
        if self.imnet_backbone is not None:
            self.imnet_backbone.eval()
        return self

    def train_step_at(self, data: dict, optim_wrapper: OptimWrapper, iteration: int) -> dict[str, Tensor]:
        """One DACS step: EMA *first* (``forward_train`` L205-211), then the losses and the optimiser step."""
        momentum = self.momentum_at(iteration)
        self.ema_update(momentum)  # t = 0: teacher <- student (parameters only, _init_ema_weights L86-95)
        with optim_wrapper.optim_context(self):
            batch = self.preprocess_batch(data, True)
            losses = self.compute_losses(batch, iteration)
        loss, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(loss)
        log_vars["ema_momentum"] = torch.tensor(momentum)
        return log_vars

    # ------------------------------------------------------------------ pieces
    @torch.no_grad()
    def pseudo_label(self, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher argmax and confidence on the target images.

        Args:
            x_t: Normalised target images ``(B, 3, H, W)``.

        Returns:
            ``pseudo (B, H, W) long`` and ``confidence (B, H, W)``.
        """
        self.teacher.train(self.teacher_train_mode)
        from timm.layers import DropPath

        for m in self.teacher.modules():  # L257-261: no dropout / DropPath in the teacher
            if isinstance(m, (_DropoutNd, DropPath)):
                m.training = False
        try:
            logits = self.teacher(x_t, mode="tensor")
        finally:
            self.teacher.eval()
        conf, pseudo = logits.float().softmax(dim=1).max(dim=1)
        return pseudo, conf

    def feature_distance(self, x_s: Tensor, y_s: Tensor, feat: Tensor) -> Tensor:
        """``lambda_fd x`` mean L2 distance between the student's and the frozen ImageNet last backbone features.

        Args:
            x_s: Normalised source images ``(B, 3, H, W)``.
            y_s: Source labels ``(B, H, W)``.
            feat: The student's last backbone feature of ``x_s``, ``(B, D, h, w)`` (with gradient).

        Returns:
            Scalar; 0 (with a graph) when no block is kept. The official code returns NaN there (the mean of an
            empty selection), with zero gradients.
        """
        if self.imnet_backbone is None:
            raise RuntimeError("feature_distance needs imnet_feature_dist_lambda > 0")
        with torch.no_grad():
            self.imnet_backbone.eval()
            feat_imnet = self.imnet_backbone(x_s)[-1].detach()
        dist = torch.norm(feat - feat_imnet, p=2, dim=1)  # (B, h, w)
        if self.fd_classes is not None:
            scale = y_s.shape[-1] // feat.shape[-1]  # width ratio (L166)
            down = downscale_label_ratio(y_s, scale, self.fd_min_ratio, self.num_classes, self.ignore_index)
            if down.shape[-2:] != dist.shape[-2:]:  # input not a multiple of the stride (the official code fails)
                down = F.interpolate(down[:, None].float(), size=dist.shape[-2:], mode="nearest")[:, 0].long()
            keep = torch.isin(down, torch.tensor(self.fd_classes, device=down.device))
            dist = dist[keep]
        if dist.numel() == 0:
            return feat.sum() * 0.0
        return self.fd_lambda * dist.mean()

    def _student_losses(self, x: Tensor, target: Tensor, weight: Tensor | None) -> tuple[dict[str, Tensor], Tensor]:
        """Weighted CE of the student (plus its auxiliary head, as mmseg's ``forward_train``); last feature."""
        feats = self.student.extract_feat(x)
        logits = self.student._resize(self.student.decode_head(feats), target.shape[-2:])
        out = {"loss": weighted_cross_entropy(logits, target, weight, self.ignore_index)}
        if self.student.auxiliary_head is not None:
            aux = self.student._resize(self.student.auxiliary_head(feats), target.shape[-2:])
            out["aux"] = self.student.auxiliary_head.loss_weight * weighted_cross_entropy(
                aux, target, weight, self.ignore_index)
        with torch.no_grad():
            valid = target != self.ignore_index
            pred = logits.argmax(dim=1)
            out["acc"] = (pred[valid] == target[valid]).float().mean() * 100 if valid.any() else logits.new_zeros(())
        return out, feats[-1]

    # ------------------------------------------------------------------ losses
    def compute_losses(self, batch: dict, iteration: int) -> dict[str, Tensor]:
        """Source CE, optional feature distance and the ClassMix pseudo-label loss (the batch is not modified).

        Args:
            batch: Output of :meth:`preprocess_batch`: ``labeled`` = source ``{inputs (B, 3, H, W), gt (B, H, W)}``,
                ``unlabeled`` = target ``{inputs (B, 3, H, W)}`` (``inputs_strong`` is not used: DACS augments
                the mixed image itself).
            iteration: 0-based iteration (unused: DACS has no warm-up).

        Returns:
            ``loss_src``, ``loss_mix``, ``loss_fd`` (with ``imnet_feature_dist_lambda > 0``), ``loss_aux`` /
            ``loss_mix_aux`` (with an auxiliary head), and logs ``acc_seg`` (source), ``mix_acc_seg``,
            ``pseudo_weight`` (mean ``q``), ``mix_src_frac`` (fraction of mixed pixels from the source).
        """
        x_s, y_s = batch["labeled"]["inputs"], batch["labeled"]["gt"]
        src, feat = self._student_losses(x_s, y_s, None)
        losses = {"loss_src": src["loss"], "acc_seg": src["acc"]}
        if "aux" in src:
            losses["loss_aux"] = src["aux"]
        if self.imnet_backbone is not None:
            losses["loss_fd"] = self.feature_distance(x_s, y_s, feat)
        tgt = batch.get("unlabeled")
        if tgt is None:
            return losses
        x_t = tgt["inputs"]
        if x_t.shape != x_s.shape:
            raise ValueError(f"DACS mixes source and target pairwise: shapes {tuple(x_s.shape)} vs {tuple(x_t.shape)}")
        pseudo, conf = self.pseudo_label(x_t)
        weight = pseudo_weight_map(conf, self.pseudo_threshold, self.psweight_ignore_top, self.psweight_ignore_bottom,
                                   self.pseudo_weight_per_image)
        mask = class_mix_masks(y_s, self.generator, per_image=self.classmix_per_image)
        x_m = mix(mask, x_s, x_t)
        y_m = mix(mask, y_s, pseudo)
        w_m = mix(mask, torch.ones_like(weight), weight)  # source pixels weigh 1 (gt_pixel_weight, L280)
        mean, std = self._norm_stats(x_m)
        x_m, _ = strong_transform(x_m, mean, std, self.generator, self.color_jitter_s, self.color_jitter_p, self.blur)
        mixed, _ = self._student_losses(x_m, y_m, w_m)
        losses["loss_mix"] = mixed["loss"]
        if "aux" in mixed:
            losses["loss_mix_aux"] = mixed["aux"]
        losses.update(mix_acc_seg=mixed["acc"], pseudo_weight=(conf >= self.pseudo_threshold).float().mean(),
                      mix_src_frac=mask.float().mean())
        return losses

    def _norm_stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """The data preprocessor's mean / std ``(3,)`` on the 0-255 scale (0 / 1 when it does not normalise)."""
        pre = self.data_preprocessor
        if getattr(pre, "_enable_normalize", False):
            return pre.mean.reshape(-1).to(like), pre.std.reshape(-1).to(like)
        return like.new_zeros(3), like.new_ones(3)
