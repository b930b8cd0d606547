"""Run ``tools/<tool>`` as a script in a child forked from a warm interpreter instead of a fresh one.

A fresh interpreter pays 4-8 s on a 2-core machine to import torch, MMEngine and gen3d before a tool does anything;
the suite starts about 75 tools. Here one ``multiprocessing`` fork server per test process imports them once, and
each tool runs in a fork of it: ``sys.argv``, the working directory and the environment as ``subprocess.run`` would
give them, the script executed as ``__main__`` (``runpy``), stdout and stderr captured at the file-descriptor level
(C extensions' output included), the exit status as the interpreter reports it (``sys.exit`` codes, 1 with a
traceback for an uncaught exception, ``-signal`` when killed).

The child resets what a fork inherits and a fresh interpreter lacks: multiprocessing's chosen start method (MMEngine
warns when the one it sets differs) and this process's identity as a child of the server.

What differs from a fresh interpreter: modules the server imported are already imported (their import-time
reading of the environment happened in the server, which got the test process's environment with
``OMP_NUM_THREADS=1``), and interpreter shutdown is ``atexit`` handlers plus a flush, not the full finalisation.
``run_tool(..., env=...)`` and ``GEN3D_TESTS_FRESH_INTERPRETER=1`` keep the fresh interpreter for that reason.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers.flags import env_flag, exit_status

PRELOAD = ["torch", "mmengine.runner", "gen3d.engine", "gen3d.models", "gen3d.datasets", "gen3d.evaluation"]
"""What the server imports once. A name that fails to import is skipped by ``multiprocessing`` (children import it)."""

FRESH_ENV = "GEN3D_TESTS_FRESH_INTERPRETER"
"""Set to 1 to run every tool in a fresh interpreter (``subprocess.run``), as before the server."""

_CONTEXT: multiprocessing.context.ForkServerContext | None = None


def use_server() -> bool:
    """Whether tools run through the fork server here: Linux/macOS (fork) and not disabled by :data:`FRESH_ENV`."""
    return not env_flag(FRESH_ENV) and "forkserver" in multiprocessing.get_all_start_methods()


def _context(repo_root: Path) -> multiprocessing.context.ForkServerContext:
    """The started fork server; the first call starts it with ``repo_root`` importable (its ``tests`` helpers)."""
    global _CONTEXT
    if _CONTEXT is None:
        from multiprocessing import forkserver

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        # Python 3.11's fork server ignores the parent's sys.path: PYTHONPATH lets it (and this module) import.
        previous = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), previous]))
        try:
            forkserver.ensure_running()
        finally:
            if previous is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = previous
        _CONTEXT = ctx
    return _CONTEXT


def _child(script: str, args: list[str], cwd: str, env: dict[str, str], out_path: str, err_path: str) -> None:
    """In the forked child: become ``python script *args`` with output to the two files, then exit with its status."""
    import atexit
    import multiprocessing.process
    import runpy
    import traceback

    for fd, path in ((1, out_path), (2, err_path)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    # A fresh interpreter's multiprocessing state: no start method chosen yet (MMEngine sets one and warns when
    # it differs), and this process is the main one, without a parent.
    multiprocessing.set_start_method(None, force=True)
    me = multiprocessing.process.current_process()
    me._identity, me._name, me._parent_pid = (), "MainProcess", None
    me._config = {"authkey": multiprocessing.process.AuthenticationString(os.urandom(32)), "semprefix": "/mp"}
    multiprocessing.process._parent_process = None

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [script, *args]
    # As `python script` with PYTHONPATH=cwd: the script's folder first, then the repository.
    sys.path[:] = [os.path.dirname(script), cwd] + [p for p in sys.path if p not in ("", cwd)]
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_status(exit_)
        if not isinstance(exit_.code, (int, type(None))):
            print(exit_.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the interpreter's behaviour: traceback on stderr, status 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def run_forked(repo_root: Path, script: Path, args: list[str], env: dict[str, str],
               timeout: float) -> subprocess.CompletedProcess:
    """Run ``script`` with ``args`` in a fork of the warm server; the result as ``subprocess.run(..., text=True)``.

    Raises:
        subprocess.TimeoutExpired: The tool ran past ``timeout`` seconds (it is killed first).
    """
    ctx = _context(repo_root)
    with tempfile.TemporaryDirectory(prefix="gen3d_tool_") as tmp:
        out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        proc = ctx.Process(target=_child, args=(str(script), list(args), str(repo_root), env, out_path, err_path))
        proc.start()
        proc.join(timeout)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
            raise subprocess.TimeoutExpired([sys.executable, str(script), *args], timeout)
        stdout, stderr = (Path(p).read_text(errors="replace") if os.path.exists(p) else ""
                          for p in (out_path, err_path))
    return subprocess.CompletedProcess([sys.executable, str(script), *args], proc.exitcode, stdout, stderr)
