"""MVTec AD layout (Bergmann et al., CVPR 2019), as distributed by MVTec and used by UniAD and anomalib."""

import os.path as osp

from gen3d.registry import DATASETS

from ._utils import MaskIndex, list_images, list_subdirs
from .base import NORMAL, AnomalyDataset


@DATASETS.register_module()
class MVTecDataset(AnomalyDataset):
    """MVTec AD, all classes under ``data_root`` in one dataset.

    Layout (image extensions png/jpg/jpeg/bmp/tif/tiff, case-insensitive)::

        <data_root>/<cls>/train/good/*.png                      normal training images (train + val splits)
        <data_root>/<cls>/test/good/*.png                       normal test images
        <data_root>/<cls>/test/<defect>/<stem>.png              defective test images, one folder per defect type
        <data_root>/<cls>/ground_truth/<defect>/<stem>_mask.png masks (0 normal, >0 defect); <stem>.png also accepted

    Any other file or folder inside a class folder (license.txt, readme.txt) is ignored. Grayscale classes
    (grid, screw, zipper) load as RGB in :class:`~gen3d.datasets.transforms.LoadAnomalyImage`.

    Args:
        data_root: The MVTec AD root (the folder holding ``bottle/``, ``cable/``, ...).
        **kwargs: See :class:`~gen3d.datasets.anomaly.AnomalyDataset` (split, classes, val_ratio, seed,
            missing_mask, skip_empty_classes, pipeline, ...).

    Examples:
        >>> ds = MVTecDataset('data/mvtec', split='val', val_ratio=0.1)  # doctest: +SKIP
        >>> ds.metainfo['classes'][:2], ds[0]['defect_type']  # doctest: +SKIP
        (('bottle', 'cable'), 'good')
    """

    LAYOUT = (
        "<data_root>/<class>/train/good/*.png, <data_root>/<class>/test/<good|defect>/*.png and "
        "<data_root>/<class>/ground_truth/<defect>/<stem>_mask.png"
    )

    def load_train_good(self, cls_name: str) -> list[dict]:
        """Records of ``<cls>/train/good``."""
        folder = osp.join(self.data_root, cls_name, "train", NORMAL)
        return [self.make_record(p, cls_name, NORMAL) for p in list_images(folder)]

    def load_test(self, cls_name: str) -> list[dict]:
        """Records of every ``<cls>/test/<defect>`` folder, masks from ``<cls>/ground_truth/<defect>``."""
        cls_dir = osp.join(self.data_root, cls_name)
        records = []
        for defect in list_subdirs(osp.join(cls_dir, "test")):
            masks = MaskIndex(osp.join(cls_dir, "ground_truth", defect))
            for img_path in list_images(osp.join(cls_dir, "test", defect)):
                if defect == NORMAL:
                    records.append(self.make_record(img_path, cls_name, NORMAL))
                else:
                    mask = masks.find(img_path)
                    records.append(self.make_record(img_path, cls_name, defect, mask, None, masks.expected(img_path)))
        return records

    def describe_source(self, cls_name: str, split: str) -> str:
        """``<cls>/test`` or ``<cls>/train/good``."""
        sub = ("test",) if split == "test" else ("train", NORMAL)
        return osp.join(self.data_root, cls_name, *sub)
