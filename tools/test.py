"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--data-root D] [--out results.json] [--show-dir D]``.

For anomaly models ``--out`` also writes, next to the results file, ``per_image_scores.csv`` and the per-class
``roc_pr.png`` and ``score_histograms.png`` (:mod:`gen3d.evaluation.metrics.anomaly_plots`).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Test a gen3d checkpoint")
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--work-dir", help="where logs go (default: work_dirs/<config name>)")
    parser.add_argument("--data-root", help="point every dataset of the config at this directory")
    parser.add_argument("--out", help="write the results JSON here (anomaly: per-image scores and plots beside it)")
    parser.add_argument("--show-dir", help="write visualisations (overlays) into this directory")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None,
                        help="override config keys, e.g. test_dataloader.batch_size=4")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _attach_report(cfg: Config, out: str | None) -> str | None:
    """Point the anomaly test metric's per-image report at the folder of ``out``; returns that folder."""
    evaluator = cfg.get("test_evaluator")
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    anomaly = [m for m in metrics if isinstance(m, dict) and m.get("type") == "AnomalyMetric"]
    if not out or not anomaly:
        return None
    folder = os.path.dirname(os.path.abspath(out))
    for metric in anomaly:
        metric["report_dir"] = folder
    return folder


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from gen3d.datasets.file_check import DatasetError
    from gen3d.engine import Runner
    from gen3d.engine.launch import build_test_config, results_to_json
    from gen3d.utils import CorruptCheckpointError, UnsafeCheckpointError
    from gen3d.utils.checkpoint import atomic_write_bytes
    from gen3d.utils.config import ConfigError
    from gen3d.utils.dist import shutdown_dist

    try:
        cfg = build_test_config(args.config, args.checkpoint, args.work_dir, args.data_root, args.show_dir,
                                args.launcher, args.cfg_options)
    except (ConfigError, FileNotFoundError, ValueError, UnsafeCheckpointError, CorruptCheckpointError) as err:
        sys.exit(f"error: {err}")
    report_dir = _attach_report(cfg, args.out)
    try:  # the test dataset is built here: an empty data root, a missing mask, bad files -> one message
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    except DatasetError as err:
        sys.exit(f"error: {err}")
    results = results_to_json(cfg, metrics, runner.model)
    if runner.rank == 0 and hasattr(results, "get") and "table" in results:
        print(results.pop("table"))
    if args.out and runner.rank == 0:
        atomic_write_bytes(json.dumps(results, indent=2, allow_nan=False, default=str).encode(), args.out)
        print(f"results written to {args.out}"
              + (f"; per-image scores and plots in {report_dir}" if report_dir else ""))
    shutdown_dist(hard_exit=True)


if __name__ == "__main__":
    main()
