"""Typed samples passed between datasets, models, metrics and visualisers."""

from .anomaly_sample import AnomalyDataSample

__all__ = ["AnomalyDataSample"]
