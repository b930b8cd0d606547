"""Generic segmentation layout for your own data.

The layout ``--data-root`` points at (and the offline demo writes)::

    <data_root>/images/<stem>.jpg|png
    <data_root>/masks/<stem>.png            grey or palette PNG of class ids, 255 = ignore
    <data_root>/splits/labeled.txt          stems with a mask (labeled training images)
    <data_root>/splits/unlabeled.txt        stems without (or with an unused) mask
    <data_root>/splits/val.txt              stems with a mask (validation)
    <data_root>/classes.txt                 class names, one a line, in label order (optional: else pass classes)
"""

import os.path as osp
from collections.abc import Sequence
from typing import Any

from gen3d.registry import DATASETS

from ..file_check import DatasetError
from .base import SegDataset

UNLABELED_SPLIT = "unlabeled"


def read_classes_file(path: str) -> tuple[str, ...]:
    """Class names of a ``classes.txt`` (one a line, blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return tuple(ln.strip() for ln in f if ln.strip())


@DATASETS.register_module()
class FolderSegDataset(SegDataset):
    """Images, masks and stem lists in the generic layout above.

    Args:
        data_root: Dataset root.
        split: ``'labeled'``, ``'unlabeled'``, ``'val'``, any ``splits/<name>.txt``, a split file path, or None
            (every image, all labeled).
        labeled: Whether masks are required; None means ``split != 'unlabeled'``.
        classes: Class names; None reads ``metainfo['classes']`` or ``<data_root>/classes.txt``.
        **kwargs: See :class:`SegDataset`.
    """

    def __init__(
        self,
        data_root: str,
        split: str | None = "labeled",
        img_dir: str = "images",
        ann_dir: str = "masks",
        split_dir: str = "splits",
        labeled: bool | None = None,
        classes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if labeled is None:
            labeled = split != UNLABELED_SPLIT
        if classes is None and not (kwargs.get("metainfo") or {}).get("classes"):
            classes_file = osp.join(str(data_root), "classes.txt")
            if data_root and osp.isfile(classes_file):
                classes = read_classes_file(classes_file)
            elif data_root and osp.isdir(data_root):
                raise DatasetError(f"no class names for {data_root}: write {classes_file} or pass classes=[...]")
        super().__init__(
            data_root, split=split, img_dir=img_dir, ann_dir=ann_dir, split_dir=split_dir, labeled=labeled,
            classes=classes, **kwargs,
        )
