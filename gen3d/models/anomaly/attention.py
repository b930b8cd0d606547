"""Multi-head attention with an additive float mask, and a faster dropout for CPU training.

:class:`MaskedMultiheadAttention` computes what ``nn.MultiheadAttention`` computes for sequence-first inputs and a
float ``attn_mask`` (same parameter names and init, so state dicts are interchangeable), written as plain
``linear -> baddbmm(mask) -> softmax -> dropout -> bmm -> linear``: the ONNX graph is a handful of MatMul/Add/
Softmax nodes, and there is none of the ``isneginf``/``all``/``where`` bookkeeping of the SDPA math path on CPU.

:func:`fast_dropout` draws the Bernoulli(1 - p) keep-mask from 16-bit uniform integers, four per 64-bit random
draw, compared with a threshold: one random word per four elements instead of one (or two) per element. The drop
probability is ``p`` rounded to a multiple of 2^-16 (0.1 -> 0.1000061, a bias 30x smaller than the standard
deviation of the dropped fraction of one 196x196x64 attention map) and the inverted-dropout scale uses that
probability, so the expectation is ``x`` exactly. On CPU (2 threads, 64 x 196 x 196 elements) the mask took 2.8 ms
against 11.5 ms for the previous standard-normal threshold mask, 12.7 ms for ``bernoulli_`` on a bool tensor and
15.7 ms for ``F.dropout``'s float ``bernoulli_``. UniAD's attention maps (B*8 x 196 x 196 per attention, 12
attentions) make dropout a sizeable part of a CPU training step. The mask is a different random stream from
``nn.Dropout``'s (same distribution up to the rounding above); ``p`` too small or too close to 1 for 16 bits uses
``F.dropout``. The threshold is computed once per ``p`` outside the traced graph, so ``torch.compile`` traces the
dropout without a graph break.

``impl='sdpa'`` runs ``F.scaled_dot_product_attention`` (its fused CPU kernel takes the float mask, fp32 and bf16)
whenever the attention-weight dropout is inactive (eval, or ``dropout=0``); the fused CPU kernels of torch 2.x do
not support dropout, so a training step with ``dropout > 0`` keeps the explicit path and the same numerics.
"""

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS

ATTENTION_IMPLS = ("explicit", "sdpa")
"""Values of :class:`MaskedMultiheadAttention`'s ``impl``."""

_LANE_BITS = 16
"""Bits of uniform integer per mask element (four lanes per ``int64`` draw)."""

_THRESHOLDS: dict[float, tuple[int, float] | None] = {}


def _drop_threshold(p: float) -> tuple[int, float] | None:
    """``(threshold, scale)`` of the 16-bit keep test for drop probability ``p``, cached per ``p``.

    An ``int16`` lane ``u`` (uniform over [-2^15, 2^15)) keeps its element when ``u >= threshold``; ``scale`` is
    ``1 / (1 - p16)`` with ``p16 = round(p * 2^16) / 2^16``, the probability actually drawn. ``None`` where ``p16``
    would be 0 or 1 (``p`` under 2^-17 from either end): :func:`fast_dropout` uses ``F.dropout`` there. The modules
    fill the cache when they are built, so under ``torch.compile`` the lookup is a dict hit that traces as a
    constant. (Not ``torch.compiler.assume_constant_result``: decorating at import time imports ``torch._dynamo``,
    ~2 s in every process that imports gen3d.models.)
    """
    if p not in _THRESHOLDS:
        dropped = round(p * 2**_LANE_BITS)
        if 0 < dropped < 2**_LANE_BITS:
            _THRESHOLDS[p] = (-(2 ** (_LANE_BITS - 1)) + dropped, 2**_LANE_BITS / (2**_LANE_BITS - dropped))
        else:
            _THRESHOLDS[p] = None
    return _THRESHOLDS[p]


def fast_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout with a 16-bit keep-mask (the distribution of ``F.dropout`` up to ``p``'s rounding).

    Args:
        x: Any tensor.
        p: Drop probability in [0, 1).
        training: Identity when ``False``.

    Returns:
        Tensor shaped like ``x``.
    """
    if not training or p == 0.0:
        return x
    if not 0.0 < p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    test = _drop_threshold(p)
    if test is None:
        return F.dropout(x, p, training=True)
    threshold, scale = test
    n = x.numel()
    # Four independent 16-bit lanes per 64-bit word: randint over the full int64 range ([-2^63, 2^63 - 1) leaves
    # out one value of 2^64, which no lane can notice).
    words = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), device=x.device, dtype=torch.int64)
    keep = words.view(torch.int16)[:n].view(x.shape) >= threshold
    return x * keep.to(x.dtype).mul_(scale)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with :func:`fast_dropout`."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__(p, inplace)
        if 0.0 < p < 1.0:
            _drop_threshold(p)  # fill the cache outside any traced graph

    def forward(self, x: Tensor) -> Tensor:
        """Apply dropout in training mode; identity in eval mode."""
        return fast_dropout(x, self.p, self.training)


@MODELS.register_module()
class MaskedMultiheadAttention(nn.Module):
    """Sequence-first multi-head attention with an optional additive float mask.

    Parameters (``in_proj_weight``, ``in_proj_bias``, ``out_proj``) and their init match
    ``nn.MultiheadAttention(embed_dim, num_heads, dropout)``.

    Args:
        embed_dim: Model width ``C``.
        num_heads: Heads; ``C`` must be divisible by it.
        dropout: Dropout on the attention weights (training only).
        impl: ``'explicit'`` (``baddbmm -> softmax -> bmm``) or ``'sdpa'`` (``F.scaled_dot_product_attention``
            where the weight dropout is inactive, else the explicit path).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, impl: str = "explicit") -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
        self.impl = impl
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        if 0.0 < dropout < 1.0:
            _drop_threshold(dropout)  # fill the cache outside any traced graph
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Init as ``nn.MultiheadAttention``: xavier-uniform in-projection, zero biases."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor) -> Tensor:
        """``(L, B, C) -> (B*H, L, d)``."""
        length, batch = x.shape[0], x.shape[1]
        return x.reshape(length, batch * self.num_heads, self.head_dim).transpose(0, 1)

    def _heads4(self, x: Tensor) -> Tensor:
        """``(L, B, C) -> (B, H, L, d)``."""
        return x.reshape(x.shape[0], x.shape[1], self.num_heads, self.head_dim).permute(1, 2, 0, 3)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """Attend.

        Args:
            query: ``(Lq, B, C)``.
            key: ``(Lk, B, C)``.
            value: ``(Lk, B, C)``.
            attn_mask: Additive float mask ``(Lq, Lk)`` (``-inf`` = forbidden) or ``None``.

        Returns:
            ``(Lq, B, C)``.
        """
        length, batch = query.shape[0], query.shape[1]
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        if self.impl == "sdpa" and not (self.training and self.dropout > 0):
            q, k, v = (self._heads4(F.linear(t, w, b)) for t, w, b in ((query, w_q, b_q), (key, w_k, b_k),
                                                                        (value, w_v, b_v)))
            mask = None if attn_mask is None else attn_mask.to(q.dtype)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, Lq, d)
            return self.out_proj(out.permute(2, 0, 1, 3).reshape(length, batch, self.embed_dim))
        q = self._heads(F.linear(query, w_q, b_q)) * (1.0 / math.sqrt(self.head_dim))
        k = self._heads(F.linear(key, w_k, b_k))
        v = self._heads(F.linear(value, w_v, b_v))
        if attn_mask is None:
            scores = torch.bmm(q, k.transpose(1, 2))
        else:
            scores = torch.baddbmm(attn_mask.to(q.dtype), q, k.transpose(1, 2))  # (B*H, Lq, Lk)
        attn = fast_dropout(scores.softmax(dim=-1), self.dropout, self.training)
        out = torch.bmm(attn, v).transpose(0, 1).reshape(length, batch, self.embed_dim)
        return self.out_proj(out)
