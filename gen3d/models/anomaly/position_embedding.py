"""Learned 2-D position embedding of UniAD (arXiv 2206.03687, Sec. 3.3; official ``pos_embed_type: learned``)."""

import torch
from torch import Tensor, nn

from gen3d.registry import MODELS


@MODELS.register_module()
class LearnedPositionEmbedding2d(nn.Module):
    """Row and column tables, each ``nn.Embedding(n, num_feats)`` with uniform init, concatenated per token.

    The channel order is ``[column embedding, row embedding]`` as in the official code, so that weights ported
    from it keep their meaning. The output is a pure function of the weights (no ``arange`` on a device), which
    keeps the exported graph free of index computations.

    Args:
        grid_size: Token grid ``(H, W)``.
        num_feats: Channels per table; the embedding has ``2 * num_feats`` channels (256 in the paper).
    """

    def __init__(self, grid_size: tuple[int, int] = (14, 14), num_feats: int = 128) -> None:
        super().__init__()
        self.grid_size = (int(grid_size[0]), int(grid_size[1]))
        self.num_feats = num_feats
        self.row_embed = nn.Embedding(self.grid_size[0], num_feats)
        self.col_embed = nn.Embedding(self.grid_size[1], num_feats)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform init on [0, 1), as the official code does."""
        nn.init.uniform_(self.row_embed.weight)
        nn.init.uniform_(self.col_embed.weight)

    def forward(self) -> Tensor:
        """Build the embedding.

        Returns:
            ``(H*W, 2 * num_feats)``, row-major over the grid.
        """
        h, w = self.grid_size
        cols = self.col_embed.weight[None, :, :].expand(h, w, self.num_feats)
        rows = self.row_embed.weight[:, None, :].expand(h, w, self.num_feats)
        return torch.cat([cols, rows], dim=-1).reshape(h * w, 2 * self.num_feats)
