"""UniAD's reconstruction transformer (arXiv 2206.03687, Sec. 3).

You et al., "A Unified Model for Multi-class Anomaly Detection", NeurIPS 2022.

Tokens (one per grid cell of the aligned backbone features) go through ``input_proj`` -> 4 post-norm encoder
layers -> 4 layer-wise query decoder layers -> final LayerNorm -> ``output_proj``, and the module returns the
reconstructed features. Neighbour-masked attention is used in the encoder and in both decoder attentions;
the mask is a non-persistent buffer, so the forward pass holds no device calls and no data-dependent branches.
During training only, the input tokens get *feature jitter* (Sec. 3.4); the reconstruction target stays clean.

Parameter names mirror the official code (``input_proj``, ``output_proj``, ``pos_embed.{row,col}_embed``);
its ``transformer.encoder.layers.N`` / ``transformer.decoder.layers.N`` / ``transformer.decoder.norm`` map onto
``encoder.N`` / ``decoder.N`` / ``decoder_norm`` here.
"""

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from gen3d.registry import MODELS

from .neighbor_mask import neighbor_mask, neighbor_size_for_grid
from .position_embedding import LearnedPositionEmbedding2d
from .uniad_transformer import (
    DIM_FEEDFORWARD,
    DROPOUT,
    HIDDEN_DIM,
    NUM_HEADS,
    UniADDecoderLayer,
    UniADEncoderLayer,
)

# UniAD Sec. 4.1 / official MVTec config.
NUM_ENCODER_LAYERS = 4
NUM_DECODER_LAYERS = 4
JITTER_SCALE = 20.0  # `feature_jitter.scale` (Sec. 3.4: alpha)
JITTER_PROB = 1.0  # `feature_jitter.prob` (Sec. 3.4: p)
MASK_ATTENTIONS = (True, True, True)  # `neighbor_mask.mask`: [encoder, decoder attn-1, decoder attn-2]


def _as_pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


@MODELS.register_module()
class UniADReconstruction(nn.Module):
    """Neighbour-masked encoder + layer-wise query decoder that reconstructs aligned features.

    Args:
        in_channels: Channels of the aligned features (272 for EfficientNet-B4, 192 for Lite0).
        grid_size: Token grid ``(H, W)`` (14x14 at 224 px and stride 16).
        hidden_dim: Transformer width.
        num_heads: Attention heads.
        num_encoder_layers: Encoder depth.
        num_decoder_layers: Decoder depth.
        dim_feedforward: FFN hidden channels.
        dropout: Dropout of the transformer layers.
        neighbor_size: Masked window ``k`` or ``(kh, kw)``; ``None`` scales the paper's 7 at 14x14 with the grid
            (:func:`~gen3d.models.anomaly.neighbor_mask.neighbor_size_for_grid`); ``0`` disables the mask.
        mask_attentions: Whether the mask applies to (encoder, decoder attn-1, decoder attn-2).
        jitter_scale: Feature-jitter scale alpha; ``0`` disables jitter.
        jitter_prob: Probability that a training batch is jittered.
        attention_impl: ``'explicit'`` (default) or ``'sdpa'``: the fused ``F.scaled_dot_product_attention``
            wherever the attention-weight dropout is inactive (eval; training only with ``attention_dropout=0``).
        attention_dropout: Dropout on the attention weights; ``None`` uses ``dropout`` (the paper). ``0`` is
            *not* the paper's recipe; it lets ``'sdpa'`` run in training too.
        compile: ``torch.compile`` the encoder/decoder stack (mode default) on the first forward; same
            parameters and state dict, numerics equal up to fused-kernel rounding, a different dropout stream.
    """

    def __init__(
        self,
        in_channels: int = 272,
        grid_size: int | Sequence[int] = (14, 14),
        hidden_dim: int = HIDDEN_DIM,
        num_heads: int = NUM_HEADS,
        num_encoder_layers: int = NUM_ENCODER_LAYERS,
        num_decoder_layers: int = NUM_DECODER_LAYERS,
        dim_feedforward: int = DIM_FEEDFORWARD,
        dropout: float = DROPOUT,
        neighbor_size: int | Sequence[int] | None = None,
        mask_attentions: Sequence[bool] = MASK_ATTENTIONS,
        jitter_scale: float = JITTER_SCALE,
        jitter_prob: float = JITTER_PROB,
        attention_impl: str = "explicit",
        attention_dropout: float | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.grid_size = _as_pair(grid_size)
        h, w = self.grid_size
        if neighbor_size is None:
            neighbor_size = (neighbor_size_for_grid(h), neighbor_size_for_grid(w))
        self.neighbor_size = _as_pair(neighbor_size)
        self.mask_attentions = tuple(bool(m) for m in mask_attentions) if self.neighbor_size != (0, 0) else (False,) * 3
        self.jitter_scale = float(jitter_scale)
        self.jitter_prob = float(jitter_prob)
        self.compile = bool(compile)

        self.input_proj = nn.Linear(in_channels, hidden_dim)
        self.output_proj = nn.Linear(hidden_dim, in_channels)
        self.pos_embed = LearnedPositionEmbedding2d(self.grid_size, hidden_dim // 2)
        # The official code deep-copies one layer N times (identical initial attention in-projections and query
        # tables), then re-initialises every Linear with xavier; the same is done here.
        attn = dict(attention_impl=attention_impl, attention_dropout=attention_dropout)
        encoder_layer = UniADEncoderLayer(hidden_dim, num_heads, dim_feedforward, dropout, **attn)
        decoder_layer = UniADDecoderLayer(h * w, hidden_dim, num_heads, dim_feedforward, dropout, **attn)
        self.encoder = nn.ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_encoder_layers))
        self.decoder = nn.ModuleList(copy.deepcopy(decoder_layer) for _ in range(num_decoder_layers))
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        if any(self.mask_attentions):
            self.register_buffer("attn_mask", neighbor_mask(self.grid_size, self.neighbor_size), persistent=False)
        else:
            self.attn_mask = None
        self.init_weights()

    def init_weights(self) -> None:
        """Xavier-uniform weights and zero biases on every Linear (official ``initializer: xavier_uniform``)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def add_jitter(self, tokens: Tensor) -> Tensor:
        """Feature jitter: ``f + N(0, 1) * (||f||_2 / C) * scale`` per token, applied with probability ``p``.

        Args:
            tokens: ``(L, B, C)`` input tokens (before ``input_proj``).

        Returns:
            Jittered tokens, same shape.
        """
        scale = tokens.norm(dim=-1, keepdim=True) / tokens.shape[-1] * self.jitter_scale  # (L, B, 1)
        noise = torch.randn_like(tokens) * scale
        if self.jitter_prob < 1.0:  # one draw per batch, as the official code; no Python branch on it
            noise = noise * (torch.rand((), device=tokens.device) < self.jitter_prob).to(tokens.dtype)
        return tokens + noise

    def forward(self, features: Tensor) -> Tensor:
        """Reconstruct features.

        Args:
            features: Aligned features ``(B, C, H, W)`` with ``C = in_channels`` and ``(H, W) = grid_size``.

        Returns:
            Reconstructed features ``(B, C, H, W)``.
        """
        b, c, h, w = features.shape
        if not torch.jit.is_tracing() and (c, h, w) != (self.in_channels, *self.grid_size):
            raise ValueError(f"expected (B, {self.in_channels}, {self.grid_size}), got {tuple(features.shape)}")
        tokens = features.flatten(2).permute(2, 0, 1)  # (L, B, C)
        if self.training and self.jitter_scale > 0:
            tokens = self.add_jitter(tokens)
        tokens = self.input_proj(tokens)  # (L, B, D)
        pos = self.pos_embed()[:, None, :]  # (L, 1, D)
        compiled = self.compile and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
        run = _compiled_layers() if compiled else UniADReconstruction._layers
        out = self.output_proj(run(self, tokens, pos))  # (L, B, C)
        return out.permute(1, 2, 0).reshape(b, c, h, w)

    def _layers(self, tokens: Tensor, pos: Tensor) -> Tensor:
        """Encoder, decoder and the final norm: ``(L, B, D)`` tokens and ``(L, 1, D)`` pos -> ``(L, B, D)``."""
        enc_mask, dec_mask1, dec_mask2 = (self.attn_mask if m else None for m in self.mask_attentions)
        memory = tokens
        for layer in self.encoder:
            memory = layer(memory, pos, enc_mask)
        out = memory
        for layer in self.decoder:
            out = layer(out, memory, pos, dec_mask1, dec_mask2)
        return self.decoder_norm(out)


_COMPILED: list = []


def _compiled_layers() -> Callable[[UniADReconstruction, Tensor, Tensor], Tensor]:
    """``torch.compile`` of :meth:`UniADReconstruction._layers`, built once.

    A module-level function rather than an attribute, so that a deep copy of the model does not call into the
    original's compiled graph; dynamo guards on the instance passed in.
    """
    if not _COMPILED:
        _COMPILED.append(torch.compile(UniADReconstruction._layers))
    return _COMPILED[0]
