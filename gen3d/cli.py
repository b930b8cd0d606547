"""The ``gen3d`` command: ``gen3d train|test|infer|deploy|benchmark|generate|browse ...``, ``gen3d list-configs``.

Each subcommand runs the tool of the same name (``tools/train.py`` ...) with the arguments as given, except that a
config may be named by its file name alone (``gen3d train uniad_effnet-lite0_1xb8-200e_mvtec-224.py``): the shipped
configs are found from a checkout or, after a plain ``pip install``, from the wheel's copy
(:mod:`gen3d.utils.repo_paths`). ``python tools/<tool>.py`` keeps working from a checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from gen3d.utils.repo_paths import REPO_ROOT, find_config

#: subcommand -> (tool file under tools/, positional arguments that are configs: (index, folder))
COMMANDS = {
    "train": ("train.py", ((0, "configs"),)),
    "test": ("test.py", ((0, "configs"),)),
    "infer": ("infer.py", ()),
    "deploy": ("deploy.py", ((0, "deploy"), (1, "configs"))),
    "benchmark": ("benchmark.py", ()),
    "generate": ("gan/generate.py", ()),
    "browse": ("browse_data.py", ()),
}


def _positionals(argv: Sequence[str]) -> list[int]:
    """Indices of the arguments before the first option (the tools' positionals come first)."""
    out = []
    for i, arg in enumerate(argv):
        if arg.startswith("-") and arg != "-":
            break
        out.append(i)
    return out


def resolve_configs(command: str, argv: Sequence[str]) -> list[str]:
    """``argv`` with the config positionals of ``command`` resolved by :func:`find_config` (``'-'`` kept)."""
    argv = list(argv)
    positions = _positionals(argv)
    for index, folder in COMMANDS[command][1]:
        if index < len(positions) and argv[positions[index]] != "-":
            argv[positions[index]] = find_config(argv[positions[index]], folder)
    return argv


def run_tool(command: str, argv: Sequence[str]) -> int:
    """Load ``tools/<tool>.py`` (checkout or wheel copy) and call its ``main(argv)``; returns the exit status."""
    path = REPO_ROOT / "tools" / COMMANDS[command][0]
    if not path.is_file():
        raise FileNotFoundError(f"tool {path} is missing from this installation")
    spec = importlib.util.spec_from_file_location(f"gen3d_tool_{command}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    sys.argv = [f"gen3d {command}", *argv]
    result = module.main(list(argv))
    return int(result or 0)


def list_configs(family: str | None = None) -> list[dict[str, str]]:
    """Every shipped model config: ``{'config', 'family', 'data'}`` (``data``: the training set's type and root).

    Configs are the project's own files (read with mmengine); a config that fails to load is listed with its error.
    """
    from mmengine.config import Config

    root = REPO_ROOT / "configs"
    rows = []
    for path in sorted(p for p in root.rglob("*.py") if "_base_" not in p.parts):
        fam = path.relative_to(root).parts[0]
        if family and fam != family:
            continue
        try:
            dataset = Config.fromfile(str(path)).train_dataloader.dataset  # as written (no required-key checks)
            inner = dataset.get("dataset", dataset)  # RepeatDataset / wrappers
            data = f"{inner.get('type', '?')} {inner.get('data_root', '')}".strip()
        except Exception as err:  # noqa: BLE001 - listed, not raised
            data = f"(cannot load: {type(err).__name__})"
        rows.append({"config": path.name, "family": fam, "data": data})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gen3d`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="gen3d", description=__doc__.split("\n")[0],
                                     epilog="gen3d <command> -h shows the command's own options")
    parser.add_argument("command", choices=[*COMMANDS, "list-configs"])
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "list-configs":
        sub = argparse.ArgumentParser(prog="gen3d list-configs")
        sub.add_argument("--family", help="only this family (folder under configs/, e.g. uniad, stylegan2)")
        args = sub.parse_args(rest)
        rows = list_configs(args.family)
        width = max([len(r["config"]) for r in rows] + [6])
        for r in rows:
            print(f"{r['config']:<{width}}  {r['family']:<14}  {r['data']}")
        return 0
    parser.parse_args([command])  # a clear message for an unknown command
    try:
        rest = resolve_configs(command, rest)
    except FileNotFoundError as err:
        print(f"gen3d {command}: {err}", file=sys.stderr)
        return 2
    return run_tool(command, rest)


if __name__ == "__main__":
    sys.exit(main())
