"""Neighbour masks for UniAD's neighbour-masked attention (UniAD, arXiv 2206.03687, Sec. 3.3).

A token must reconstruct itself without looking at its own k x k neighbourhood (itself included), so that the
transformer cannot learn an identity shortcut. The mask is additive: ``-inf`` on the window, ``0`` elsewhere.
"""

import math

import torch
from torch import Tensor

# UniAD Sec. 4.1 / official MVTec config: 7x7 neighbourhood on the 14x14 token grid of a 224 px input.
PAPER_GRID_SIZE = 14
PAPER_NEIGHBOR_SIZE = 7


def neighbor_size_for_grid(grid: int) -> int:
    """Scale the paper's 7x7 neighbourhood to another token grid, keeping the window odd.

    The half-width (3 at a 14-token side) is scaled proportionally and rounded half-up:
    ``k = 2 * floor(3 * grid / 14 + 0.5) + 1``, i.e. 14 -> 7, 16 -> 7, 28 -> 13, 7 -> 5, 4 -> 3.
    ADer's port uses ``size // 32`` (8 at 256 px); with UniAD's mask code an even size ``n`` covers ``n // 2`` tokens
    on each side, so ADer's 8 is in effect a 9x9 window. An explicit odd size is preferred here so that the
    value written in a config is the window really masked. The result is clipped so that every token keeps at
    least one visible token (otherwise softmax over an all ``-inf`` row gives NaN).

    Args:
        grid: Number of tokens along one side of the grid.

    Returns:
        Odd neighbourhood size along that side.
    """
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    half = math.floor((PAPER_NEIGHBOR_SIZE // 2) * grid / PAPER_GRID_SIZE + 0.5)
    # The centre token of a side of length g is covered entirely once half >= ceil((g - 1) / 2).
    half = min(half, max(math.ceil((grid - 1) / 2) - 1, 0))
    return 2 * half + 1


def neighbor_mask(grid_size: tuple[int, int], neighbor_size: tuple[int, int]) -> Tensor:
    """Additive attention mask that hides each token's neighbourhood, clipped at the grid border.

    Token ``(i, j)`` (flattened row-major as ``i * W + j``) cannot attend to tokens ``(i2, j2)`` with
    ``|i - i2| <= kh // 2`` and ``|j - j2| <= kw // 2``; near the border the window is simply cut, as in UniAD.

    Args:
        grid_size: Token grid ``(H, W)``.
        neighbor_size: Window ``(kh, kw)``; even sizes behave like ``size + 1`` (UniAD's convention).

    Returns:
        Float mask of shape ``(H*W, H*W)``, ``-inf`` where attention is forbidden and ``0`` elsewhere.

    Raises:
        ValueError: If some token would be left with no visible token at all.
    """
    h, w = grid_size
    kh, kw = neighbor_size
    rows = torch.arange(h)
    cols = torch.arange(w)
    near_rows = (rows[:, None] - rows[None, :]).abs() <= kh // 2  # (H, H)
    near_cols = (cols[:, None] - cols[None, :]).abs() <= kw // 2  # (W, W)
    hidden = (near_rows[:, None, :, None] & near_cols[None, :, None, :]).reshape(h * w, h * w)
    if bool(hidden.all(dim=1).any()):
        raise ValueError(f"neighbor_size {neighbor_size} hides every token of a {grid_size} grid for some query")
    return torch.zeros(h * w, h * w).masked_fill(hidden, float("-inf"))
