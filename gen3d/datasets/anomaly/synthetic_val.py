"""A validation set with defects: each held-out good image, and a copy of it with a defect from gen3d's synthesis.

The ``val`` split of :class:`~gen3d.datasets.anomaly.AnomalyDataset` holds only normal images, so the only
criterion it can rank checkpoints by is a low anomaly score on them, which a model that copies its input wins
(the identical shortcut UniAD's neighbour mask exists to prevent, arXiv 2206.03687 section 3.2). Wrapping that split
in :class:`SyntheticDefectValDataset` adds, for every held-out good image, ``copies`` defective copies made by
:func:`gen3d.datasets.anomaly_synthesis.synthesize_defect` (scratch, dent, stain, pasted patch) with their masks,
so that the validation can rank checkpoints by image AUROC and fit F1-adaptive thresholds.

How the defects differ from the test data's:
    * The test split is never read: the wrapped dataset must be a ``val`` split (held-out ``train/good`` images),
      and every record of it must be normal.
    * Real datasets (MVTec AD, VisA, your own folders) have real defects in their test split; these are drawn
      shapes. A good validation AUROC here says the model flags such shapes, not that it flags the real ones.
    * The defect of each copy comes from its own random stream, ``seeded_rng(seed, 'synthetic_val', class,
      image path relative to data_root, copy index)``: the salt ``'synthetic_val'`` keeps it apart from every
      other user of the synthesis (``build_demo_dataset`` draws from ``seeded_rng(seed, class)``, the deploy
      parity gates from ``np.random.default_rng(seed)``).
    * On the offline demo set (``tools/demo.py``), whose test defects are made by the same synthesis, the images
      and draws differ but the defect *family* is the same; restrict ``defect_kinds`` to kinds the demo's test
      does not use to keep them disjoint.

Determinism: a copy depends only on ``seed``, the class, the image's relative path and the copy index; not on
the epoch, the rank, the dataloader worker or the order of the records. It is synthesised at the image's file
resolution, before the pipeline's resize, so image and mask are resized like a real defect and its mask.
"""

import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gen3d.registry import DATASETS, TRANSFORMS

from ._utils import seeded_rng
from .base import AnomalyDataset

__all__ = ["SYNTHETIC_PREFIX", "SYNTHETIC_SALT", "SyntheticDefectValDataset", "synthesize_copy"]

SYNTHETIC_SALT = "synthetic_val"
"""Key mixed into every draw of this module, so that no other user of ``synthesize_defect`` shares its stream."""

SYNTHETIC_PREFIX = "synthetic_"
"""``defect_type`` of a defective copy: ``'synthetic_<kind>'``."""


def synthesize_copy(
    image: np.ndarray, rng: np.random.Generator, kinds: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, str]:
    """One defective copy of an RGB image; grey images (three equal channels) get a grey defect.

    The kinds are tried in an order drawn from ``rng`` until one changes enough pixels (a flat image may be too
    uniform for a pasted patch, for instance).

    Args:
        image: ``(H, W, 3)`` uint8, not modified.
        rng: Random generator of this copy.
        kinds: Defect kinds to draw from (subset of ``DEFECT_KINDS``).

    Returns:
        The defective image ``(H, W, 3)`` uint8, its mask ``(H, W)`` uint8 in {0, 1} and the kind used.

    Raises:
        ValueError: No kind changed enough pixels.
    """
    from gen3d.datasets.anomaly_synthesis import synthesize_defect

    grey = bool((image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all())
    # A colour stain on a grey product (MVTec grid, screw, zipper) would be trivially easy: synthesise in grey.
    source = np.ascontiguousarray(image[..., 0]) if grey else image
    errors = []
    for k in rng.permutation(len(kinds)).tolist():
        try:
            out, mask, kind = synthesize_defect(source, rng, kinds[k])
        except ValueError as err:
            errors.append(str(err))
            continue
        if grey:
            out = np.repeat(out[..., None], 3, axis=2)
        return out, (mask > 0).astype(np.uint8), kind
    raise ValueError("; ".join(errors))


@DATASETS.register_module()
class SyntheticDefectValDataset:
    """The held-out good images of a ``val`` split, each followed by ``copies`` synthetic-defect copies with masks.

    Item ``i`` of the wrapped split becomes items ``i * (1 + copies)`` (the good image, as it is) and the
    ``copies`` that follow (``gt_label`` 1, ``defect_type`` ``'synthetic_<kind>'``, mask of the drawn defect; the
    same ``img_path``, ``cls_name`` and meta fields). The copy is built before the pipeline runs and handed to it
    in memory: :class:`~gen3d.datasets.transforms.LoadAnomalyImage` and ``LoadAnomalyMask`` keep an ``img`` /
    ``gt_mask`` already in the results instead of reading files.

    Args:
        dataset: The wrapped dataset, a config dict (built in gen3d's DATASETS registry, its own ``pipeline``
            replaced by none) or an :class:`~gen3d.datasets.anomaly.AnomalyDataset`. Must have ``split='val'``.
        pipeline: Transforms applied to every item (good and defective), as config dicts or callables; normally
            the test pipeline (LoadAnomalyImage, LoadAnomalyMask, resize, PackAnomalyInputs).
        seed: Seed of the defect synthesis (independent of the hold-out ``seed`` of the wrapped split).
        copies: Defective copies per good image (>= 1).
        defect_kinds: Kinds drawn from; default all of ``DEFECT_KINDS``.
        lazy_init: Defer building the item list to the first access (or :meth:`full_init`).

    Raises:
        ValueError: The wrapped dataset is not a ``val`` split, holds a defective record, or an argument is out
            of range.
    """

    def __init__(
        self,
        dataset: Mapping | AnomalyDataset,
        pipeline: Sequence[dict | Callable] = (),
        seed: int = 0,
        copies: int = 1,
        defect_kinds: Sequence[str] | None = None,
        lazy_init: bool = False,
    ) -> None:
        from gen3d.datasets.anomaly_synthesis import DEFECT_KINDS

        kinds = tuple(DEFECT_KINDS if defect_kinds is None else defect_kinds)
        bad = [k for k in kinds if k not in DEFECT_KINDS]
        if bad or not kinds:
            raise ValueError(f"defect_kinds must be a non-empty subset of {DEFECT_KINDS}, got {list(kinds)}")
        if int(copies) != copies or copies < 1:
            raise ValueError(f"copies must be a positive integer, got {copies}")
        if isinstance(dataset, Mapping):
            dataset = DATASETS.build({**dict(dataset), "pipeline": []})
        split = getattr(dataset, "split", None)
        if split != "val":
            raise ValueError(
                f"SyntheticDefectValDataset wraps the held-out 'val' split of good training images only, got a "
                f"{type(dataset).__name__} with split={split!r} (the test split is for reporting, never for "
                "validation)"
            )
        self.dataset = dataset
        self.seed = int(seed)
        self.copies = int(copies)
        self.defect_kinds = kinds
        self.pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information plus ``synthetic_defects`` (seed, copies, kinds)."""
        meta = dict(self.dataset.metainfo)
        meta["synthetic_defects"] = dict(seed=self.seed, copies=self.copies, defect_kinds=self.defect_kinds)
        return meta

    def full_init(self) -> None:
        """Load the wrapped split's records and check that they are all normal."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, "full_init"):
            self.dataset.full_init()
        defective = [self.dataset.get_data_info(i) for i in range(len(self.dataset))]
        defective = [r["img_path"] for r in defective if int(r.get("gt_label", 0))]
        if defective:
            raise ValueError(f"the wrapped val split holds defective records ({defective[:3]}...); it must hold "
                             "held-out good images only")
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return len(self.dataset) * (1 + self.copies)

    def _key(self, info: dict) -> str:
        """The image's path relative to the data root (``/``-separated): the same on every machine."""
        root = getattr(self.dataset, "data_root", None)
        path = str(info["img_path"])
        rel = osp.relpath(osp.abspath(path), osp.abspath(root)) if root else path
        return rel.replace(osp.sep, "/")

    def get_data_info(self, idx: int) -> dict:
        """The record of item ``idx`` (before the pipeline); a copy also gets ``synthetic_copy`` (its index).

        A copy's ``defect_type`` is ``'synthetic'`` here; its kind is known once :meth:`prepare_data` drew it.
        """
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for {n} items")
        idx %= n
        src, copy = divmod(idx, 1 + self.copies)
        info = dict(self.dataset.get_data_info(src))
        if copy:
            info.update(gt_label=1, defect_type="synthetic", synthetic_copy=copy - 1, mask_path=None,
                        mask_rle=None, mask_fill=0)
        return info

    def prepare_data(self, idx: int) -> Any:
        """Item ``idx`` through the pipeline; a copy is synthesised first (deterministically) and passed in memory."""
        from gen3d.datasets.transforms.loading import imread_rgb

        results = self.get_data_info(idx)
        if "synthetic_copy" in results:
            rng = seeded_rng(self.seed, SYNTHETIC_SALT, results["cls_name"], self._key(results),
                             int(results["synthetic_copy"]))
            try:
                img, mask, kind = synthesize_copy(imread_rgb(results["img_path"]), rng, self.defect_kinds)
            except ValueError as err:
                raise ValueError(f"cannot synthesise a defect on {results['img_path']}: {err}") from err
            results.update(img=img, gt_mask=mask, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                           defect_type=SYNTHETIC_PREFIX + kind)
        for transform in self.pipeline:
            results = transform(results)
            if results is None:
                raise RuntimeError(f"transform {transform!r} dropped item {idx} of the synthetic validation set")
        return results

    def __getitem__(self, idx: int) -> Any:
        return self.prepare_data(idx)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dataset={type(self.dataset).__name__}(split='val', {len(self.dataset)} "
                f"images), seed={self.seed}, copies={self.copies}, defect_kinds={self.defect_kinds})")
