"""COCO-format instance annotations (polygons or RLE) turned into semantic masks with pycocotools.

Layout::

    <data_root>/<img_dir>/<file_name>              images named by the json's ``images[].file_name``
    <data_root>/<ann_file>                          COCO json: images, annotations, categories

Category ids are mapped to contiguous labels in increasing id order: ``1..K`` after ``background`` = 0 when
``with_background`` (pixels of no annotation are background), else ``0..K-1`` with unannotated pixels ignored
(255). Rasterisation order: crowd regions first (255 when ``crowd_as_ignore``), then objects by decreasing
area, so a small object on top of a large one keeps its label.
"""

import json
import os.path as osp
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from gen3d.registry import DATASETS

from ..file_check import DatasetError, MissingDataError
from .base import IGNORE_INDEX, SegDataset


@DATASETS.register_module()
class CocoSegDataset(SegDataset):
    """Semantic segmentation from a COCO json; the mask is rasterised when the sample is loaded.

    Args:
        data_root: Dataset root.
        ann_file: COCO json, relative to ``data_root`` (or absolute).
        img_dir: Folder of the images, relative to ``data_root``.
        with_background: Add a ``background`` class 0 for pixels covered by no annotation.
        crowd_as_ignore: Paint ``iscrowd`` annotations with ``ignore_index`` (else with their category).
        classes: Category names to keep (others are dropped, their pixels follow the background rule); None
            keeps every category of the json.
        **kwargs: See :class:`SegDataset` (``labeled=False`` ignores the annotations).
    """

    def __init__(
        self,
        data_root: str,
        ann_file: str = "annotations.json",
        img_dir: str = "images",
        with_background: bool = True,
        crowd_as_ignore: bool = True,
        classes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.ann_file = ann_file
        self.with_background = bool(with_background)
        self.crowd_as_ignore = bool(crowd_as_ignore)
        self._wanted = None if classes is None else tuple(classes)
        self._coco = self._read_json(data_root, ann_file)
        names, self.cat2label = self._category_labels()
        super().__init__(data_root, split=None, img_dir=img_dir, classes=names, **kwargs)

    @staticmethod
    def _read_json(data_root: str, ann_file: str) -> dict:
        if not data_root or not osp.isdir(data_root):
            raise MissingDataError(f"data_root {data_root!r} does not exist or is not a directory")
        path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
        if not osp.isfile(path):
            raise MissingDataError(f"COCO annotation file {path} not found")
        with open(path, encoding="utf-8") as f:
            coco = json.load(f)
        for key in ("images", "categories"):
            if key not in coco:
                raise DatasetError(f"COCO annotation file {path} has no {key!r} list")
        return coco

    def _category_labels(self) -> tuple[tuple[str, ...], dict[int, int]]:
        cats = sorted(self._coco["categories"], key=lambda c: int(c["id"]))
        if self._wanted is not None:
            known = {c["name"] for c in cats}
            unknown = [n for n in self._wanted if n not in known]
            if unknown:
                raise ValueError(f"classes {unknown} are not categories of {self.ann_file} ({sorted(known)})")
            cats = [c for c in cats if c["name"] in self._wanted]
        offset = int(self.with_background)
        cat2label = {int(c["id"]): i + offset for i, c in enumerate(cats)}
        names = (("background",) if self.with_background else ()) + tuple(c["name"] for c in cats)
        return names, cat2label

    def load_data_list(self) -> list[dict]:
        """One record per json image, ``seg_anns`` = ``[{label, segmentation, iscrowd, area}]`` in painting order."""
        by_image: dict[int, list[dict]] = defaultdict(list)
        for ann in self._coco.get("annotations", []):
            by_image[int(ann["image_id"])].append(ann)
        records, missing = [], []
        for img in self._coco["images"]:
            path = self.root_path(self.img_dir, img["file_name"])
            if not osp.isfile(path):
                missing.append(path)
                continue
            rec = self.make_record(path, None)
            rec.update(height=int(img["height"]), width=int(img["width"]))
            if self.labeled:
                rec["seg_anns"] = self._painting_order(by_image.get(int(img["id"]), []))
                rec["seg_fill"] = 0 if self.with_background else self.ignore_index
            records.append(rec)
        if missing:
            raise MissingDataError(f"{len(missing)} image(s) of {self.ann_file} not found: {', '.join(missing[:5])}")
        return records

    def _painting_order(self, anns: list[dict]) -> list[dict]:
        out = []
        for ann in anns:
            crowd = bool(ann.get("iscrowd", 0))
            if int(ann["category_id"]) not in self.cat2label and not (crowd and self.crowd_as_ignore):
                continue
            label = IGNORE_INDEX if crowd and self.crowd_as_ignore else self.cat2label[int(ann["category_id"])]
            if label == IGNORE_INDEX:
                label = self.ignore_index
            out.append(dict(label=label, segmentation=ann["segmentation"], iscrowd=int(crowd),
                            area=float(ann.get("area", 0.0))))
        return sorted(out, key=lambda a: (-a["iscrowd"], -a["area"]))
