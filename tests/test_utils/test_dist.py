"""CPU distributed start-up (torchrun / Slurm environment with gloo), shutdown and the gradient all-reduce."""

import os

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from gen3d.utils import dist as gen3d_dist
from gen3d.utils.dist import average_gradients, init_cpu_dist, shutdown_dist

SLURM_ENV = {"SLURM_NODELIST": "node[01-02]", "SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_LOCALID": "1"}


@pytest.fixture
def captured_init(monkeypatch):
    """Replace ``init_process_group`` by a recorder; the variables init_cpu_dist reads or writes start unset.

    Each is set before it is deleted so that monkeypatch restores its original state (absent or not) afterwards:
    init_cpu_dist writes MASTER_ADDR, RANK, ... into os.environ, and later tests hand os.environ to torchrun.
    """
    calls = []
    monkeypatch.setattr(torch_dist, "init_process_group", lambda **kwargs: calls.append(kwargs))
    for key in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", *SLURM_ENV):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    return calls


def test_slurm_environment_is_derived_for_gloo(captured_init, monkeypatch):
    for key, value in SLURM_ENV.items():
        monkeypatch.setenv(key, value)
    hosts = []
    monkeypatch.setattr(gen3d_dist.subprocess, "getoutput", lambda cmd: hosts.append(cmd) or "node01")
    init_cpu_dist("slurm", timeout_s=60)
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]) == ("3", "4", "1")
    assert os.environ["MASTER_ADDR"] == "node01" and os.environ["MASTER_PORT"] == "29500"
    assert "node[01-02]" in hosts[0]
    assert captured_init[0]["backend"] == "gloo" and captured_init[0]["timeout"].total_seconds() == 60


def test_slurm_keeps_a_given_master_address_and_port(captured_init, monkeypatch):
    for key, value in {**SLURM_ENV, "MASTER_ADDR": "10.0.0.7"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(gen3d_dist.subprocess, "getoutput", lambda cmd: pytest.fail("scontrol called"))
    init_cpu_dist("slurm", port=29123)
    assert os.environ["MASTER_ADDR"] == "10.0.0.7" and os.environ["MASTER_PORT"] == "29123"


def test_unknown_launcher_is_refused(captured_init):
    with pytest.raises(ValueError, match="'mpi'"):
        init_cpu_dist("mpi")
    assert not captured_init


def test_single_process_helpers_are_no_ops():
    assert not torch_dist.is_initialized()
    shutdown_dist()  # no group: returns, does not exit
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    average_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))


def _average_on_rank(rank: int, store_path: str, results: dict) -> None:
    torch_dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    a, b = torch.nn.Parameter(torch.zeros(2, 2)), torch.nn.Parameter(torch.zeros(3))
    a.grad = torch.full((2, 2), float(rank + 1))  # 1 on rank 0, 2 on rank 1
    b.grad = None if rank == 0 else torch.full((3,), 4.0)  # a missing gradient counts as zero
    average_gradients([a, b])
    results[rank] = (a.grad.clone(), b.grad.clone())
    torch_dist.destroy_process_group()


def test_two_gloo_ranks_average_gradients(tmp_path):
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        results = manager.dict()
        procs = [ctx.Process(target=_average_on_rank, args=(r, str(tmp_path / "store"), results)) for r in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
        assert [proc.exitcode for proc in procs] == [0, 0]
        for rank in range(2):
            grad_a, grad_b = results[rank]
            assert torch.equal(grad_a, torch.full((2, 2), 1.5)) and torch.equal(grad_b, torch.full((3,), 2.0))


def test_environment_is_restored_after_the_slurm_tests():
    # Runs after the tests above (file order): a leaked MASTER_ADDR=node01 made later torchrun tests hang.
    assert os.environ.get("MASTER_ADDR") != "node01" and os.environ.get("WORLD_SIZE") != "4"
