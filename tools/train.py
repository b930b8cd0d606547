"""Train a gen3d model from a config: ``python tools/train.py CONFIG [--work-dir DIR] [--data-root DIR] ...``."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a gen3d model")
    parser.add_argument("config", help="config file")
    parser.add_argument("--work-dir", help="where logs and checkpoints go (default: work_dirs/<config name>)")
    parser.add_argument("--data-root", help="point every dataset of the config at this directory")
    parser.add_argument("--resume", nargs="?", const="auto", default=None,
                        help="resume from the latest checkpoint in the work dir, or from the given checkpoint")
    parser.add_argument("--amp", action="store_true", help="mixed precision (fp16 on CUDA, bf16 autocast on CPU)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None,
                        help="override config keys, e.g. train_cfg.max_epochs=2 (prefix + to add a new key)")
    parser.add_argument("--skip-bad-images", action="store_true",
                        help="leave out image/mask files that fail the file check (listed once) instead of stopping")
    parser.add_argument("--log-to", nargs="+", default=None, metavar="BACKEND",
                        help="also log to tensorboard, mlflow and/or wandb (MMEngine visualizer backends; "
                             "pip install 'gen3d[logging]' for TensorBoard)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from gen3d.datasets.file_check import DatasetError
    from gen3d.engine import Runner
    from gen3d.engine.launch import build_train_config, dump_run_info
    from gen3d.utils.checkpoint import CheckpointError
    from gen3d.utils.config import ConfigError
    from gen3d.utils.dist import shutdown_dist

    try:
        cfg = build_train_config(args.config, args.work_dir, args.data_root, args.resume, args.amp,
                                 args.launcher, args.cfg_options, skip_bad_images=args.skip_bad_images,
                                 log_to=args.log_to)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    if args.dry_run:
        print(cfg.pretty_text)
        return
    try:  # data and checkpoint problems found while building or resuming: one line naming the file
        runner = Runner.from_cfg(cfg)
        if runner.rank == 0:
            dump_run_info(cfg, cfg.work_dir)
        runner.train()
    except (DatasetError, CheckpointError) as err:
        sys.exit(f"error: {err}")
    shutdown_dist(hard_exit=True)


if __name__ == "__main__":
    main()
