"""PASCAL VOC 2012 with the SBD augmentation (``SegmentationClassAug``) and U2PL's semi-supervised partitions.

Layout (``data_root`` = the ``VOC2012`` folder)::

    JPEGImages/<id>.jpg
    SegmentationClassAug/<id>.png        grey index PNGs (10 582 train_aug + val), 255 = void
    SegmentationClass/<id>.png           palette PNGs of the 2 913 fine images (indices are read, not colours)
    ImageSets/Segmentation/{train,val,trainaug,aug}.txt     ids, one a line (1 464 / 1 449 / 10 582 / 9 118)

Semi-supervised splits (U2PL, spec A7): ``split`` may be a file listing bare ids, e.g. U2PL's
``data/splits/pascal/<n>/labeled.txt`` and ``unlabeled.txt``. The *classic* partition takes the labeled ids
from the 1 464 fine ``train`` images (92 / 183 / 366 / 732 / 1 464); the *blender* partition from the 10 582
``trainaug`` images (662 / 1 323 / 2 646 / 5 291); in both, the unlabeled ids are the rest of the 10 582.
:func:`gen3d.datasets.segmentation.voc_partition` draws such a partition.
"""

import os.path as osp
from typing import Any

from gen3d.registry import DATASETS

from .base import SegDataset

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def _voc_palette(n: int = 21) -> list[list[int]]:
    """The standard VOC colour map (bit-interleaved class index)."""
    palette = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette.append([r, g, b])
    return palette


VOC_PALETTE = _voc_palette()


@DATASETS.register_module()
class VOCDataset(SegDataset):
    """PASCAL VOC 2012 (+ SBD aug masks), 21 classes, ignore 255.

    Args:
        data_root: The ``VOC2012`` folder.
        split: A split name of ``ImageSets/Segmentation`` (``'train'``, ``'val'``, ``'trainaug'``, ...) or a
            split file of ids (U2PL's ``labeled.txt`` / ``unlabeled.txt``).
        ann_dir: Mask folder; None uses ``SegmentationClassAug`` when it exists, else ``SegmentationClass``.
        **kwargs: See :class:`SegDataset` (``labeled=False`` for an unlabeled split).
    """

    METAINFO: dict = dict(classes=VOC_CLASSES, palette=VOC_PALETTE)

    def __init__(
        self,
        data_root: str,
        split: str | None = "train",
        img_dir: str = "JPEGImages",
        ann_dir: str | None = None,
        split_dir: str = "ImageSets/Segmentation",
        img_suffix: str | None = ".jpg",
        seg_map_suffix: str = ".png",
        **kwargs: Any,
    ) -> None:
        if ann_dir is None:
            aug = "SegmentationClassAug"
            ann_dir = aug if data_root and osp.isdir(osp.join(data_root, aug)) else "SegmentationClass"
        super().__init__(
            data_root,
            split=split,
            img_dir=img_dir,
            ann_dir=ann_dir,
            split_dir=split_dir,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs,
        )
