"""Per-class memory banks as plain tensor buffers, so checkpoints load with ``torch.load(weights_only=True)``.

Each bank is a buffer ``bank_<hex>`` where ``<hex>`` is the UTF-8 class name in hexadecimal (state-dict keys must
not hold dots, and class names come from folder names). The set of banks is only known after fitting, so loading
a state dict creates the buffers it finds (:meth:`MemoryBanks._load_from_state_dict`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

_PREFIX = "bank_"


def _key(cls_name: str) -> str:
    return _PREFIX + cls_name.encode("utf-8").hex()


def _name(key: str) -> str:
    return bytes.fromhex(key[len(_PREFIX):]).decode("utf-8")


class MemoryBanks(nn.Module):
    """``{class name: (M_c, C) coreset}``, one buffer per class."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_anchor", torch.empty(0), persistent=False)  # follows .to(device)

    def classes(self) -> list[str]:
        """Class names with a bank, sorted."""
        return sorted(_name(k) for k in self._buffers if k.startswith(_PREFIX))

    def __contains__(self, cls_name: object) -> bool:
        return isinstance(cls_name, str) and _key(cls_name) in self._buffers

    def __len__(self) -> int:
        return len(self.classes())

    def __iter__(self) -> Iterator[str]:
        return iter(self.classes())

    def get(self, cls_name: str) -> Tensor:
        """The ``(M, C)`` bank of ``cls_name``.

        Raises:
            KeyError: No bank for that class; the message names it and the known classes.
        """
        if cls_name not in self:
            raise KeyError(f"PatchCore has no memory bank for class {cls_name!r}; it was fitted on "
                           f"{self.classes() or 'no class (not trained yet)'}")
        return self._buffers[_key(cls_name)]

    def set(self, cls_name: str, bank: Tensor) -> None:
        """Store ``bank`` ``(M, C)`` for ``cls_name`` (replacing an existing one)."""
        if bank.ndim != 2 or bank.shape[0] == 0:
            raise ValueError(f"a memory bank must be a non-empty (M, C) tensor, got shape {tuple(bank.shape)}")
        self.register_buffer(_key(str(cls_name)), bank.detach().to(self._anchor.device).contiguous())

    def clear(self) -> None:
        """Drop every bank."""
        for key in [k for k in self._buffers if k.startswith(_PREFIX)]:
            del self._buffers[key]

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        """Make the banks of the state dict (and only those) before the usual copy, so none is 'unexpected'."""
        wanted = {k[len(prefix):]: v for k, v in state_dict.items()
                  if k.startswith(prefix + _PREFIX) and "." not in k[len(prefix):]}
        self.clear()
        for key, value in wanted.items():
            try:
                _name(key)
            except ValueError:
                error_msgs.append(f"{prefix}{key}: not a memory-bank key (bank_<hex class name>)")
                continue
            self.register_buffer(key, torch.empty_like(value, device=self._anchor.device))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
