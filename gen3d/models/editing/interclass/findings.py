"""InterClassGAN's findings (arXiv 2203.11173, abstract and Sec. 4) as numbers on a :class:`ChannelAwareness`.

* "Only a subset of channels is aware of a class": :func:`aware_fraction`, the fraction of channels with
  ``A[y, l, k] >= threshold`` (default 1.5: the class drives the channel at least 1.5x its mean over classes; our
  rule, the paper gives none), per class, over all layers and per layer.
* "Similar classes share channels": :func:`overlap_matrix`, ``(Y, Y)``:
  ``'jaccard'`` of the per-layer top ``top_frac`` aware channels (pooled over layers), or ``'correlation'``, Pearson
  of ``log A`` over all channels. With the specificity normalisation the rows of ``log A`` are pushed apart (they
  average to ~0 per channel), so the correlation is compared between pairs, not against 0.
* :func:`pair_summary`: mean overlap of the similar pairs vs the pairs with a dissimilar class.
* "The remaining channels barely affect the generation": :func:`contribution_concentration`, per class the fraction
  of a layer's channels that carry ``share`` (80 %) of its raw contribution ``R`` (averaged over layers; 0.8 when
  every channel contributes equally).
* "Some channels respond to the latent code and deliver knowledge to all classes": :func:`shared_channels`, the
  fraction of channels aware of no class (``max_y A < threshold``), over all channels and over the top quarter by
  mean raw contribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .awareness import ChannelAwareness

__all__ = ["AWARE_THRESHOLD", "TOP_FRAC", "aware_fraction", "contribution_concentration", "overlap_matrix",
           "pair_summary", "shared_channels", "top_sets"]

AWARE_THRESHOLD = 1.5
TOP_FRAC = 0.1


def aware_fraction(aw: ChannelAwareness, threshold: float = AWARE_THRESHOLD) -> dict[str, np.ndarray]:
    """``{'all': (Y,), <layer>: (Y,)}``: fraction of channels with ``A >= threshold`` per class."""
    out = {"all": (aw.flat() >= threshold).mean(1)}
    out.update({n: (aw.awareness[n] >= threshold).mean(1) for n in aw.layers})
    return out


def top_sets(aw: ChannelAwareness, top_frac: float = TOP_FRAC) -> list[set[tuple[str, int]]]:
    """Per class the set of ``(layer, channel)`` among each layer's top ``ceil(top_frac * C_l)`` by awareness."""
    if not 0 < top_frac <= 1:
        raise ValueError(f"top_frac must be in (0, 1], got {top_frac}")
    sets = []
    for y in range(aw.num_classes):
        s: set[tuple[str, int]] = set()
        for n in aw.layers:
            k = int(np.ceil(top_frac * aw.awareness[n].shape[1]))
            s |= {(n, int(i)) for i in aw.top_channels(y, n, k)}
        sets.append(s)
    return sets


def overlap_matrix(aw: ChannelAwareness, kind: str = "jaccard", top_frac: float = TOP_FRAC) -> np.ndarray:
    """Class x class channel overlap ``(Y, Y)`` (module docstring); the diagonal is 1."""
    if kind == "jaccard":
        sets = top_sets(aw, top_frac)
        return np.array([[len(a & b) / max(1, len(a | b)) for b in sets] for a in sets])
    if kind == "correlation":
        return np.corrcoef(np.log(np.maximum(aw.flat(), 1e-6)))
    raise ValueError(f"kind must be 'jaccard' or 'correlation', got {kind!r}")


def pair_summary(matrix: np.ndarray, class_names: Sequence[str], similar_pairs: Sequence[tuple[str, str]],
                 dissimilar: Sequence[str]) -> dict[str, float]:
    """Mean off-diagonal overlap of the ``similar_pairs``, of the pairs with a ``dissimilar`` class, of the others.

    Raises:
        ValueError: A class name not in ``class_names`` or a matrix of the wrong shape.
    """
    names = list(class_names)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"matrix must be ({len(names)}, {len(names)}), got {matrix.shape}")
    unknown = sorted(({n for p in similar_pairs for n in p} | set(dissimilar)) - set(names))
    if unknown:
        raise ValueError(f"class names {unknown} not in {names}")
    similar = {frozenset(p) for p in similar_pairs}
    groups: dict[str, list[float]] = {"similar": [], "dissimilar": [], "other": []}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            pair = frozenset((names[i], names[j]))
            key = "similar" if pair in similar else "dissimilar" if pair & set(dissimilar) else "other"
            groups[key].append(float(matrix[i, j]))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in groups.items()}


def contribution_concentration(aw: ChannelAwareness, share: float = 0.8) -> np.ndarray:
    """``(Y,)``: per class the mean over layers of the fraction of channels holding ``share`` of the raw ``R``."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    out = []
    for n in aw.layers:
        r = np.sort(aw.raw[n], axis=1)[:, ::-1]
        cum = np.cumsum(r, axis=1) / np.maximum(r.sum(1, keepdims=True), 1e-12)
        out.append(((cum < share).sum(1) + 1) / r.shape[1])
    return np.mean(out, axis=0)


def shared_channels(aw: ChannelAwareness, threshold: float = AWARE_THRESHOLD) -> dict[str, float]:
    """Fraction of channels aware of no class: ``{'all': ..., 'top_contributors': ...}`` (module docstring)."""
    none = aw.flat().max(0) < threshold
    contrib = np.concatenate([aw.raw[n].mean(0) / max(aw.raw[n].mean(), 1e-12) for n in aw.layers])
    top = contrib >= np.quantile(contrib, 0.75)
    return {"all": float(none.mean()), "top_contributors": float(none[top].mean())}
