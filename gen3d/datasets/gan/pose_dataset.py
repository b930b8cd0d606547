"""Posed images with optional true geometry, for 3D-aware GANs (pi-GAN, GeoD, DepthGAN).

Layout (``--data-root`` points at ``<root>``; file formats in :mod:`gen3d.datasets.transforms.pose_transforms`)::

    <root>/images/<stem>.png        RGB (or any of IMAGE_EXTENSIONS), one stem per image
    <root>/depth/<stem>.png|.npy    optional: 16-bit PNG (metres = value / depth_scale) or float .npy, ray distance
    <root>/normal/<stem>.png        optional: unit camera-space normals as RGB round((n + 1) * 127.5)
    <root>/mask/<stem>.png          optional: 8-bit foreground opacity
    <root>/poses.json               {"version": 1, "depth_scale": s, "classes": [...],
                                     "poses": {"<stem>": {"yaw": r, "pitch": r, "radius": m, "fov": deg,
                                               "label": i}}}

Poses follow :mod:`gen3d.models.rendering.cameras` (yaw about world ``+y``, pitch the polar angle from ``+y``,
camera on ``r * (sin p cos y, cos p, sin p sin y)`` looking at the origin; ``fov`` the full field of view in degrees).
``depth_scale``, ``classes`` and each entry's ``label`` are optional; other keys are refused.

``require`` names what every image must have (``'pose'``, ``'depth'``, ``'normal'``, ``'mask'``). A required kind is
checked in full when the dataset is built: a missing file, an orphan file (no image of its stem), two depth files of
one stem, a size other than the image's, a ``poses.json`` entry missing, extra or with unknown keys raise
:class:`~gen3d.datasets.file_check.MissingDataError` / :class:`~gen3d.datasets.file_check.DatasetError` naming the
file. Kinds that are not required are neither read nor checked, so images without geometry are fine for a
geometry source that does not need it.

Each record: ``img_path``, ``gt_label`` (the entry's ``label``, else -1), ``stem``, ``<kind>_path`` per required
geometry kind, ``depth_scale`` (with depth), and ``yaw``, ``pitch``, ``radius``, ``fov`` (with pose).
"""

import json
import math
import os
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from gen3d.registry import DATASETS, TRANSFORMS
from gen3d.runtime.sources import IMAGE_EXTENSIONS

from ..file_check import DatasetError, MissingDataError, check_bad_files_policy, check_records, drop_bad_records
from ..serialized import SerializedDataset
from .image_folder import UNCONDITIONAL_LABEL

IMAGES_DIR = "images"
POSES_FILE = "poses.json"
POSES_VERSION = 1
REQUIRABLE = ("pose", "depth", "normal", "mask")
GEOMETRY_EXTENSIONS = {"depth": (".png", ".npy"), "normal": (".png",), "mask": (".png",)}
TOP_KEYS = ("version", "depth_scale", "classes", "poses", "source")
ENTRY_KEYS = ("yaw", "pitch", "radius", "fov")
OPTIONAL_ENTRY_KEYS = ("label",)


def _stems(folder: str, extensions: Sequence[str]) -> dict[str, str]:
    """``{stem: path}`` of the non-hidden files of ``folder`` with one of ``extensions``; one file per stem."""
    found: dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        if name.startswith(".") or ext.lower() not in extensions:
            continue
        path = osp.join(folder, name)
        if stem in found:
            raise DatasetError(f"two files of stem {stem!r} in {folder}: {osp.basename(found[stem])} and {name}; "
                               "keep one")
        found[stem] = path
    return found


def _size(path: str) -> tuple[int, int]:
    """``(H, W)`` of an image (header only) or a ``.npy`` array; raises DatasetError naming the file."""
    try:
        if path.endswith(".npy"):
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            if len(shape) != 2:
                raise DatasetError(f"depth file {path} holds shape {shape}, expected (H, W)")
            return int(shape[0]), int(shape[1])
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except DatasetError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to read the header names the file
        raise DatasetError(f"cannot read the size of {path} ({type(err).__name__}: {err})") from err


def read_poses_file(path: str) -> dict:
    """Parse and check ``poses.json`` (top-level keys and every entry); raises DatasetError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {path}: {err}") from err
    if not isinstance(meta, dict) or not isinstance(meta.get("poses"), dict):
        raise DatasetError(f"{path} must be a JSON object with a 'poses' object of {{stem: {{yaw, pitch, radius, "
                           "fov}}}}")
    unknown = sorted(set(meta) - set(TOP_KEYS))
    if unknown:
        raise DatasetError(f"{path}: unknown top-level key(s) {unknown}; allowed {list(TOP_KEYS)}")
    if meta.get("version", POSES_VERSION) != POSES_VERSION:
        raise DatasetError(f"{path}: version {meta['version']!r} is not {POSES_VERSION}")
    scale = meta.get("depth_scale")
    if scale is not None and not (isinstance(scale, int | float) and scale > 0):
        raise DatasetError(f"{path}: depth_scale must be a positive number, got {scale!r}")
    for stem, entry in meta["poses"].items():
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}: entry {stem!r} must be an object with keys {list(ENTRY_KEYS)}")
        missing = [k for k in ENTRY_KEYS if k not in entry]
        unknown = sorted(set(entry) - set(ENTRY_KEYS) - set(OPTIONAL_ENTRY_KEYS))
        if missing or unknown:
            raise DatasetError(f"{path}: entry {stem!r} " + (f"lacks {missing}" if missing else "")
                               + (" and " if missing and unknown else "") + (f"has unknown key(s) {unknown}"
                                                                            if unknown else ""))
        for key in ENTRY_KEYS:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise DatasetError(f"{path}: entry {stem!r} {key} must be a finite number, got {value!r}")
        if "label" in entry and (isinstance(entry["label"], bool) or not isinstance(entry["label"], int)):
            raise DatasetError(f"{path}: entry {stem!r} label must be an integer, got {entry['label']!r}")
    return meta


@DATASETS.register_module()
class PoseImageDataset(SerializedDataset):
    """Images with camera poses and, where required, true depth, normals and masks (layout in the module docstring).

    ``metainfo['classes']`` holds ``poses.json``'s class names (None without) and ``metainfo['num_classes']`` their
    count.

    Args:
        data_root: Root folder (holding ``images/``).
        require: What every image must have, from :data:`REQUIRABLE`; ``()`` reads the images alone.
        depth_scale: 16-bit depth: metres per unit is ``1 / depth_scale``; None takes ``poses.json``'s.
        bad_files: Header / end check of the image and PNG files (:mod:`gen3d.datasets.file_check`):
            ``'error'``, ``'skip'`` (records with a bad file left out) or ``'off'``. Sizes are checked always.
        pipeline: Transforms, as config dicts or callables.
        metainfo: Extra meta information.
        test_mode: Passed to :class:`~mmengine.dataset.BaseDataset`.
        lazy_init: Defer listing the files to the first access.
        serialize_data: Store the records as one byte buffer.
        **kwargs: Other :class:`~mmengine.dataset.BaseDataset` arguments.

    Raises:
        MissingDataError: No ``images/`` folder or no image; a required file, folder or ``poses.json`` entry absent.
        DatasetError: Orphan, ambiguous or mis-sized geometry files; a malformed ``poses.json``.
    """

    METAINFO: dict = dict(classes=None, num_classes=0)

    def __init__(
        self,
        data_root: str,
        require: Sequence[str] = ("pose",),
        depth_scale: float | None = None,
        bad_files: str = "error",
        pipeline: Sequence[dict | Callable] = (),
        metainfo: Mapping | None = None,
        test_mode: bool = False,
        lazy_init: bool = False,
        serialize_data: bool = True,
        **kwargs: Any,
    ) -> None:
        if not data_root or not osp.isdir(data_root):
            raise MissingDataError(f"posed image folder {data_root!r} does not exist or is not a directory")
        unknown = [k for k in require if k not in REQUIRABLE]
        if unknown:
            raise ValueError(f"require holds {unknown}; choose from {REQUIRABLE}")
        check_bad_files_policy(bad_files)
        self.require = tuple(dict.fromkeys(require))
        self.depth_scale = None if depth_scale is None else float(depth_scale)
        self.bad_files = bad_files
        built = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(
            data_root=str(data_root), metainfo=dict(metainfo or {}), pipeline=built, test_mode=test_mode,
            lazy_init=lazy_init, serialize_data=serialize_data, **kwargs,
        )

    def _geometry(self, kind: str, stems: Sequence[str]) -> dict[str, str]:
        """``{stem: path}`` of a required geometry kind; every image has one, no file lacks an image."""
        folder = osp.join(self.data_root, kind)
        exts = GEOMETRY_EXTENSIONS[kind]
        if not osp.isdir(folder):
            raise MissingDataError(f"{kind} is required but {folder} does not exist")
        files = _stems(folder, exts)
        missing = [s for s in stems if s not in files]
        if missing:
            raise MissingDataError(f"{len(missing)} image(s) have no {kind} file, e.g. "
                                   f"{osp.join(folder, missing[0] + exts[0])} (for {IMAGES_DIR}/{missing[0]}.*)")
        orphans = sorted(set(files) - set(stems))
        if orphans:
            raise DatasetError(f"{files[orphans[0]]} has no image of its stem in {IMAGES_DIR}/ "
                               f"({len(orphans)} such {kind} file(s)); remove them or add the images")
        return files

    def _poses(self, stems: Sequence[str], path: str) -> dict:
        """Entries of ``poses.json`` for ``stems`` (exactly those)."""
        meta = read_poses_file(path)
        poses = meta["poses"]
        missing = [s for s in stems if s not in poses]
        if missing:
            raise MissingDataError(f"{path} has no pose for {len(missing)} image(s), e.g. {missing[0]!r}")
        extra = sorted(set(poses) - set(stems))
        if extra:
            raise DatasetError(f"{path} has {len(extra)} pose(s) without an image in {IMAGES_DIR}/, e.g. {extra[0]!r}")
        return meta

    def load_data_list(self) -> list[dict]:
        """List and cross-check the files of the required kinds; fills ``metainfo['classes' | 'num_classes']``."""
        img_dir = osp.join(self.data_root, IMAGES_DIR)
        if not osp.isdir(img_dir):
            raise MissingDataError(f"{img_dir} does not exist (the posed image layout keeps images in {IMAGES_DIR}/)")
        images = _stems(img_dir, IMAGE_EXTENSIONS)
        if not images:
            raise MissingDataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {img_dir}")
        stems = list(images)
        poses_path = osp.join(self.data_root, POSES_FILE)
        meta: dict = {}
        if "pose" in self.require:
            if not osp.isfile(poses_path):
                raise MissingDataError(f"pose is required but {poses_path} does not exist")
            meta = self._poses(stems, poses_path)
        elif osp.isfile(poses_path) and "depth" in self.require:
            meta = read_poses_file(poses_path)  # for depth_scale only
        geometry = {kind: self._geometry(kind, stems) for kind in GEOMETRY_EXTENSIONS if kind in self.require}
        scale = self.depth_scale if self.depth_scale is not None else meta.get("depth_scale")
        if "depth" in geometry and scale is None and any(p.endswith(".png") for p in geometry["depth"].values()):
            raise DatasetError(f"16-bit depth PNGs in {osp.join(self.data_root, 'depth')} need a depth_scale: add it "
                               f"to {poses_path} or pass depth_scale=")
        classes = meta.get("classes") if "pose" in self.require else None
        self._metainfo.update(classes=None if classes is None else tuple(classes),
                              num_classes=0 if classes is None else len(classes))
        records = []
        for stem in stems:
            rec: dict[str, Any] = dict(img_path=images[stem], stem=stem, gt_label=UNCONDITIONAL_LABEL)
            for kind, files in geometry.items():
                rec[f"{kind}_path"] = files[stem]
            if "depth" in geometry:
                rec["depth_scale"] = None if scale is None else float(scale)
            if "pose" in self.require:
                entry = meta["poses"][stem]
                rec.update({k: float(entry[k]) for k in ENTRY_KEYS})
                label = entry.get("label", UNCONDITIONAL_LABEL)
                if classes is not None and not 0 <= label < len(classes):
                    raise DatasetError(f"{poses_path}: entry {stem!r} label {label} is not in [0, {len(classes)})")
                rec["gt_label"] = int(label)
            records.append(rec)
        return records

    def filter_data(self) -> list[dict]:
        """Check the files (``bad_files``), then that every geometry file has its image's size."""
        where = f"the posed image folder {self.data_root} ({type(self).__name__})"
        keys = ("img_path",) + tuple(f"{k}_path" for k in GEOMETRY_EXTENSIONS if k in self.require)
        png = [{k: r[k] for k in keys if not str(r[k]).endswith(".npy")} for r in self.data_list]
        bad = check_records(png, self.bad_files, where, name="pose_images", keys=keys)
        records = drop_bad_records(self.data_list, bad, keys)
        if bad and not records:
            raise DatasetError(f"no readable image left in {where}: all {len(self.data_list)} were skipped")
        for rec in records:
            size = _size(rec["img_path"])
            for key in keys[1:]:
                other = _size(rec[key])
                if other != size:
                    raise DatasetError(f"{rec[key]} is {other[0]}x{other[1]} (HxW) but its image {rec['img_path']} "
                                       f"is {size[0]}x{size[1]}")
        return records
