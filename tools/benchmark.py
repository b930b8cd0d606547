"""Benchmarks that print a table: ``python tools/benchmark.py uniad-train [--config C] [--batch-size 8]``.

``python tools/benchmark.py deploy --bundle DIR [DIR ...] [--checkpoint CKPT] [--threads 2]``: eager PyTorch vs
ONNX Runtime fp32 / int8 latency (p50/p99), throughput and peak memory of each runtime's own process.

``python tools/benchmark.py seg-step [--batch-size 4] [--crop-size 96]``: one training step of U2PL, MeanTeacher
and FST-D (k = 3) around each, relative to a supervised DeepLabV3+ step on the same two-stream batch.

``python tools/benchmark.py gan-train [--config GAN_CONFIG] [--batch-size 8] [--rounds 16]``: one StyleGAN2 training
step with the plain discriminator and with DynamicD (increasing and decreasing schedules), images/s and ratios.

``python tools/benchmark.py buffer-broadcast [--queue-scale 1.0] [--rounds 8]``: GradSyncDataParallel's per-step
buffer broadcast with 2 CPU gloo ranks, every buffer (before) vs those that can differ (U2PL's queues left out).

Speed is measured here, never in tests. Variants are timed round-robin in one run and reported as ratios
against a baseline, because these machines are noisy.
"""

import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

DEFAULT_CONFIG = "configs/uniad/uniad_effnet-lite0_1xb8-200e_mvtec-224.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gen3d benchmarks")
    parser.add_argument("task", choices=["uniad-train", "deploy", "seg-step", "gan-train", "buffer-broadcast"],
                        help="what to measure")
    parser.add_argument("--bundle", nargs="+", default=[], help="deploy: bundle folders written by tools/deploy.py")
    parser.add_argument("--checkpoint", help="deploy: checkpoint for the eager PyTorch baseline")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="deploy: batch sizes")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--batch-size", type=int, help="images per step (default 8; seg-step: 4 per stream)")
    parser.add_argument("--crop-size", type=int, default=96, help="seg-step: crop side")
    parser.add_argument("--rounds", type=int, help="timed calls per variant (default 8; gan-train 16)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast variants")
    parser.add_argument("--ort-spin", choices=("off", "on", "both"), default="off",
                        help="deploy: onnxruntime thread spinning (on: for cores of its own; both: a row each)")
    parser.add_argument("--queue-scale", type=float, default=1.0, help="buffer-broadcast: factor on VOC queue sizes")
    parser.add_argument("--out", help="also write the rows as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.rounds = args.rounds or (16 if args.task == "gan-train" else 8)
    import torch

    from gen3d.apis.benchmarks import bench_uniad_train
    from gen3d.utils.benchmark import format_table

    if args.task == "deploy":
        return bench_deploy_table(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.task == "gan-train":
        return bench_gan_table(args)
    if args.task == "buffer-broadcast":
        from gen3d.apis.benchmarks import bench_buffer_broadcast

        rows = bench_buffer_broadcast(args.queue_scale, args.rounds)
        print(f"\nGradSyncDataParallel buffer broadcast per step, 2 gloo CPU ranks, U2PL demo model + VOC queues x "
              f"{args.queue_scale}")
        print(format_table(rows, ["variant", "MiB sent", "median s", "p90 s", "ms/MiB", "x before"]))
    elif args.task == "seg-step":
        from gen3d.apis.benchmarks import bench_seg_step

        bs = args.batch_size or 4
        rows = bench_seg_step(args.rounds, bs, args.crop_size)
        print(f"\nSegmentation training step, lite0 DeepLabV3+, {bs}+{bs} crops of {args.crop_size}px, "
              f"{torch.get_num_threads()} threads, CPU")
        print(format_table(rows, ["variant", "median s", "p90 s", "items/s", "x supervised"]))
    else:
        args.batch_size = args.batch_size or 8
        rows = bench_uniad_train(args.config, args.batch_size, args.rounds, bf16=not args.no_bf16)
        print(f"\nUniAD training step, batch {args.batch_size}, {osp.basename(args.config)}, "
              f"{torch.get_num_threads()} threads, {'CUDA' if torch.cuda.is_available() else 'CPU'} (model on CPU)")
        print(format_table(rows, ["variant", "median s", "p90 s", "it/s", "items/s", "speed-up"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)


def bench_gan_table(args: argparse.Namespace) -> None:
    """The ``gan-train`` task: rows from :func:`gen3d.apis.gan_benchmarks.bench_gan_train`."""
    import torch

    from gen3d.apis.gan_benchmarks import GAN_CONFIGS, bench_gan_train
    from gen3d.utils.benchmark import format_table
    from gen3d.utils.config import load_config

    configs = GAN_CONFIGS if args.config == DEFAULT_CONFIG else {osp.basename(args.config): args.config}
    bs = args.batch_size or 8
    rows = bench_gan_train({k: load_config(v).model.to_dict() for k, v in configs.items()}, bs, args.rounds)
    print(f"\nStyleGAN2 training step (G, lazy PL, D, lazy R1, EMA), batch {bs}, 32-px demo configs, "
          f"{torch.get_num_threads()} threads, CPU")
    print(format_table(rows, ["variant", "D width", "median s", "mean s", "p90 s", "img/s", "x plain D"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)


def bench_deploy_table(args: argparse.Namespace) -> None:
    """The ``deploy`` task: :func:`gen3d.deploy.benchmark.bench_bundles`, printed with ratios."""
    from gen3d.deploy.benchmark import DEPLOY_COLUMNS, bench_bundles
    from gen3d.utils.benchmark import format_table

    config = None if args.config == DEFAULT_CONFIG else args.config
    rows, title = bench_bundles(args.bundle, args.checkpoint, config, tuple(args.batch_sizes), args.threads or 2,
                                args.rounds * 4, spin=args.ort_spin)
    print(f"\n{title}")
    print(format_table(rows, DEPLOY_COLUMNS))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
