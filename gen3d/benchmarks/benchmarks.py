"""Benchmarks of gen3d's models, run by ``tools/benchmark.py``; each returns rows for a printed table.

The training benchmarks (``uniad-train``, ``seg-step``, ``gan-train``, ``pigan-train``, ``depthgan-train``) and
``render`` take a ``device``: the models go there (the data preprocessors move the batches), CUDA is synchronised
around every timed call, and the mixed-precision variant is fp16 ``AmpOptimWrapper`` on CUDA and bf16
``CPUAutocastOptimWrapper`` on CPU, as ``tools/train.py --amp`` picks. :data:`BENCH_TASKS` wires every subcommand
of the tool (:func:`run_task`).
"""

from __future__ import annotations

import argparse
import json
import os.path as osp
from collections.abc import Callable
from dataclasses import dataclass

import torch
from mmengine.optim import OptimWrapper

from gen3d.benchmarks.depthgan_benchmarks import DEPTHGAN_COLUMNS, depthgan_train_task
from gen3d.benchmarks.editing_benchmarks import EDITING_COLUMNS, editing_task
from gen3d.benchmarks.gan_benchmarks import GAN_COLUMNS, gan_task
from gen3d.benchmarks.pigan_benchmarks import PIGAN_COLUMNS, RENDER_COLUMNS, pigan_train_task, render_task
from gen3d.deploy.benchmark import DEPLOY_COLUMNS
from gen3d.structures import AnomalyDataSample
from gen3d.utils.benchmark import (
    amp_name,
    amp_optim_wrapper,
    bench_device,
    device_label,
    format_table,
    summarize,
    time_interleaved,
)
from gen3d.utils.repo_paths import repo_file

UNIAD_CONFIG = repo_file("configs/uniad/uniad_effnet-lite0_1xb8-200e_mvtec-224.py")


def _uniad_batch(batch_size: int, size: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(batch_size)]
    samples = [AnomalyDataSample(metainfo=dict(img_path=f"bench_{i}.png", cls_name="bench")) for i in
               range(batch_size)]
    return dict(inputs=inputs, data_samples=samples)


UNIAD_SPEED_VARIANTS: dict[str, tuple[dict, dict]] = {
    "fused AdamW": ({}, dict(fused=True)),
    "fused AdamW, compile": (dict(compile=True), dict(fused=True)),
    "fused AdamW, sdpa, attn dropout 0 (not the paper)": (dict(attention_impl="sdpa", attention_dropout=0.0),
                                                          dict(fused=True)),
    "fused AdamW, compile, sdpa, attn dropout 0 (not the paper)": (
        dict(compile=True, attention_impl="sdpa", attention_dropout=0.0), dict(fused=True)),
}
"""``--speed-options`` rows of ``uniad-train``: ``{label: (reconstruction kwargs, AdamW kwargs)}``, each on top of
the mixed-precision cached step (:class:`~gen3d.models.anomaly.UniADReconstruction` options, ``AdamW(fused=True)``)."""


def bench_uniad_train(config: str = UNIAD_CONFIG, batch_size: int = 8, rounds: int = 8, bf16: bool = True,
                      device: str | torch.device = "cpu", speed_options: bool = False) -> list[dict]:
    """One UniAD training step (forward, backward, AdamW, clip) per call: cache off/on, fp32/mixed precision.

    The feature cache holds the batch's backbone features after the warm-up, so "cached" steps skip the
    frozen backbone as later epochs of a real run do. The first call of every variant is timed on its own
    (``first s``: the cache fill, and the compilation for ``compile`` rows), then one more untimed call.

    Args:
        config: A UniAD config (its model, optimizer settings and input size are used).
        batch_size: Images per step.
        rounds: Timed steps per variant (interleaved).
        bf16: Also time the mixed-precision variants (:func:`amp_optim_wrapper`: bf16 on CPU, fp16 on CUDA).
        device: ``'cpu'`` or ``'cuda'`` (:func:`bench_device`).
        speed_options: Also time :data:`UNIAD_SPEED_VARIANTS` (cached, mixed precision unless ``bf16`` is off).

    Returns:
        Table rows: variant, median/p90 seconds per step, images/s, speed-up over fp32 without cache, first call s.
    """
    import time

    from gen3d.apis.inference import _no_pretrained
    from gen3d.registry import MODELS
    from gen3d.utils.config import load_config

    dev = bench_device(device)
    cfg = load_config(config)
    model_cfg = cfg.model.to_dict()
    if model_cfg.get("backbone", {}).get("pretrained") not in (None, False, "lite0-offline"):
        _no_pretrained(model_cfg)  # no download in a benchmark; speed does not depend on the weights
    size = int(model_cfg.get("input_size", (224, 224))[0])
    batch = _uniad_batch(batch_size, size)
    amps = (False, True) if bf16 else (False,)
    plans = [(amp, cached, "", {}, {}) for cached in (False, True) for amp in amps]
    plans += [(bf16, True, f", {label}", rec, opt) for label, (rec, opt) in UNIAD_SPEED_VARIANTS.items()
              if speed_options]
    variants, first = {}, {}
    for amp, cached, label, rec_kwargs, opt_kwargs in plans:
        build_cfg = {**model_cfg, "feature_cache": dict(type="memory", max_items=10_000) if cached else None}
        build_cfg["reconstruction"] = {**build_cfg.get("reconstruction", {}), **rec_kwargs}
        torch.manual_seed(0)
        model = MODELS.build(build_cfg).to(dev).train()
        optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=1e-4,
                                  **opt_kwargs)
        clip = dict(max_norm=0.1)
        wrapper = amp_optim_wrapper(optim, dev, clip_grad=clip) if amp else OptimWrapper(optim, clip_grad=clip)
        name = f"{amp_name(dev) if amp else 'fp32'} {'cached' if cached else 'uncached'}{label}"
        variants[name] = (lambda m=model, w=wrapper: m.train_step(batch, w))
        start = time.perf_counter()
        variants[name]()
        first[name] = time.perf_counter() - start
    times = time_interleaved(variants, rounds=rounds, warmup=1, device=dev)
    rows = summarize(times, baseline="fp32 uncached", items_per_call=batch_size)
    for row in rows:
        row["it/s"] = row["items/s"] / batch_size
        row.update(threads=torch.get_num_threads(), device=str(dev), **{"first s": first[row["variant"]]})
    return rows


SEG_SUP_CONFIG = repo_file("configs/u2pl/supervised_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py")
SEG_U2PL_CONFIG = repo_file("configs/u2pl/u2pl_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py")
SEG_MT_CONFIG = repo_file("configs/u2pl/meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py")


def _seg_two_stream_batch(batch_size: int, crop: int, seed: int = 0) -> dict:
    """One two-stream batch of the U2PL demo config's pipelines, on the offline demo set (real photographs)."""
    import tempfile

    from mmengine.dataset import pseudo_collate

    from gen3d.datasets.seg_synthesis import build_seg_demo_dataset
    from gen3d.registry import DATASETS
    from gen3d.utils.config import apply_data_root, load_config

    cfg = load_config(SEG_U2PL_CONFIG)
    with tempfile.TemporaryDirectory() as root:
        build_seg_demo_dataset(root, n_labeled=batch_size, n_unlabeled=batch_size, n_val=1, size=crop, seed=seed)
        apply_data_root(cfg, root)
        ds_cfg = cfg.train_dataloader.dataset.to_dict()
        for stream in ("labeled", "unlabeled"):
            for step in ds_cfg[stream]["pipeline"]:
                if step["type"] == "SegWeakAug":
                    step["crop_size"] = (crop, crop)
        dataset = DATASETS.build(ds_cfg)
        return pseudo_collate([dataset[i] for i in range(batch_size)])


def bench_seg_step(rounds: int = 8, batch_size: int = 4, crop: int = 96, k: int = 3, warmup: int = 1,
                   seed: int = 0, device: str | torch.device = "cpu") -> list[dict]:
    """One semi-supervised segmentation training step per call, each method against a supervised step.

    Every variant is the lite0 DeepLabV3+ of the demo configs (5 classes) with SGD (lr 1e-2, momentum 0.9, wd
    1e-4) and takes the same two-stream batch (``batch_size`` labeled + ``batch_size`` unlabeled crops). A step is
    what the runner does per iteration: forward, backward, optimiser step, and for teacher-student methods the EMA
    update; FST-D adds its ``k`` virtual steps, the future-teacher EMAs and the exact restore. Teacher-student
    steps run past the supervised warm-up (U2PL's contrastive term and queues included); the supervised step
    reads the labeled stream only.

    Args:
        rounds: Timed steps per variant (interleaved).
        batch_size: Images per stream.
        crop: Crop side.
        k: FST-D virtual steps.
        warmup: Untimed steps per variant first.
        seed: Seed of the batch and of the models.
        device: ``'cpu'`` or ``'cuda'`` (:func:`bench_device`).

    Returns:
        Table rows: variant, median/p90 seconds per step, labeled images/s, and ``x supervised`` (its step time
        over the supervised one).
    """
    import itertools

    from gen3d.registry import MODELS
    from gen3d.utils.config import load_config

    dev = bench_device(device)
    batch = _seg_two_stream_batch(batch_size, crop, seed)
    sup = load_config(SEG_SUP_CONFIG).model.to_dict()
    u2pl = {**load_config(SEG_U2PL_CONFIG).model.to_dict(), "max_epochs": 80, "iters_per_epoch": 100}
    enc = {key: v for key, v in sup.items() if key != "type"}
    # FST's own Mean-Teacher baseline (the demo config) and DACS with ClassMix, jitter and blur (no feature distance:
    # its thing classes are Cityscapes ids)
    mt_cfg = load_config(SEG_MT_CONFIG).model.to_dict()
    mean_teacher = {**{key: v for key, v in mt_cfg.items() if key not in enc}, "iters_per_epoch": 100}
    dacs = dict(type="DACS", iters_per_epoch=100)
    model_cfgs = {
        "supervised": sup,
        "MeanTeacher": {**enc, **mean_teacher},
        "U2PL": u2pl,
        "DACS": {**enc, **dacs},
        f"FST-D(MeanTeacher, k={k})": dict(type="FST", mode="D", k=k, method=mean_teacher, **enc),
        f"FST-D(U2PL, k={k})": dict(type="FST", mode="D", k=k, method=u2pl),
        f"FST-D(DACS, k={k})": dict(type="FST", mode="D", k=k, method=dacs, **enc),
    }
    variants = {}
    for name, model_cfg in model_cfgs.items():
        torch.manual_seed(seed)
        model = MODELS.build(model_cfg).to(dev).train()
        optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-2, momentum=0.9,
                                weight_decay=1e-4)
        wrapper = OptimWrapper(optimizer=optim)
        if name == "supervised":
            data = dict(batch["labeled"])
            variants[name] = (lambda m=model, w=wrapper, d=data: m.train_step(d, w))
        else:  # iteration 200 = epoch 2: past the warm-up and the teacher-copy epoch, EMA momentum 0.99
            counter = itertools.count(200)
            variants[name] = (lambda m=model, w=wrapper, c=counter: m.train_step_at(batch, w, next(c)))
    times = time_interleaved(variants, rounds=rounds, warmup=warmup, device=dev)
    rows = summarize(times, baseline="supervised", items_per_call=batch_size)
    for row in rows:
        row["x supervised"] = 1.0 / row.pop("speed-up")
        row.update(threads=torch.get_num_threads(), device=str(dev))
    return rows


BEFORE = "all, one broadcast each (before)"


def _broadcast_worker(rank: int, init_file: str, out: str, queue_scale: float, rounds: int, num_classes: int,
                      feat_dim: int) -> None:
    """One gloo rank of :func:`bench_buffer_broadcast`; rank 0 writes the timings to ``out`` (JSON)."""
    import torch.distributed as torch_dist
    from mmengine.dist import broadcast_object_list

    from gen3d.engine.model_wrappers import GradSyncDataParallel, _broadcast_tensor
    from gen3d.models.losses.u2pl_losses import QUEUE_SIZE, QUEUE_SIZE_BG, U2PLContrastiveLoss
    from gen3d.registry import MODELS
    from gen3d.utils.benchmark import time_interleaved
    from gen3d.utils.config import load_config

    torch.set_num_threads(1)
    torch_dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = MODELS.build(load_config(SEG_U2PL_CONFIG).model.to_dict())
    sizes = (max(int(QUEUE_SIZE * queue_scale), 1), max(int(QUEUE_SIZE_BG * queue_scale), 1))
    loss = model.contrastive = U2PLContrastiveLoss(num_classes, feat_dim, queue_size=sizes[0], queue_size_bg=sizes[1])
    for c in range(num_classes):  # full queues, the same on both ranks (as all-gathered ones are)
        setattr(loss, f"queue_{c}", torch.ones(loss.queue_sizes[c], feat_dim))
    wrapper = GradSyncDataParallel(model)

    def megabytes(synced: bool) -> float:
        return sum(b.numel() * b.element_size() for _, _, b in wrapper.buffer_slots(synced)) / 2**20

    def before() -> None:  # the code before: shapes, then every buffer in its own broadcast
        slots = wrapper.buffer_slots(False) + wrapper.buffer_slots(True)
        broadcast_object_list([[tuple(b.shape) for _, _, b in slots]], src=0)
        with torch.no_grad():
            for _, _, buf in slots:
                _broadcast_tensor(buf)

    def broadcast(skip: bool) -> None:
        wrapper.skip_rank_synced = skip
        wrapper._broadcast_buffers()

    variants = {BEFORE: before, "all, small ones coalesced": lambda: broadcast(False),
                "differing only (now)": lambda: broadcast(True), "check synced (debug)": wrapper.check_synced_buffers}
    times = time_interleaved({k: (lambda f=f: (f(), torch_dist.barrier())) for k, f in variants.items()}, rounds,
                             warmup=1)  # the barrier: both ranks done
    everything = megabytes(False) + megabytes(True)
    sent = {BEFORE: everything, "all, small ones coalesced": everything, "differing only (now)": megabytes(False),
            "check synced (debug)": 0.0}  # fingerprints only
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"times": times, "sent": sent}, f)
    torch_dist.destroy_process_group()


def bench_buffer_broadcast(queue_scale: float = 1.0, rounds: int = 5, num_classes: int = 21,
                           feat_dim: int = 256) -> list[dict]:
    """Per-step buffer broadcast of ``GradSyncDataParallel`` with 2 CPU gloo ranks: all buffers vs differing only.

    The model is the U2PL demo model (lite0 DeepLabV3+: student and teacher BN statistics) with VOC-size memory
    queues (21 classes x (50 000 + 20 x 30 000 rows) x 256 floats = 666 MB at ``queue_scale=1``), full. Each call is
    one ``_broadcast_buffers`` (or the debug ``check_synced_buffers``, or the code before this change: every buffer
    in its own broadcast) followed by a barrier, timed on rank 0.

    Args:
        queue_scale: Factor on the queue lengths (memory: about 666 MB x ``queue_scale`` per rank).
        rounds: Timed calls per variant (interleaved).
        num_classes: Queues (VOC 21).
        feat_dim: Key dimension (U2PL 256).

    Returns:
        Table rows: variant, MiB sent, median/p90 seconds, ms per MiB sent, ``x before`` (time over the old one's).
    """
    import statistics
    import tempfile

    from torch import multiprocessing

    from gen3d.utils.benchmark import percentile

    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/times.json"
        args = (f"{tmp}/pg", out, queue_scale, rounds, num_classes, feat_dim)
        multiprocessing.start_processes(_broadcast_worker, args=args, nprocs=2, start_method="fork")
        with open(out) as f:
            result = json.load(f)
    base = statistics.median(result["times"][BEFORE])
    rows = []
    for name, ts in result["times"].items():
        med, mb = statistics.median(ts), result["sent"][name]
        rows.append({"variant": name, "MiB sent": mb, "median s": med, "p90 s": percentile(ts, 90),
                     "ms/MiB": 1e3 * med / mb if mb else "-", "x before": med / base})
    return rows


@dataclass(frozen=True)
class BenchTask:
    """A subcommand of ``tools/benchmark.py``.

    Attributes:
        run: ``run(args, device) -> (rows, title)`` with the tool's parsed arguments.
        columns: Columns of the printed table (rows keep every key in the JSON of ``--out``).
        rounds: Default of ``--rounds``.
        on_device: Takes ``--device cuda`` (the training benchmarks); the others run on CPU only.
        sets_threads: ``--threads`` sets torch's intra-op threads of this process (deploy passes it to its runtimes).
    """

    run: Callable[[argparse.Namespace, torch.device], tuple[list[dict], str]]
    columns: tuple[str, ...]
    rounds: int = 8
    on_device: bool = False
    sets_threads: bool = True


def _uniad_task(args: argparse.Namespace, dev: torch.device) -> tuple[list[dict], str]:
    config, bs = args.config or UNIAD_CONFIG, args.batch_size or 8
    rows = bench_uniad_train(config, bs, args.rounds, bf16=not args.no_bf16, device=dev,
                             speed_options=getattr(args, "speed_options", False))
    return rows, f"UniAD training step, batch {bs}, {osp.basename(config)}, {device_label(dev)}"


def _seg_task(args: argparse.Namespace, dev: torch.device) -> tuple[list[dict], str]:
    bs = args.batch_size or 4
    rows = bench_seg_step(args.rounds, bs, args.crop_size, device=dev)
    return rows, (f"Segmentation training step, lite0 DeepLabV3+, {bs}+{bs} crops of {args.crop_size}px, "
                  f"{device_label(dev)}")


def _deploy_task(args: argparse.Namespace, dev: torch.device) -> tuple[list[dict], str]:
    from gen3d.deploy.benchmark import bench_bundles

    return bench_bundles(args.bundle, args.checkpoint, args.config, tuple(args.batch_sizes), args.threads or 2,
                         args.rounds * 4, spin=args.ort_spin)


def _broadcast_task(args: argparse.Namespace, dev: torch.device) -> tuple[list[dict], str]:
    rows = bench_buffer_broadcast(args.queue_scale, args.rounds)
    return rows, (f"GradSyncDataParallel buffer broadcast per step, 2 gloo CPU ranks, U2PL demo model + VOC queues "
                  f"x {args.queue_scale}")


BENCH_TASKS = {
    "uniad-train": BenchTask(_uniad_task, ("variant", "median s", "p90 s", "it/s", "items/s", "speed-up",
                                            "first s"), on_device=True),
    "deploy": BenchTask(_deploy_task, tuple(DEPLOY_COLUMNS), sets_threads=False),
    "seg-step": BenchTask(_seg_task, ("variant", "median s", "p90 s", "items/s", "x supervised"), on_device=True),
    "gan-train": BenchTask(gan_task, GAN_COLUMNS, rounds=16, on_device=True),
    "render": BenchTask(render_task, RENDER_COLUMNS, on_device=True),
    "pigan-train": BenchTask(pigan_train_task, PIGAN_COLUMNS, rounds=4, on_device=True),
    "depthgan-train": BenchTask(depthgan_train_task, DEPTHGAN_COLUMNS, rounds=16, on_device=True),
    "buffer-broadcast": BenchTask(_broadcast_task, ("variant", "MiB sent", "median s", "p90 s", "ms/MiB",
                                                    "x before")),
    "resefa-locality": BenchTask(editing_task, EDITING_COLUMNS, rounds=20),
}
"""Subcommands of ``tools/benchmark.py``."""


def resolve_task(task: str, device: str = "cpu") -> tuple[BenchTask, torch.device]:
    """The entry of :data:`BENCH_TASKS` and the device it runs on.

    Raises:
        KeyError: An unknown task.
        ValueError: ``--device`` other than CPU for a task that runs on CPU only.
        RuntimeError: CUDA asked for where there is none (:func:`bench_device`).
    """
    entry = BENCH_TASKS[task]
    if torch.device(device).type != "cpu" and not entry.on_device:
        on_device = ", ".join(name for name, t in BENCH_TASKS.items() if t.on_device)
        raise ValueError(f"--device {device}: {task} runs on CPU only (--device is for {on_device})")
    return entry, bench_device(device)


def run_task(args: argparse.Namespace) -> list[dict]:
    """Run ``args.task`` with the arguments of ``tools/benchmark.py``: print its title and table, write ``--out``.

    ``--threads`` applies on CPU only (a note is printed and it is ignored for a CUDA run).

    Returns:
        The table rows.

    Raises:
        ValueError, RuntimeError: See :func:`resolve_task`.
    """
    task, dev = resolve_task(args.task, args.device)
    args.rounds = args.rounds or task.rounds
    if args.threads and task.sets_threads:
        if dev.type == "cpu":
            torch.set_num_threads(args.threads)
        else:
            print(f"note: --threads {args.threads} ignored, the steps run on {dev}")
    rows, title = task.run(args, dev)
    print(f"\n{title}")
    print(format_table(rows, task.columns))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)
    return rows
