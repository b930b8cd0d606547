"""RGB images with depth for DepthGAN (3D-Aware Indoor Scene Synthesis with Depth Priors, arXiv 2202.08553).

Two layouts, both ``rgb/`` + ``depth/`` folders whose files pair by stem (``--data-root`` points at ``<root>``)::

    <root>/rgb/<stem>.jpg|png|...     RGB (any of IMAGE_EXTENSIONS)
    <root>/depth/<stem>.png|.npy      depth of the same stem
    <root>/rgbd.json                  metric layout only: {"version": 1, "depth_scale": s, "depth_range": [near, far],
                                      "depth_kind": "planar", "fov": deg, "yaw": {stem: rad}, "source": str}

* **Official DepthGAN layout** (no ``rgbd.json``; ``depth_encoding='depthgan'``): what ``datasets/rgbd_dataset.py`` of
  VivianSZF/depthgan reads with ``file_format='dir'`` (its ``'zip'`` format holds the same ``rgb/`` + ``depth/``
  members, so unzip the archive first). Depth is LeReS's relative depth as a 16-bit grey PNG, normalised
  ``(v - 30000) / 30000``. The official code concatenates RGB and depth into one 4-channel tensor in memory; it
  stores no 4-channel file. Its optional annotation file ``{"rgb_paths": [...], "depth_paths": [...]}`` (paths
  relative to the root, paired in sorted order there) is read with ``annotation=``; here each pair must share a stem.
* **Metric layout** (``rgbd.json``; ``depth_encoding='metric'``, what :mod:`gen3d.datasets.rooms_synthesis` writes):
  planar depth in metres, 16-bit PNG ``v / depth_scale`` or float ``.npy``, normalised from ``depth_range``.

Both load to the same tensors (:mod:`gen3d.datasets.transforms.rgbd_transforms`): ``inputs`` uint8 ``[3, H, W]`` and
``data_samples['depth']`` float32 ``[1, H, W]`` in ``[-1, 1]``, which ``GANDataPreprocessor`` stacks as
``real_depth`` ``(N, 1, H, W)``. Every check runs when the dataset is built: an RGB image without its depth file, a
depth file without its image, two depth files of one stem, a depth of another size than its image, an annotation pair
of two stems, or a path leaving the root raise :class:`~gen3d.datasets.file_check.MissingDataError` /
:class:`~gen3d.datasets.file_check.DatasetError` naming the file.

Each record: ``img_path``, ``stem``, ``gt_label`` (-1) and, with depth, ``depth_path``, ``depth_encoding``,
``depth_scale`` and ``depth_range``.
"""

import json
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gen3d.registry import DATASETS, TRANSFORMS
from gen3d.runtime.paths import is_within
from gen3d.runtime.sources import IMAGE_EXTENSIONS

from .file_check import DatasetError, MissingDataError, check_bad_files_policy, check_records, drop_bad_records
from .gan.image_folder import UNCONDITIONAL_LABEL
from .gan.pose_dataset import _size, _stems
from .serialized import SerializedDataset
from .transforms.rgbd_transforms import DEPTH_ENCODINGS, LoadRGBDDepth, PackRGBDInputs

RGB_DIR, DEPTH_DIR, META_FILE = "rgb", "depth", "rgbd.json"
META_VERSION = 1
META_KEYS = ("version", "depth_scale", "depth_range", "depth_kind", "fov", "yaw", "source")
DEPTH_EXTENSIONS = {"depthgan": (".png",), "metric": (".png", ".npy")}


def read_rgbd_meta(path: str) -> dict:
    """Parse and check ``rgbd.json``; raises DatasetError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {path}: {err}") from err
    if not isinstance(meta, dict):
        raise DatasetError(f"{path} must be a JSON object with keys from {list(META_KEYS)}")
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        raise DatasetError(f"{path}: unknown key(s) {unknown}; allowed {list(META_KEYS)}")
    if meta.get("version", META_VERSION) != META_VERSION:
        raise DatasetError(f"{path}: version {meta['version']!r} is not {META_VERSION}")
    if meta.get("depth_kind", "planar") != "planar":
        raise DatasetError(f"{path}: depth_kind {meta['depth_kind']!r}; DepthGAN's warp needs planar (z) depth")
    scale = meta.get("depth_scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0):
        raise DatasetError(f"{path}: depth_scale must be a positive number, got {scale!r}")
    rng = meta.get("depth_range")
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, int | float) for v in rng)
                                and rng[0] < rng[1]):
        raise DatasetError(f"{path}: depth_range must be [near, far] with near < far, got {rng!r}")
    return meta


@DATASETS.register_module()
class RGBDDataset(SerializedDataset):
    """RGB images and their depth (layouts in the module docstring), for DepthGAN's real ``(x_r, d_r)`` pairs.

    Args:
        data_root: Root folder (holding ``rgb/`` and ``depth/``).
        with_depth: Read and check ``depth/``; False lists the RGB images alone (then no pipeline step may ask for
            depth: ``LoadRGBDDepth`` or ``PackRGBDInputs(require_depth=True)`` is refused naming ``with_depth``).
        depth_encoding: ``'depthgan'`` (official files), ``'metric'`` (``rgbd.json``) or None: metric when the root
            has ``rgbd.json``, else the official encoding.
        depth_range: Metric: ``(near, far)`` metres mapped to ``[-1, 1]``; None takes ``rgbd.json``'s.
        depth_scale: Metric 16-bit PNG: units per metre; None takes ``rgbd.json``'s.
        annotation: Official annotation JSON (``rgb_paths``, ``depth_paths``, relative to the root) naming the pairs
            to use; None pairs every file of ``rgb/`` with ``depth/`` by stem.
        bad_files: Header / end check of the PNG and JPEG files (:mod:`gen3d.datasets.file_check`): ``'error'``,
            ``'skip'`` (records with a bad file left out) or ``'off'``. Sizes are checked always.
        pipeline: Transforms, as config dicts or callables.
        metainfo: Extra meta information.
        test_mode: Passed to :class:`~mmengine.dataset.BaseDataset`.
        lazy_init: Defer listing the files to the first access.
        serialize_data: Store the records as one byte buffer.
        **kwargs: Other :class:`~mmengine.dataset.BaseDataset` arguments.

    Raises:
        MissingDataError: No ``rgb/`` folder or image; ``with_depth`` without ``depth/``; an image without depth.
        DatasetError: Orphan, ambiguous, mis-sized or mis-paired depth files; a malformed ``rgbd.json``.
        ValueError: A pipeline asking for depth with ``with_depth=False``; unknown arguments.
    """

    METAINFO: dict = dict(classes=None, num_classes=0)

    def __init__(
        self,
        data_root: str,
        with_depth: bool = True,
        depth_encoding: str | None = None,
        depth_range: Sequence[float] | None = None,
        depth_scale: float | None = None,
        annotation: str | None = None,
        bad_files: str = "error",
        pipeline: Sequence[dict | Callable] = (),
        metainfo: Mapping | None = None,
        test_mode: bool = False,
        lazy_init: bool = False,
        serialize_data: bool = True,
        **kwargs: Any,
    ) -> None:
        if not data_root or not osp.isdir(data_root):
            hint = " (unzip the official archive first: its rgb/ and depth/ members form this layout)" if str(
                data_root).lower().endswith(".zip") else ""
            raise MissingDataError(f"RGBD folder {data_root!r} does not exist or is not a directory{hint}")
        if depth_encoding is not None and depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth_encoding must be one of {DEPTH_ENCODINGS} or None, got {depth_encoding!r}")
        check_bad_files_policy(bad_files)
        built = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        self.with_depth = bool(with_depth)
        if not self.with_depth:
            asks = [t for t in built if isinstance(t, LoadRGBDDepth)
                    or (isinstance(t, PackRGBDInputs) and t.require_depth)]
            if asks:
                raise ValueError(f"the pipeline asks for depth ({asks[0]!r}) but the dataset is built with "
                                 "with_depth=False: set with_depth=True, or drop the depth steps "
                                 "(PackRGBDInputs(require_depth=False))")
        self.depth_encoding = depth_encoding
        self.depth_range = None if depth_range is None else tuple(float(v) for v in depth_range)
        self.depth_scale = None if depth_scale is None else float(depth_scale)
        self.annotation = annotation
        self.bad_files = bad_files
        super().__init__(
            data_root=str(data_root), metainfo=dict(metainfo or {}), pipeline=built, test_mode=test_mode,
            lazy_init=lazy_init, serialize_data=serialize_data, **kwargs,
        )

    def _encoding(self) -> tuple[str, dict]:
        """The depth encoding and the metric layout's ``rgbd.json`` (empty for the official one)."""
        meta_path = osp.join(self.data_root, META_FILE)
        has_meta = osp.isfile(meta_path)
        encoding = self.depth_encoding or ("metric" if has_meta else "depthgan")
        meta = read_rgbd_meta(meta_path) if has_meta and encoding == "metric" else {}
        if encoding == "metric" and (self.depth_range or meta.get("depth_range")) is None:
            raise DatasetError(f"metric depth in {osp.join(self.data_root, DEPTH_DIR)} needs depth_range (near, far) "
                               f"to be normalised to [-1, 1]: add it to {meta_path} or pass depth_range=")
        return encoding, meta

    def _annotated_pairs(self, path: str) -> list[tuple[str, str, str]]:
        """``(stem, rgb path, depth path)`` of the official annotation file, each inside the root."""
        try:
            with open(path, encoding="utf-8") as f:
                ann = json.load(f)
            rgb, depth = sorted(ann["rgb_paths"]), sorted(ann["depth_paths"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DatasetError(f"cannot read the annotation {path} (a JSON object with lists 'rgb_paths' and "
                               f"'depth_paths'): {type(err).__name__}: {err}") from err
        if len(rgb) != len(depth):
            raise DatasetError(f"{path} lists {len(rgb)} rgb_paths but {len(depth)} depth_paths")
        pairs = []
        for img, dep in zip(rgb, depth):
            full = [osp.join(self.data_root, p) for p in (img, dep)]
            for name, p in zip((img, dep), full):
                if not isinstance(name, str) or osp.isabs(name) or not is_within(p, self.data_root):
                    raise DatasetError(f"{path}: {name!r} is not a path inside {self.data_root}")
                if not osp.isfile(p):
                    raise MissingDataError(f"{p} (listed in {path}) does not exist")
            stems = [osp.splitext(osp.basename(p))[0] for p in (img, dep)]
            if stems[0] != stems[1]:
                raise DatasetError(f"{path} pairs {full[0]} with {full[1]} (sorted order): their stems differ")
            pairs.append((stems[0], full[0], full[1]))
        if not pairs:
            raise MissingDataError(f"{path} lists no image")
        return pairs

    def _folder_pairs(self, encoding: str) -> list[tuple[str, str, str | None]]:
        """``(stem, rgb path, depth path or None)`` pairing ``rgb/`` with ``depth/`` by stem."""
        rgb_dir, depth_dir = osp.join(self.data_root, RGB_DIR), osp.join(self.data_root, DEPTH_DIR)
        if not osp.isdir(rgb_dir):
            raise MissingDataError(f"{rgb_dir} does not exist (the RGBD layout keeps images in {RGB_DIR}/ and depth "
                                   f"in {DEPTH_DIR}/)")
        images = _stems(rgb_dir, IMAGE_EXTENSIONS)
        if not images:
            raise MissingDataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {rgb_dir}")
        if not self.with_depth:
            return [(s, p, None) for s, p in images.items()]
        if not osp.isdir(depth_dir):
            raise MissingDataError(f"with_depth=True but {depth_dir} does not exist: add the depth maps or set "
                                   "with_depth=False to read the RGB images alone")
        exts = DEPTH_EXTENSIONS[encoding]
        files = _stems(depth_dir, (".png", ".npy"))
        wrong = [p for p in files.values() if osp.splitext(p)[1].lower() not in exts]
        if wrong:
            raise DatasetError(f"{wrong[0]}: the {encoding} depth encoding takes {' or '.join(exts)} files")
        missing = [s for s in images if s not in files]
        if missing:
            raise MissingDataError(f"{len(missing)} image(s) have no depth file, e.g. "
                                   f"{osp.join(depth_dir, missing[0] + exts[0])} (for {images[missing[0]]})")
        orphans = sorted(set(files) - set(images))
        if orphans:
            raise DatasetError(f"{files[orphans[0]]} has no image of its stem in {rgb_dir} ({len(orphans)} such depth "
                               "file(s)); remove them or add the images")
        return [(s, p, files[s]) for s, p in images.items()]

    def load_data_list(self) -> list[dict]:
        """List and pair the files; checks the depth encoding's settings."""
        encoding, meta = self._encoding() if self.with_depth else ("", {})
        if self.annotation is not None and self.with_depth:
            pairs: list = self._annotated_pairs(self.annotation)
        else:
            pairs = self._folder_pairs(encoding)
        scale = self.depth_scale if self.depth_scale is not None else meta.get("depth_scale")
        if encoding == "metric" and scale is None and any(str(p[2]).endswith(".png") for p in pairs):
            raise DatasetError(f"16-bit metric depth PNGs in {osp.join(self.data_root, DEPTH_DIR)} need a depth_scale: "
                               f"add it to {osp.join(self.data_root, META_FILE)} or pass depth_scale=")
        depth_range = self.depth_range or (tuple(float(v) for v in meta["depth_range"]) if meta.get("depth_range")
                                           else None)
        records = []
        for stem, img, depth in pairs:
            rec: dict[str, Any] = dict(img_path=img, stem=stem, gt_label=UNCONDITIONAL_LABEL)
            if depth is not None:
                rec.update(depth_path=depth, depth_encoding=encoding, depth_range=depth_range,
                           depth_scale=None if scale is None else float(scale))
            records.append(rec)
        return records

    def filter_data(self) -> list[dict]:
        """Check the files (``bad_files``), then that every depth map has its image's size."""
        where = f"the RGBD folder {self.data_root} ({type(self).__name__})"
        keys = ("img_path", "depth_path") if self.with_depth else ("img_path",)
        images = [{k: r[k] for k in keys if not str(r[k]).endswith(".npy")} for r in self.data_list]
        bad = check_records(images, self.bad_files, where, name="rgbd_images", keys=keys)
        records = drop_bad_records(self.data_list, bad, keys)
        if bad and not records:
            raise DatasetError(f"no readable image left in {where}: all {len(self.data_list)} were skipped")
        if self.with_depth:
            for rec in records:
                size, other = _size(rec["img_path"]), _size(rec["depth_path"])
                if other != size:
                    raise DatasetError(f"{rec['depth_path']} is {other[0]}x{other[1]} (HxW) but its image "
                                       f"{rec['img_path']} is {size[0]}x{size[1]}")
        return records
