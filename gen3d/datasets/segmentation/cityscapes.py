"""Cityscapes (fine annotations as train ids) and GTA5 as a synthetic source domain with the same 19 classes.

Cityscapes layout (``tools/dataset_converters/cityscapes.py`` of MMSeg writes the ``labelTrainIds``)::

    leftImg8bit/<train|val|test>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/<train|val|test>/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png     0..18, 255 = void

GTA5 layout (Richter et al. 2016; labels are palette PNGs whose indices are Cityscapes *label ids*)::

    images/<nnnnn>.png
    labels/<nnnnn>.png       mapped to the 19 train ids on load (:data:`GTA5_TO_CITYSCAPES`, others -> 255)
"""

import os
import os.path as osp
from typing import Any

from gen3d.registry import DATASETS

from ..file_check import DatasetError, MissingDataError
from .base import SegDataset, is_image_name

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)
CITYSCAPES_PALETTE = [
    [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
    [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0],
    [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
]
#: Cityscapes label id -> train id (cityscapesscripts ``labels.py``), used for GTA5 labels.
GTA5_TO_CITYSCAPES = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14,
    28: 15, 31: 16, 32: 17, 33: 18,
}


@DATASETS.register_module()
class CityscapesDataset(SegDataset):
    """Cityscapes with ``*_gtFine_labelTrainIds.png`` masks, 19 classes, ignore 255.

    Args:
        data_root: The ``cityscapes`` folder.
        split: ``'train'``, ``'val'`` or ``'test'`` (every image of ``leftImg8bit/<split>/*/``), or a split file
            whose lines are image paths relative to ``data_root`` (U2PL: ``leftImg8bit/train/<city>/<name>
            _leftImg8bit.png``) or bare names ``<city>_<seq>_<frame>``; the mask is the same path under
            ``ann_dir`` with ``seg_map_suffix``.
        **kwargs: See :class:`SegDataset` (``labeled=False`` for an unlabeled split and for ``test``).
    """

    METAINFO: dict = dict(classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE)
    SUBSETS = ("train", "val", "test")

    def __init__(
        self,
        data_root: str,
        split: str | None = "train",
        img_dir: str = "leftImg8bit",
        ann_dir: str = "gtFine",
        img_suffix: str = "_leftImg8bit.png",
        seg_map_suffix: str = "_gtFine_labelTrainIds.png",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            data_root, split=split, img_dir=img_dir, ann_dir=ann_dir, img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix, **kwargs,
        )

    def _entry(self, img_path: str) -> tuple[str | None, str, str | None]:
        rel = osp.relpath(img_path, self.root_path(self.img_dir))
        stem = rel[: -len(self.img_suffix)] if rel.endswith(self.img_suffix) else osp.splitext(rel)[0]
        mask = self.root_path(self.ann_dir, stem + self.seg_map_suffix) if self.labeled else None
        return (img_path if osp.isfile(img_path) else None), img_path, mask

    def load_entries(self) -> list[tuple[str | None, str, str | None]]:
        """Entries of a subset folder (scanned over cities) or of a split file."""
        subset_dir = self.root_path(self.img_dir, str(self.split))
        if self.split in self.SUBSETS and osp.isdir(subset_dir):
            paths = []
            for city in sorted(os.listdir(subset_dir)):
                city_dir = osp.join(subset_dir, city)
                if osp.isdir(city_dir):
                    names = sorted(n for n in os.listdir(city_dir) if n.endswith(self.img_suffix))
                    paths += [osp.join(city_dir, n) for n in names]
            if not paths:
                raise DatasetError(f"no *{self.img_suffix} image under {subset_dir}")
            return [self._entry(p) for p in paths]
        if self.split in self.SUBSETS and not osp.isfile(self.root_path(str(self.split))):
            raise MissingDataError(f"Cityscapes split folder {subset_dir} not found")
        return super().load_entries()

    def parse_split_line(self, line: str) -> tuple[str | None, str, str | None]:
        """An image path relative to ``data_root``, or a bare ``<city>_<seq>_<frame>`` searched in every subset."""
        first = line.split()[0]
        if is_image_name(first):
            return self._entry(first if osp.isabs(first) else self.root_path(first))
        city = first.split("_")[0]
        for subset in self.SUBSETS:
            path = self.root_path(self.img_dir, subset, city, first + self.img_suffix)
            if osp.isfile(path):
                return self._entry(path)
        return None, self.root_path(self.img_dir, "<subset>", city, first + self.img_suffix), None


@DATASETS.register_module()
class GTA5Dataset(SegDataset):
    """GTA5 (24 966 synthetic frames) with its labels mapped to the 19 Cityscapes train ids on load.

    Args:
        data_root: The GTA5 folder with ``images/`` and ``labels/``.
        split: None (every image) or a split file / name of stems.
        label_map: Raw label id -> train id; defaults to :data:`GTA5_TO_CITYSCAPES` (others -> 255).
        **kwargs: See :class:`SegDataset`.
    """

    METAINFO: dict = dict(classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE)

    def __init__(
        self,
        data_root: str,
        split: str | None = None,
        img_dir: str = "images",
        ann_dir: str = "labels",
        img_suffix: str | None = ".png",
        label_map: dict[int, int] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("label_map_default", 255)
        super().__init__(
            data_root, split=split, img_dir=img_dir, ann_dir=ann_dir, img_suffix=img_suffix,
            label_map=GTA5_TO_CITYSCAPES if label_map is None else label_map, **kwargs,
        )
