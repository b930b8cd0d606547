"""What an anomaly data root holds, as the training and test tools will read it: ``gen3d browse DATA_ROOT``.

:func:`summarize_anomaly_root` builds the layout's own dataset class for every split (the records training sees:
the validation hold-out drawn exactly as in training, the same mask matching), counts images per class, split and
defect type, defective images with and without a mask, and files that are not readable images; it never changes a
file. Nothing is read beyond the header and end checks of the datasets' own file check, run on every file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from gen3d.registry import DATASETS

from .base import NORMAL, SPLITS

LAYOUTS = {"mvtec": "MVTecDataset", "visa": "VisADataset", "folder": "FolderDataset"}


def guess_layout(data_root: str) -> str:
    """``'mvtec'`` where a class folder has ``train/good`` and ``ground_truth``, else ``'folder'``.

    VisA (converted by :mod:`gen3d.datasets.anomaly.convert`) has the MVTec layout; its original CSV layout is
    named explicitly with ``layout='visa'``.
    """
    import os.path as osp

    from ._utils import list_subdirs

    for cls in list_subdirs(data_root):
        if osp.isdir(osp.join(data_root, cls, "train", NORMAL)) and osp.isdir(osp.join(data_root, cls, "ground_truth")):
            return "mvtec"
    return "folder"


def summarize_anomaly_root(data_root: str, layout: str = "auto", val_ratio: float = 0.1, seed: int = 0,
                           **dataset_kwargs: Any) -> dict[str, Any]:
    """Counts per class, split and defect type of ``data_root``.

    Args:
        data_root: The folder holding one folder per product class.
        layout: ``'auto'`` (:func:`guess_layout`), ``'mvtec'``, ``'visa'`` or ``'folder'``.
        val_ratio: Share of the normal training images held out for validation, as in the training config.
        seed: Seed of that hold-out.
        **dataset_kwargs: Other dataset arguments (``classes``, ``normal_dir``, ...).

    Returns:
        ``{'layout', 'data_root', 'classes': {cls: {split: {defect: n}}}, 'masks': {cls: {'with': n, 'without': n}},
        'bad_files': [...], 'problems': [...]}``; a split that cannot be built is reported in ``problems``.
    """
    import gen3d.datasets  # noqa: F401 - registers the dataset types
    from gen3d.datasets.file_check import PATH_KEYS, check_files

    layout = guess_layout(data_root) if layout == "auto" else layout
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {sorted(LAYOUTS)}, got {layout!r}")
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    masks: dict[str, Counter] = defaultdict(Counter)
    files: dict[str, str] = {}
    problems: list[str] = []
    for split in SPLITS:
        cfg = dict(type=LAYOUTS[layout], data_root=data_root, split=split, val_ratio=val_ratio, seed=seed,
                   missing_mask="full", bad_files="off", skip_empty_classes=True, pipeline=[], **dataset_kwargs)
        try:
            dataset = DATASETS.build(cfg)
        except (FileNotFoundError, ValueError) as err:
            problems.append(f"{split}: {err}")
            continue
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            files.update({str(info[k]): PATH_KEYS[k] for k in PATH_KEYS if info.get(k)})
            counts[info["cls_name"]][split][info["defect_type"]] += 1
            if split == "test" and info["gt_label"]:
                has = info.get("mask_path") is not None or info.get("mask_rle") is not None
                masks[info["cls_name"]]["with" if has else "without"] += 1
    bad = check_files(files, desc="checking image headers")
    for cls, splits in sorted(counts.items()):
        test = splits.get("test", Counter())
        if not sum(v for k, v in test.items() if k != NORMAL):
            problems.append(f"{cls}: no defective test image (image AUROC is undefined for it)")
        if not test.get(NORMAL):
            problems.append(f"{cls}: no good test image (image AUROC is undefined for it)")
        if masks[cls]["without"]:
            problems.append(f"{cls}: {masks[cls]['without']} defective test image(s) without a mask (pixel metrics "
                            "then need missing_mask='full' or 'empty')")
    return {"layout": layout, "data_root": data_root,
            "classes": {c: {s: dict(sorted(d.items())) for s, d in sp.items()} for c, sp in sorted(counts.items())},
            "masks": {c: dict(m) for c, m in sorted(masks.items())},
            "bad_files": [f"{p}: {r}" for p, r in sorted(bad.items())],
            "problems": problems}


def format_summary(summary: dict[str, Any]) -> str:
    """A table per class: split, defect type, images; masks; then the problems found."""
    lines = [f"{summary['data_root']} ({summary['layout']} layout)",
             f"{'class':<16} {'split':<6} {'defect type':<22} {'images':>7}"]
    for cls, splits in summary["classes"].items():
        for split in SPLITS:
            for defect, n in splits.get(split, {}).items():
                lines.append(f"{cls:<16} {split:<6} {defect:<22} {n:>7}")
        m = summary["masks"].get(cls, {})
        if m:
            lines.append(f"{cls:<16} {'test':<6} {'(defect masks)':<22} {m.get('with', 0):>7} with, "
                         f"{m.get('without', 0)} without")
    totals = Counter()
    for splits in summary["classes"].values():
        for split, defects in splits.items():
            totals[split] += sum(defects.values())
    lines.append("total: " + ", ".join(f"{s} {totals[s]}" for s in SPLITS) + f" images in "
                 f"{len(summary['classes'])} class(es)")
    if summary["bad_files"]:
        lines.append(f"unreadable files ({len(summary['bad_files'])}): " + ", ".join(summary["bad_files"][:10]))
    lines.extend(f"warning: {p}" for p in summary["problems"])
    return "\n".join(lines)
