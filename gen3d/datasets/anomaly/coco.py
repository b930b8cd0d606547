"""Defects annotated in COCO format (polygons or RLE, decoded with ``pycocotools.mask``)."""

import json
import os.path as osp
from collections import defaultdict
from typing import Any

import cv2
import pycocotools.mask as mask_utils

from gen3d.registry import DATASETS

from ..file_check import DatasetError, MissingDataError
from ._utils import list_images
from .base import NORMAL, AnomalyDataset


@DATASETS.register_module()
class CocoAnomalyDataset(AnomalyDataset):
    """Test images with defect regions in COCO json, normal training images in folders; all classes in one dataset.

    Per-class form (default, ``ann_file=None``)::

        <data_root>/<cls>/train/good/*.png            normal training images (train + val splits)
        <data_root>/<cls>/test/annotations.json       COCO json of the test images of <cls> (``class_ann_file``)
        <data_root>/<cls>/test/<file_name>            the test images, ``file_name`` as written in the json

    Single-file form (``ann_file='annotations/test.json'``, relative to ``data_root`` or absolute)::

        <data_root>/<cls>/train/good/*.png            normal training images
        <data_root>/<ann_file>                        one COCO json for the test images of every class
        <data_root>/<file_name>                       ``file_name`` starts with ``<cls>/`` (the class folder)

    In the json, ``categories[].name`` are the defect types. A test image with no annotation is normal; one
    with annotations is defective, its ``defect_type`` the sorted, ``'+'``-joined names of its categories and
    its mask the union of its annotations' ``segmentation``: polygons (``[[x0, y0, x1, y1, ...], ...]``),
    uncompressed RLE (``{'size': [H, W], 'counts': [int, ...]}``) or compressed RLE (``counts`` a string).
    An annotation without segmentation uses its ``bbox``; a defective image with neither follows
    ``missing_mask``. ``images[].height/width`` give the mask size (read from the file when absent). Only images
    listed in the json are used; a json image inside ``<cls>/train`` is refused (train/test leak). The folder
    ``annotations`` under ``data_root`` is never a class.

    Args:
        data_root: Folder holding one folder per class.
        ann_file: The single json of the single-file form; ``None`` for the per-class form.
        class_ann_file: Per-class form: the json path relative to each class folder.
        **kwargs: See :class:`~gen3d.datasets.anomaly.AnomalyDataset`.
    """

    RESERVED_DIRS = ("annotations",)

    def __init__(
        self,
        data_root: str,
        ann_file: str | None = None,
        class_ann_file: str = "test/annotations.json",
        **kwargs: Any,
    ) -> None:
        self.class_ann_file = class_ann_file
        self._single: dict[str, list[dict]] | None = None
        super().__init__(data_root, ann_file=ann_file or "", **kwargs)

    def load_train_good(self, cls_name: str) -> list[dict]:
        """Records of ``<cls>/train/good``."""
        folder = osp.join(self.data_root, cls_name, "train", NORMAL)
        return [self.make_record(p, cls_name, NORMAL) for p in list_images(folder)]

    def load_test(self, cls_name: str) -> list[dict]:
        """Records of the test images of ``cls_name`` listed in its json (or the single json)."""
        if self.ann_file:
            if self._single is None:
                self._single = self._parse(self.ann_file, self.data_root, None)
            return self._single.get(cls_name, [])
        json_path = osp.join(self.data_root, cls_name, self.class_ann_file)
        if not osp.isfile(json_path):
            return []
        return self._parse(json_path, osp.dirname(json_path), cls_name).get(cls_name, [])

    def load_data_list(self) -> list[dict]:
        """Records of the requested split (see :class:`AnomalyDataset`); the parsed json is dropped afterwards."""
        try:
            return super().load_data_list()
        finally:
            self._single = None

    def describe_source(self, cls_name: str, split: str) -> str:
        """The json read for the test split, ``<cls>/train/good`` otherwise."""
        if split != "test":
            return osp.join(self.data_root, cls_name, "train", NORMAL)
        if self.ann_file:
            return f"{self.ann_file} (file_name starting with {cls_name}/)"
        return osp.join(self.data_root, cls_name, self.class_ann_file)

    # ----------------------------------------------------------------------------------------------------------

    def _parse(self, json_path: str, img_root: str, cls_name: str | None) -> dict[str, list[dict]]:
        """Records per class of one COCO json; ``cls_name=None`` takes the class from ``file_name``."""
        if not osp.isfile(json_path):
            raise MissingDataError(f"COCO annotation file {json_path} not found")
        try:
            with open(json_path) as f:
                coco = json.load(f)
            images, annotations = coco["images"], coco.get("annotations", [])
            categories = {c["id"]: str(c["name"]) for c in coco.get("categories", [])}  # names are data
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DatasetError(f"{json_path} is not a valid COCO json ({err!r})") from err
        anns_by_img: dict[Any, list[dict]] = defaultdict(list)
        for ann in annotations:
            anns_by_img[ann["image_id"]].append(ann)
        classes = set(self._requested_classes)
        out: dict[str, list[dict]] = defaultdict(list)
        for img in images:
            file_name = img["file_name"]
            cls = cls_name or file_name.replace("\\", "/").split("/")[0]
            if cls not in classes:
                continue
            img_path = osp.normpath(osp.join(img_root, file_name))
            if not osp.isfile(img_path):
                raise MissingDataError(f"image {img_path} listed in {json_path} not found")
            train_dir = osp.normpath(osp.join(self.data_root, cls, "train")) + osp.sep
            if img_path.startswith(train_dir):
                raise DatasetError(f"{json_path} lists training image {img_path} as a test image")
            out[cls].append(self._record(img, img_path, cls, anns_by_img.get(img["id"], []), categories, json_path))
        return {k: sorted(v, key=lambda r: r["img_path"]) for k, v in out.items()}

    def _record(
        self, img: dict, img_path: str, cls_name: str, anns: list[dict], categories: dict, json_path: str
    ) -> dict:
        if not anns:
            return self.make_record(img_path, cls_name, NORMAL)
        unknown = [a["category_id"] for a in anns if a.get("category_id") not in categories]
        if unknown:
            raise DatasetError(f"{json_path}: annotations of {img_path} use unknown category ids {unknown}")
        defect_type = "+".join(sorted({categories[a["category_id"]] for a in anns}))
        height, width = img.get("height"), img.get("width")
        if not height or not width:
            height, width = _image_size(img_path)
        rles = [r for a in anns for r in _ann_to_rles(a, int(height), int(width), json_path)]
        mask_rle = None
        if rles:
            merged = mask_utils.merge(rles, intersect=False) if len(rles) > 1 else rles[0]
            mask_rle = {"size": [int(height), int(width)], "counts": merged["counts"]}
        expected = f"a segmentation or bbox in {json_path} (image id {img['id']})"
        return self.make_record(img_path, cls_name, defect_type, None, mask_rle, expected)


def _image_size(img_path: str) -> tuple[int, int]:
    """(H, W) of an image file; DatasetError naming it when unreadable."""
    img = cv2.imread(img_path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError(f"cannot read image file {img_path} (corrupt or unsupported format)")
    return img.shape[0], img.shape[1]


def _ann_to_rles(ann: dict, height: int, width: int, json_path: str) -> list[dict]:
    """Compressed RLEs of one annotation (polygons, RLE, else bbox); ``[]`` when it has no pixel extent.

    Args:
        ann: COCO annotation dict.
        height: Image height H.
        width: Image width W.
        json_path: For error messages.

    Returns:
        RLE dicts of size (H, W), bytes ``counts``.
    """
    seg = ann.get("segmentation")
    where = f"{json_path}: annotation id {ann.get('id')}"
    if isinstance(seg, dict):
        size = [int(s) for s in seg.get("size", [])]
        if size != [height, width]:
            raise DatasetError(f"{where}: RLE size {size} differs from the image size {[height, width]}")
        counts = seg.get("counts")
        if isinstance(counts, list):
            return [mask_utils.frPyObjects(seg, height, width)]
        if isinstance(counts, str | bytes):
            return [{"size": size, "counts": counts.encode() if isinstance(counts, str) else counts}]
        raise DatasetError(f"{where}: RLE counts must be a list or a string")
    if isinstance(seg, list) and seg:
        polys = seg if isinstance(seg[0], list) else [seg]
        bad = [len(p) for p in polys if len(p) < 6 or len(p) % 2]
        if bad:
            raise DatasetError(f"{where}: a polygon needs an even number >= 6 of coordinates, got lengths {bad}")
        return mask_utils.frPyObjects([[float(v) for v in p] for p in polys], height, width)
    bbox = ann.get("bbox")
    if bbox and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0:
        x, y, w, h = (float(v) for v in bbox)
        return mask_utils.frPyObjects([[x, y, x + w, y, x + w, y + h, x, y + h]], height, width)
    return []
