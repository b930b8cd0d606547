"""Run a script with ``import torch`` (and mmengine) made impossible, then check neither got imported.

Usage: ``python no_torch_runner.py SCRIPT [ARGS...]`` or ``python no_torch_runner.py -c CODE``. Exits with the
script's status; prints ``NO_TORCH_OK`` last when torch and mmengine stayed out of ``sys.modules``.
"""

import importlib.abc
import runpy
import sys

BLOCKED = ("torch", "mmengine", "torchvision", "timm")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} imported on a torch-free path")
        return None


def main() -> int:
    sys.meta_path.insert(0, _Blocker())
    args = sys.argv[1:]
    status = 0
    try:
        if args[0] == "-c":
            sys.argv = ["-c", *args[2:]]
            exec(compile(args[1], "<code>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = args
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code not in (None, 0) and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    if leaked:
        print(f"LEAKED {leaked}", file=sys.stderr)
        return 3
    print("NO_TORCH_OK")
    return status


if __name__ == "__main__":
    sys.exit(main())
