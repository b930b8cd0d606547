"""Semantic-segmentation datasets: VOC, Cityscapes, GTA5, COCO json, a generic folder layout, two streams, FST-W."""

from .base import IGNORE_INDEX, SegDataset, make_label_lut
from .cityscapes import CITYSCAPES_CLASSES, GTA5_TO_CITYSCAPES, CityscapesDataset, GTA5Dataset
from .coco import CocoSegDataset
from .folder import FolderSegDataset, read_classes_file
from .future import FST_W_K, FutureBatchDataset
from .semi import SemiSupervisedDataset
from .splits import VOC_BLENDER_SIZES, VOC_CLASSIC_SIZES, voc_partition, write_split
from .voc import VOC_CLASSES, VOC_PALETTE, VOCDataset

__all__ = [
    "CITYSCAPES_CLASSES", "FST_W_K", "GTA5_TO_CITYSCAPES", "IGNORE_INDEX", "VOC_BLENDER_SIZES", "VOC_CLASSES",
    "VOC_CLASSIC_SIZES", "VOC_PALETTE", "CityscapesDataset", "CocoSegDataset", "FolderSegDataset",
    "FutureBatchDataset", "GTA5Dataset", "SegDataset", "SemiSupervisedDataset", "VOCDataset", "make_label_lut",
    "read_classes_file", "voc_partition", "write_split",
]
