"""``make demo-gan``: StyleGAN2 with and without DynamicD on the 100 offline LFW faces, as library functions.

The tool ``tools/demo_gan.py`` builds the set with :func:`gen3d.datasets.gan_synthesis.build_gan_demo_dataset`,
trains the 32-px demo config (and its DynamicD decreasing-width counterpart) for a few hundred iterations on CPU,
validating every ``iters // evals`` iterations and once before training (:class:`~gen3d.engine.hooks.GANSampleHook`
writes a sample grid and a ``metrics.csv`` row per validation), then plots the metric curves.

The metric is the config's: FID/KID when the FID Inception weights are available, otherwise the offline
EfficientNet-Lite0 features (``fd_lite0`` / ``kd_lite0``, NOT FID/KID). Both compare the 100 training faces with 100
generated ones: small-sample, limited-data numbers, meaningful only relative to each other within this demo.
"""

from __future__ import annotations

import csv
import os.path as osp
import time
from typing import Any

from gen3d.utils.repo_paths import repo_file

DEMO_CONFIGS = {
    "StyleGAN2": repo_file("configs/stylegan2/stylegan2_lite_1xb8-20kimg_lfw-faces-32.py"),
    "DynamicD decreasing": repo_file("configs/dynamicd/dynamicd-decrease_stylegan2-lite_1xb8-20kimg_lfw-faces-32.py"),
}
METRIC_KEYS = ("fid", "fd_lite0", "kid", "kd_lite0")  # first found is plotted / printed


def train_gan(config: str, work_dir: str, data_root: str, iters: int, evals: int, log_interval: int = 50,
              schedule_img: int | None = None, stats_dir: str | None = None, kid: bool = False,
              eval_at_start: bool = True, seed: int | None = None) -> dict[str, Any]:
    """Train ``config`` for ``iters`` iterations, validating ``evals`` times (and once before training).

    Args:
        config: A GAN config (``lfw-faces-32`` layout).
        work_dir: Output folder (checkpoint, logs, ``samples/``).
        data_root: Folder of training images (``<demo set>/train``).
        iters: Training iterations.
        evals: Validations during training (every ``iters // evals`` iterations, the last at ``iters``).
        log_interval: Logger interval in iterations.
        schedule_img: DynamicD ``total_img`` (the width schedule's length); None: the images of this run, so the
            whole schedule runs within the demo.
        stats_dir: Cache of the real-image feature statistics (shared by runs on the same data); None: no cache.
        kid: Also compute KID (a second feature pass over the fakes per validation); FID / FD only otherwise.
        eval_at_start: Validate once before training too (the untrained row of ``metrics.csv``).
        seed: ``randomness.seed`` of the run (None: the config's).

    Returns:
        ``{'rows': [metrics.csv rows as dicts], 'train_s': seconds, 'iters': iters, 'checkpoint': path}``.
    """
    from gen3d.engine import Runner
    from gen3d.engine.launch import build_train_config, dump_run_info
    from gen3d.utils.config import load_config

    interval = max(1, iters // max(1, evals))
    options: dict[str, Any] = {
        "train_cfg.max_iters": iters, "train_cfg.val_interval": interval,
        "default_hooks.checkpoint.interval": iters, "default_hooks.checkpoint.max_keep_ckpts": 1,
        "default_hooks.logger.interval": log_interval, "log_processor.window_size": log_interval,
        "+custom_hooks": [dict(type="GANSampleHook", num_samples=64, eval_at_start=eval_at_start)],
    }
    if stats_dir is not None:  # real statistics computed once, then only the 100 fakes are encoded per validation
        metric = dict(fallback="lite0", real_stats_name=f"{osp.basename(osp.dirname(data_root))}-train",
                      stats_dir=stats_dir)
        evaluator = [dict(type="FrechetInceptionDistance", **metric)]
        if kid:
            evaluator.append(dict(type="KernelInceptionDistance", num_subsets=10, max_subset_size=100, **metric))
        options["val_evaluator"] = evaluator
    if seed is not None:
        options["randomness.seed"] = int(seed)
    if load_config(config).model.get("dynamic_d"):
        batch = int(load_config(config).train_dataloader.batch_size)
        options["model.dynamic_d.total_img"] = int(schedule_img or iters * batch)
    cfg = build_train_config(config, work_dir, data_root, cfg_options=options)
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    dump_run_info(cfg, work_dir)
    runner.train()
    train_s = time.perf_counter() - start
    with open(osp.join(work_dir, "samples", "metrics.csv"), newline="") as f:
        rows = [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in csv.DictReader(f)]
    return {"rows": rows, "train_s": round(train_s, 1), "iters": iters,
            "checkpoint": osp.join(work_dir, f"iter_{iters}.pth")}


def metric_key(rows: list[dict[str, Any]]) -> str:
    """The headline metric of the rows: the first of :data:`METRIC_KEYS` present (prefixes allowed)."""
    keys = [k for k in rows[0] if k not in ("iter", "kimg")] if rows else []
    for wanted in METRIC_KEYS:
        for k in keys:
            if k == wanted or k.endswith("/" + wanted):
                return k
    raise KeyError(f"no FID/KID-like metric among {keys}")


def format_curves(results: dict[str, dict[str, Any]]) -> str:
    """One line per validation: iteration, kimg and each run's metrics, side by side."""
    names = list(results)
    keys = {n: [k for k in results[n]["rows"][0] if k not in ("iter", "kimg") and not k.endswith("_std")]
            for n in names}
    header = ["iter", "kimg"] + [f"{n}: {k}" for n in names for k in keys[n]]
    lines = []
    for i, row in enumerate(results[names[0]]["rows"]):
        cells = [f"{int(row['iter'])}", f"{row['kimg']:.2f}"]
        for n in names:
            other = results[n]["rows"][i] if i < len(results[n]["rows"]) else {}
            cells += ["" if other.get(k) is None else f"{other[k]:.4g}" for k in keys[n]]
        lines.append(cells)
    widths = [max(len(r[j]) for r in [header] + lines) for j in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [header] + lines)


def plot_curves(results: dict[str, dict[str, Any]], path: str) -> str:
    """Plot each run's headline metric against kimg to ``path`` (PNG, matplotlib Agg); returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    key = "metric"
    for name, res in results.items():
        key = metric_key(res["rows"])
        xs = [r["kimg"] for r in res["rows"]]
        ax.plot(xs, [r[key] for r in res["rows"]], marker="o", label=name)
    ax.set_xlabel("training images seen (thousands)")
    ax.set_ylabel(f"{key} (lower is better)")
    ax.set_title("100 LFW faces, 32 px (limited data; small-sample metric)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def run_gan_demo(work_dir: str, iters: int, evals: int, runs: tuple[str, ...] = tuple(DEMO_CONFIGS),
                 resolution: int = 32, kid: bool = False) -> dict[str, Any]:
    """Build the demo set, train each of ``runs`` (names of :data:`DEMO_CONFIGS`), plot the curves.

    The real-image statistics are cached under ``<work_dir>/data/real_stats`` (same faces for every run).

    Returns:
        ``{run name: train_gan() result, ..., 'plot': png path, 'dataset': {...}}``.
    """
    from gen3d.datasets.gan_synthesis import N_FACES, build_gan_demo_dataset

    data = build_gan_demo_dataset(osp.join(work_dir, "data", "lfw-faces"), resolution=resolution, channels=1)
    results: dict[str, Any] = {}
    for name in runs:
        sub = osp.join(work_dir, name.lower().replace(" ", "_"))
        results[name] = train_gan(DEMO_CONFIGS[name], sub, str(data / "train"), iters, evals,
                                  stats_dir=osp.join(work_dir, "data", "real_stats"), kid=kid)
    plot = plot_curves({n: results[n] for n in runs}, osp.join(work_dir, "metric_curve.png"))
    return {**results, "plot": plot, "dataset": {"images": N_FACES, "resolution": resolution, "root": str(data)}}
