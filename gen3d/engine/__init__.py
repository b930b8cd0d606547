"""Engine: the Runner, optimizer wrappers and cross-cutting hooks."""

from . import hooks, model_wrappers, optim_wrappers  # noqa: F401
from .runner import Runner

__all__ = ["Runner"]
