"""gen3d.models.layers: shared blocks (neighbour-masked attention layers, position embeddings)."""

from .attention import FastDropout, MaskedMultiheadAttention, fast_dropout
from .neighbor_mask import neighbor_mask, neighbor_size_for_grid
from .position_embedding import LearnedPositionEmbedding2d
from .uniad_transformer import UniADDecoderLayer, UniADEncoderLayer

__all__ = [
    "FastDropout",
    "MaskedMultiheadAttention",
    "fast_dropout",
    "LearnedPositionEmbedding2d",
    "UniADDecoderLayer",
    "UniADEncoderLayer",
    "neighbor_mask",
    "neighbor_size_for_grid",
]
