"""Exact snapshots of a module's tensors and of an optimizer's state, for look-ahead training (FST, arXiv 2209.06993).

A module snapshot is ``{name: detached clone}`` of its parameters and (optionally) buffers; restoring copies the
values back *in place*, so :class:`torch.nn.Parameter` objects keep their identity and optimizers keep pointing at
them. An optimizer snapshot is a deep copy of ``state_dict()`` (mmengine ``OptimWrapper``: optimizer state, the
AMP grad-scaler state, ``base_param_settings``) plus the wrapper's accumulation counter; restoring loads a deep copy
again unless ``consume=True``, because ``torch.optim.Optimizer.load_state_dict`` keeps the loaded tensors (no copy
when device and dtype match) and the next ``step()`` would modify the snapshot in place.
"""

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

INNER_COUNT_KEY = "_gen3d_inner_count"
#: ``[(owner module, buffer name, tensor, tensor._version)]``, see :func:`snapshot_buffer_refs`.
BufferRefs = list[tuple[nn.Module, str, Tensor, int]]


def snapshot_module(module: nn.Module, params: bool = True, buffers: bool = True) -> dict[str, Tensor]:
    """Detached clones of a module's parameters and/or buffers.

    Args:
        module: The module.
        params: Include the parameters.
        buffers: Include the buffers (BN running statistics, ``num_batches_tracked``).

    Returns:
        ``{qualified name: tensor}``, each tensor a fresh copy with the source's shape, dtype and device.
    """
    snap: dict[str, Tensor] = {}
    with torch.no_grad():
        if params:
            snap.update({name: p.detach().clone() for name, p in module.named_parameters()})
        if buffers:
            snap.update({name: b.detach().clone() for name, b in module.named_buffers() if b is not None})
    return snap


def _named_tensors(module: nn.Module) -> dict[str, Tensor]:
    named = dict(module.named_parameters())
    named.update({name: b for name, b in module.named_buffers() if b is not None})
    return named


def restore_module(module: nn.Module, snapshot: dict[str, Tensor]) -> None:
    """Copy a snapshot back into a module in place (bitwise; parameter identities are kept).

    Args:
        module: The module the snapshot was taken from.
        snapshot: Output of :func:`snapshot_module` (a subset of the tensors is allowed, e.g. parameters only).

    Raises:
        KeyError: A snapshot entry names no tensor of the module.
        ValueError: A shape differs.
    """
    named = _named_tensors(module)
    with torch.no_grad():
        for name, value in snapshot.items():
            if name not in named:
                raise KeyError(f"snapshot entry {name!r} is not a parameter or buffer of {type(module).__name__}")
            target = named[name]
            if target.shape != value.shape:
                raise ValueError(f"{name}: snapshot shape {tuple(value.shape)} != module shape {tuple(target.shape)}")
            target.copy_(value)


def average_snapshots(snapshots: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Uniform average ("model soup") of module snapshots; non floating-point entries take the last value.

    Args:
        snapshots: Snapshots with the same keys and shapes.

    Returns:
        ``{name: mean over snapshots}`` (same dtypes as the inputs).
    """
    if not snapshots:
        raise ValueError("average_snapshots needs at least one snapshot")
    out: dict[str, Tensor] = {}
    for name, last in snapshots[-1].items():
        if torch.is_floating_point(last):
            out[name] = torch.stack([s[name] for s in snapshots]).mean(dim=0).to(last.dtype)
        else:
            out[name] = last.clone()
    return out


def snapshot_optimizer(optim: Any) -> dict[str, Any]:
    """Deep copy of an optimizer's (or mmengine optimizer wrapper's) state.

    Args:
        optim: ``torch.optim.Optimizer`` or mmengine ``OptimWrapper`` / ``AmpOptimWrapper`` (the latter's
            ``state_dict`` carries the grad-scaler state).

    Returns:
        A deep-copied state dict, plus the wrapper's gradient-accumulation counter when there is one.
    """
    snap = copy.deepcopy(optim.state_dict())
    if hasattr(optim, "_inner_count"):
        snap[INNER_COUNT_KEY] = int(optim._inner_count)
    return snap


def restore_optimizer(optim: Any, snapshot: dict[str, Any], consume: bool = False) -> None:
    """Load a snapshot taken by :func:`snapshot_optimizer` back (exactly: momenta, moments, step counts, scaler).

    State created after the snapshot (e.g. momentum buffers of a first step) is dropped.

    Args:
        optim: The optimizer or optimizer wrapper the snapshot was taken from.
        snapshot: Output of :func:`snapshot_optimizer`.
        consume: Load the snapshot's own tensors (saves a copy; the snapshot must not be used again).
    """
    state = dict(snapshot) if consume else copy.deepcopy(snapshot)
    inner_count = state.pop(INNER_COUNT_KEY, None)
    optim.load_state_dict(state)
    if inner_count is not None:
        optim._inner_count = inner_count


def optimizer_state_numel(optim: Any) -> int:
    """Number of elements in all state tensors of an optimizer (diagnostics and leak tests)."""
    optimizer = getattr(optim, "optimizer", optim)
    return sum(v.numel() for s in optimizer.state.values() for v in s.values() if isinstance(v, Tensor))



def snapshot_buffer_refs(module: nn.Module, exclude: Sequence[nn.Module] = ()) -> BufferRefs:
    """References (no copy) to the buffers of ``module`` outside the ``exclude`` subtrees, with their versions.

    For state that is replaced rather than modified in place, e.g. U2PL's memory queues (each ``enqueue`` assigns a
    new tensor): holding the old tensors is enough to undo the updates, at no memory or time cost.

    Args:
        module: Root module (e.g. the wrapped teacher-student method).
        exclude: Submodules whose buffers are left out (e.g. its student and teacher, snapshotted by value).

    Returns:
        :data:`BufferRefs`.
    """
    skip = {id(m) for sub in exclude for m in sub.modules()}
    return [(owner, name, buf, buf._version) for owner in module.modules() if id(owner) not in skip
            for name, buf in owner._buffers.items() if buf is not None]


def restore_buffer_refs(refs: BufferRefs) -> None:
    """Put the buffers recorded by :func:`snapshot_buffer_refs` back (bitwise, whatever their shape now).

    Raises:
        RuntimeError: A recorded tensor was modified in place since, so the reference no longer holds its value.
    """
    for owner, name, buf, version in refs:
        if buf._version != version:
            raise RuntimeError(f"buffer {name!r} of {type(owner).__name__} was modified in place after the snapshot; "
                               "it cannot be restored by reference")
        owner._buffers[name] = buf
