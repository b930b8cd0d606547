"""Benchmarks that print a table: ``python tools/benchmark.py uniad-train [--config C] [--batch-size 8]``.

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
    parser.add_argument("task", choices=["uniad-train"], help="what to measure")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8, help="timed calls per variant")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast variants")
    parser.add_argument("--out", help="also write the rows as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gen3d.apis.benchmarks import bench_uniad_train
    from gen3d.utils.benchmark import format_table

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = bench_uniad_train(args.config, args.batch_size, args.rounds, bf16=not args.no_bf16)
    print(f"\nUniAD training step, batch {args.batch_size}, {osp.basename(args.config)}, "
          f"{torch.get_num_threads()} threads, {'CUDA' if torch.cuda.is_available() else 'CPU'} (model on CPU)")
    print(format_table(rows, ["variant", "median s", "p90 s", "it/s", "items/s", "speed-up"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
