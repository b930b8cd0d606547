"""The suite's switches from the environment."""

from __future__ import annotations

import os


def env_flag(name: str) -> bool:
    """Whether environment variable ``name`` is set to something other than empty, ``0``, ``false`` or ``no``."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def exit_status(exit_: SystemExit) -> int:
    """The status the interpreter exits with for ``exit_``: ``None`` 0, an int itself, anything else 1.

    Anything else is also what the interpreter prints on stderr; the caller prints it.
    """
    if exit_.code is None:
        return 0
    return exit_.code if isinstance(exit_.code, int) else 1
