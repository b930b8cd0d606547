import pytest
import torch

from gen3d.models.anomaly import MaskedMultiheadAttention, neighbor_mask, neighbor_size_for_grid


def _hidden(mask: torch.Tensor, h: int, w: int, i: int, j: int) -> set[tuple[int, int]]:
    row = mask[i * w + j].reshape(h, w)
    return {(int(a), int(b)) for a, b in torch.nonzero(torch.isinf(row))}


def test_values_are_zero_or_minus_inf():
    mask = neighbor_mask((14, 14), (7, 7))
    assert mask.shape == (196, 196) and mask.dtype == torch.float32
    assert bool(((mask == 0) | (mask == float("-inf"))).all())
    assert torch.equal(mask, mask.T)


def test_interior_token_hides_its_full_window():
    mask = neighbor_mask((14, 14), (7, 7))
    assert _hidden(mask, 14, 14, 7, 6) == {(a, b) for a in range(4, 11) for b in range(3, 10)}


def test_window_is_clipped_at_borders():
    mask = neighbor_mask((14, 14), (7, 7))
    assert _hidden(mask, 14, 14, 0, 0) == {(a, b) for a in range(4) for b in range(4)}
    assert _hidden(mask, 14, 14, 13, 5) == {(a, b) for a in range(10, 14) for b in range(2, 9)}


def test_rectangular_grid_and_window():
    mask = neighbor_mask((3, 5), (1, 3))
    assert mask.shape == (15, 15)
    assert _hidden(mask, 3, 5, 1, 4) == {(1, 3), (1, 4)}


def test_fully_hidden_rows_are_rejected():
    with pytest.raises(ValueError):
        neighbor_mask((3, 3), (3, 3))


@pytest.mark.parametrize(("grid", "size"), [(14, 7), (16, 7), (28, 13), (7, 5), (4, 3), (3, 1), (2, 1), (1, 1)])
def test_neighbor_size_scales_with_grid(grid, size):
    assert neighbor_size_for_grid(grid) == size
    if grid > 1:
        neighbor_mask((grid, grid), (size, size))  # never leaves a token without anything to attend to


def test_token_cannot_attend_to_its_neighbourhood():
    torch.manual_seed(0)
    h, w, c = 5, 6, 8
    mask = neighbor_mask((h, w), (3, 3))
    attn = MaskedMultiheadAttention(c, 2).eval()
    query = torch.randn(h * w, 2, c)
    kv = torch.randn(h * w, 2, c, requires_grad=True)
    out = attn(query, kv, kv, attn_mask=mask)
    i, j = 2, 3
    out[i * w + j].sum().backward()
    grad = kv.grad.abs().sum(dim=(1, 2)).reshape(h, w)
    hidden = _hidden(mask, h, w, i, j)
    assert hidden == {(a, b) for a in range(1, 4) for b in range(2, 5)}
    for a in range(h):
        for b in range(w):
            assert (grad[a, b] == 0) == ((a, b) in hidden), (a, b)
