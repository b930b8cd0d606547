"""Datasets: importing this package registers every dataset and transform."""

from . import transforms  # noqa: F401
from .anomaly import AnomalyDataset, CocoAnomalyDataset, FolderDataset, MVTecDataset, VisADataset
from .file_check import BadFilesError, DatasetError, MissingDataError
from .segmentation import (
    CityscapesDataset,
    CocoSegDataset,
    FolderSegDataset,
    FutureBatchDataset,
    GTA5Dataset,
    SegDataset,
    SemiSupervisedDataset,
    VOCDataset,
)

__all__ = [
    "AnomalyDataset", "BadFilesError", "DatasetError", "MissingDataError",
    "CityscapesDataset", "CocoAnomalyDataset", "CocoSegDataset", "FolderDataset", "FolderSegDataset",
    "FutureBatchDataset", "GTA5Dataset", "MVTecDataset", "SegDataset", "SemiSupervisedDataset", "VOCDataset",
    "VisADataset",
]

from .gan import ImageFolderDataset  # noqa: E402

__all__ += ["ImageFolderDataset"]
from .rgbd import RGBDDataset  # noqa: E402, F401
