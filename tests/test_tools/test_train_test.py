"""tools/train.py and tools/test.py end to end on the toy model: resume, CPU distributed, AMP, errors, results."""

import json
import os
import subprocess
import sys

import pytest
import torch

from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT, TOY_CONFIG, run_tool, run_tool_main

KILL_CONFIG = REPO_ROOT / "tests" / "data" / "configs" / "toy_classifier_kill.py"
UNIAD_TINY = REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py"


def _weights(path):
    return load_local_checkpoint(path)["state_dict"]


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k] - b[k]).abs().max()}"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The toy config trained through its 3 epochs without interruption (the reference for resumed runs)."""
    work, data = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("toy_data")
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(work), "--data-root", str(data))
    assert out.returncode == 0, out.stderr[-3000:]
    return work


def test_killed_training_resumes_to_identical_weights(tmp_path, toy_data_root, straight):
    killed = tmp_path / "killed"
    common = ["--data-root", str(toy_data_root)]
    # SIGKILL in the middle of epoch 2 (8 iterations per epoch): only epoch_1.pth exists afterwards.
    out = run_tool("train.py", str(KILL_CONFIG), "--work-dir", str(killed), *common,
                   "--cfg-options", "custom_hooks.0.kill_at=12")
    assert out.returncode == -9, out.stderr[-3000:]
    assert (killed / "epoch_1.pth").exists() and not (killed / "epoch_2.pth").exists()
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(killed), *common, "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resumed epoch: 1" in out.stdout + out.stderr
    _assert_same(_weights(straight / "epoch_3.pth"), _weights(killed / "epoch_3.pth"))
    # The comparison is sensitive: another seed (dropout stream, init) ends elsewhere.
    other = tmp_path / "other"
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(other), *common,
                   "--cfg-options", "randomness.seed=8")
    assert out.returncode == 0
    fc_straight, fc_other = (_weights(d / "epoch_3.pth")["fc.weight"] for d in (straight, other))
    assert not torch.equal(fc_straight, fc_other)


def test_killed_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path, toy_data_root, straight):
    work = tmp_path / "w"
    common = ["--work-dir", str(work), "--data-root", str(toy_data_root)]
    # SIGKILL while epoch_2.pth is being written by the Runner's CheckpointHook (bytes written, not yet renamed).
    out = run_tool("train.py", str(KILL_CONFIG), *common, "--cfg-options",
                   "custom_hooks.0.type=KillWhileSavingHook", "custom_hooks.0.kill_at=2")
    assert out.returncode == -9, "not killed: the checkpoint was not written through the atomic writer\n" + (
        out.stderr[-3000:])
    assert sorted(p.name for p in work.glob("*.pth")) == ["epoch_1.pth"]  # no half-written epoch_2.pth
    assert load_local_checkpoint(work / "epoch_1.pth")["meta"]["epoch"] == 1
    assert (work / "last_checkpoint").read_text().strip().endswith("epoch_1.pth")
    # A kill during the (in-place) rewrite of last_checkpoint leaves it empty: auto-resume still finds epoch_1.pth.
    (work / "last_checkpoint").write_text("")
    out = run_tool("train.py", str(TOY_CONFIG), *common, "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resumed epoch: 1" in out.stdout + out.stderr
    _assert_same(_weights(straight / "epoch_3.pth"), _weights(work / "epoch_3.pth"))


def test_killed_while_saving_with_one_kept_checkpoint_keeps_it(tmp_path, toy_data_root):
    """max_keep_ckpts=1 (the demos): mmengine's CheckpointHook removed epoch_1.pth before writing epoch_2.pth, so a
    kill during that write left no checkpoint; SafeCheckpointHook removes it only once epoch_2.pth exists."""
    work = tmp_path / "w"
    out = run_tool("train.py", str(KILL_CONFIG), "--work-dir", str(work), "--data-root", str(toy_data_root),
                   "--cfg-options", "custom_hooks.0.type=KillWhileSavingHook", "custom_hooks.0.kill_at=2",
                   "default_hooks.checkpoint.max_keep_ckpts=1")
    assert out.returncode == -9, out.stderr[-3000:]
    assert sorted(p.name for p in work.glob("*.pth")) == ["epoch_1.pth"]
    assert (work / "last_checkpoint").read_text().strip().endswith("epoch_1.pth")
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(work), "--data-root", str(toy_data_root),
                   "--resume", "--cfg-options", "default_hooks.checkpoint.max_keep_ckpts=1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(p.name for p in work.glob("*.pth")) == ["epoch_3.pth"]  # the outdated ones were removed


def test_resume_from_explicit_checkpoint_and_run_info_dumped(tmp_path, toy_data_root):
    work = tmp_path / "w"
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(work), "--data-root", str(toy_data_root),
                   "--cfg-options", "train_cfg.max_epochs=1")
    assert out.returncode == 0, out.stderr[-3000:]
    env = json.loads((work / "env.json").read_text())
    assert env["gen3d"] and "PyTorch" in env
    assert "max_epochs=1" in (work / "config.py").read_text()
    ckpt = load_local_checkpoint(work / "epoch_1.pth")  # DESIGN: state dicts, the config, meta (versions)
    meta = ckpt["meta"]
    assert meta["model_type"] == "ToyModel" and "rng_state" in meta
    assert set(ckpt["state_dict"]) == {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}
    assert "type='ToyModel'" in meta["cfg"] and meta["gen3d_version"] and meta["torch_version"]
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(work), "--data-root", str(toy_data_root),
                   "--resume", str(work / "epoch_1.pth"), "--cfg-options", "train_cfg.max_epochs=2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work / "epoch_2.pth").exists()


def test_amp_on_cpu_uses_bf16_autocast(tmp_path, toy_data_root):
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(tmp_path), "--data-root", str(toy_data_root),
                   "--amp", "--cfg-options", "train_cfg.max_epochs=1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "CPUAutocastOptimWrapper" in (tmp_path / "config.py").read_text()


@pytest.mark.parametrize("args, message", [
    (["--cfg-options", "train_cfg.max_epoch=2"], "Did you mean: 'max_epochs'"),
    (["--cfg-options", "model.type=Nope"], "model.type = 'Nope' is not registered"),
    (["--data-root", "/no/such/dir"], "--data-root '/no/such/dir' does not exist"),
    (["--cfg-options", "model.q=0.1"], "model.q: 'q' is not an argument of ToyModel"),
    (["--cfg-options", "train_dataloader.dataset.sise=8"], "Did you mean: 'size'"),
])
def test_train_errors_are_one_clear_message(tmp_path, toy_data_root, args, message):
    base = [] if "--data-root" in args else ["--data-root", str(toy_data_root)]
    out = run_tool_main("train.py", str(TOY_CONFIG), "--work-dir", str(tmp_path), *base, *args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_nested_config_key_typo_is_one_message(tmp_path):
    # The typo sits two levels down (a backbone argument): mmengine would only fail while building the model.
    out = run_tool_main("train.py", str(UNIAD_TINY), "--work-dir", str(tmp_path), "--cfg-options",
                        "model.backbone.pretraned=False")
    assert out.returncode != 0
    assert "model.backbone.pretraned" in out.stderr and "Did you mean: 'pretrained'" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_data_root_in_config_is_named(tmp_path):
    out = run_tool_main("train.py", str(TOY_CONFIG), "--work-dir", str(tmp_path))
    assert out.returncode != 0
    assert "data/toy-missing" in out.stderr and "train_dataloader.dataset.data_root" in out.stderr


def test_test_tool_writes_results_and_refuses_foreign_checkpoint(tmp_path, toy_data_root):
    work = tmp_path / "w"
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(work), "--data-root", str(toy_data_root),
                   "--cfg-options", "train_cfg.max_epochs=1")
    assert out.returncode == 0, out.stderr[-3000:]
    results = tmp_path / "results.json"
    out = run_tool("test.py", str(TOY_CONFIG), str(work / "epoch_1.pth"), "--data-root", str(toy_data_root),
                   "--work-dir", str(work), "--out", str(results))
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(results.read_text())
    assert 0.0 <= data["toy/accuracy"] <= 1.0
    # A checkpoint that says it holds another model is refused by name.
    ckpt = load_local_checkpoint(work / "epoch_1.pth")
    ckpt["meta"]["model_type"] = "UniAD"
    torch.save(ckpt, tmp_path / "foreign.pth")
    out = run_tool("test.py", str(TOY_CONFIG), str(tmp_path / "foreign.pth"), "--data-root", str(toy_data_root))
    assert out.returncode != 0 and "holds a UniAD model" in out.stderr and "ToyModel" in out.stderr


@pytest.mark.slow
def test_two_process_cpu_distributed_train_validate_checkpoint_resume(tmp_path, toy_data_root):
    work = tmp_path / "dist"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable,
           "PORT": str(29500 + os.getpid() % 1000)}

    def launch(*extra):
        return subprocess.run(["bash", str(REPO_ROOT / "tools" / "dist_train.sh"), str(TOY_CONFIG), "2",
                               "--work-dir", str(work), "--data-root", str(toy_data_root), *extra],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)

    out = launch("--cfg-options", "train_cfg.max_epochs=2")
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "Distributed training: True" in log
    assert log.count("toy/accuracy") >= 2  # validated every epoch (metric gathered across ranks)
    assert (work / "epoch_2.pth").exists()
    out = launch("--resume", "--cfg-options", "train_cfg.max_epochs=3")
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "resumed epoch: 2" in log
    assert load_local_checkpoint(work / "epoch_3.pth")["meta"]["epoch"] == 3


FAKE_SRUN = """#!/usr/bin/env bash
# srun stand-in: records its arguments, drops its own options and runs the command as the single task of a job.
echo "$@" > "$SRUN_LOG"
shift 2  # -p PARTITION
while [[ "$1" == --* ]]; do shift; done
export SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost
exec "$@"
"""


@pytest.mark.slow
def test_slurm_train_script_trains_with_the_slurm_launcher_on_cpu(tmp_path, toy_data_root):
    bin_dir, work = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable,
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "SRUN_LOG": str(tmp_path / "srun.log"), "GPUS": "1",
           "GPUS_PER_NODE": "1", "CPUS_PER_TASK": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(31500 + os.getpid() % 1000)}
    out = subprocess.run(["bash", str(REPO_ROOT / "tools" / "slurm_train.sh"), "cpu", "toy", str(TOY_CONFIG),
                          str(work), "--data-root", str(toy_data_root), "--cfg-options", "train_cfg.max_epochs=1"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    srun_args = (tmp_path / "srun.log").read_text()
    assert "-p cpu --job-name=toy" in srun_args and "--ntasks=1" in srun_args and "--launcher slurm" in srun_args
    assert "Distributed training: True" in log
    assert load_local_checkpoint(work / "epoch_1.pth")["meta"]["epoch"] == 1
