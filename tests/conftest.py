"""Session-wide test settings and fixtures. Tests run on CPU, offline, on tiny synthetic data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
TOY_CONFIG = REPO_ROOT / "tests" / "data" / "configs" / "toy_classifier.py"


GPU_ON_CPU_ENV = "GEN3D_GPU_TESTS_ON_CPU"
"""Set to 1 to run the bodies of the ``gpu`` tests that take the ``device`` fixture on CPU (AMP = bf16 autocast)."""


def gpu_tests_on_cpu() -> bool:
    """Whether :data:`GPU_ON_CPU_ENV` asks for the ``gpu`` test bodies on CPU."""
    from tests.helpers.flags import env_flag

    return env_flag(GPU_ON_CPU_ENV)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n``): one torch thread per worker, and for what it spawns.

    Workers share the cores: two intra-op threads each would oversubscribe them (tiny convs run far slower then).
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` where CUDA is absent, as the marker's declaration in pyproject.toml promises.

    With ``GEN3D_GPU_TESTS_ON_CPU=1`` the ``gpu`` tests that take the ``device`` fixture run on CPU instead (to
    check the test code without a GPU); those that need CUDA itself still skip.
    """
    import torch

    if torch.cuda.is_available():
        return
    on_cpu = gpu_tests_on_cpu()
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU (or {GPU_ON_CPU_ENV}=1 to run device-fixture bodies on CPU)")
    for item in items:
        if "gpu" in item.keywords and not (on_cpu and "device" in getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture
def one_thread():  # noqa: ANN201 - a generator fixture
    """One torch intra-op thread for the test: tiny convs on a shared 2-core machine run ~50x slower with two."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def device() -> str:
    """``'cuda'`` where CUDA is available, else ``'cpu'`` (reached only with ``GEN3D_GPU_TESTS_ON_CPU=1``)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_tool(tool: str, *args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>`` as a script from the repository root and capture its output.

    In a fork of a warm interpreter (``tests/helpers/tool_server.py``: torch, MMEngine and gen3d imported once per
    test process); in a fresh interpreter where ``env`` is given (variables read at import time take effect) or
    ``GEN3D_TESTS_FRESH_INTERPRETER=1``.
    """
    from tests.helpers import tool_server

    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    if env is None and tool_server.use_server():
        return tool_server.run_forked(REPO_ROOT, REPO_ROOT / "tools" / tool, list(args), full_env, timeout)
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / tool), *args], cwd=REPO_ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_tool_main(tool: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>``'s ``main(args)`` in this process; stdout, stderr and the exit status as ``run_tool``.

    For the tools' refusals (one clear line, no traceback): they exit before anything heavy, so the ~5 s of a fresh
    interpreter's imports are not worth paying per case. An exception other than ``SystemExit`` propagates, failing
    the test as a traceback would. ``sys.exit(message)`` puts the message on stderr, as the interpreter does.
    """
    import contextlib
    import importlib.util
    import io

    from tests.helpers.flags import exit_status

    path = REPO_ROOT / "tools" / tool
    spec = importlib.util.spec_from_file_location(f"tool_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            module.main(list(args))
        except SystemExit as exit_:
            code = exit_status(exit_)
            if not isinstance(exit_.code, (int, type(None))):
                print(exit_.code, file=sys.stderr)
    return subprocess.CompletedProcess([tool, *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def toy_data_root(tmp_path: Path) -> Path:
    """An (empty) data root for the toy dataset, which makes its samples from a seed."""
    root = tmp_path / "toy_data"
    root.mkdir()
    return root


UNIAD_TINY_CONFIG = REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py"


@pytest.fixture(scope="session")
def trained_tiny_uniad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(data_root, work_dir)`` of the tiny UniAD trained for 2 epochs by ``tools/train.py`` on the synthetic tree.

    Trained once per test process (each xdist worker) and shared by the files that need a trained checkpoint
    (tools, deploy, fp16): treat both folders as read-only; write into a test's own ``tmp_path``.
    """
    from tests.helpers.anomaly_data import make_mvtec_tree

    root = make_mvtec_tree(tmp_path_factory.mktemp("mvtec"))
    work = tmp_path_factory.mktemp("uniad_tiny_work")
    out = run_tool("train.py", str(UNIAD_TINY_CONFIG), "--data-root", str(root), "--work-dir", str(work))
    assert out.returncode == 0, out.stderr[-4000:]
    return root, work
