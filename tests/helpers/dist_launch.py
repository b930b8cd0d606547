"""Launch ``tools/dist_train.sh`` with 2 CPU gloo ranks for the distributed training tests."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def dist_train(config: Path, work: Path, data_root: Path, port_offset: int, *extra: str,
               check_sync: bool = True) -> str:
    """Run ``dist_train.sh CONFIG 2 --work-dir WORK --data-root DATA EXTRA...``; return its log (stdout + stderr).

    Each test passes its own ``port_offset`` so that parallel pytest runs do not share a port. Asserts a clean exit,
    a distributed run and, with ``check_sync``, ``AssertRanksInSyncHook``'s "ranks in sync".
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable,
           "PORT": str(29500 + os.getpid() % 1000 + port_offset)}
    out = subprocess.run(["bash", str(REPO_ROOT / "tools" / "dist_train.sh"), str(config), "2", "--work-dir",
                          str(work), "--data-root", str(data_root), *extra],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "Distributed training: True" in log
    if check_sync:
        assert "ranks in sync" in log  # G, D, G_ema and buffers identical on both ranks
    return log
