"""U2PL losses (arXiv 2203.03884; official code ``u2pl/utils/loss_helper.py``, ``train_semi.py``).

Wang et al., "Semi-Supervised Semantic Segmentation Using Unreliable Pseudo-Labels", CVPR'22.

* :func:`adaptive_alpha` - ``alpha_t = alpha_0 (1 - epoch / E)`` (Sec. 3.3, Eq. 7), stepped per epoch.
* :func:`entropy_masks` / :func:`pseudo_label_loss` - L_u: cross-entropy on the pixels whose entropy is below the
  ``100 - alpha_t`` percentile (Sec. 3.2, Eq. 3).
* :class:`U2PLContrastiveLoss` - L_c: InfoNCE of low-entropy anchors against a class prototype and negatives drawn
  from per-class FIFO memory queues (Sec. 3.3, Eq. 4-6, "Negative candidates" and "Memory bank").

Deviations of the official code that are fixed here, following the paper (spec A11):

1. ``label_onehot`` fills only batch slot 0 (index shape mismatch); we use :func:`torch.nn.functional.one_hot`.
2. Labeled negatives require ``label == c`` in the code (so they are always empty, issue #171); the paper (Sec. 3.3,
   "Negative candidates") wants ``label != c`` and ``O(c) <= r_l``, which is what we do.
3. The code indexes anchors by the position ``i`` in the list of valid classes instead of the class itself
   (issue #111); we take the anchors of class ``c`` for class ``c``.
4. Paper (Sec. 4.1): ``lambda_c = 0.1``, M = 50 anchors and N = 256 negatives per class; the code uses
   ``lambda_c = 1``, 256 anchors and 50 negatives. Paper values are the defaults; every knob is exposed.
"""

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS

IGNORE_INDEX = 255
#: Sec. 3.3 Eq. 7: initial unreliable proportion alpha_0 = 20 %.
ALPHA_0 = 20.0
#: Sec. 4.1: temperature of the contrastive loss.
TEMPERATURE = 0.5
#: Sec. 3.3: anchors need a teacher probability of their class above delta_p = 0.3.
DELTA_P = 0.3
#: Sec. 3.3: negatives need p(c) < delta_n = 1 (a no-op kept for completeness).
DELTA_N = 1.0
#: Sec. 3.3 "Negative candidates": rank bounds r_l = 3, r_h = 20.
LOW_RANK, HIGH_RANK = 3, 20
#: Sec. 4.1: M = 50 anchors and N = 256 negatives per class (the code uses 256 and 50, see deviation 4).
NUM_QUERIES, NUM_NEGATIVES = 50, 256
#: Memory queue lengths (code: 30 000 per class, 50 000 for class 0 = background).
QUEUE_SIZE, QUEUE_SIZE_BG = 30_000, 50_000


def adaptive_alpha(epoch: int, max_epochs: int, alpha0: float = ALPHA_0) -> float:
    """``alpha_t = alpha_0 * (1 - epoch / max_epochs)`` in percent (Sec. 3.3 Eq. 7)."""
    return float(alpha0) * (1.0 - float(epoch) / max(float(max_epochs), 1.0))


def entropy_map(prob: Tensor) -> Tensor:
    """Per-pixel entropy ``-sum_c p log p``.

    Args:
        prob: Probabilities ``(B, C, H, W)``.

    Returns:
        ``(B, H, W)``.
    """
    return -(prob * torch.log(prob.clamp_min(1e-10))).sum(dim=1)


def _percentile(values: Tensor, q: float) -> Tensor:
    """``numpy.percentile`` (linear interpolation) of a 1-D tensor; nearest rank above torch.quantile's limit."""
    if values.numel() < 16_000_000:
        return torch.quantile(values, min(max(q, 0.0), 100.0) / 100.0)
    k = min(max(int(round(q / 100.0 * (values.numel() - 1))) + 1, 1), values.numel())
    return values.kthvalue(k).values


def entropy_masks(entropy: Tensor, valid: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    """Reliable / unreliable split by entropy percentiles over the valid pixels of the batch.

    Reliable: ``H <= pct(H, alpha)`` (anchors, positives); unreliable: ``H >= pct(H, 100 - alpha)`` (negatives; also
    the pixels dropped from L_u).

    Args:
        entropy: ``(B, H, W)``.
        valid: ``(B, H, W)`` bool, pixels with a (pseudo-)label.
        alpha: Percentage ``alpha_t`` in ``[0, 100]``.

    Returns:
        ``reliable (B, H, W) bool``, ``unreliable (B, H, W) bool`` (both False outside ``valid``).
    """
    values = entropy[valid].float()
    if values.numel() == 0:
        empty = torch.zeros_like(valid)
        return empty, empty
    low, high = _percentile(values, alpha), _percentile(values, 100.0 - alpha)
    return valid & (entropy <= low), valid & (entropy >= high)


def pseudo_label_loss(
    logits: Tensor, pseudo: Tensor, entropy: Tensor, alpha: float, ignore_index: int = IGNORE_INDEX
) -> tuple[Tensor, Tensor]:
    """L_u: cross-entropy on reliable pseudo-labels (Sec. 3.2 Eq. 3; code ``compute_unsupervised_loss``).

    Pixels with ``H >= pct(H[valid], 100 - alpha)`` are ignored; the mean CE over the kept pixels is rescaled by
    ``B * H * W / #kept`` as in the official code.

    Args:
        logits: Student logits ``(B, C, H, W)`` at the label size.
        pseudo: Pseudo-labels ``(B, H, W)`` long (``ignore_index`` = none).
        entropy: Teacher entropy ``(B, H, W)``.
        alpha: ``alpha_t`` in percent.
        ignore_index: Ignored label.

    Returns:
        ``loss`` scalar and the kept fraction of the valid pixels (no gradient).
    """
    valid = pseudo != ignore_index
    _, unreliable = entropy_masks(entropy, valid, alpha)
    target = pseudo.masked_fill(unreliable, ignore_index) if alpha > 0 else pseudo
    kept = (target != ignore_index).sum()
    if kept == 0:
        return logits.sum() * 0.0, logits.new_zeros(())
    weight = target.numel() / kept.float()
    loss = weight * F.cross_entropy(logits, target, ignore_index=ignore_index)
    return loss, (kept.float() / valid.sum().clamp_min(1)).detach()


def _all_gather_rows(x: Tensor) -> Tensor:
    """Concatenate ``(N_r, D)`` rows from every rank (variable ``N_r``); identity without DDP."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    max_n = int(max(s.item() for s in sizes))
    padded = x.new_zeros((max_n, x.shape[1]))
    padded[: x.shape[0]] = x
    gathered = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded)
    return torch.cat([g[: int(n.item())] for g, n in zip(gathered, sizes)])


@MODELS.register_module()
class U2PLContrastiveLoss(nn.Module):
    """L_c with per-class FIFO memory queues (Sec. 3.3), following the paper where the code deviates.

    The queues are registered buffers ``queue_<c>`` of shape ``(n_c, D)`` (``n_c <= queue size``), so they are saved
    in checkpoints; they grow as negatives arrive and are resized when a checkpoint is loaded. They are declared
    rank-synchronised (``rank_synced_buffers``): filled from all-gathered keys, they are the same on every rank.

    Args:
        num_classes: Number of classes C.
        feat_dim: Representation dimension D (U2PL 256).
        queue_size: FIFO length per class.
        queue_size_bg: FIFO length of class 0 (background).
        num_queries: Anchors sampled per class (with replacement).
        num_negatives: Negatives sampled per anchor from the class queue (with replacement).
        temperature: InfoNCE temperature tau.
        delta_p: Anchor probability threshold.
        delta_n: Negative probability threshold (``p(c) < delta_n``).
        low_rank: r_l.
        high_rank: r_h.
        seed: Seed of the sampling generator.
    """

    def __init__(
        self, num_classes: int, feat_dim: int = 256, queue_size: int = QUEUE_SIZE, queue_size_bg: int = QUEUE_SIZE_BG,
        num_queries: int = NUM_QUERIES, num_negatives: int = NUM_NEGATIVES, temperature: float = TEMPERATURE,
        delta_p: float = DELTA_P, delta_n: float = DELTA_N, low_rank: int = LOW_RANK, high_rank: int = HIGH_RANK,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_classes, self.feat_dim = num_classes, feat_dim
        self.queue_sizes = [queue_size_bg if c == 0 else queue_size for c in range(num_classes)]
        self.num_queries, self.num_negatives, self.temperature = num_queries, num_negatives, temperature
        self.delta_p, self.delta_n, self.low_rank, self.high_rank = delta_p, delta_n, low_rank, high_rank
        self.generator = torch.Generator().manual_seed(seed)
        for c in range(num_classes):
            self.register_buffer(f"queue_{c}", torch.zeros(0, feat_dim))
        # Every rank pushes the same all-gathered keys in rank order (enqueue), so the queues are identical on all
        # ranks by construction: GradSyncDataParallel need not broadcast them (gen3d.engine.model_wrappers
        # RANK_SYNCED_ATTR; its check_synced_interval verifies it).
        self.rank_synced_buffers = frozenset(f"queue_{c}" for c in range(num_classes))

    def queue(self, c: int) -> Tensor:
        """Queue of class ``c``: ``(n_c, D)``, newest first."""
        return getattr(self, f"queue_{c}")

    @torch.no_grad()
    def enqueue(self, c: int, keys: Tensor) -> None:
        """Push ``keys (N, D)`` (all-gathered under DDP) at the front of queue ``c`` and keep the newest ``n_c``."""
        keys = _all_gather_rows(keys.detach().to(self.queue(c).dtype))
        setattr(self, f"queue_{c}", torch.cat([keys, self.queue(c).to(keys.device)])[: self.queue_sizes[c]])

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        for c in range(self.num_classes):
            key = f"{prefix}queue_{c}"
            if key in state_dict:
                setattr(self, f"queue_{c}", torch.empty_like(state_dict[key], device=self.queue(c).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def negative_masks(self, prob: Tensor, label: Tensor, unreliable: Tensor, is_labeled: Tensor) -> Tensor:
        """Negative candidates per class (Sec. 3.3 "Negative candidates", deviation 2 fixed).

        Labeled pixels: ``y != c`` and ``O(c) <= r_l``; unlabeled pixels: unreliable and ``r_l < O(c) <= r_h``;
        both with ``p(c) < delta_n``. ``O(c)`` is the 1-based rank of ``c`` in the descending teacher probabilities.

        Args:
            prob: Teacher probabilities ``(B, C, h, w)``.
            label: Labels / pseudo-labels ``(B, h, w)`` long (255 = ignore).
            unreliable: ``(B, h, w)`` bool, used for unlabeled images.
            is_labeled: ``(B,)`` bool.

        Returns:
            ``(B, C, h, w)`` bool.
        """
        rank = prob.argsort(dim=1, descending=True).argsort(dim=1) + 1  # O(c), 1-based
        valid = (label != IGNORE_INDEX).unsqueeze(1)
        onehot = F.one_hot(label.clamp(max=self.num_classes - 1), self.num_classes).permute(0, 3, 1, 2).bool()
        lab = valid & ~onehot & (rank <= self.low_rank)
        unl = unreliable.unsqueeze(1) & (rank > self.low_rank) & (rank <= self.high_rank)
        sel = torch.where(is_labeled.view(-1, 1, 1, 1), lab, unl)
        return sel & (prob < self.delta_n)

    def forward(
        self, rep_student: Tensor, rep_teacher: Tensor, prob: Tensor, label: Tensor, reliable: Tensor,
        unreliable: Tensor, is_labeled: Tensor,
    ) -> Tensor:
        """Update the queues with this batch's negatives and return L_c.

        Args:
            rep_student: Student representations ``(B, D, h, w)`` (anchors).
            rep_teacher: Teacher representations ``(B, D, h, w)`` (positives, negatives).
            prob: Teacher probabilities ``(B, C, h, w)``.
            label: Ground truth (labeled) / pseudo-labels (unlabeled) ``(B, h, w)`` long, 255 = ignore.
            reliable: ``(B, h, w)`` bool (labeled: valid; unlabeled: low entropy).
            unreliable: ``(B, h, w)`` bool (labeled: valid; unlabeled: high entropy).
            is_labeled: ``(B,)`` bool.

        Returns:
            Scalar loss: the per-class InfoNCE summed and divided by the number of classes with reliable pixels,
            as the official code does (0 with a gradient when at most one class has reliable pixels or no class
            has anchors and negatives).
        """
        b, d, h, w = rep_student.shape
        if rep_teacher.shape != rep_student.shape or prob.shape[-2:] != (h, w) or label.shape != (b, h, w):
            raise ValueError(f"shape mismatch: rep {tuple(rep_student.shape)}, prob {tuple(prob.shape)}, "
                             f"label {tuple(label.shape)}")
        anchors_all = rep_student.permute(0, 2, 3, 1).reshape(-1, d)
        keys_all = rep_teacher.detach().permute(0, 2, 3, 1).reshape(-1, d)
        prob_flat = prob.detach().permute(0, 2, 3, 1).reshape(-1, prob.shape[1])
        label_flat, rel_flat = label.reshape(-1), reliable.reshape(-1)
        negatives = self.negative_masks(prob.detach(), label, unreliable, is_labeled).permute(0, 2, 3, 1)
        negatives = negatives.reshape(-1, self.num_classes)
        losses, num_valid = [], 0
        for c in range(self.num_classes):
            self.enqueue(c, keys_all[negatives[:, c]])
            pos_mask = (label_flat == c) & rel_flat
            num_valid += int(bool(pos_mask.any()))
            anchor_mask = pos_mask & (prob_flat[:, c] > self.delta_p)  # deviation 3: anchors of class c itself
            queue = self.queue(c)
            if not anchor_mask.any() or queue.shape[0] == 0:
                continue
            positive = keys_all[pos_mask].mean(dim=0, keepdim=True)  # (1, D)
            anchors = anchors_all[anchor_mask]
            idx = torch.randint(anchors.shape[0], (self.num_queries,), generator=self.generator)
            anchors = anchors[idx.to(anchors.device)]  # (M, D)
            nidx = torch.randint(queue.shape[0], (self.num_queries * self.num_negatives,), generator=self.generator)
            negs = queue[nidx.to(queue.device)].to(anchors).view(self.num_queries, self.num_negatives, d)
            keys = torch.cat([positive.to(anchors).expand(self.num_queries, 1, d), negs], dim=1)  # (M, 1 + N, D)
            logits = F.cosine_similarity(anchors.unsqueeze(1), keys, dim=2) / self.temperature
            target = torch.zeros(self.num_queries, dtype=torch.long, device=logits.device)
            losses.append(F.cross_entropy(logits, target))
        # loss_helper.compute_contra_memobank_loss: 0 when the batch has at most one class with reliable pixels,
        # otherwise the sum over the classes that had anchors and negatives divided by the number of classes with
        # reliable pixels (a class skipped for lack of anchors or of queued negatives still counts).
        if num_valid <= 1 or not losses:
            return rep_student.sum() * 0.0
        return torch.stack(losses).sum() / num_valid
