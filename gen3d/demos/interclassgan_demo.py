"""InterClassGAN demo (He et al., arXiv 2203.11173) on one CPU thread: train, measure channel awareness, apply it.

:func:`run_interclass_demo` (called by ``make demo-editing`` in a child process, :mod:`gen3d.demos.editing_demo`):

1. writes the offline six-class set (:mod:`gen3d.datasets.class_synthesis`; similar pairs disc ~ ellipse and
   square ~ diamond, stripes and rings unlike all) at 32 px;
2. trains the CPU BigGAN config (:data:`CONFIG`) for ``iters`` iterations, without validation;
3. computes channel awareness (default ``'grad_x_activation'`` with class specificity, :mod:`gen3d.models.editing.
   interclass.awareness`) of the EMA generator at its CCBN + ReLU activations (``block{b}.act1`` / ``.act2``, the
   paper's layers), and the same for an UNTRAINED generator of the same architecture and seed (the control: what
   random class embeddings alone give), plus the ``'mean_activation'`` definition and the block outputs
   (``fc``, ``block{b}``: this demo's layers before issue #14);
4. reports the paper's findings as numbers: per class the fraction of aware channels (``A >= 1.5``), the top-10 %
   Jaccard overlap and the ``log A`` correlation of similar pairs vs pairs with a dissimilar class;
5. category-wise evaluation: per-class ``fd_lite0`` / diversity vs total awareness (six classes: anecdotal);
6. writes pictures: per-class samples, the awareness heat map, a single-channel edit sweep, hybrids and
   segmentation overlays (awareness-weighted and uniform).
"""

from __future__ import annotations

import os
import os.path as osp
import time
from typing import Any

import numpy as np
import torch

from gen3d.utils.repo_paths import repo_file

CONFIG = repo_file("configs/interclassgan/biggan_lite_1xb16-20kimg_classes-32.py")
ITERS = 600  # the whole demo: 430-490 s of CPU time on one thread (2 seeds; configs/interclassgan/README.md)
AWARENESS_SAMPLES = 128
EVAL_PER_CLASS = 50
NUM_PICTURE = 6
SWEEP_VALUES = (-3.0, 0.0, 1.0, 3.0, 6.0)
HYBRID_PAIRS = (("disc", "ellipse"), ("square", "diamond"), ("disc", "stripes"), ("square", "rings"))
SEGMENT_CLASSES = ("disc", "square", "stripes")
NUM_CLUSTERS = 4


def _train(work_dir: str, data_root: str, iters: int, seed: int) -> tuple[str, float]:
    from gen3d.engine import Runner
    from gen3d.engine.launch import build_train_config

    options = {"train_cfg.max_iters": iters, "val_cfg": None, "val_dataloader": None, "val_evaluator": None,
               "default_hooks.checkpoint.interval": iters, "default_hooks.checkpoint.max_keep_ckpts": 1,
               "default_hooks.logger.interval": max(1, iters // 4), "log_processor.window_size": max(1, iters // 4),
               "randomness.seed": int(seed)}
    cfg = build_train_config(CONFIG, work_dir, data_root, cfg_options=options)
    start = time.perf_counter()
    Runner.from_cfg(cfg).train()
    return osp.join(work_dir, f"iter_{iters}.pth"), round(time.perf_counter() - start, 1)


def _untrained(gen_cfg: dict, seed: int) -> torch.nn.Module:
    from gen3d.registry import MODELS

    torch.manual_seed(int(seed))
    return MODELS.build(dict(gen_cfg)).eval()


def real_images_by_class(root: str, names: tuple[str, ...], num: int) -> dict[int, np.ndarray]:
    """``{class index: uint8 [<= num, 3, H, W]}``, the first ``num`` PNGs (sorted) of ``<root>/<name>``."""
    import cv2

    out = {}
    for y, name in enumerate(names):
        files = sorted(f for f in os.listdir(osp.join(root, name)) if f.endswith(".png"))[:num]
        imgs = [cv2.cvtColor(cv2.imread(osp.join(root, name, f)), cv2.COLOR_BGR2RGB) for f in files]
        out[y] = np.stack(imgs).transpose(0, 3, 1, 2)
    return out


def _findings(aw: Any, names: tuple[str, ...]) -> dict[str, Any]:
    from gen3d.datasets.class_synthesis import DISSIMILAR, SIMILAR_PAIRS
    from gen3d.models.editing.interclass import (
        aware_fraction,
        contribution_concentration,
        overlap_matrix,
        pair_summary,
        shared_channels,
    )

    frac, conc = aware_fraction(aw), contribution_concentration(aw)
    jac, cor = overlap_matrix(aw, "jaccard"), overlap_matrix(aw, "correlation")
    return {"aware_fraction": {n: round(float(v), 4) for n, v in zip(names, frac["all"])},
            "aware_fraction_per_layer": {layer: [round(float(v), 4) for v in frac[layer]] for layer in aw.layers},
            "jaccard": np.round(jac, 4).tolist(), "correlation": np.round(cor, 4).tolist(),
            "jaccard_pairs": pair_summary(jac, names, SIMILAR_PAIRS, DISSIMILAR),
            "correlation_pairs": pair_summary(cor, names, SIMILAR_PAIRS, DISSIMILAR),
            "total_awareness": {n: round(float(v), 4) for n, v in zip(names, aw.total())},
            "channels_for_80pct": {n: round(float(v), 4) for n, v in zip(names, conc)},
            "shared_channels": shared_channels(aw)}


def _pictures(gen: torch.nn.Module, aw: Any, names: tuple[str, ...], out: str, seed: int) -> dict[str, Any]:
    from gen3d.models.editing.interclass import channel_sweep, hybridise, segment
    from gen3d.models.editing.interclass.applications import onehot
    from gen3d.models.editing.interclass.pictures import awareness_heatmap, labelled_grid, overlay_labels, save_png

    z = torch.randn(NUM_PICTURE, gen.z_dim, generator=torch.Generator().manual_seed(int(seed) + 7))
    idx = {n: i for i, n in enumerate(names)}
    paths: dict[str, Any] = {}
    with torch.no_grad():
        rows = [gen(z, onehot(gen, y, len(z))).image for y in range(len(names))]
    paths["samples"] = save_png(labelled_grid(rows, names, header="same z per column, one class per row"),
                                osp.join(out, "samples_per_class.png"))
    paths["heatmap"] = save_png(awareness_heatmap(aw, names), osp.join(out, "awareness_heatmap.png"))
    # edit: the most class-specific channel of the middle layer for 'disc'
    layer = aw.layers[len(aw.layers) // 2]
    y = idx.get("disc", 0)
    k = int(aw.top_channels(y, layer, 1)[0])
    sweep = channel_sweep(gen, z, y, layer, k, SWEEP_VALUES)
    paths["edit"] = save_png(labelled_grid(list(sweep), [f"x{v:g}" for v in SWEEP_VALUES],
                                           header=f"{names[y]}: {layer} channel {k} (A={aw.awareness[layer][y, k]:.2f})"
                                                  " scaled"), osp.join(out, "edit_sweep.png"))
    paths["edit_channel"] = {"class": names[y], "layer": layer, "channel": k}
    rows, labels = [], []
    for a, b in HYBRID_PAIRS:
        if a in idx and b in idx:
            with torch.no_grad():
                rows += [gen(z, onehot(gen, idx[a], len(z))).image, hybridise(gen, z, idx[a], idx[b], aw),
                         gen(z, onehot(gen, idx[b], len(z))).image]
            labels += [a, f"{a}<-{b}", b]
    paths["hybrids"] = save_png(labelled_grid(rows, labels, header="hybrid: a with b's top-25% aware channels"),
                                osp.join(out, "hybrids.png"))
    rows, labels = [], []
    for c in [idx[n] for n in SEGMENT_CLASSES if n in idx]:  # clustered per class: parts of one category
        lab_aw, img = segment(gen, z, [c] * len(z), aw, NUM_CLUSTERS, seed=seed)
        lab_un, _ = segment(gen, z, [c] * len(z), None, NUM_CLUSTERS, seed=seed)
        rows += [img, overlay_labels(img, lab_aw), overlay_labels(img, lab_un)]
        labels += [names[c], "awareness", "uniform"]
    paths["segmentation"] = save_png(labelled_grid(rows, labels, header=f"k-means k={NUM_CLUSTERS} per class on "
                                                   "features (awareness-weighted / uniform)"),
                                     osp.join(out, "segmentation.png"))
    return paths


def run_interclass_demo(work_dir: str, iters: int = ITERS, num_per_class: int = 100, threads: int = 1,
                        seed: int = 0) -> dict:
    """The demo of the module docstring; JSON-serialisable results (``seconds`` holds the time of each step)."""
    from gen3d.apis.gan_inference import load_generator
    from gen3d.datasets.class_synthesis import CLASSES, build_class_dataset
    from gen3d.models.editing.interclass import category_wise_evaluation, channel_awareness

    torch.set_num_threads(int(threads))
    os.makedirs(work_dir, exist_ok=True)
    seconds: dict[str, float] = {}
    start = t = time.perf_counter()
    cpu_start = time.process_time()
    data = str(build_class_dataset(osp.join(work_dir, "data", "classes-32"), num_per_class, 32, seed))
    seconds["data"] = round(time.perf_counter() - t, 1)
    ckpt, seconds["train"] = _train(osp.join(work_dir, "biggan"), data, int(iters), seed)
    gen = load_generator(ckpt)
    names = tuple(CLASSES)
    t = time.perf_counter()
    aw = channel_awareness(gen, num_samples=AWARENESS_SAMPLES, seed=seed)
    seconds["awareness"] = round(time.perf_counter() - t, 1)
    aw.meta.update(checkpoint=ckpt, classes=list(names))
    npz, _ = aw.save(osp.join(work_dir, "awareness.npz"))
    res: dict[str, Any] = {"iters": int(iters), "seed": int(seed), "num_per_class": int(num_per_class),
                           "checkpoint": ckpt, "awareness_file": npz, "classes": list(names), "layers": list(aw.layers),
                           "definition": aw.definition, "normalisation": aw.normalisation,
                           "awareness_samples": AWARENESS_SAMPLES, "trained": _findings(aw, names)}
    t = time.perf_counter()
    aw_mean = channel_awareness(gen, num_samples=AWARENESS_SAMPLES, awareness_fn="mean_activation", seed=seed)
    res["trained_mean_activation"] = _findings(aw_mean, names)
    aw_blocks = channel_awareness(gen, num_samples=AWARENESS_SAMPLES, layers=gen.block_layer_names, seed=seed)
    res["trained_block_outputs"] = _findings(aw_blocks, names)
    control = _untrained(gen.cfg.model.generator, seed)
    res["untrained"] = _findings(channel_awareness(control, num_samples=AWARENESS_SAMPLES, seed=seed), names)
    seconds["controls"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    res["pictures"] = _pictures(gen, aw, names, work_dir, seed)
    seconds["pictures"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    ev = category_wise_evaluation(gen, real_images_by_class(data, names, min(EVAL_PER_CLASS, num_per_class)), aw,
                                  seed=seed)
    res["category_eval"] = {"per_class": {names[y]: {k: round(float(v), 4) for k, v in d.items()}
                                          for y, d in ev["per_class"].items()},
                            "corr_total_vs_fd": ev["corr_total_vs_fd"],
                            "corr_total_vs_diversity": ev["corr_total_vs_diversity"], "features": "fd_lite0"}
    seconds["category_eval"] = round(time.perf_counter() - t, 1)
    seconds["all"] = round(time.perf_counter() - start, 1)
    seconds["cpu_all"] = round(time.process_time() - cpu_start, 1)  # CPU time: the wall time on an idle thread
    res["seconds"] = seconds
    return res


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    rows = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]


def format_interclass_table(res: dict) -> str:
    """Printable tables of :func:`run_interclass_demo`'s results."""
    names = res["classes"]
    runs = [("trained", res["trained"]), ("trained, mean_activation", res.get("trained_mean_activation")),
            ("trained, block outputs", res.get("trained_block_outputs")), ("untrained control", res.get("untrained"))]
    runs = [(k, v) for k, v in runs if v]
    lines = [f"awareness {res['definition']} / {res['normalisation']}, {res['awareness_samples']} latents per "
             f"class; BigGAN {res['iters']} iterations, seed {res['seed']}; layers "
             f"{', '.join(res.get('layers', []))} (block outputs on the 'block outputs' rows)"]
    lines += ["per class: fraction of aware channels (A >= 1.5) and total awareness"]
    lines += _table(["generator"] + names,
                    [[k + " aware"] + [v["aware_fraction"][n] for n in names] for k, v in runs]
                    + [[k + " total"] + [v["total_awareness"][n] for n in names] for k, v in runs]
                    + [[k + " 80% R in"] + [v["channels_for_80pct"][n] for n in names]
                       for k, v in runs if "channels_for_80pct" in v])
    lines += ["('80% R in': fraction of a layer's channels carrying 80 % of the class's raw contribution; 0.8 = even)"]
    lines += ["channels aware of no class: " + "; ".join(
        f"{k} {v['shared_channels']['all']:.3f} (top-quarter contributors "
        f"{v['shared_channels']['top_contributors']:.3f})" for k, v in runs if "shared_channels" in v)]
    lines += ["channel overlap: mean over similar pairs (disc~ellipse, square~diamond) vs pairs with stripes/rings"]
    lines += _table(["generator", "jaccard similar", "jaccard dissimilar", "jaccard other", "corr similar",
                     "corr dissimilar", "corr other"],
                    [[k, v["jaccard_pairs"]["similar"], v["jaccard_pairs"]["dissimilar"], v["jaccard_pairs"]["other"],
                      v["correlation_pairs"]["similar"], v["correlation_pairs"]["dissimilar"],
                      v["correlation_pairs"]["other"]] for k, v in runs])
    ev = res.get("category_eval")
    if ev:
        pc = ev["per_class"]
        lines += ["category-wise evaluation (fd_lite0, NOT FID; six classes: anecdotal)"]
        lines += _table(["class", "total awareness", "fd_lite0", "diversity", "n real/fake"],
                        [[n, pc[n]["total_awareness"], pc[n]["fd"], pc[n]["diversity"],
                          f"{int(pc[n]['num_real'])}/{int(pc[n]['num_fake'])}"] for n in names if n in pc])
        lines.append(f"corr(total, fd) pearson {_fmt(ev['corr_total_vs_fd']['pearson'])} spearman "
                     f"{_fmt(ev['corr_total_vs_fd']['spearman'])}; corr(total, diversity) pearson "
                     f"{_fmt(ev['corr_total_vs_diversity']['pearson'])} spearman "
                     f"{_fmt(ev['corr_total_vs_diversity']['spearman'])}")
    lines.append("seconds: " + ", ".join(f"{k} {v}" for k, v in res.get("seconds", {}).items()))
    return "\n".join(lines)
