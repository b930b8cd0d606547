"""Stand-ins for ``make demo-editing``'s other demos, torch-free and instant.

``run_interclass_demo`` (for ``gen3d.demos.interclassgan_demo``, the child process) writes a marker file and returns a
small result; it sleeps ``iters / 100`` s (a timeout test passes many iterations) and fails like a broken run when
``num_per_class`` is 0 (a failure test). ``run_padinv_comparison`` (for ``gen3d.demos.padinv_demo``) returns what it
was given, so a test sees which generator and budget reached PadInv; it fails when ``iters`` is 0.
"""

import json
import os
import os.path as osp
import sys
import time


def run_interclass_demo(work_dir: str, iters: int, num_per_class: int, threads: int, seed: int) -> dict:
    """Print a log line, check the budget, write ``marker.json``; returns what the real demo's table needs."""
    print(f"fake InterClassGAN: iters {iters}, {num_per_class} per class, {threads} thread(s), seed {seed}")
    sys.stdout.flush()
    if num_per_class == 0:
        raise ValueError("num_per_class must be positive (fake failure)")
    time.sleep(iters / 100)
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, "marker.json"), "w") as f:
        json.dump({"threads_env": os.environ.get("OMP_NUM_THREADS")}, f)
    return {"rows": [{"class": "cat", "score": 0.5}, {"class": "dog", "score": 0.25}], "iters": iters,
            "seed": seed, "threads": threads}


def format_interclass_table(res: dict) -> str:
    """One line per row."""
    return "\n".join(f"  fake {r['class']}: {r['score']:.2f}" for r in res["rows"])


def run_padinv_comparison(work_dir: str, generator_ckpt: str | None = None, iters: int = 300, seed: int = 0,
                          threads: int = 1) -> dict:
    """Record the arguments."""
    if iters == 0:
        raise RuntimeError("fake PadInv failure")
    return {"generator_ckpt": generator_ckpt, "iters": iters, "seed": seed, "threads": threads, "work_dir": work_dir}


def format_padinv_table(res: dict) -> str:
    """One line."""
    return f"  fake PadInv: {res['iters']} iterations, generator {res['generator_ckpt']}"
