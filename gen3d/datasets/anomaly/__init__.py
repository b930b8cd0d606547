"""Anomaly-detection datasets (UniAD): one dataset object per split covers every product class under ``data_root``.

Layouts: :class:`MVTecDataset` (MVTec AD), :class:`VisADataset` (raw VisA + ``split_csv/1cls.csv``),
:class:`FolderDataset` (your own good/defect folders, optional masks) and :class:`CocoAnomalyDataset`
(defect regions in COCO json). All share :class:`AnomalyDataset` (splits ``train``/``val``/``test``, the ``val``
split being a seeded hold-out of the normal training images). :class:`SyntheticDefectValDataset` wraps such a
``val`` split and adds a synthetic-defect copy (with its mask) of every held-out good image, for checkpoint
selection by AUROC and F1-adaptive thresholds.
"""

from ._utils import IMG_EXTENSIONS
from .base import AnomalyDataset
from .coco import CocoAnomalyDataset
from .folder import FolderDataset
from .mvtec import MVTecDataset
from .synthetic_val import SyntheticDefectValDataset
from .visa import VisADataset

__all__ = ["IMG_EXTENSIONS", "AnomalyDataset", "CocoAnomalyDataset", "FolderDataset", "MVTecDataset",
           "SyntheticDefectValDataset", "VisADataset"]
