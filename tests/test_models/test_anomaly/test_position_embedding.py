import torch

from gen3d.models.anomaly import LearnedPositionEmbedding2d
from gen3d.registry import MODELS


def test_shape_layout_and_init():
    pos = MODELS.build(dict(type="LearnedPositionEmbedding2d", grid_size=(3, 5), num_feats=4))
    out = pos()
    assert out.shape == (15, 8)
    grid = out.reshape(3, 5, 8)
    # First half: column embedding (same along a column); second half: row embedding (same along a row).
    torch.testing.assert_close(grid[0, :, :4], pos.col_embed.weight)
    torch.testing.assert_close(grid[:, 0, 4:], pos.row_embed.weight)
    assert torch.equal(grid[1, 2, :4], grid[2, 2, :4]) and torch.equal(grid[1, 2, 4:], grid[1, 4, 4:])
    assert bool((pos.row_embed.weight >= 0).all() and (pos.row_embed.weight < 1).all())


def test_gradients_reach_both_tables():
    pos = LearnedPositionEmbedding2d((2, 3), 2)
    pos().sum().backward()
    assert pos.row_embed.weight.grad.abs().sum() > 0 and pos.col_embed.weight.grad.abs().sum() > 0
