"""Decision thresholds for anomaly scores, chosen per class on a validation split.

Two rules, as in the gen3d anomaly spec (section D.4):
    * :func:`f1_adaptive_threshold` when the validation split holds defects: the threshold maximising F1
      (anomalib's ``F1AdaptiveThreshold``).
    * :func:`normal_quantile_threshold` when it holds only normal samples (for example held-out good training
      images): a high quantile of the normal scores, i.e. a target false-positive rate of ``1 - quantile``.

:func:`fit_threshold` applies one of :data:`THRESHOLD_RULES`: ``'auto'`` (F1-adaptive where the samples hold
defects, else the quantile: the rule of the faithful configs, whose validation holds good images only),
``'f1'`` (F1-adaptive, an error without defects) or ``'quantile'`` (the quantile of the normal samples even when
defects are present: a target false-alarm rate instead of the best F1 on the validation's defect mix).

A sample is predicted anomalous when ``score >= threshold``.
"""

import numpy as np

from .anomaly_functional import f1_max

__all__ = ["DEFAULT_NORMAL_QUANTILE", "THRESHOLD_RULES", "f1_adaptive_threshold", "fit_threshold",
           "normal_quantile_threshold"]

#: Default quantile of normal scores: about 1 % of normal samples end up above the threshold.
DEFAULT_NORMAL_QUANTILE = 0.99
#: Threshold rules of :func:`fit_threshold` (and ``AnomalyMetric(threshold_rule=...)``).
THRESHOLD_RULES = ("auto", "f1", "quantile")


def f1_adaptive_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold that maximises F1 of the decision ``score >= threshold``.

    Args:
        scores: ``(N,)`` anomaly scores (image scores, or flattened pixel scores); any shape is flattened.
        labels: labels in {0, 1}, same size as ``scores``.

    Returns:
        The smallest score at which F1 reaches its maximum (the threshold returned by :func:`f1_max`).

    Raises:
        ValueError: when ``labels`` holds no anomalous sample; use :func:`normal_quantile_threshold` then.
    """
    labels = np.asarray(labels).reshape(-1)
    if not labels.astype(bool).any():
        raise ValueError(
            "f1_adaptive_threshold needs at least one anomalous sample; "
            "use normal_quantile_threshold for normal-only data"
        )
    return f1_max(np.asarray(scores).reshape(-1), labels)[1]


def normal_quantile_threshold(normal_scores: np.ndarray, quantile: float = DEFAULT_NORMAL_QUANTILE) -> float:
    """Quantile of the scores of normal samples, for validation splits without defects.

    With ``quantile = 1 - fpr`` the threshold lets about a fraction ``fpr`` of normal samples through as false
    positives (``0.99`` -> about 1 % FPR). Uses numpy's default linear interpolation between order statistics.

    Args:
        normal_scores: scores of normal samples or pixels, any shape (flattened), e.g. ``(N,)`` image scores
            or ``(N, H, W)`` anomaly maps of normal images.
        quantile: quantile in [0, 1].

    Returns:
        The ``quantile``-th quantile of ``normal_scores``.

    Raises:
        ValueError: when ``normal_scores`` is empty or not finite, or ``quantile`` is outside [0, 1].
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    normal_scores = np.asarray(normal_scores).reshape(-1)
    if normal_scores.size == 0:
        raise ValueError("normal_quantile_threshold needs at least one normal score")
    # float32 keeps the quantile of a large float16 pixel set cheap and exact enough for a threshold.
    if normal_scores.dtype != np.float64:
        normal_scores = normal_scores.astype(np.float32)
    if not np.isfinite(normal_scores).all():
        raise ValueError("normal_scores contain NaN or inf")
    return float(np.quantile(normal_scores, quantile))


def fit_threshold(
    scores: np.ndarray,
    labels: np.ndarray,
    rule: str = "auto",
    quantile: float = DEFAULT_NORMAL_QUANTILE,
    normal: np.ndarray | None = None,
    f1_threshold: float | None = None,
) -> float:
    """The decision threshold of ``scores`` under ``rule`` (one of :data:`THRESHOLD_RULES`).

    Args:
        scores: ``(N,)`` scores (image scores, or flattened pixel scores).
        labels: ``(N,)`` labels in {0, 1}.
        rule: ``'auto'``: F1-adaptive if any label is 1, else the quantile; ``'f1'``: F1-adaptive;
            ``'quantile'``: the ``quantile`` of the normal scores.
        quantile: Quantile of the quantile rule.
        normal: ``(N,)`` bool, the samples the quantile is taken over; default ``labels == 0`` (for pixels one
            may pass the normal pixels of normal images only).
        f1_threshold: The F1-max threshold if already computed (skips a second sort of a large pixel set).

    Returns:
        The threshold.

    Raises:
        ValueError: Unknown ``rule``; ``'f1'`` without an anomalous sample; the quantile rule without a normal one.
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"threshold rule must be one of {THRESHOLD_RULES}, got {rule!r}")
    scores = np.asarray(scores).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(bool)
    if rule == "f1" or (rule == "auto" and labels.any()):
        return float(f1_threshold) if f1_threshold is not None and labels.any() else f1_adaptive_threshold(
            scores, labels)
    normal = ~labels if normal is None else np.asarray(normal).reshape(-1).astype(bool)
    return normal_quantile_threshold(scores[normal], quantile)
