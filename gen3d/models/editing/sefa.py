"""SeFa: closed-form factorization of latent semantics (Shen & Zhou, CVPR'21, arXiv 2007.06600, Sec. 3.2).

The style affine ``A_l: w -> s_l`` of each selected synthesis layer is stacked along the output dimension into
``A (sum_l C_l, d)``; the directions are the eigenvectors of ``A^T A`` by descending eigenvalue (Eq. 5-6). As the
official ``utils.py:factorize_weight`` (genforce/sefa@0d16060), layer ``l`` is the conv reading ``ws[:, l]``
(``layer{l}``), except the last index ``num_ws - 1``, which only the final ToRGB reads (``output{l // 2}``), and
every row of ``A`` (a column of the official ``weight.T``) is normalised to unit norm before the product.

Where the weights live here: :class:`~gen3d.models.gans.stylegan2.modulated_conv.ModulatedConv2d` and
:class:`~gen3d.models.gans.stylegan2.modulated_conv.ToRGB` each hold ``affine``, an
:class:`~gen3d.models.layers.equalized.EqualLinear` whose stored ``weight`` is scaled at run time by
``weight_gain = lr_multiplier / sqrt(w_dim)`` (equalised learning rate); a ToRGB further scales its styles by its own
``weight_gain = 1 / sqrt(C_in)``. :func:`style_weights` returns these effective matrices. The gains are one scalar
per layer, so with the official row normalisation they cancel; they matter with ``normalize_rows=False``.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gen3d.models.gans.stylegan2.modulated_conv import ToRGB


def style_modules(generator: nn.Module) -> list[nn.Module]:
    """The modules whose style affine reads ``ws[:, l]``, one per ``l`` (the official SeFa layer mapping).

    Args:
        generator: A :class:`~gen3d.models.gans.stylegan2.StyleGAN2Generator` (or its ``synthesis``).

    Returns:
        ``num_ws`` modules: the convs ``0 .. num_ws - 2`` in order, then the last block's ToRGB.
    """
    synthesis = getattr(generator, "synthesis", generator)
    convs = []
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f"b{res}")
        convs += [block.conv0] if hasattr(block, "conv0") else []
        convs.append(block.conv1)
    last = getattr(synthesis, f"b{synthesis.block_resolutions[-1]}")
    modules = convs + [last.torgb]
    if len(modules) != synthesis.num_ws:
        raise ValueError(f"found {len(modules)} style layers for num_ws={synthesis.num_ws}; unsupported layout")
    return modules


def _parse_layers(layers: Sequence[int] | None, num_ws: int) -> list[int]:
    if layers is None:
        return list(range(num_ws))
    out = []
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < num_ws:
            raise ValueError(f"layers must be ints in [0, {num_ws}), got {list(layers)!r}")
        out.append(int(layer))
    if not out or len(set(out)) != len(out):
        raise ValueError(f"layers must be non-empty and without repeats, got {list(layers)!r}")
    return out


def style_weights(generator: nn.Module, layers: Sequence[int] | None = None) -> list[Tensor]:
    """Effective style affine matrices of the selected layers.

    Args:
        generator: A StyleGAN2 generator.
        layers: Indices into ``ws`` (``0 .. num_ws - 1``); None: all.

    Returns:
        One ``(C_l, w_dim)`` float64 tensor per layer: the matrix mapping ``w`` to the style ``s_l`` (the bias
        aside), equalised-learning-rate gain (and the ToRGB style gain) applied.
    """
    modules = style_modules(generator)
    out = []
    for idx in _parse_layers(layers, len(modules)):
        module = modules[idx]
        affine = module.affine
        if affine.width_mask is None:  # float64 of the equalised weight: stored weight * lr_mult / sqrt(w_dim)
            weight = affine.weight.detach().double().cpu() * affine.weight_gain
        else:
            weight = affine.effective_weight().detach().double().cpu()
        if isinstance(module, ToRGB):  # styles = affine(w) * weight_gain
            weight = weight * module.weight_gain
        out.append(weight)
    return out


def sefa_directions(generator: nn.Module, layers: Sequence[int] | None = None,
                    normalize_rows: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form SeFa directions.

    Args:
        generator: A StyleGAN2 generator.
        layers: Indices into ``ws`` whose affines are factorised; None: all (official ``--layer_idx all``).
        normalize_rows: Normalise each output unit's weight row to unit norm first (official).

    Returns:
        ``eigenvalues (w_dim,)`` descending and ``directions (w_dim, w_dim)``: row ``k`` the unit-norm
        eigenvector of ``A^T A`` for the ``k``-th eigenvalue (sign: largest-magnitude entry positive).
    """
    a = torch.cat(style_weights(generator, layers), dim=0).numpy()
    return sefa_from_matrix(a, normalize_rows)


def sefa_from_matrix(a: np.ndarray, normalize_rows: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of ``A^T A`` for a stacked affine matrix.

    Args:
        a: ``(sum_l C_l, d)``.
        normalize_rows: Normalise each row to unit norm first.

    Returns:
        ``eigenvalues (d,)`` descending and ``directions (d, d)`` (rows).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or not np.isfinite(a).all():
        raise ValueError(f"a must be a finite 2-D matrix, got shape {a.shape}")
    if normalize_rows:
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.finfo(np.float64).tiny)
    values, vectors = np.linalg.eigh(a.T @ a)
    order = np.argsort(-values, kind="stable")
    vectors = vectors[:, order].T
    idx = np.abs(vectors).argmax(axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), idx])
    return values[order], vectors * np.where(signs == 0, 1.0, signs)[:, None]
