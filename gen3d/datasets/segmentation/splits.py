"""Drawing and writing semi-supervised partitions (U2PL's VOC classic / blender, spec A7) as id lists."""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Labeled counts of U2PL's partitions (spec A7).
VOC_CLASSIC_SIZES = (92, 183, 366, 732, 1464)
VOC_BLENDER_SIZES = (662, 1323, 2646, 5291)
CITYSCAPES_SIZES = (186, 372, 744, 1488)
PARTITION_MODES = ("classic", "blender")


def voc_partition(
    train_ids: Sequence[str],
    trainaug_ids: Sequence[str],
    n_labeled: int,
    mode: str = "classic",
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """Draw a labeled / unlabeled partition of VOC ``train_aug``.

    ``classic``: labeled ids drawn from the fine ``train`` ids (1 464); ``blender``: from ``trainaug`` (10 582).
    In both the unlabeled ids are the rest of ``trainaug``. U2PL's released blender files prefer classic
    images (spec A7); this draw is uniform, so use U2PL's files to reproduce its numbers.

    Args:
        train_ids: ``ImageSets/Segmentation/train.txt`` ids.
        trainaug_ids: ``trainaug.txt`` ids (must contain ``train_ids`` in classic mode).
        n_labeled: Number of labeled ids.
        mode: ``'classic'`` or ``'blender'``.
        seed: Seed of the draw.

    Returns:
        ``(labeled ids, unlabeled ids)``, each in the order of ``trainaug_ids``.
    """
    if mode not in PARTITION_MODES:
        raise ValueError(f"mode must be one of {PARTITION_MODES}, got {mode!r}")
    pool = list(train_ids) if mode == "classic" else list(trainaug_ids)
    if not 0 < n_labeled <= len(pool):
        raise ValueError(f"n_labeled must be in [1, {len(pool)}] for mode {mode!r}, got {n_labeled}")
    aug_set = set(trainaug_ids)
    outside = [i for i in pool if i not in aug_set]
    if outside:
        raise ValueError(f"{len(outside)} labeled candidate id(s) are not in trainaug, e.g. {outside[0]}")
    picked = {pool[i] for i in np.random.default_rng(seed).permutation(len(pool))[:n_labeled]}
    labeled = [i for i in trainaug_ids if i in picked]
    unlabeled = [i for i in trainaug_ids if i not in picked]
    return labeled, unlabeled


def write_split(path: str | os.PathLike, ids: Sequence[str]) -> Path:
    """Write ids one a line (creating folders); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path
