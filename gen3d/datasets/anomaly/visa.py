"""VisA (Zou et al., ECCV 2022) in its raw, as-downloaded layout, split by ``split_csv/1cls.csv``."""

import csv
import os.path as osp
import warnings
from collections import defaultdict
from typing import Any

from gen3d.registry import DATASETS

from ..file_check import DatasetError, MissingDataError
from .base import NORMAL, AnomalyDataset

CSV_COLUMNS = ("object", "split", "label", "image", "mask")
LABELS = {"normal": 0, "anomaly": 1}
ANOMALY = "anomaly"


@DATASETS.register_module()
class VisADataset(AnomalyDataset):
    """VisA, all classes under ``data_root`` in one dataset, read from the raw layout (no conversion step).

    Layout::

        <data_root>/<cls>/Data/Images/Normal/*.JPG
        <data_root>/<cls>/Data/Images/Anomaly/*.JPG
        <data_root>/<cls>/Data/Masks/Anomaly/*.png     non-binary region ids; binarised != 0 when loaded
        <data_root>/split_csv/1cls.csv                 columns object,split,label,image,mask

    Each csv row is one image: ``object`` is the class folder name, ``split`` is ``train`` or ``test``,
    ``label`` is ``normal`` or ``anomaly``, ``image`` and ``mask`` are paths relative to ``data_root``
    (``mask`` empty for normal images). Classes are the folders under ``data_root`` (``split_csv`` excluded);
    rows of other objects are ignored. Training rows labelled ``anomaly`` (as in ``2cls_*.csv``) are skipped
    with a warning. Defective images get ``defect_type='anomaly'`` (1cls.csv has no defect names).

    Args:
        data_root: The VisA root (the folder holding ``candle/``, ..., ``split_csv/``).
        split_file: The split csv, relative to ``data_root`` or absolute.
        **kwargs: See :class:`~gen3d.datasets.anomaly.AnomalyDataset`.
    """

    RESERVED_DIRS = ("split_csv",)
    LAYOUT = "<data_root>/<class>/Data/Images/{Normal,Anomaly}/*.JPG and <data_root>/split_csv/1cls.csv"

    def __init__(self, data_root: str, split_file: str = "split_csv/1cls.csv", **kwargs: Any) -> None:
        self.split_file = split_file if osp.isabs(split_file) else osp.join(str(data_root), split_file)
        self._rows: dict[tuple[str, str], list[dict]] | None = None
        super().__init__(data_root, **kwargs)

    def _read_csv(self) -> dict[tuple[str, str], list[dict]]:
        """Rows of the split csv grouped by (object, split), each row validated."""
        if self._rows is not None:
            return self._rows
        if not osp.isfile(self.split_file):
            raise MissingDataError(f"VisA split file {self.split_file} not found")
        rows: dict[tuple[str, str], list[dict]] = defaultdict(list)
        with open(self.split_file, newline="") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            if not set(CSV_COLUMNS) <= set(columns):
                raise DatasetError(f"{self.split_file} must have columns {CSV_COLUMNS}, found {columns}")
            for line, raw in enumerate(reader, start=2):
                row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
                if row["split"] not in ("train", "test") or row["label"] not in LABELS:
                    raise DatasetError(
                        f"{self.split_file} line {line}: split must be train/test and label normal/anomaly, "
                        f"got split={row['split']!r} label={row['label']!r}"
                    )
                rows[(row["object"], row["split"])].append(row)
        self._rows = dict(rows)
        return self._rows

    def _path(self, rel: str, line_hint: str) -> str:
        path = osp.join(self.data_root, rel)
        if not osp.isfile(path):
            raise MissingDataError(f"image {path} listed in {self.split_file} ({line_hint}) not found")
        return path

    def _records(self, cls_name: str, split: str) -> list[dict]:
        records = []
        skipped = 0
        for row in self._read_csv().get((cls_name, split), []):
            img_path = self._path(row["image"], f"object {cls_name}")
            if row["label"] == "normal":
                records.append(self.make_record(img_path, cls_name, NORMAL))
                continue
            if split == "train":
                skipped += 1
                continue
            mask = osp.join(self.data_root, row["mask"]) if row["mask"] else None
            expected = mask or f"the mask column of {self.split_file}"
            if mask is not None and not osp.isfile(mask):
                mask = None
            records.append(self.make_record(img_path, cls_name, ANOMALY, mask, None, expected))
        if skipped:
            warnings.warn(
                f"{skipped} anomalous training image(s) of class {cls_name!r} in {self.split_file} skipped",
                stacklevel=2,
            )
        return sorted(records, key=lambda r: r["img_path"])

    def load_data_list(self) -> list[dict]:
        """Records of the requested split (see :class:`AnomalyDataset`); the parsed csv is dropped afterwards."""
        try:
            return super().load_data_list()
        finally:
            self._rows = None

    def load_train_good(self, cls_name: str) -> list[dict]:
        """Normal ``train`` rows of the csv for ``cls_name``."""
        return self._records(cls_name, "train")

    def load_test(self, cls_name: str) -> list[dict]:
        """``test`` rows of the csv for ``cls_name``."""
        return self._records(cls_name, "test")

    def describe_source(self, cls_name: str, split: str) -> str:
        """The csv and the object name looked up in it."""
        return f"{self.split_file} (object={cls_name!r}, split={'test' if split == 'test' else 'train'!r})"
