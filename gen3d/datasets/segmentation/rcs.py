"""Rare Class Sampling (RCS) of DAFormer (Hoyer et al., CVPR'22, arXiv 2111.14887, Sec. 3.3) for a UDA source stream.

Official code (DAFormer, as shipped in usr922/FST): ``tools/convert_datasets/{gta,cityscapes,synthia}.py`` write the
class statistics, ``mmseg/datasets/uda_dataset.py`` (``UDADataset``) and ``step_uda_dataset.py`` (``StepUDADataset``,
FST-W) sample with them. What this module reproduces:

* **Statistics files** (written by ``tools/dataset_converters/seg_class_stats.py`` with :func:`mask_class_stats` and
  :func:`write_class_stats`), all ``json.dump(..., indent=2)`` into the source's ``data_root``:
  ``sample_class_stats.json``, a list with one ``{"<class>": pixels, ..., "file": mask path}`` per mask (classes
  with at least one pixel, ascending; the ignore label not counted); ``sample_class_stats_dict.json``,
  ``{file: {"<class>": pixels}}``; ``samples_with_class.json``, ``{"<class>": [[file, pixels], ...]}`` (classes
  in order of first appearance, files in list order). No pixel threshold is applied when writing.
* **Class probabilities** (:func:`rcs_class_probs`): the total pixel count ``n_c`` of every class present, classes
  sorted by ``n_c`` ascending, ``f_c = n_c / sum(n)`` and ``P(c) = softmax((1 - f_c) / T)`` with ``T = 0.01``.
* **Draw** (:meth:`RareClassSampler.draw`): a class ``c ~ P``, then a file uniformly among those whose stats have
  *more than* ``min_pixels`` (3000) pixels of ``c`` (the filter is applied when the dataset loads the stats, not by
  the converter); files are matched to dataset records by mask file name.
* **Crop check** (:meth:`RareClassSampler.read`): the sample (full pipeline, random crop included) is read again, up
  to 10 more times, until its mask has *more than* ``min_pixels * min_crop_ratio`` (1500) pixels of ``c``; the last
  read is kept either way; ``min_crop_ratio = 0`` disables the check.

gen3d draws the class and the file from ``np.random.default_rng`` seeded with ``(seed, index, tag)`` instead of the
global NumPy generator, so the draw of an item does not depend on workers, visits or a resume (the crops still come
from the pipeline's own random state, as every crop does).
"""

import json
import logging
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mmengine.logging import print_log

from gen3d.datasets.transforms.seg_loading import read_label_map

RCS_CLASS_TEMP = 0.01  # T of configs/fst_*/*.py `rare_class_sampling`
RCS_MIN_PIXELS = 3000  # min_pixels of the same configs
RCS_MIN_CROP_RATIO = 0.5  # min_crop_ratio of the same configs
RCS_CROP_TRIES = 10  # re-reads of the chosen sample in UDADataset.get_rare_class_sample
SAMPLE_CLASS_STATS = "sample_class_stats.json"
SAMPLE_CLASS_STATS_DICT = "sample_class_stats_dict.json"
SAMPLES_WITH_CLASS = "samples_with_class.json"
STATS_TOOL = "tools/dataset_converters/seg_class_stats.py"
TRAIN_ID_SUFFIX = "_labelTrainIds"  # DAFormer's converted GTA5 / SYNTHIA masks: <stem>_labelTrainIds.png
_RCS_SEED_TAG = 0x524353  # "RCS": keeps these draws independent of FutureBatchDataset's rng((seed, idx))


def mask_class_stats(
    path: str,
    label_map: Sequence[int] | None = None,
    reduce_zero_label: bool = False,
    ignore_index: int = 255,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Pixel count per class of one mask, as one entry of ``sample_class_stats.json``.

    Args:
        path: Mask file (grey or palette PNG of raw values).
        label_map: 256-entry lookup table raw value -> class id (a dataset record's ``label_map``), or None.
        reduce_zero_label: Map 0 to ``ignore_index`` and shift the other values down by one (after ``label_map``).
        ignore_index: Label not counted.
        num_classes: When given, a value outside ``[0, num_classes)`` other than ``ignore_index`` is an error.

    Returns:
        ``{"<class>": pixels, ..., "file": path}`` for the classes present, ascending.

    Raises:
        FileNotFoundError: The mask does not exist. ValueError: It cannot be read or has unexpected values; both
            name the file.
    """
    try:
        mask = read_label_map(path)
    except (FileNotFoundError, ValueError):
        raise
    except Exception as err:  # PIL raises SyntaxError / struct.error on some corrupt PNGs
        raise ValueError(f"cannot read mask file {path} ({type(err).__name__}: {err})") from err
    if label_map is not None:
        mask = np.asarray(label_map, dtype=np.uint8)[mask]
    if reduce_zero_label:
        shifted = mask.astype(np.int16) - 1
        shifted[(shifted < 0) | (shifted == ignore_index - 1)] = ignore_index
        mask = shifted.astype(np.uint8)
    counts = np.bincount(mask.ravel(), minlength=256)
    if 0 <= ignore_index < 256:
        counts[ignore_index] = 0
    present = np.flatnonzero(counts)
    if num_classes is not None and np.any(present >= num_classes):
        bad = present[present >= num_classes].tolist()
        raise ValueError(f"mask file {path} has values {bad} outside the {num_classes} classes and ignore "
                         f"{ignore_index}: not a train-id mask (pass the dataset's label map)")
    stats: dict[str, Any] = {str(int(c)): int(counts[c]) for c in present}
    stats["file"] = path
    return stats


def write_class_stats(out_dir: str, sample_class_stats: Sequence[Mapping[str, Any]]) -> list[str]:
    """Write the three statistics files DAFormer's converters write (see the module docstring).

    Args:
        out_dir: Output folder (the source dataset's ``data_root`` is where the samplers look by default).
        sample_class_stats: One :func:`mask_class_stats` entry per mask.

    Returns:
        The paths written.
    """
    per_file = {s["file"]: {c: n for c, n in s.items() if c != "file"} for s in sample_class_stats}
    samples_with_class: dict[str, list] = {}
    for file, stats in per_file.items():
        for c, n in stats.items():
            samples_with_class.setdefault(c, []).append((file, n))
    paths = []
    for name, obj in ((SAMPLE_CLASS_STATS, list(sample_class_stats)), (SAMPLE_CLASS_STATS_DICT, per_file),
                      (SAMPLES_WITH_CLASS, samples_with_class)):
        paths.append(osp.join(out_dir, name))
        with open(paths[-1], "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
    return paths


def rcs_class_probs(
    sample_class_stats: Sequence[Mapping[str, Any]], temperature: float
) -> tuple[list[int], np.ndarray]:
    """RCS class probabilities ``softmax((1 - f_c) / T)`` over the classes present in the statistics.

    Args:
        sample_class_stats: The entries of ``sample_class_stats.json``.
        temperature: ``T``; smaller values favour rare classes more.

    Returns:
        The classes, sorted by total pixel count ascending (ties: first appearance), and their probabilities.
    """
    totals: dict[int, int] = {}
    for stats in sample_class_stats:
        for c, n in stats.items():
            if c != "file":
                totals[int(c)] = totals.get(int(c), 0) + int(n)
    if not totals:
        raise ValueError("the class statistics hold no labeled pixel")
    classes = sorted(totals, key=totals.__getitem__)
    freq = np.array([totals[c] for c in classes], dtype=np.float64)
    logits = (1.0 - freq / freq.sum()) / temperature
    probs = np.exp(logits - logits.max())
    return classes, probs / probs.sum()


def class_pixel_count(item: Mapping[str, Any], cls: int) -> int:
    """Pixels of class ``cls`` in a labeled item's mask (``data_samples.gt_sem_seg`` or ``gt_seg_map``)."""
    sample = item.get("data_samples") if isinstance(item, Mapping) else None
    if sample is not None and hasattr(sample, "gt_sem_seg"):
        return int((sample.gt_sem_seg.data == cls).sum())
    if isinstance(item, Mapping) and item.get("gt_seg_map") is not None:
        return int((np.asarray(item["gt_seg_map"]) == cls).sum())
    raise TypeError("rare class sampling checks the crop's mask: the labeled pipeline must load it (LoadSegMask) and "
                    "keep it (PackSegInputs' data_samples.gt_sem_seg or gt_seg_map)")


def rcs_rng(seed: int, idx: int) -> np.random.Generator:
    """The generator of item ``idx``'s main-sample RCS draw: a pure function of ``(seed, idx)``."""
    return np.random.default_rng((int(seed), int(idx), _RCS_SEED_TAG))


def _load_json(stats_dir: str, name: str) -> Any:
    path = osp.join(stats_dir, name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f"rare class sampling needs {path}; write the class statistics of the source masks with "
            f"`python {STATS_TOOL} <DatasetType> <data_root> -o {stats_dir}` (e.g. GTA5Dataset data/gta)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class RareClassSampler:
    """Class-balanced draws of source samples from DAFormer's class statistics (see the module docstring).

    Args:
        seg_map_paths: Mask path of every record of the source dataset, in index order.
        stats_dir: Folder with ``sample_class_stats.json`` and ``samples_with_class.json``.
        class_temp: Temperature ``T`` of the class softmax.
        min_pixels: A file is a candidate for class ``c`` when it has more than this many pixels of ``c``.
        min_crop_ratio: The crop must have more than ``min_pixels * min_crop_ratio`` pixels of ``c``; 0 disables.
    """

    def __init__(
        self,
        seg_map_paths: Sequence[str | None],
        stats_dir: str,
        class_temp: float = RCS_CLASS_TEMP,
        min_pixels: int = RCS_MIN_PIXELS,
        min_crop_ratio: float = RCS_MIN_CROP_RATIO,
    ) -> None:
        if class_temp <= 0 or min_pixels < 0 or min_crop_ratio < 0:
            raise ValueError(f"need class_temp > 0, min_pixels >= 0, min_crop_ratio >= 0; got {class_temp}, "
                             f"{min_pixels}, {min_crop_ratio}")
        self.stats_dir, self.class_temp = str(stats_dir), float(class_temp)
        self.min_pixels, self.min_crop_ratio = min_pixels, float(min_crop_ratio)
        self.classes, self.probs = rcs_class_probs(_load_json(self.stats_dir, SAMPLE_CLASS_STATS), self.class_temp)
        with_class = _load_json(self.stats_dir, SAMPLES_WITH_CLASS)
        by_path, by_name = _index_masks(seg_map_paths)
        unmatched: set[str] = set()
        self.samples_with_class: dict[int, np.ndarray] = {}
        for c in self.classes:
            found = []
            for file, pixels in with_class.get(str(c), []):
                if pixels > self.min_pixels:
                    i = _match(file, by_path, by_name)
                    if i is None:
                        unmatched.add(file)
                    else:
                        found.append(i)
            if not found:
                raise ValueError(f"rare class sampling: no mask of {self.stats_dir} stats in the source dataset has "
                                 f"more than min_pixels={self.min_pixels} pixels of class {c} (lower min_pixels, or "
                                 f"re-run {STATS_TOOL} on this dataset)")
            self.samples_with_class[c] = np.asarray(found, dtype=np.int64)
        if unmatched:
            print_log(f"RCS: {len(unmatched)} file(s) of {SAMPLES_WITH_CLASS} are not in the source dataset and are "
                      f"never drawn (e.g. {sorted(unmatched)[0]})", logger="current", level=logging.WARNING)
        print_log(f"RCS classes: {self.classes}; probabilities: {np.round(self.probs, 4).tolist()}", logger="current")

    @classmethod
    def for_dataset(cls, dataset: Any, stats_dir: str | None = None, **kwargs: Any) -> "RareClassSampler":
        """A sampler over ``dataset``'s records; ``stats_dir`` defaults to its ``data_root`` (as DAFormer)."""
        paths = [dataset.get_data_info(i).get("seg_map_path") for i in range(len(dataset))]
        if not any(paths):
            raise ValueError(f"rare class sampling needs a labeled source dataset with mask files; "
                             f"{type(dataset).__name__} records have no seg_map_path")
        return cls(paths, stats_dir if stats_dir is not None else dataset.data_root, **kwargs)

    @property
    def class_probs(self) -> dict[int, float]:
        """``{class: probability}``."""
        return {c: float(p) for c, p in zip(self.classes, self.probs)}

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """``(class, source index)``: ``c ~ P``, then a candidate file of ``c`` uniformly."""
        c = self.classes[int(rng.choice(len(self.classes), p=self.probs))]
        return c, int(rng.choice(self.samples_with_class[c]))

    def read(self, dataset: Any, index: int, cls: int) -> Any:
        """``dataset[index]``, re-read up to :data:`RCS_CROP_TRIES` times until its crop holds enough ``cls`` pixels."""
        item = dataset[index]
        if self.min_crop_ratio > 0:
            for _ in range(RCS_CROP_TRIES):
                if class_pixel_count(item, cls) > self.min_pixels * self.min_crop_ratio:
                    break
                item = dataset[index]
        return item

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(class_temp={self.class_temp}, min_pixels={self.min_pixels}, "
                f"min_crop_ratio={self.min_crop_ratio}, stats_dir={self.stats_dir!r})")


def _index_masks(paths: Sequence[str | None]) -> tuple[dict[str, int], dict[str, int]]:
    """Record index by absolute mask path and by file name (-1 for a name shared by several records)."""
    by_path: dict[str, int] = {}
    by_name: dict[str, int] = {}
    for i, path in enumerate(paths):
        if path:
            by_path[osp.abspath(path)] = i
            name = osp.basename(path)
            by_name[name] = -1 if name in by_name else i
    return by_path, by_name


def _match(file: str, by_path: dict[str, int], by_name: dict[str, int]) -> int | None:
    """The record of a stats file: same path, else same file name (DAFormer's rule), also without ``_labelTrainIds``."""
    if osp.abspath(file) in by_path:
        return by_path[osp.abspath(file)]
    name = osp.basename(file)
    for key in (name, name.replace(TRAIN_ID_SUFFIX, "")):
        i = by_name.get(key)
        if i == -1:
            raise ValueError(f"rare class sampling: several source masks are named {key}; stats file {file} is "
                             f"ambiguous (write the stats from this dataset with {STATS_TOOL})")
        if i is not None:
            return i
    return None
