"""An inference-only, algebraically folded copy of UniAD's reconstruction transformer, for export.

:class:`~gen3d.models.anomaly.uniad_reconstruction.UniADReconstruction` computes, per attention,
``q = (x + pos) W_q + b_q``, ``k = (y + pos) W_k + b_k``, ``v = y W_v + b_v`` (UniAD Sec. 3.3, DETR-style
position embedding on queries and keys only). At inference every term that does not depend on the image is a
constant, so it is computed once here, in float64, and stored:

* ``pos W_q``, ``pos W_k`` become per-token biases; the ``1/sqrt(d)`` scale is folded into ``W_q`` and ``b_q``;
* the encoder's q/k/v projections share their input and become one ``(C, 3C)`` MatMul;
* the first decoder attention's query is ``learned_embed + pos``: its projection is a constant tensor;
* every projection of the encoder memory (keys and values of all four decoder attn-1, and of the first
  decoder's attn-2, whose ``prev`` is the memory) becomes one ``(C, 10C)`` MatMul (4 + 4 layers);
* the other decoder layers' attn-2 keys and values share one ``(C, 2C)`` MatMul each.

The weight MatMuls of the graph go from 66 to 42 and the position-embedding Adds disappear; the result equals
the training module up to float rounding (tested). Tokens are batch-first ``(B, L, C)``; heads ``(B, H, L, d)``.
Dropout and feature jitter are training-only and absent here.

The attention stays dense on purpose: UniAD's neighbour mask *hides* each token's own 7x7 window and lets it see
everything else (Sec. 3.3; the official ``generate_mask`` sets the window to ``-inf``), so 80.7 % of the 196x196
scores are needed (147-180 keys per query on the 14x14 grid). A windowed or banded form could skip at most the
masked 19 %: an exact gather of each query's visible keys ran 27x slower than the dense masked product in ONNX
Runtime (12 attentions, batch 1, 2 threads), and attending to the window alone would compute another model.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from gen3d.models.anomaly.uniad_reconstruction import UniADReconstruction


def _split_in_proj(attn: nn.Module) -> tuple[Tensor, ...]:
    """``(W_q, W_k, W_v, b_q, b_k, b_v)`` of a :class:`MaskedMultiheadAttention` in float64, ``W`` as ``(C, C)``."""
    w = attn.in_proj_weight.detach().double()
    b = attn.in_proj_bias.detach().double()
    return (*w.chunk(3), *b.chunk(3))


def _const(t: Tensor) -> nn.Parameter:
    """A frozen float32 parameter (parameters, not buffers: the ONNX exporter keeps them as initializers).

    Per-token tables are stored ``(1, L, N)``: a 2-D ``(L, N)`` bias after a batch-1 MatMul gets fused into a
    ``Gemm`` whose 2-D ``C`` ONNX Runtime's quantiser cannot handle (it expects a 1-D bias).
    """
    return nn.Parameter(t.float().contiguous(), requires_grad=False)


class OrtMultiHeadAttention(torch.autograd.Function):
    """Softmax attention that exports as ONNX Runtime's ``com.microsoft.MultiHeadAttention`` (CPU and CUDA).

    One fused kernel instead of ``MatMul -> Add(mask) -> Softmax -> MatMul`` and the head transposes: on the
    12 attentions of UniAD the mask ``Add`` and ``Softmax`` over ``(B, 8, 196, 196)`` alone took about a fifth of
    the int8 graph's time. ONNX Runtime only: TensorRT and other runtimes do not know the op, so TensorRT deploy
    configs keep the plain graph.
    """

    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, num_heads: int) -> Tensor:  # noqa: ARG004
        """``q, k, v (B, L, C)`` (q pre-scaled), additive ``bias (1, 1, L, L)`` -> ``(B, L, C)``."""
        heads = [t.reshape(t.shape[0], t.shape[1], num_heads, -1).transpose(1, 2) for t in (q, k, v)]
        attn = (torch.matmul(heads[0], heads[1].transpose(-1, -2)) + bias).softmax(dim=-1)
        out = torch.matmul(attn, heads[2]).transpose(1, 2)
        return out.reshape(q.shape)

    @staticmethod
    def symbolic(g, q, k, v, bias, num_heads: int):  # noqa: ANN001, ANN205 - torch.onnx graph-context API
        """ONNX Runtime contrib op; inputs 3 (packed bias) and 4 (key padding mask) are omitted."""
        none = g.op("prim::Constant")
        none.setType(torch._C.OptionalType.ofTensor())
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, none, none, bias, num_heads_i=num_heads,
                   scale_f=1.0)
        out.setType(q.type())
        return out


class _FoldedAttentionOut(nn.Module):
    """Softmax attention on already projected ``(B, L, C)`` queries, keys and values, then the output projection.

    Args:
        attn: The trained attention (heads and ``out_proj`` are taken from it).
        ort_contrib: Export the attention core as :class:`OrtMultiHeadAttention` (ONNX Runtime graphs only).
        const_query: The query is one constant ``(1, L, C)`` table for the whole batch (decoder attn-1).
    """

    def __init__(self, attn: nn.Module, ort_contrib: bool = False, const_query: bool = False) -> None:
        super().__init__()
        self.num_heads, self.head_dim = attn.num_heads, attn.head_dim
        self.ort_contrib, self.const_query = ort_contrib, const_query
        self.out_proj = nn.Linear(attn.embed_dim, attn.embed_dim)
        self.out_proj.load_state_dict(attn.out_proj.state_dict())

    def heads(self, x: Tensor) -> Tensor:
        """``(B|1, L, C) -> (B|1, H, L, d)``."""
        return x.reshape(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """``q (B|1, L, C)`` (already scaled), ``k, v (B, L, C)``, additive ``mask (L, L)`` -> ``(B, L, C)``."""
        if self.ort_contrib and torch.onnx.is_in_onnx_export():
            bias = torch.zeros(1, 1, q.shape[1], k.shape[1]) if mask is None else mask[None, None]
            if self.const_query:  # the contrib op takes no broadcast query
                q = q.expand(k.shape[0], q.shape[1], q.shape[2])
            out = OrtMultiHeadAttention.apply(q, k, v, bias, self.num_heads)
            return self.out_proj(out)
        scores = torch.matmul(self.heads(q), self.heads(k).transpose(-1, -2))  # (B, H, L, L)
        if mask is not None:
            scores = scores + mask
        out = torch.matmul(scores.softmax(dim=-1), self.heads(v)).transpose(1, 2)  # (B, L, H, d)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], self.num_heads * self.head_dim))


class FusedUniADReconstruction(nn.Module):
    """Inference copy of a trained :class:`UniADReconstruction` with the constant terms folded in.

    Args:
        src: The trained module (not modified). Its mask (``attn_mask``) is copied as it is; pass an
            :func:`~gen3d.deploy.anomaly_wrapper.export_copy` to get the finite export mask.
        ort_attention: In ONNX export, write each attention core as ONNX Runtime's ``MultiHeadAttention``
            contrib op (:class:`OrtMultiHeadAttention`); eager forwards are unchanged.
    """

    def __init__(self, src: UniADReconstruction, ort_attention: bool = False) -> None:
        super().__init__()
        self.in_channels, self.grid_size = src.in_channels, src.grid_size
        dim = src.input_proj.out_features
        self.input_proj = nn.Linear(src.in_channels, dim)
        self.input_proj.load_state_dict(src.input_proj.state_dict())
        self.output_proj = nn.Linear(dim, src.in_channels)
        self.output_proj.load_state_dict(src.output_proj.state_dict())
        self.decoder_norm = nn.LayerNorm(dim)
        self.decoder_norm.load_state_dict(src.decoder_norm.state_dict())
        mask = getattr(src, "attn_mask", None)
        masks = [mask.detach().clone() if (m and mask is not None) else None for m in src.mask_attentions]
        for name, m in zip(("enc_mask", "dec_mask1", "dec_mask2"), masks):
            self.register_buffer(name, m, persistent=False)
        with torch.no_grad():
            pos = src.pos_embed().detach().double()  # (L, C)
            self._fold(src, pos, ort_attention)

    def _fold(self, src: UniADReconstruction, pos: Tensor, ort_attention: bool) -> None:
        scale = 1.0 / math.sqrt(src.encoder[0].self_attn.head_dim)
        self.enc_qkv_weight, self.enc_qkv_bias = nn.ParameterList(), nn.ParameterList()
        self.enc_attn, self.enc_norm1, self.enc_ffn, self.enc_norm2 = (nn.ModuleList() for _ in range(4))
        for layer in src.encoder:
            wq, wk, wv, bq, bk, bv = _split_in_proj(layer.self_attn)
            self.enc_qkv_weight.append(_const(torch.cat([wq * scale, wk, wv]).t()))  # (C, 3C)
            self.enc_qkv_bias.append(_const(torch.cat([(pos @ wq.t() + bq) * scale, pos @ wk.t() + bk,
                                                       bv.expand_as(pos)], dim=-1)[None]))  # (1, L, 3C)
            self.enc_attn.append(_FoldedAttentionOut(layer.self_attn, ort_attention))
            self.enc_norm1.append(_copy(layer.norm1))
            self.enc_ffn.append(nn.Sequential(_copy(layer.linear1), nn.ReLU(), _copy(layer.linear2)))
            self.enc_norm2.append(_copy(layer.norm2))
        mem_w, mem_b, first_kv2 = [], [], []
        self.dec_q1, self.dec_q2_weight, self.dec_q2_bias = (nn.ParameterList() for _ in range(3))
        self.dec_kv2_weight, self.dec_kv2_bias, self.dec_query = (nn.ParameterList() for _ in range(3))
        self.dec_attn1, self.dec_attn2, self.dec_norm1, self.dec_norm2, self.dec_ffn, self.dec_norm3 = (
            nn.ModuleList() for _ in range(6))
        for i, layer in enumerate(src.decoder):
            wq, wk, wv, bq, bk, bv = _split_in_proj(layer.self_attn)
            query = layer.learned_embed.weight.detach().double()  # (L, C)
            self.dec_query.append(_const(query[None]))  # (1, L, C)
            q1 = ((query + pos) @ wq.t() + bq) * scale  # (L, C), a constant
            self.dec_q1.append(_const(q1[None]))  # (1, L, C)
            mem_w += [wk, wv]
            mem_b += [pos @ wk.t() + bk, bv.expand_as(pos)]
            wq, wk, wv, bq, bk, bv = _split_in_proj(layer.multihead_attn)
            self.dec_q2_weight.append(_const((wq * scale).t()))
            self.dec_q2_bias.append(_const(((pos @ wq.t() + bq) * scale)[None]))  # (1, L, C)
            kv_w, kv_b = torch.cat([wk, wv]).t(), torch.cat([pos @ wk.t() + bk, bv.expand_as(pos)], dim=-1)
            if i == 0:  # prev is the encoder memory: joins the memory MatMul (its last two chunks)
                first_kv2 = [(wk, pos @ wk.t() + bk), (wv, bv.expand_as(pos))]
            self.dec_kv2_weight.append(_const(kv_w))
            self.dec_kv2_bias.append(_const(kv_b[None]))  # (1, L, 2C)
            self.dec_attn1.append(_FoldedAttentionOut(layer.self_attn, ort_attention, const_query=True))
            self.dec_attn2.append(_FoldedAttentionOut(layer.multihead_attn, ort_attention))
            for name in ("norm1", "norm2", "norm3"):
                getattr(self, f"dec_{name}").append(_copy(getattr(layer, name)))
            self.dec_ffn.append(nn.Sequential(_copy(layer.linear1), nn.ReLU(), _copy(layer.linear2)))
        mem_w += [w for w, _ in first_kv2]
        mem_b += [b for _, b in first_kv2]
        self.mem_weight = _const(torch.cat(mem_w).t())  # (C, (2 * decoder layers + 2) C)
        self.mem_bias = _const(torch.cat(mem_b, dim=-1)[None])  # (1, L, (2 * decoder layers + 2) C)

    def forward(self, features: Tensor) -> Tensor:
        """Reconstruct features ``(B, C, H, W)`` -> ``(B, C, H, W)`` (same contract as the training module)."""
        b, c, h, w = features.shape
        x = self.input_proj(features.flatten(2).transpose(1, 2))  # (B, L, D)
        dim = x.shape[-1]
        for i, attn in enumerate(self.enc_attn):
            q, k, v = (x @ self.enc_qkv_weight[i] + self.enc_qkv_bias[i]).split(dim, -1)
            x = self.enc_norm1[i](x + attn(q, k, v, self.enc_mask))
            x = self.enc_norm2[i](x + self.enc_ffn[i](x))
        mem_kv = (x @ self.mem_weight + self.mem_bias).split(dim, -1)  # (2 * decoder layers + 2) x (B, L, D)
        prev = x
        for i, attn1 in enumerate(self.dec_attn1):
            attn2 = self.dec_attn2[i]
            attn = attn1(self.dec_q1[i], mem_kv[2 * i], mem_kv[2 * i + 1], self.dec_mask1)
            tgt = self.dec_norm1[i](self.dec_query[i] + attn)
            q2 = tgt @ self.dec_q2_weight[i] + self.dec_q2_bias[i]
            if i == 0:
                k2, v2 = mem_kv[-2], mem_kv[-1]
            else:
                k2, v2 = (prev @ self.dec_kv2_weight[i] + self.dec_kv2_bias[i]).split(dim, -1)
            tgt = self.dec_norm2[i](tgt + attn2(q2, k2, v2, self.dec_mask2))
            prev = self.dec_norm3[i](tgt + self.dec_ffn[i](tgt))
        out = self.output_proj(self.decoder_norm(prev))  # (B, L, C)
        return out.transpose(1, 2).reshape(b, c, h, w)


def _copy(module: nn.Module) -> nn.Module:
    """A detached deep copy (LayerNorm / Linear of the source)."""
    return copy.deepcopy(module)


def fuse_uniad(model: nn.Module, ort_attention: bool = False) -> nn.Module:
    """Replace ``model.reconstruction`` (in place) by its :class:`FusedUniADReconstruction`; other models pass.

    Args:
        model: A UniAD in eval mode (e.g. an :func:`~gen3d.deploy.anomaly_wrapper.export_copy`).
        ort_attention: See :class:`FusedUniADReconstruction`.

    Returns:
        ``model``.
    """
    rec = getattr(model, "reconstruction", None)
    if isinstance(rec, UniADReconstruction):
        model.reconstruction = FusedUniADReconstruction(rec, ort_attention).eval()
    return model
