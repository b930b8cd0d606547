"""Where the repository's own files are (shipped configs, deploy configs, tools), whatever the working directory.

From a checkout (or an editable install) they are the repository's ``configs/``, ``deploy/`` and ``tools/``; a
wheel carries copies under ``gen3d/_shipped/`` (written by ``setup.py``'s ``build_py``), so ``gen3d train
uniad_effnet-lite0_1xb8-200e_mvtec-224.py`` works after ``pip install gen3d`` too.
"""

from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
SHIPPED = Path(__file__).resolve().parents[1] / "_shipped"
REPO_ROOT = _CHECKOUT if (_CHECKOUT / "configs").is_dir() else SHIPPED
SHIPPED_DIRS = ("configs", "deploy", "tools")


def repo_file(relative: str) -> str:
    """``relative`` (e.g. ``'configs/uniad/x.py'``) under the repository root (or the wheel's copy), as a string."""
    return str(REPO_ROOT / relative)


def find_config(name: str, folder: str = "configs") -> str:
    """A config given by path, by path relative to ``folder``, or by its file name alone.

    Args:
        name: ``'path/to/x.py'`` (an existing file is returned as it is), ``'uniad/x.py'``, ``'x.py'`` or ``'x'``.
        folder: ``'configs'`` (model configs) or ``'deploy'`` (deploy configs).

    Returns:
        The file's path.

    Raises:
        FileNotFoundError: No such config (with the closest names), or a bare name that two configs share.
    """
    if Path(name).is_file():
        return name
    root = REPO_ROOT / folder
    direct = root / name
    if direct.is_file():
        return str(direct)
    stem = name if name.endswith(".py") else f"{name}.py"
    hits = sorted(p for p in root.rglob(Path(stem).name) if "_base_" not in p.parts) if root.is_dir() else []
    if len(hits) == 1:
        return str(hits[0])
    if len(hits) > 1:
        raise FileNotFoundError(f"config name {name!r} is ambiguous: {[str(p.relative_to(root)) for p in hits]}")
    import difflib

    names = [p.name for p in root.rglob("*.py") if "_base_" not in p.parts] if root.is_dir() else []
    close = difflib.get_close_matches(Path(stem).name, names, n=3, cutoff=0.5)
    raise FileNotFoundError(f"no config {name!r} (not a file, nor a name under {root})"
                            + (f"; did you mean {close}?" if close else "; see `gen3d list-configs`"))
