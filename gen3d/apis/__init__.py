"""High-level entry points: config assembly for the tools, model loading and inference."""

from .launch import build_test_config, build_train_config, dump_run_info, results_to_json

__all__ = ["build_test_config", "build_train_config", "dump_run_info", "results_to_json"]
