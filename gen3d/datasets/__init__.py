"""Datasets: importing this package registers every dataset and transform."""

from . import transforms  # noqa: F401
from .anomaly import AnomalyDataset, CocoAnomalyDataset, FolderDataset, MVTecDataset, VisADataset

__all__ = ["AnomalyDataset", "CocoAnomalyDataset", "FolderDataset", "MVTecDataset", "VisADataset"]
