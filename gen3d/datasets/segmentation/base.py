"""Common base of the semantic-segmentation datasets: split files, image/mask pairing, label maps, clear errors.

Every record of :meth:`SegDataset.load_data_list` is a dict with:

* ``img_path`` (str) and ``seg_map_path`` (str, or None for unlabeled images);
* ``labeled`` (bool): False for the unlabeled stream of semi-supervised training (no mask is read);
* ``label_map`` (a 256-entry list, raw mask value -> class id, or None) and ``reduce_zero_label`` (bool),
  applied by :class:`~gen3d.datasets.transforms.LoadSegMask`;
* ``ignore_index`` (int, 255);
* optionally ``seg_anns`` / ``height`` / ``width`` (COCO annotations rasterised at load time).

Split files hold one entry per line (blank lines and ``#`` comments are skipped). An entry is either a bare
id / stem (``2007_000032``), looked up in ``img_dir`` and ``ann_dir``, or a path relative to ``data_root``
ending in an image extension (``leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png``), optionally
followed by the mask path, as in U2PL's split lists.
"""

import os
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PIL import Image

from gen3d.registry import DATASETS, TRANSFORMS

from ..file_check import DatasetError, MissingDataError, check_bad_files_policy, check_records, drop_bad_records
from ..serialized import SerializedDataset

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
"""Image extensions accepted when an image is looked up by stem (case-insensitive)."""

IGNORE_INDEX = 255
"""Label of void / unlabeled / padded pixels, never counted by losses or metrics (VOC, Cityscapes, U2PL)."""

_MAX_LISTED = 5  # missing files named in one error message


def make_label_lut(mapping: Mapping[int, int], default: int | None = None) -> list[int]:
    """A 256-entry lookup table from raw mask values to class ids.

    Args:
        mapping: Raw value -> class id.
        default: Class id of the raw values not in ``mapping``; None keeps them unchanged.

    Returns:
        ``lut`` with ``lut[raw] = class id``, as a list (serialisable into records).
    """
    lut = list(range(256)) if default is None else [int(default)] * 256
    for raw, new in mapping.items():
        if not 0 <= int(raw) < 256:
            raise ValueError(f"label_map keys must be in [0, 255], got {raw}")
        lut[int(raw)] = int(new)
    return lut


def is_image_name(name: str) -> bool:
    """Whether ``name`` ends with an image extension (case-insensitive)."""
    return osp.splitext(name)[1].lower() in IMG_EXTENSIONS


def image_size(path: str) -> tuple[int, int]:
    """``(H, W)`` of an image file, read from its header only."""
    with Image.open(path) as img:
        return img.height, img.width


@DATASETS.register_module()
class SegDataset(SerializedDataset):
    """Image / mask pairs listed by a split file (or every image of ``img_dir``), one class id per mask pixel.

    Args:
        data_root: Dataset root; ``img_dir``, ``ann_dir`` and relative split files are taken under it.
        split: None (every image of ``img_dir``), a split name (``<data_root>/<split_dir>/<split>.txt``) or a
            split file path (absolute, or relative to ``data_root`` or to the working directory).
        img_dir: Image folder, relative to ``data_root``.
        ann_dir: Mask folder, relative to ``data_root``.
        split_dir: Folder of the named split files, relative to ``data_root``.
        img_suffix: Image file suffix for stems; None tries every image extension.
        seg_map_suffix: Mask file suffix appended to a stem.
        labeled: Whether every image must have a mask (FileNotFoundError naming the image and the expected mask
            otherwise). False: masks are not looked up (the unlabeled stream).
        reduce_zero_label: Map mask value 0 to ``ignore_index`` and shift the others down by one (for
            datasets whose 0 means "other", e.g. ADE20K).
        ignore_index: Label of ignored pixels.
        label_map: Raw mask value -> class id, applied on load; unmapped values go to ``label_map_default``.
        label_map_default: Class id of unmapped raw values; None keeps them.
        check_masks: Read every mask header at construction and raise ValueError on an image / mask size
            mismatch (else the mismatch is reported when the mask is loaded).
        bad_files: What to do with image / mask files that cannot be images (empty, truncated, not an image),
            found by a header check of every file of the split when the dataset is built (see
            :mod:`gen3d.datasets.file_check`): ``'error'`` (one BadFilesError listing them all), ``'skip'`` (leave
            their records out, logged once) or ``'off'`` (no check).
        classes: Class names; None takes ``metainfo['classes']`` or the class default.
        palette: ``[[R, G, B], ...]`` per class, for visualisation.
        pipeline: Transforms, as config dicts (built in gen3d's TRANSFORMS registry) or callables.
        metainfo: Extra meta information (``classes``, ``palette``, ...).
        test_mode: Passed to :class:`~mmengine.dataset.BaseDataset`.
        lazy_init: Defer listing the files to the first access.
        serialize_data: Store the records as one byte buffer (shared by dataloader workers).
        **kwargs: Other :class:`~mmengine.dataset.BaseDataset` arguments (``indices``, ``max_refetch``, ...).
    """

    METAINFO: dict = dict(classes=None, palette=None)

    def __init__(
        self,
        data_root: str,
        split: str | None = None,
        img_dir: str = "images",
        ann_dir: str = "masks",
        split_dir: str = "splits",
        img_suffix: str | None = None,
        seg_map_suffix: str = ".png",
        labeled: bool = True,
        reduce_zero_label: bool = False,
        ignore_index: int = IGNORE_INDEX,
        label_map: Mapping[int, int] | None = None,
        label_map_default: int | None = None,
        check_masks: bool = False,
        bad_files: str = "error",
        classes: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        pipeline: Sequence[dict | Callable] = (),
        metainfo: Mapping | None = None,
        test_mode: bool = False,
        lazy_init: bool = False,
        serialize_data: bool = True,
        **kwargs: Any,
    ) -> None:
        if not data_root or not osp.isdir(data_root):
            raise MissingDataError(f"data_root {data_root!r} does not exist or is not a directory")
        check_bad_files_policy(bad_files)
        self.bad_files = bad_files
        self.split = split
        self.img_dir = img_dir
        self.ann_dir = ann_dir
        self.split_dir = split_dir
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.labeled = bool(labeled)
        self.reduce_zero_label = bool(reduce_zero_label)
        self.ignore_index = int(ignore_index)
        self.label_lut = None if label_map is None else make_label_lut(label_map, label_map_default)
        self.check_masks = bool(check_masks)
        self._stem_index: dict[str, str] | None = None
        metainfo = dict(metainfo or {})
        if classes is not None:
            metainfo["classes"] = tuple(classes)
        if palette is not None:
            metainfo["palette"] = [list(c) for c in palette]
        built = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(
            data_root=str(data_root),
            metainfo=metainfo,
            pipeline=built,
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            **kwargs,
        )
        self._metainfo.setdefault("ignore_index", self.ignore_index)
        self._metainfo.setdefault("reduce_zero_label", self.reduce_zero_label)

    # ----------------------------------------------------------------------------------------------------------
    # Paths.

    def root_path(self, *parts: str) -> str:
        """``parts`` joined under ``data_root``."""
        return osp.join(self.data_root, *parts)

    def resolve_split_file(self) -> str | None:
        """The split file to read, or None when ``split`` is None.

        Raises:
            FileNotFoundError: Naming every place the split file was looked for.
        """
        if self.split is None:
            return None
        split = str(self.split)
        candidates = [split, self.root_path(split), self.root_path(self.split_dir, f"{split}.txt")]
        if osp.isabs(split):
            candidates = [split]
        for path in candidates:
            if osp.isfile(path):
                return path
        tried = ", ".join(dict.fromkeys(candidates))
        raise MissingDataError(f"split file for split={split!r} not found (looked for: {tried})")

    def find_image(self, stem: str) -> str | None:
        """The image of ``stem`` in ``img_dir`` (``img_suffix``, or any image extension), or None."""
        if self.img_suffix is not None:
            path = self.root_path(self.img_dir, stem + self.img_suffix)
            return path if osp.isfile(path) else None
        if self._stem_index is None:
            folder = self.root_path(self.img_dir)
            self._stem_index = {}
            if osp.isdir(folder):
                for name in sorted(list_files(folder)):
                    if is_image_name(name) and not name.startswith("."):
                        self._stem_index.setdefault(osp.splitext(name)[0], osp.join(folder, name))
        return self._stem_index.get(stem)

    def expected_image(self, stem: str) -> str:
        """Where the image of ``stem`` is looked for, for error messages."""
        suffix = self.img_suffix if self.img_suffix is not None else ".<jpg|png|...>"
        return self.root_path(self.img_dir, stem + suffix)

    def mask_path(self, stem: str) -> str:
        """The mask path of ``stem``: ``<data_root>/<ann_dir>/<stem><seg_map_suffix>``."""
        return self.root_path(self.ann_dir, stem + self.seg_map_suffix)

    def parse_split_line(self, line: str) -> tuple[str | None, str, str | None]:
        """One split-file entry -> ``(img_path or None if missing, what was looked for, mask path or None)``."""
        tokens = line.split()
        first = tokens[0]
        if is_image_name(first):
            img = first if osp.isabs(first) else self.root_path(first)
            mask = None
            if len(tokens) > 1:
                mask = tokens[1] if osp.isabs(tokens[1]) else self.root_path(tokens[1])
            elif self.labeled:
                mask = self.mask_path(osp.splitext(osp.basename(first))[0])
            return (img if osp.isfile(img) else None), img, mask
        return self.find_image(first), self.expected_image(first), self.mask_path(first) if self.labeled else None

    def list_all(self) -> list[tuple[str | None, str, str | None]]:
        """Entries of every image in ``img_dir`` (used when ``split`` is None)."""
        folder = self.root_path(self.img_dir)
        if not osp.isdir(folder):
            raise MissingDataError(f"image folder {folder} not found")
        names = sorted(n for n in list_files(folder) if is_image_name(n) and not n.startswith("."))
        if self.img_suffix is not None:
            names = [n for n in names if n.endswith(self.img_suffix)]
        entries = []
        for name in names:
            stem = name[: -len(self.img_suffix)] if self.img_suffix else osp.splitext(name)[0]
            path = osp.join(folder, name)
            entries.append((path, path, self.mask_path(stem) if self.labeled else None))
        return entries

    # ----------------------------------------------------------------------------------------------------------

    def read_split_lines(self, path: str) -> list[str]:
        """Non-empty, non-comment lines of a split file."""
        with open(path, encoding="utf-8") as f:
            lines = [ln.strip() for ln in f]
        return [ln for ln in lines if ln and not ln.startswith("#")]

    def make_record(self, img_path: str, seg_map_path: str | None) -> dict:
        """One record (see the module docstring)."""
        return dict(
            img_path=img_path,
            seg_map_path=seg_map_path,
            labeled=self.labeled,
            label_map=self.label_lut,
            reduce_zero_label=self.reduce_zero_label,
            ignore_index=self.ignore_index,
        )

    def load_entries(self) -> list[tuple[str | None, str, str | None]]:
        """``(image or None, expected image, mask)`` per entry of the split (override for other layouts)."""
        split_file = self.resolve_split_file()
        if split_file is None:
            return self.list_all()
        entries = [self.parse_split_line(ln) for ln in self.read_split_lines(split_file)]
        if not entries:
            raise DatasetError(f"split file {split_file} lists no image")
        return entries

    def load_data_list(self) -> list[dict]:
        """Records of the split; raises FileNotFoundError naming missing images or masks (a few, and a count)."""
        entries = self.load_entries()
        missing_img = [expected for img, expected, _ in entries if img is None]
        if missing_img:
            raise MissingDataError(
                f"{len(missing_img)} image(s) of split {self.split!r} not found under {self.data_root}: "
                f"{', '.join(missing_img[:_MAX_LISTED])}{' ...' if len(missing_img) > _MAX_LISTED else ''}"
            )
        if self.labeled:
            missing = [f"{img} (expected mask {mask})" for img, _, mask in entries if not mask or not osp.isfile(mask)]
            if missing:
                raise MissingDataError(
                    f"{len(missing)} image(s) of the labeled split {self.split!r} have no mask: "
                    f"{'; '.join(missing[:_MAX_LISTED])}{' ...' if len(missing) > _MAX_LISTED else ''}. "
                    "Unlabeled images belong in an unlabeled split (labeled=False)."
                )
        return [self.make_record(img, mask if self.labeled else None) for img, _, mask in entries]

    def filter_data(self) -> list[dict]:
        """Check every image (and mask) file of the split (``bad_files``), then the mask sizes (``check_masks``).

        Called by :meth:`full_init` after :meth:`load_data_list`, so it covers every layout.
        """
        keys = ("img_path", "seg_map_path") if self.labeled else ("img_path",)
        split = "all" if self.split is None else osp.splitext(osp.basename(str(self.split)))[0]
        where = f"split {split!r} of {type(self).__name__} under {self.data_root}"
        bad = check_records(self.data_list, self.bad_files, where, name=split, keys=keys)
        records = drop_bad_records(self.data_list, bad, keys)
        if bad and not records:
            raise DatasetError(f"no readable image left in {where}: all {len(self.data_list)} were skipped")
        if self.check_masks and self.labeled:
            for rec in records:
                if rec.get("seg_map_path"):
                    check_mask_size(rec["img_path"], rec["seg_map_path"])
        return records


def check_mask_size(img_path: str, seg_map_path: str) -> None:
    """Raise ValueError naming both files when the mask and the image sizes differ (headers only)."""
    img_hw, mask_hw = image_size(img_path), image_size(seg_map_path)
    if img_hw != mask_hw:
        raise DatasetError(
            f"mask {seg_map_path} is {mask_hw[1]}x{mask_hw[0]} (WxH) but image {img_path} is "
            f"{img_hw[1]}x{img_hw[0]}"
        )


def list_files(folder: str) -> list[str]:
    """Names of the regular files directly inside ``folder``."""
    return [e.name for e in os.scandir(folder) if e.is_file()]
