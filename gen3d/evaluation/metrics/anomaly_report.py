"""Turn the flat dict of :class:`~gen3d.evaluation.metrics.AnomalyMetric` into a results JSON and a text table.

The JSON shape (``results.json`` of a test run, the model-zoo tables read it)::

    {"mean": {"image_auroc": 0.967, ...},
     "per_class": {"bottle": {"image_auroc": 0.998, ...}, ...},
     "thresholds": {"bottle": {"image": 0.41, "pixel": 0.37}, ...}}   # only when thresholds are known

``thresholds`` are the stored ones the decisions used (``stored_threshold/...``, a test run) when present, else
the fitted ones (``threshold/...``, a validation run); the two are never mixed.

``mean`` and every ``per_class`` entry hold exactly the keys of :data:`METRIC_KEYS`, as fractions in [0, 1];
a metric that is undefined or was not computed is ``None`` (``null`` in JSON), never NaN.
"""

import math
from typing import Any

from .anomaly_metric import METRIC_KEYS, STORED_THRESHOLD_PREFIX, THRESHOLD_PREFIX

DECISION_KEYS = ("defect_recall", "false_alarm_rate", "decision_accuracy")

__all__ = ["format_table", "to_results_json"]

_COLUMNS = {
    "image_auroc": "I-AUROC",
    "pixel_auroc": "P-AUROC",
    "pixel_aupro": "P-AUPRO",
    "image_f1max": "I-F1max",
    "pixel_f1max": "P-F1max",
    "pixel_ap": "P-AP",
}


def _clean(value: Any) -> float | None:
    """Return ``value`` as a float, or None for a missing or non-finite value."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def to_results_json(flat: dict[str, Any], prefix: str | None = None) -> dict[str, Any]:
    """Nest the flat metric dict into ``{"mean", "per_class", "thresholds"}``.

    Args:
        flat: ``{'<cls>/<metric>': v, 'mean/<metric>': v, 'threshold/<cls>/image': v, ...}`` as returned by
            :meth:`AnomalyMetric.compute_metrics` (``'stored_threshold/...'`` after ``use_stored_thresholds``;
            they replace any fitted ones); other keys (e.g. ``normal_score_mean``) are ignored.
        prefix: metric prefix to strip (``'<prefix>/...'`` keys), when the metric was built with one; keys
            without it are ignored then.

    Returns:
        JSON-serialisable dict; see the module docstring. Classes keep the order of ``flat``.
    """
    if prefix:
        head = prefix.rstrip("/") + "/"
        flat = {k[len(head) :]: v for k, v in flat.items() if k.startswith(head)}
    per_class: dict[str, dict[str, float | None]] = {}
    thresholds: dict[str, dict[str, float | None]] = {}
    stored: dict[str, dict[str, float | None]] = {}
    mean = dict.fromkeys(METRIC_KEYS)
    decisions: dict[str, dict[str, float | None]] = {}
    for key, value in flat.items():
        head = next((h for h in (STORED_THRESHOLD_PREFIX, THRESHOLD_PREFIX) if key.startswith(h)), None)
        if head is not None:
            cls, _, kind = key[len(head) :].rpartition("/")
            if cls and kind in ("image", "pixel"):
                into = stored if head == STORED_THRESHOLD_PREFIX else thresholds
                into.setdefault(cls, {"image": None, "pixel": None})[kind] = _clean(value)
            continue
        cls, _, name = key.rpartition("/")
        if cls and cls != "mean" and name in DECISION_KEYS:
            decisions.setdefault(cls, dict.fromkeys(DECISION_KEYS))[name] = _clean(value)
        if not cls or name not in METRIC_KEYS:
            continue
        if cls == "mean":
            mean[name] = _clean(value)
        else:
            per_class.setdefault(cls, dict.fromkeys(METRIC_KEYS))[name] = _clean(value)
    out: dict[str, Any] = {"mean": mean, "per_class": per_class}
    if stored or thresholds:
        out["thresholds"] = stored or thresholds
    if decisions:
        out["decisions"] = decisions  # pass/fail quality at the thresholds the model decided with
    return out


def format_table(results_json: dict[str, Any]) -> str:
    """Render a results JSON as a fixed-width text table in percent with one decimal, the mean row last.

    Args:
        results_json: output of :func:`to_results_json`.

    Returns:
        The table, one line per class plus a header, a rule and the mean row; ``-`` marks a missing value.
    """

    def cell(value: float | None) -> str:
        return "-" if value is None or not math.isfinite(value) else f"{100.0 * value:.1f}"

    decisions = results_json.get("decisions", {})
    columns = dict(_COLUMNS)
    if decisions:
        columns.update(defect_recall="Recall@thr", false_alarm_rate="FalseAlarm@thr")
    rows = [(cls, {**vals, **decisions.get(cls, {})}) for cls, vals in results_json.get("per_class", {}).items()]
    rows.append(("mean", results_json.get("mean", {})))
    width = max(len("class"), *(len(cls) for cls, _ in rows))
    col_w = max(len(c) for c in columns.values())
    header = f"{'class':<{width}}  " + "  ".join(f"{c:>{col_w}}" for c in columns.values())
    lines = [header, "-" * len(header)]
    for i, (cls, vals) in enumerate(rows):
        if i == len(rows) - 1 and len(rows) > 1:
            lines.append("-" * len(header))
        lines.append(f"{cls:<{width}}  " + "  ".join(f"{cell(vals.get(k)):>{col_w}}" for k in columns))
    return "\n".join(lines)
