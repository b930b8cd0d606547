"""Stand-ins for ``gen3d.demos.gan3d_demo``'s training child (importable, torch-free: spawned processes import them)."""

import json
import os.path as osp
import sys


def fake_train(config: str, work_dir: str, data_root: str, iters: int, evals: int, log_path: str,
               seed: int | None = None) -> None:
    """Log ``Iter(train) [k/iters]`` lines and write ``train_result.json`` as the real child does."""
    with open(log_path, "w") as log:
        for k in range(1, iters + 1):
            log.write(f"12/02 00:00:00 - mmengine - INFO - Iter(train) [{k:3d}/{iters}]  loss: 0.1\n")
    result = {"rows": [{"iter": iters, "fd_lite0": 1.0}], "train_s": 0.1, "iters": iters,
              "checkpoint": osp.join(work_dir, f"iter_{iters}.pth"), "config": config, "data_root": data_root,
              "seed": seed}
    with open(osp.join(work_dir, "train_result.json"), "w") as f:
        json.dump(result, f)


def failing_train(config: str, work_dir: str, data_root: str, iters: int, evals: int, log_path: str,
                  seed: int | None = None) -> None:
    """Fail like a broken run: a traceback line in the log, exit status 3, no result file."""
    with open(log_path, "w") as log:
        log.write("Traceback (most recent call last):\nValueError: bad config key\n")
    sys.exit(3)
