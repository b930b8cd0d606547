"""The suite's warm tool runner (``tests/helpers/tool_server.py``) behaves as ``subprocess.run`` on a script."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers import tool_server

pytestmark = pytest.mark.skipif(not tool_server.use_server(), reason="no fork server here (or it is disabled)")

SCRIPT = textwrap.dedent("""
    import multiprocessing, os, sys
    print("start method", multiprocessing.get_start_method(allow_none=True), multiprocessing.current_process().name,
          multiprocessing.parent_process())
    print("argv", sys.argv[1:], "cwd", os.getcwd(), "env", os.environ.get("GEN3D_T"), "name", __name__)
    sys.stdout.flush()
    os.write(1, b"fd-level stdout\\n")
    os.write(2, b"fd-level stderr\\n")
    print("on stderr", file=sys.stderr)
    mode = sys.argv[1]
    if mode == "code":
        sys.exit(3)
    if mode == "message":
        sys.exit("a clear refusal")
    if mode == "raise":
        raise ValueError("broken on purpose")
    if mode == "sleep":
        import time
        time.sleep(60)
    if mode == "imported":
        print("torch preloaded" if "torch" in sys.modules else "torch not loaded")
""")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "tool.py"
    path.write_text(SCRIPT)
    return path


def _fresh(script: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize(("mode", "code"), [("ok", 0), ("code", 3), ("message", 1), ("raise", 1)])
def test_same_as_a_fresh_interpreter(script: Path, mode: str, code: int) -> None:
    import os

    env = {**os.environ, "GEN3D_T": "seen"}
    forked = tool_server.run_forked(REPO_ROOT, script, [mode, "x y"], env, timeout=60)
    fresh = _fresh(script, mode, "x y", env=env)
    assert forked.returncode == fresh.returncode == code
    assert forked.stdout == fresh.stdout
    assert f"argv ['{mode}', 'x y'] cwd {REPO_ROOT} env seen name __main__" in forked.stdout
    assert "fd-level stdout" in forked.stdout and "fd-level stderr" in forked.stderr
    if mode == "raise":
        assert "Traceback" in forked.stderr and "ValueError: broken on purpose" in forked.stderr
    else:
        assert forked.stderr == fresh.stderr
    if mode == "message":
        assert "a clear refusal" in forked.stderr


def test_the_server_is_warm_and_a_timeout_kills(script: Path) -> None:
    import os

    warm = tool_server.run_forked(REPO_ROOT, script, ["imported"], dict(os.environ), timeout=60)
    assert "torch preloaded" in warm.stdout
    with pytest.raises(subprocess.TimeoutExpired):
        tool_server.run_forked(REPO_ROOT, script, ["sleep"], dict(os.environ), timeout=1)
