"""Generic folder layout for your own product images: normal and defective folders per class, masks optional."""

import os.path as osp
from typing import Any

from gen3d.registry import DATASETS

from ._utils import MaskIndex, list_images, list_subdirs, seeded_rng, split_holdout
from .base import NORMAL, AnomalyDataset


@DATASETS.register_module()
class FolderDataset(AnomalyDataset):
    """Images sorted into folders by hand, all classes under ``data_root`` in one dataset.

    Each class folder uses one of two forms (decided per class: the split form when ``<cls>/train`` or
    ``<cls>/test`` exists). Names below use the defaults ``normal_dir='good'`` and ``mask_dir='masks'``.

    Split form (you choose the test images)::

        <data_root>/<cls>/train/good/*.png        normal training images (train + val splits)
        <data_root>/<cls>/test/good/*.png         normal test images
        <data_root>/<cls>/test/<defect>/*.png     defective test images; any folder name but good is a defect type
        <data_root>/<cls>/masks/<defect>/<stem>_mask.png or <stem>.png   optional masks (0 normal, >0 defect)

    Flat form (the normal test images are drawn for you)::

        <data_root>/<cls>/good/*.png              normal images: ``normal_test_ratio`` of them (drawn with
                                                  ``seed``) go to test, the rest to train + val
        <data_root>/<cls>/<defect>/*.png          defective images (test only); any folder but good and masks
        <data_root>/<cls>/masks/<defect>/...      optional masks, named as above

    Image extensions: png, jpg, jpeg, bmp, tif, tiff (case-insensitive); files are not searched recursively and
    other files and folders (``train/<not good>``) are ignored. A mask is matched to an image by stem in the
    folder of its defect type. Masks are optional in the layout, but a defective image without one follows
    ``missing_mask`` (default ``'error'``; use ``'full'`` for image-level labels only, and ignore pixel metrics).

    Args:
        data_root: Folder holding one folder per class.
        normal_dir: Name of the normal-image folders.
        mask_dir: Name of the mask folder inside each class folder.
        normal_test_ratio: Flat form only: share of the normal images used as normal test images, in ``[0, 1)``.
        **kwargs: See :class:`~gen3d.datasets.anomaly.AnomalyDataset`.
    """

    LAYOUT = (
        "<data_root>/<class>/train/good/*.png and <data_root>/<class>/test/<good|defect>/*.png (split form), or "
        "<data_root>/<class>/good/*.png and <data_root>/<class>/<defect>/*.png (flat form); masks in "
        "<data_root>/<class>/masks/<defect>/"
    )

    def __init__(
        self,
        data_root: str,
        normal_dir: str = NORMAL,
        mask_dir: str = "masks",
        normal_test_ratio: float = 0.2,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= normal_test_ratio < 1.0:
            raise ValueError(f"normal_test_ratio must be in [0, 1), got {normal_test_ratio}")
        self.normal_dir = normal_dir
        self.mask_dir = mask_dir
        self.normal_test_ratio = float(normal_test_ratio)
        super().__init__(data_root, **kwargs)

    def _cls_dir(self, cls_name: str) -> str:
        return osp.join(self.data_root, cls_name)

    def is_split_form(self, cls_name: str) -> bool:
        """Whether ``cls_name`` uses the split form (has a ``train`` or ``test`` folder)."""
        cls_dir = self._cls_dir(cls_name)
        return osp.isdir(osp.join(cls_dir, "train")) or osp.isdir(osp.join(cls_dir, "test"))

    def _flat_normals(self, cls_name: str) -> tuple[list[str], list[str]]:
        """Flat form: (train + val, test) normal image paths."""
        normals = list_images(osp.join(self._cls_dir(cls_name), self.normal_dir))
        return split_holdout(normals, self.normal_test_ratio, seeded_rng(self.seed, cls_name, "test"))

    def load_train_good(self, cls_name: str) -> list[dict]:
        """Normal training images: ``train/good`` (split form) or the non-test part of ``good`` (flat form)."""
        if self.is_split_form(cls_name):
            paths = list_images(osp.join(self._cls_dir(cls_name), "train", self.normal_dir))
        else:
            paths = self._flat_normals(cls_name)[0]
        return [self.make_record(p, cls_name, NORMAL) for p in paths]

    def load_test(self, cls_name: str) -> list[dict]:
        """Normal and defective test images of ``cls_name``, masks from ``<cls>/<mask_dir>/<defect>``."""
        cls_dir = self._cls_dir(cls_name)
        if self.is_split_form(cls_name):
            test_dir = osp.join(cls_dir, "test")
            normals = list_images(osp.join(test_dir, self.normal_dir))
        else:
            test_dir = cls_dir
            normals = self._flat_normals(cls_name)[1]
        records = [self.make_record(p, cls_name, NORMAL) for p in normals]
        for defect in list_subdirs(test_dir, exclude=(self.normal_dir, self.mask_dir)):
            masks = MaskIndex(osp.join(cls_dir, self.mask_dir, defect))
            for img_path in list_images(osp.join(test_dir, defect)):
                mask = masks.find(img_path)
                records.append(self.make_record(img_path, cls_name, defect, mask, None, masks.expected(img_path)))
        return records

    def describe_source(self, cls_name: str, split: str) -> str:
        """The folder(s) read for ``split``."""
        cls_dir = self._cls_dir(cls_name)
        if not self.is_split_form(cls_name):
            return cls_dir if split == "test" else osp.join(cls_dir, self.normal_dir)
        return osp.join(cls_dir, "test") if split == "test" else osp.join(cls_dir, "train", self.normal_dir)
