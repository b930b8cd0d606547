"""Post-norm transformer layers of UniAD (arXiv 2206.03687, Sec. 3.3), sequence-first ``(L, B, C)``.

The encoder layer is a DETR-style post-norm layer with the position embedding added to queries and keys only.
The decoder layer implements the *layer-wise query decoder*: each layer owns a learnable query table; its first
attention reads the encoder memory, its second reads the previous decoder output (the memory for layer 1).
Both use an additive float ``attn_mask`` (the neighbour mask), never a boolean or causal one, which keeps the
ONNX graph a plain ``Add`` before ``Softmax``. Attention and dropout come from :mod:`.attention`
(``nn.MultiheadAttention``-compatible parameters; a dropout that is about 3x cheaper on CPU). ``attention_impl``
and ``attention_dropout`` are speed options (see :class:`~.attention.MaskedMultiheadAttention`); their defaults
are the paper's layer.

Sub-module names (``self_attn``, ``multihead_attn``, ``linear1/2``, ``norm1..3``, ``learned_embed``) follow the
official code so that its checkpoints map onto these layers by renaming prefixes only.
"""

from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS

from .attention import FastDropout, MaskedMultiheadAttention

# UniAD Sec. 4.1 / official MVTec config (`net[2].kwargs`).
HIDDEN_DIM = 256
NUM_HEADS = 8
DIM_FEEDFORWARD = 1024
DROPOUT = 0.1


@MODELS.register_module()
class UniADEncoderLayer(nn.Module):
    """Post-norm encoder layer: masked self-attention (pos on q, k) -> add & norm -> ReLU FFN -> add & norm.

    Args:
        hidden_dim: Token channels.
        num_heads: Attention heads.
        dim_feedforward: FFN hidden channels.
        dropout: Dropout on attention weights, on both residual branches and inside the FFN.
        attention_impl: ``'explicit'`` or ``'sdpa'`` (:class:`~.attention.MaskedMultiheadAttention`).
        attention_dropout: Dropout on the attention weights; ``None`` uses ``dropout`` (the paper).
    """

    def __init__(
        self,
        hidden_dim: int = HIDDEN_DIM,
        num_heads: int = NUM_HEADS,
        dim_feedforward: int = DIM_FEEDFORWARD,
        dropout: float = DROPOUT,
        attention_impl: str = "explicit",
        attention_dropout: float | None = None,
    ) -> None:
        super().__init__()
        attn_p = dropout if attention_dropout is None else attention_dropout
        self.self_attn = MaskedMultiheadAttention(hidden_dim, num_heads, attn_p, attention_impl)
        self.linear1 = nn.Linear(hidden_dim, dim_feedforward)
        self.dropout = FastDropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, hidden_dim)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.dropout1 = FastDropout(dropout)
        self.dropout2 = FastDropout(dropout)

    def forward(self, src: Tensor, pos: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """Run the layer.

        Args:
            src: Tokens ``(L, B, C)``.
            pos: Position embedding ``(L, 1, C)`` or ``(L, B, C)``, added to queries and keys.
            attn_mask: Additive float mask ``(L, L)`` or ``None``.

        Returns:
            ``(L, B, C)``.
        """
        qk = src + pos
        attn = self.self_attn(qk, qk, src, attn_mask=attn_mask)
        src = self.norm1(src + self.dropout1(attn))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(ffn))


@MODELS.register_module()
class UniADDecoderLayer(nn.Module):
    """Post-norm decoder layer with its own learnable queries (UniAD's layer-wise query decoder).

    ``q0`` = this layer's query table. attn-1: q = q0 + pos, k = memory + pos, v = memory;
    attn-2: q = (result) + pos, k = prev + pos, v = prev, where ``prev`` is the previous decoder layer's output
    (the encoder memory for the first layer); then a ReLU FFN. Each block is followed by add & LayerNorm.

    Args:
        num_queries: Number of tokens ``H*W`` of the grid.
        hidden_dim: Token channels.
        num_heads: Attention heads.
        dim_feedforward: FFN hidden channels.
        dropout: Dropout on attention weights, residual branches and inside the FFN.
        attention_impl: ``'explicit'`` or ``'sdpa'`` (:class:`~.attention.MaskedMultiheadAttention`).
        attention_dropout: Dropout on the attention weights; ``None`` uses ``dropout`` (the paper).
    """

    def __init__(
        self,
        num_queries: int = 196,
        hidden_dim: int = HIDDEN_DIM,
        num_heads: int = NUM_HEADS,
        dim_feedforward: int = DIM_FEEDFORWARD,
        dropout: float = DROPOUT,
        attention_impl: str = "explicit",
        attention_dropout: float | None = None,
    ) -> None:
        super().__init__()
        attn_p = dropout if attention_dropout is None else attention_dropout
        self.learned_embed = nn.Embedding(num_queries, hidden_dim)
        self.self_attn = MaskedMultiheadAttention(hidden_dim, num_heads, attn_p, attention_impl)
        self.multihead_attn = MaskedMultiheadAttention(hidden_dim, num_heads, attn_p, attention_impl)
        self.linear1 = nn.Linear(hidden_dim, dim_feedforward)
        self.dropout = FastDropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, hidden_dim)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.norm3 = nn.LayerNorm(hidden_dim)
        self.dropout1 = FastDropout(dropout)
        self.dropout2 = FastDropout(dropout)
        self.dropout3 = FastDropout(dropout)

    def forward(
        self,
        prev: Tensor,
        memory: Tensor,
        pos: Tensor,
        memory_mask: Tensor | None = None,
        prev_mask: Tensor | None = None,
    ) -> Tensor:
        """Run the layer.

        Args:
            prev: Previous decoder output ``(L, B, C)`` (the encoder memory for the first layer).
            memory: Encoder output ``(L, B, C)``.
            pos: Position embedding ``(L, 1, C)`` or ``(L, B, C)``.
            memory_mask: Additive mask ``(L, L)`` of attn-1 (UniAD's ``tgt_mask``) or ``None``.
            prev_mask: Additive mask ``(L, L)`` of attn-2 (UniAD's ``memory_mask``) or ``None``.

        Returns:
            ``(L, B, C)``.
        """
        query = self.learned_embed.weight[:, None, :].expand(-1, memory.shape[1], -1)  # (L, B, C)
        attn = self.self_attn(query + pos, memory + pos, memory, attn_mask=memory_mask)
        tgt = self.norm1(query + self.dropout1(attn))
        attn = self.multihead_attn(tgt + pos, prev + pos, prev, attn_mask=prev_mask)
        tgt = self.norm2(tgt + self.dropout2(attn))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(ffn))
