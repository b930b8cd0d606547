"""Where the repository's own files are (shipped configs, tools), whatever the working directory."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def repo_file(relative: str) -> str:
    """``relative`` (e.g. ``'configs/uniad/x.py'``) under the repository root, as a string path."""
    return str(REPO_ROOT / relative)
