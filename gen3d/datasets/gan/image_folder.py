"""A folder of images for GAN training: recursive, optionally one subfolder per class (conditional GANs).

Layouts::

    <data_root>/**/*.png|jpg|...          unconditional (``conditional=False``): every image, gt_label -1
    <data_root>/<class>/**/*.png|jpg|...  conditional (``conditional=True``): class names are the sub-folder
                                          names, sorted; gt_label is the index of the class in that order

Hidden files and folders (names starting with ``.``) are skipped. Each record is
``dict(img_path=str, gt_label=int, sample_idx=int)`` (``sample_idx`` added by mmengine); decoding happens in
the pipeline (:class:`~gen3d.datasets.transforms.LoadGANImage`), whose errors name the corrupt file.
"""

import os
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gen3d.registry import DATASETS, TRANSFORMS
from gen3d.runtime.sources import IMAGE_EXTENSIONS

from ..file_check import DatasetError, check_bad_files_policy, check_records, drop_bad_records
from ..serialized import SerializedDataset

UNCONDITIONAL_LABEL = -1
"""``gt_label`` of every image of an unconditional dataset."""


def _list_images(folder: str) -> list[str]:
    """Image files under ``folder`` (recursive, hidden entries skipped), sorted by path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [osp.join(dirpath, f) for f in filenames
                  if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


@DATASETS.register_module()
class ImageFolderDataset(SerializedDataset):
    """Every image of a folder tree, with class labels from the first-level sub-folders when conditional.

    ``metainfo['classes']`` holds the class names (tuple, in label order) of a conditional dataset and None for
    an unconditional one; ``metainfo['num_classes']`` is their count (0 when unconditional), i.e. the ``c_dim``
    of a conditional generator.

    Args:
        data_root: Root folder.
        conditional: Read class labels from the first-level sub-folders (images directly in ``data_root`` are
            then an error); False gives every image ``gt_label = -1``.
        classes: Conditional only: the class folders to use, in label order; None takes every sub-folder
            holding images, sorted by name.
        bad_files: Files that cannot be images (empty, truncated, not an image; a header check of every file when
            the dataset is built, see :mod:`gen3d.datasets.file_check`): ``'error'`` (one BadFilesError listing
            them all), ``'skip'`` (left out, logged once) or ``'off'`` (no check).
        pipeline: Transforms, as config dicts (built in gen3d's TRANSFORMS registry) or callables.
        metainfo: Extra meta information.
        test_mode: Passed to :class:`~mmengine.dataset.BaseDataset`.
        lazy_init: Defer listing the files to the first access.
        serialize_data: Store the records as one byte buffer (shared by dataloader workers).
        **kwargs: Other :class:`~mmengine.dataset.BaseDataset` arguments (``indices``, ``max_refetch``, ...).

    Raises:
        FileNotFoundError: ``data_root`` (or a requested class folder) is missing, or holds no image; names it.
        ValueError: A conditional root with images outside class folders.
    """

    METAINFO: dict = dict(classes=None, num_classes=0)

    def __init__(
        self,
        data_root: str,
        conditional: bool = False,
        classes: Sequence[str] | None = None,
        bad_files: str = "error",
        pipeline: Sequence[dict | Callable] = (),
        metainfo: Mapping | None = None,
        test_mode: bool = False,
        lazy_init: bool = False,
        serialize_data: bool = True,
        **kwargs: Any,
    ) -> None:
        if not data_root or not osp.isdir(data_root):
            raise FileNotFoundError(f"image folder {data_root!r} does not exist or is not a directory")
        self.conditional = bool(conditional)
        if classes is not None and not self.conditional:
            raise ValueError("classes is only meaningful with conditional=True")
        check_bad_files_policy(bad_files)
        self.bad_files = bad_files
        self.requested_classes = None if classes is None else tuple(str(c) for c in classes)
        built = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(
            data_root=str(data_root), metainfo=dict(metainfo or {}), pipeline=built, test_mode=test_mode,
            lazy_init=lazy_init, serialize_data=serialize_data, **kwargs,
        )

    def _class_folders(self) -> tuple[str, ...]:
        """Class names of a conditional root, in label order."""
        root = self.data_root
        if self.requested_classes is not None:
            missing = [c for c in self.requested_classes if not osp.isdir(osp.join(root, c))]
            if missing:
                raise FileNotFoundError(f"class folder(s) {missing} not found under {root}")
            return self.requested_classes
        loose = sorted(e.name for e in os.scandir(root)
                       if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS))
        if loose:
            raise ValueError(f"conditional image folder {root} has images outside class sub-folders "
                             f"(e.g. {loose[0]}); move them into <class>/ folders or use conditional=False")
        return tuple(sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")
                            and _list_images(e.path)))

    def load_data_list(self) -> list[dict]:
        """List the images; also fills ``metainfo['classes']`` and ``metainfo['num_classes']``."""
        root = self.data_root
        records: list[dict] = []
        if self.conditional:
            classes = self._class_folders()
            if not classes:
                raise FileNotFoundError(f"no class sub-folder with images ({', '.join(IMAGE_EXTENSIONS)}) "
                                        f"found under {root}")
            for label, name in enumerate(classes):
                files = _list_images(osp.join(root, name))
                if not files:
                    raise FileNotFoundError(f"class folder {osp.join(root, name)} holds no image")
                records += [dict(img_path=path, gt_label=label) for path in files]
            self._metainfo.update(classes=classes, num_classes=len(classes))
        else:
            records = [dict(img_path=path, gt_label=UNCONDITIONAL_LABEL) for path in _list_images(root)]
            if not records:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {root}")
            self._metainfo.update(classes=None, num_classes=0)
        return records

    def filter_data(self) -> list[dict]:
        """Check every image file once (``bad_files``); called by :meth:`full_init` after :meth:`load_data_list`."""
        where = f"the image folder {self.data_root} ({type(self).__name__})"
        bad = check_records(self.data_list, self.bad_files, where, name="gan_images", keys=("img_path",))
        records = drop_bad_records(self.data_list, bad, ("img_path",))
        if bad and not records:
            raise DatasetError(f"no readable image left in {where}: all {len(self.data_list)} were skipped")
        return records
