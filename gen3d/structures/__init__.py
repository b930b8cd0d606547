"""Typed samples passed between datasets, models, metrics and visualisers."""

from .anomaly_sample import AnomalyDataSample
from .seg_sample import SegDataSample

__all__ = ["AnomalyDataSample", "SegDataSample"]
