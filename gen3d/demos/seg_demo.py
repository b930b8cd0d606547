"""``make demo-seg``: supervised-only vs U2PL on the offline segmentation demo set, as library functions.

The tool ``tools/demo_seg.py`` builds the set with :func:`gen3d.datasets.seg_synthesis.build_seg_demo_dataset`
(crops of real photographs shipped by scikit-image), trains both lite0 DeepLabV3+ configs for the same number of
epochs, tests the *last* checkpoint of each on the val split (no checkpoint is chosen on val) and prints
:func:`format_comparison`.
"""

from __future__ import annotations

import os.path as osp
import time
from typing import Any

from gen3d.utils.repo_paths import repo_file

SUP_CONFIG = repo_file("configs/u2pl/supervised_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py")
U2PL_CONFIG = repo_file("configs/u2pl/u2pl_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py")
MT_CONFIG = repo_file("configs/u2pl/meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py")
#: ``--methods`` name -> (config, display name in the comparison table). ``supervised-long`` is the supervised-only
#: config trained for as many iterations as the semi-supervised runs (an epoch of those is a pass over the larger
#: unlabeled list): the control that separates the effect of the unlabeled images from that of a longer schedule.
METHODS: dict[str, tuple[str, str]] = {
    "supervised": (SUP_CONFIG, "supervised"), "supervised-long": (SUP_CONFIG, "supervised (same iters)"),
    "u2pl": (U2PL_CONFIG, "U2PL"), "meanteacher": (MT_CONFIG, "MeanTeacher"),
}
DEFAULT_METHODS = ("supervised", "supervised-long", "u2pl")


def train_and_test(config: str, work_dir: str, data_root: str, epochs: int, lr: float | None = None,
                   log_interval: int = 10, cfg_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``config`` for ``epochs`` epochs (validating once, at the end) and test its last checkpoint.

    Args:
        config: Config file (a ``folder-seg`` layout config).
        work_dir: Output folder; ``train/`` and ``test/`` are made inside it.
        data_root: The demo dataset folder.
        epochs: Training epochs (the poly schedule is shortened to match).
        lr: SGD learning rate (the decoder keeps its x10 multiplier); ``None`` keeps the config's.
        log_interval: Logger interval in iterations.
        cfg_options: Extra config overrides (dotted keys, e.g. ``{"model.sup_only_epochs": 2}``) for diagnostics.

    Returns:
        The results JSON of :class:`~gen3d.evaluation.metrics.IoUMetric` (``mIoU``, ``aAcc``, ``mAcc``,
        ``per_class``) plus ``iters`` (training iterations), ``train_s`` and ``checkpoint``.
    """
    from gen3d.engine import Runner
    from gen3d.engine.launch import build_test_config, build_train_config, dump_run_info, results_to_json

    options: dict[str, Any] = {
        "train_cfg.max_epochs": epochs, "train_cfg.val_interval": epochs,
        "param_scheduler": [dict(type="PolyLR", power=0.9, eta_min=0.0, begin=0, end=epochs, by_epoch=True,
                                 convert_to_iter_based=True)],
        "default_hooks.checkpoint.interval": epochs, "default_hooks.checkpoint.max_keep_ckpts": 1,
        "default_hooks.logger.interval": log_interval,
        # one CPU process, as the demo's training loader: the validation and test sets are a few small images, and
        # two persistent loader workers per Runner cost more to start and join than they save
        "val_dataloader.num_workers": 0, "val_dataloader.persistent_workers": False,
        "test_dataloader.num_workers": 0, "test_dataloader.persistent_workers": False,
    }
    if lr is not None:
        options["optim_wrapper.optimizer.lr"] = lr
    options.update(cfg_options or {})
    train_dir = osp.join(work_dir, "train")
    cfg = build_train_config(config, train_dir, data_root, cfg_options=options)
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    dump_run_info(cfg, train_dir)
    runner.train()
    train_s = time.perf_counter() - start
    ckpt = osp.join(train_dir, f"epoch_{epochs}.pth")
    test_options = {k: v for k, v in options.items() if k != "param_scheduler"}
    test_cfg = build_test_config(config, ckpt, osp.join(work_dir, "test"), data_root, cfg_options=test_options)
    test_runner = Runner.from_cfg(test_cfg)
    results = results_to_json(test_cfg, test_runner.test(), test_runner.model)
    results.pop("table", None)
    results.update(iters=int(runner.iter), train_s=round(train_s, 1), checkpoint=ckpt)
    return results


def format_comparison(results: dict[str, dict[str, Any]]) -> str:
    """Side-by-side table, in percent: per-class IoU, mIoU, aAcc and mAcc of each run, then iterations and time.

    Args:
        results: ``{run name: train_and_test() result}``, in column order.

    Returns:
        The table as text.
    """

    def pct(v: float | None) -> str:
        return "nan" if v is None else f"{100 * v:.1f}"

    names = list(results)
    classes = list(next(iter(results.values()))["per_class"]) if results else []
    rows = [[f"IoU {c}"] + [pct(results[n]["per_class"].get(c, {}).get("IoU")) for n in names] for c in classes]
    rows += [[key] + [pct(results[n].get(key)) for n in names] for key in ("mIoU", "aAcc", "mAcc")]
    rows += [["train iters"] + [str(results[n].get("iters", "")) for n in names],
             ["train s"] + [f"{results[n].get('train_s', 0):.0f}" for n in names]]
    header = ["metric (%)"] + names
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    body = [line(r) for r in rows]
    sep = "-" * len(body[0]) if body else ""
    return "\n".join([line(header), sep, *body[:len(classes)], sep, *body[len(classes):]])


def long_factor(n_labeled: int, n_unlabeled: int, batch_size: int = 4) -> int:
    """Epoch multiplier giving a labeled-only run the iterations of a two-stream run of as many epochs.

    A two-stream epoch has ``ceil(max(n_l, n_u) / B)`` iterations, a labeled-only one ``ceil(n_l / B)``.
    """
    semi, sup = -(-max(n_labeled, n_unlabeled) // batch_size), -(-n_labeled // batch_size)
    return max(1, round(semi / sup))


def run_seg_demo(work_dir: str, epochs: int, n_labeled: int = 16, n_unlabeled: int = 64, n_val: int = 64,
                 size: int = 96, seed: int = 0, lr: float | None = None,
                 methods: tuple[str, ...] | list[str] = DEFAULT_METHODS) -> dict[str, Any]:
    """Build the demo set, train and test each method (default: supervised, supervised-long, U2PL).

    Args:
        work_dir: Output folder (``data/`` and one folder per method: ``supervised/``, ``u2pl/``, ...).
        epochs: Training epochs of both runs. An epoch is one pass over the labeled list for supervised-only and
            over the (larger) unlabeled list for U2PL, as in U2PL's ``train_sup.py`` / ``train_semi.py``.
        n_labeled: Labeled training images.
        n_unlabeled: Unlabeled training images.
        n_val: Validation (test) images.
        size: Image side.
        seed: Dataset seed.
        lr: SGD learning rate of all runs; ``None`` keeps the configs' (1e-2, decoder x10).
        methods: Keys of :data:`METHODS`, trained in this order on the same set.

    Returns:
        ``{"supervised": {...}, "u2pl": {...}, "dataset": {...}, "epochs": epochs, "lr": lr}`` (one entry per
        method).
    """
    from gen3d.datasets.seg_synthesis import build_seg_demo_dataset

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {sorted(METHODS)}, got {list(methods)}")

    data_root = osp.join(work_dir, "data")
    build_seg_demo_dataset(data_root, n_labeled=n_labeled, n_unlabeled=n_unlabeled, n_val=n_val, size=size,
                           seed=seed)
    runs = {}
    for name in methods:
        run_epochs = epochs * long_factor(n_labeled, n_unlabeled) if name == "supervised-long" else epochs
        runs[name] = train_and_test(METHODS[name][0], osp.join(work_dir, name), data_root, run_epochs, lr=lr)
    dataset = dict(n_labeled=n_labeled, n_unlabeled=n_unlabeled, n_val=n_val, size=size, seed=seed)
    return {**runs, "dataset": dataset, "epochs": epochs, "lr": lr}
