"""``tools/benchmark.py --device``: device plumbing on CPU (CUDA faked or absent); buffer-broadcast end to end."""

import importlib.util
import json

import pytest
import torch

from gen3d.benchmarks.benchmarks import BENCH_TASKS, resolve_task
from gen3d.benchmarks.gan_benchmarks import GAN_CONFIGS
from gen3d.utils.benchmark import amp_name, amp_optim_wrapper, bench_device, time_interleaved
from gen3d.utils.gpu_check import BENCHMARKS, benchmark_supports_device
from tests.conftest import REPO_ROOT, run_tool

TOOL = REPO_ROOT / "tools" / "benchmark.py"


def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_time_interleaved_synchronises_cuda_around_every_timed_call(monkeypatch):
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append(f"sync {device}"))
    variants = {"a": lambda: events.append("a"), "b": lambda: events.append("b")}
    times = time_interleaved(variants, rounds=2, warmup=1, device="cuda")
    assert events == ["a", "b"] + ["sync cuda", "a", "sync cuda", "sync cuda", "b", "sync cuda"] * 2
    assert {k: len(v) for k, v in times.items()} == {"a": 2, "b": 2}
    events.clear()
    time_interleaved(variants, rounds=2, warmup=0, device=torch.device("cpu"))
    time_interleaved(variants, rounds=1, warmup=0)
    assert events == ["a", "b"] * 3  # never a CUDA call on CPU


def test_bench_device_cpu_and_a_clear_error_without_cuda(monkeypatch):
    assert bench_device("cpu") == torch.device("cpu") and amp_name(torch.device("cpu")) == "bf16"
    _no_cuda(monkeypatch)
    with pytest.raises(RuntimeError, match="--device cuda: CUDA is not available.*--device cpu"):
        bench_device("cuda")
    with pytest.raises(ValueError, match="cpu or cuda"):
        bench_device("meta")


def test_amp_wrapper_follows_the_device(monkeypatch):
    from mmengine import optim as mm_optim

    from gen3d.engine.optim_wrappers import CPUAutocastOptimWrapper

    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    cpu = amp_optim_wrapper(opt, torch.device("cpu"), clip_grad=dict(max_norm=1.0))
    assert type(cpu) is CPUAutocastOptimWrapper and cpu.cast_dtype == torch.bfloat16 and cpu.clip_grad_kwargs
    seen = {}
    monkeypatch.setattr(mm_optim, "AmpOptimWrapper", lambda **kw: seen.update(kw) or "amp")  # refuses CPU for real
    assert amp_optim_wrapper(opt, torch.device("cuda"), clip_grad=None) == "amp"
    assert seen == dict(optimizer=opt, loss_scale="dynamic", dtype="float16", clip_grad=None)
    assert amp_name(torch.device("cuda")) == "fp16"


def test_task_table_and_which_tasks_take_a_device(monkeypatch):
    assert set(BENCH_TASKS) == {"uniad-train", "deploy", "seg-step", "gan-train", "buffer-broadcast", "render",
                                "pigan-train", "depthgan-train", "resefa-locality"}
    assert {k for k, t in BENCH_TASKS.items() if t.on_device} == set(BENCHMARKS)  # what tools/gpu_check.py runs
    assert resolve_task("seg-step", "cpu")[1] == torch.device("cpu")
    with pytest.raises(ValueError, match="deploy runs on CPU only"):
        resolve_task("deploy", "cuda")
    _no_cuda(monkeypatch)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_task("gan-train", "cuda")


def test_gpu_check_finds_device_and_cuda_without_gpu_is_a_clear_error():
    assert benchmark_supports_device(TOOL)
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the error path needs a machine without it")
    out = run_tool("benchmark.py", "uniad-train", "--device", "cuda", "--rounds", "1")
    assert out.returncode == 1 and "error: --device cuda: CUDA is not available" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_gan_train_task_on_explicit_cpu(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("benchmark_tool", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rows_file = tmp_path / "rows.json"
    config = str(REPO_ROOT / GAN_CONFIGS["StyleGAN2 (plain D)"])
    tool.main(["gan-train", "--device", "cpu", "--config", config, "--batch-size", "2", "--rounds", "1",
               "--out", str(rows_file)])
    rows = json.loads(rows_file.read_text())
    assert [(r["variant"], r["device"], r["x plain D"]) for r in rows] == [(config.split("/")[-1], "cpu", 1.0)]
    assert f"32-px demo configs, {torch.get_num_threads()} threads, CPU" in capsys.readouterr().out


def test_buffer_broadcast_end_to_end_at_a_tiny_queue_scale(tmp_path):
    from gen3d.models.losses.u2pl_losses import QUEUE_SIZE, QUEUE_SIZE_BG

    rows_file = tmp_path / "rows.json"
    out = run_tool("benchmark.py", "buffer-broadcast", "--queue-scale", "0.001", "--rounds", "1",
                   "--out", str(rows_file), timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]
    rows = {r["variant"]: r for r in json.loads(rows_file.read_text())}
    assert list(rows) == ["all, one broadcast each (before)", "all, small ones coalesced", "differing only (now)",
                          "check synced (debug)"]
    sent = {k: r["MiB sent"] for k, r in rows.items()}
    queues_mib = (int(QUEUE_SIZE_BG * 0.001) + 20 * int(QUEUE_SIZE * 0.001)) * 256 * 4 / 2**20  # 21 VOC queues
    assert sent["all, small ones coalesced"] == sent["all, one broadcast each (before)"]
    assert sent["all, one broadcast each (before)"] - sent["differing only (now)"] == pytest.approx(queues_mib)
    assert sent["differing only (now)"] > 0 and sent["check synced (debug)"] == 0
    assert all(r["median s"] > 0 for r in rows.values()) and rows["all, one broadcast each (before)"]["x before"] == 1
    assert "2 gloo CPU ranks" in out.stdout and "x before" in out.stdout
