"""Common base of the anomaly-detection datasets: class discovery, train/val hold-out, empty-class and mask policy.

One dataset object covers every product class found under ``data_root`` (UniAD trains one model for all of
them), and each record carries its ``cls_name`` so metrics and thresholds can be reported per class.

Splits:
    ``train``: the layout's normal training images minus the held-out validation part.
    ``val``: the held-out part (``val_ratio`` of each class's normal training images, drawn with ``seed``;
    at least one image when a class has two or more). Only normal images: thresholds are fitted on it as a
    quantile of normal scores and checkpoints are selected on it; the test split is used for neither.
    ``test``: the layout's test images (normal and defective), for reporting only.
"""

import os.path as osp
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gen3d.registry import TRANSFORMS

from ..file_check import MissingDataError, check_bad_files_policy, check_records, drop_bad_records
from ..serialized import SerializedDataset
from ._utils import list_subdirs, seeded_rng, split_holdout

SPLITS = ("train", "val", "test")
MISSING_MASK_POLICIES = ("error", "full", "empty")
NORMAL = "good"


class AnomalyDataset(SerializedDataset, metaclass=ABCMeta):
    """Base class of the anomaly datasets; subclasses implement :meth:`load_train_good` and :meth:`load_test`.

    Every record of :meth:`load_data_list` is a dict with ``img_path`` (str), ``mask_path`` (str or None),
    ``mask_rle`` (COCO RLE dict or None), ``mask_fill`` (0 or 1: the mask value used when neither is given),
    ``cls_name`` (str), ``defect_type`` (``'good'`` for normal images) and ``gt_label`` (0 normal, 1 defective).

    Args:
        data_root: Folder holding one sub-folder per product class.
        split: ``'train'``, ``'val'`` or ``'test'``.
        classes: Class folder names to use; ``None`` takes ``metainfo['classes']`` if given, else every class
            folder under ``data_root`` (sorted).
        val_ratio: Share of each class's normal training images held out as the ``val`` split, in ``[0, 1)``.
        seed: Seed of the hold-out draw (the draw is per class, so adding a class changes no other class).
        missing_mask: What to do when a defective image has no mask: ``'error'`` (FileNotFoundError naming the
            image and the expected mask path), ``'full'`` (all-ones mask, as UniAD does) or ``'empty'``
            (all-zeros mask).
        skip_empty_classes: Leave out, with a warning, a class with no image for the requested split instead of
            raising :class:`~gen3d.datasets.file_check.MissingDataError` (a ValueError and FileNotFoundError).
        bad_files: What to do with image / mask files that cannot be images (empty, truncated, not an image),
            found by a header check of every file of the split when the dataset is built (see
            :mod:`gen3d.datasets.file_check`): ``'error'`` (one BadFilesError listing them all), ``'skip'`` (leave
            their records out, logged once) or ``'off'`` (no check). For ``train`` / ``val`` all normal training
            images of a class are checked, so one message covers both splits; skipping a file never moves
            another between them.
        pipeline: Transforms, as config dicts (built in ``gen3d``'s TRANSFORMS registry) or callables.
        metainfo: Extra meta information; ``classes`` is always set to the classes actually loaded.
        test_mode: Passed to :class:`~mmengine.dataset.BaseDataset`; defaults to ``split != 'train'``.
        lazy_init: Defer listing the files to the first access.
        serialize_data: Store the records as one byte buffer (shared by dataloader workers).
        **kwargs: Other :class:`~mmengine.dataset.BaseDataset` arguments (``indices``, ``max_refetch``, ...).
    """

    RESERVED_DIRS: tuple[str, ...] = ()
    """Folder names under ``data_root`` that are never classes."""

    LAYOUT: str = "<data_root>/<class>/... (one folder per product class)"
    """The expected layout, named in the error for a data root without class folders."""

    _n_missing_masks: int = 0

    def __init__(
        self,
        data_root: str,
        split: str = "train",
        classes: Sequence[str] | None = None,
        val_ratio: float = 0.1,
        seed: int = 0,
        missing_mask: str = "error",
        skip_empty_classes: bool = False,
        bad_files: str = "error",
        pipeline: Sequence[dict | Callable] = (),
        metainfo: Mapping | None = None,
        test_mode: bool | None = None,
        lazy_init: bool = False,
        serialize_data: bool = True,
        **kwargs: Any,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not 0.0 <= val_ratio < 1.0:
            raise ValueError(f"val_ratio must be in [0, 1), got {val_ratio}")
        if missing_mask not in MISSING_MASK_POLICIES:
            raise ValueError(f"missing_mask must be one of {MISSING_MASK_POLICIES}, got {missing_mask!r}")
        check_bad_files_policy(bad_files)
        if not data_root or not osp.isdir(data_root):
            raise MissingDataError(f"data_root {data_root!r} does not exist or is not a directory")
        self.bad_files = bad_files
        self.split = split
        self.val_ratio = float(val_ratio)
        self.seed = int(seed)
        self.missing_mask = missing_mask
        self.skip_empty_classes = skip_empty_classes
        metainfo = dict(metainfo or {})
        if classes is None:
            classes = metainfo.get("classes")
        self._requested_classes = self._resolve_classes(str(data_root), classes)
        metainfo["classes"] = tuple(self._requested_classes)
        built = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(
            data_root=str(data_root),
            metainfo=metainfo,
            pipeline=built,
            test_mode=split != "train" if test_mode is None else test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            **kwargs,
        )

    # ----------------------------------------------------------------------------------------------------------
    # Hooks for the layouts.

    def discover_classes(self, data_root: str) -> list[str]:
        """Class folder names under ``data_root``: every non-hidden sub-folder not in ``RESERVED_DIRS``, sorted."""
        return list_subdirs(data_root, exclude=self.RESERVED_DIRS)

    @abstractmethod
    def load_train_good(self, cls_name: str) -> list[dict]:
        """Records of the normal training images of one class (train + val), in a stable order."""

    @abstractmethod
    def load_test(self, cls_name: str) -> list[dict]:
        """Records of the test images (normal and defective) of one class."""

    def describe_source(self, cls_name: str, split: str) -> str:
        """Where the images of ``cls_name`` for ``split`` are looked for, for error messages."""
        return osp.join(self.data_root, cls_name)

    # ----------------------------------------------------------------------------------------------------------

    def _resolve_classes(self, data_root: str, classes: Sequence[str] | None) -> list[str]:
        found = self.discover_classes(data_root)
        if classes is None:
            if not found:
                raise MissingDataError(
                    f"no class folder found under data_root {data_root!r}; {type(self).__name__} expects "
                    f"{self.LAYOUT}"
                )
            if osp.isdir(osp.join(data_root, "train", NORMAL)):
                raise MissingDataError(
                    f"data_root {data_root!r} looks like one class folder (it holds train/{NORMAL}); point it at "
                    f"the folder above, which holds one folder per class: {self.LAYOUT}"
                )
            return found
        if isinstance(classes, str):
            classes = [classes]
        missing = [c for c in classes if not osp.isdir(osp.join(data_root, c))]
        if missing:
            paths = ", ".join(osp.join(data_root, c) for c in missing)
            raise MissingDataError(f"class folder(s) not found: {paths} (classes found: {found})")
        return list(classes)

    def make_record(
        self,
        img_path: str,
        cls_name: str,
        defect_type: str,
        mask_path: str | None = None,
        mask_rle: dict | None = None,
        expected_mask: str | None = None,
    ) -> dict:
        """One data record; applies the ``missing_mask`` policy to a defective image without a mask.

        Args:
            img_path: Image file.
            cls_name: Product class.
            defect_type: ``'good'`` for a normal image, else the defect name.
            mask_path: Mask file of a defective image (binarised ``> 0`` when loaded), if any.
            mask_rle: COCO RLE of the mask (``{'size': [H, W], 'counts': bytes}``), if any.
            expected_mask: Where the mask was looked for, named in the error when it is missing.

        Returns:
            The record dict described in the class docstring.
        """
        label = int(defect_type != NORMAL)
        fill = 0
        if label and mask_path is None and mask_rle is None:
            if self.missing_mask == "error":
                where = f" (expected {expected_mask})" if expected_mask else ""
                raise MissingDataError(
                    f"no mask for defective image {img_path}{where}; pass missing_mask='full' (image-level "
                    "label only, e.g. --cfg-options test_dataloader.dataset.missing_mask=full) or 'empty' to use "
                    "an all-ones or all-zeros mask instead"
                )
            fill = int(self.missing_mask == "full")
            self._n_missing_masks += 1
        return dict(
            img_path=str(img_path),
            mask_path=None if mask_path is None else str(mask_path),
            mask_rle=mask_rle,
            mask_fill=fill,
            cls_name=cls_name,
            defect_type=defect_type,
            gt_label=label,
        )

    def _empty_class(self, cls_name: str, detail: str = "") -> None:
        """Raise, or warn when ``skip_empty_classes``, for a class without (usable) images for the split."""
        kind = "test" if self.split == "test" else "normal training"
        msg = f"class {cls_name!r} has no {detail}{kind} images in {self.describe_source(cls_name, self.split)}"
        if not self.skip_empty_classes:
            raise MissingDataError(
                f"{msg}; one model is trained on all classes: add images, remove the class folder, pass "
                "classes=[...] or skip_empty_classes=True"
            )
        warnings.warn(f"{msg}; skipped", stacklevel=3)

    def load_data_list(self) -> list[dict]:
        """Records of the requested split over all classes; updates ``metainfo['classes']`` if some are skipped.

        Every file is checked first (``bad_files``); for ``train`` / ``val`` the check covers the normal training
        images of both splits, and the hold-out is drawn before bad files are left out.
        """
        self._n_missing_masks = 0
        per_class: dict[str, list[dict]] = {}
        for cls_name in self._requested_classes:
            records = self.load_test(cls_name) if self.split == "test" else self.load_train_good(cls_name)
            if records:
                per_class[cls_name] = records
            else:
                self._empty_class(cls_name)
        split_name = self.split if self.split == "test" else "train + val"
        where = f"the {split_name} images of {type(self).__name__} under {self.data_root}"
        bad = check_records([r for recs in per_class.values() for r in recs], self.bad_files, where,
                            name="test" if self.split == "test" else "train_val")
        data_list: list[dict] = []
        kept: list[str] = []
        for cls_name, records in per_class.items():
            if bad and not drop_bad_records(records, bad):
                self._empty_class(cls_name, "readable ")
                continue
            if self.split != "test":
                train, val = split_holdout(records, self.val_ratio, seeded_rng(self.seed, cls_name, "val"))
                records = train if self.split == "train" else val
            data_list.extend(drop_bad_records(records, bad))
            kept.append(cls_name)
        if self._n_missing_masks:
            warnings.warn(
                f"{self._n_missing_masks} defective image(s) have no mask; using "
                f"{'all-ones' if self.missing_mask == 'full' else 'all-zeros'} masks (missing_mask="
                f"{self.missing_mask!r})",
                stacklevel=2,
            )
        if not data_list and self.split == "val":
            warnings.warn(f"the val split of {self.data_root} is empty (val_ratio={self.val_ratio})", stacklevel=2)
        self._metainfo["classes"] = tuple(kept)
        return data_list

    def _serialize_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Serialise the records as mmengine does, also for an empty split (e.g. ``val`` with ``val_ratio=0``)."""
        if not self.data_list:
            return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
        return super()._serialize_data()
