"""Distributed start-up on machines without CUDA (torchrun or Slurm with the gloo backend).

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally (and, under Slurm without
``SLURM_LOCALID``, divides by the GPU count), so CPU-only ranks fail before training starts. gen3d's Runner
calls :func:`init_cpu_dist` instead when CUDA is absent; mmengine then finds the process group ready and
skips its own initialisation.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta

import torch
import torch.distributed as torch_dist

DEFAULT_MASTER_PORT = "29500"  # torch.distributed's default


def init_cpu_dist(launcher: str, timeout_s: int = 1800, port: int | None = None) -> None:
    """Initialise a gloo process group for CPU ranks.

    Args:
        launcher: ``'pytorch'`` (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR, ...) or ``'slurm'``
            (the environment is derived from SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST, SLURM_LOCALID).
        timeout_s: Collective timeout in seconds.
        port: Master port for Slurm; defaults to ``MASTER_PORT`` or 29500.

    Raises:
        ValueError: An unknown launcher.
    """
    if launcher == "slurm":
        node_list = os.environ["SLURM_NODELIST"]
        if "MASTER_ADDR" not in os.environ:  # the first host of the allocation
            os.environ["MASTER_ADDR"] = subprocess.getoutput(f"scontrol show hostname {node_list} | head -n1")
        os.environ["MASTER_PORT"] = str(port) if port else os.environ.get("MASTER_PORT", DEFAULT_MASTER_PORT)
        os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
        os.environ["RANK"] = os.environ["SLURM_PROCID"]
        os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")
    elif launcher != "pytorch":
        raise ValueError(f"Unsupported launcher for CPU distributed training: {launcher!r} (use 'pytorch' or 'slurm')")
    torch_dist.init_process_group(backend="gloo", timeout=timedelta(seconds=timeout_s))


def shutdown_dist(hard_exit: bool = False) -> None:
    """Wait for every rank, then destroy the process group (no-op when not distributed).

    Leaving a gloo group alive until interpreter exit lets its worker threads be torn down in an arbitrary
    order; a rank then aborts with ``terminate called without an active exception`` (SIGABRT) after a run that
    otherwise finished, and torchrun reports the job as failed. Destroying the group first made that rarer but not
    impossible (seen once in CI with per-submodule DDP wrappers), so the tools also pass ``hard_exit=True``.

    Args:
        hard_exit: After the group is gone, flush the logs and standard streams and leave the process with
            ``os._exit(0)``, skipping the interpreter teardown where the abort happens. Only for the very end of
            a tool's ``main`` (nothing after it runs); checkpoints are already written atomically by then.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
        if hard_exit:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


def average_gradients(params: list[torch.Tensor]) -> None:
    """All-reduce (mean) the gradients of ``params`` in one flat buffer; a missing gradient counts as zero.

    What DDP's reducer does, for training steps it cannot express (several optimizer steps per iteration, double
    backward, virtual steps). No-op on one process.

    Args:
        params: Parameters of the optimizer step (same order on every rank).
    """
    if not params or not torch_dist.is_initialized() or torch_dist.get_world_size() == 1:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
    torch_dist.all_reduce(flat)
    flat /= torch_dist.get_world_size()
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad = g.view_as(p).clone()
