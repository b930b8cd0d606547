"""A distributed wrapper for models that write their own ``train_step`` around one optimizer (teacher-student, FST).

mmengine's ``MMDistributedDataParallel.train_step`` only runs ``forward(mode='loss')``, which would bypass a
teacher-student step (pseudo-labels, EMA teacher, FST's virtual future steps). :class:`GradSyncDataParallel` calls
the module's own ``train_step`` and makes the optimizer average the gradients over ranks right before each step,
which is what DDP's all-reduce amounts to. It also covers steps DDP cannot express: FST runs several
backward/step pairs per iteration on virtual batches, and each of them is averaged like a real step would be.

Rank 0's parameters and buffers are broadcast when the wrapper is built, so every rank starts identical; each
rank then applies the same averaged update. With ``broadcast_buffers=True`` (DDP's default) rank 0's buffers are
broadcast after every step, so all ranks and the checkpoint agree; DDP does the same before each forward. Only the
buffers that can differ between ranks are sent:

* batch-norm running statistics of the student *and* of the teacher: computed per rank from its own batch (the
  teacher's come from its own train-mode passes, or from an EMA of the student's, which differ before the
  broadcast). Sent. (``num_batches_tracked`` is identical but tiny; it goes with them.)
* the teacher's parameters are an EMA of identical student parameters: identical, and not buffers anyway.
* buffers a module lists in its :data:`RANK_SYNCED_ATTR` attribute, e.g. U2PL's memory queues (``queue_<c>``, 666 MB
  for VOC): every rank fills them with the same all-gathered keys in rank order, so they are identical by
  construction. Not sent; ``check_synced_interval`` verifies that they are, as a debug option.

Batch statistics are still computed per rank: set ``sync_bn='torch'`` in the config (CUDA) for synchronised batch
norm, as the U2PL recipe does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from mmengine.dist import all_gather_object, broadcast, broadcast_object_list, get_world_size
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from gen3d.registry import MODEL_WRAPPERS
from gen3d.utils.dist import average_gradients

#: Name of the attribute (an iterable of its own buffer names) by which a module declares buffers that every rank
#: fills identically, so they need no broadcast (``U2PLContrastiveLoss`` sets it for its queues).
RANK_SYNCED_ATTR = "rank_synced_buffers"
BufferSlot = tuple[nn.Module, str, torch.Tensor]
#: Buffers up to this size travel coalesced, one broadcast per dtype and bucket (BN statistics: hundreds of tiny
#: tensors, where one broadcast each costs far more latency than bytes); larger ones are sent alone.
BUCKET_BYTES = 16 * 2**20


def _broadcast_tensor(tensor: torch.Tensor) -> None:
    """In-place broadcast from rank 0 (bool through uint8: gloo has no bool collectives)."""
    if tensor.dtype == torch.bool:
        as_bytes = tensor.to(torch.uint8)
        broadcast(as_bytes, src=0)
        tensor.copy_(as_bytes.bool())
    else:
        broadcast(tensor, src=0)


def _broadcast_coalesced(tensors: list[torch.Tensor]) -> None:
    """In-place broadcast from rank 0 of many tensors, small ones flattened into buckets of :data:`BUCKET_BYTES`.

    The order of the collectives depends only on the tensors' dtypes and sizes, the same on every rank.
    """
    buckets: dict[tuple, list[torch.Tensor]] = {}
    filled: dict[tuple, int] = {}

    def flush(key: tuple) -> None:
        group, filled[key] = buckets.pop(key, []), 0
        if group:
            flat = torch.cat([t.reshape(-1) for t in group])
            _broadcast_tensor(flat)
            for t, part in zip(group, flat.split([t.numel() for t in group])):
                t.copy_(part.view_as(t))

    for tensor in tensors:
        size = tensor.numel() * tensor.element_size()
        if size > BUCKET_BYTES:
            _broadcast_tensor(tensor)
            continue
        key = (tensor.dtype, tensor.device)
        if filled.get(key, 0) + size > BUCKET_BYTES:
            flush(key)
        buckets.setdefault(key, []).append(tensor)
        filled[key] = filled.get(key, 0) + size
    for key in list(buckets):
        flush(key)


_PRIME = 2_147_483_629  # < 2**31: keeps the position-weighted sum of fingerprint() within int64


def fingerprint(tensor: torch.Tensor) -> tuple[int, ...]:
    """Shape, sum of the raw bits (per row mod 2**32) and a row-position-weighted sum (mod a prime), as integers.

    Two tensors with the same fingerprint are equal unless their bits differ in a way that cancels in both sums; a
    changed value or a permutation of rows (e.g. keys all-gathered in another rank order) changes it.

    Args:
        tensor: Any tensor (rows = first dimension; a 0-d or empty tensor is one row).

    Returns:
        ``(*tensor.shape, bit sum, weighted bit sum)``.
    """
    n = tensor.shape[0] if tensor.dim() and tensor.shape[0] else 1
    raw = tensor.detach().contiguous().reshape(-1).view(torch.uint8).reshape(n, -1)
    if raw.shape[1] and raw.shape[1] % 4 == 0:
        raw = raw.view(torch.int32)  # 4-byte words: fewer, larger terms
    rows = raw.sum(dim=1, dtype=torch.int32).long()  # int32 accumulation (wraps mod 2**32): vectorised, ~15x faster
    weighted = ((rows % _PRIME) * torch.arange(1, n + 1, dtype=torch.int64) % _PRIME).sum()
    return (*tensor.shape, int(rows.sum()), int(weighted))


@contextlib.contextmanager
def _synchronised_steps(optim_wrapper: OptimWrapper) -> Iterator[None]:
    """Within the block, ``optim_wrapper.step`` averages the gradients of its parameters over ranks first."""
    params = [p for group in optim_wrapper.optimizer.param_groups for p in group["params"] if p.requires_grad]
    had_own = "step" in vars(optim_wrapper)
    original = optim_wrapper.step

    def step(**kwargs: Any) -> None:
        average_gradients(params)
        original(**kwargs)

    optim_wrapper.step = step
    try:
        yield
    finally:
        if had_own:
            optim_wrapper.step = original
        else:
            del optim_wrapper.step  # back to the class method


@MODEL_WRAPPERS.register_module()
class GradSyncDataParallel(nn.Module):
    """Data parallelism for a model with its own ``train_step``: the model's step runs, gradients are averaged.

    Args:
        module: The model (already on its device).
        broadcast_buffers: Broadcast rank 0's buffers after every training step (those that can differ, see the
            module docstring).
        skip_rank_synced: Leave out the buffers declared in :data:`RANK_SYNCED_ATTR`; ``False`` broadcasts every
            buffer (the behaviour before; for a module whose declaration is in doubt).
        check_synced_interval: Every that many training steps, verify that the declared buffers match on all ranks
            (:meth:`check_synced_buffers`) and raise ``RuntimeError`` on every rank otherwise (debug option: each
            rank reads its buffers once; 0 = never).
        **ddp_kwargs: Other DDP arguments a launcher may pass (``device_ids``, ``find_unused_parameters``);
            accepted and ignored, since no DDP reducer is built.
    """

    def __init__(self, module: nn.Module, broadcast_buffers: bool = True, skip_rank_synced: bool = True,
                 check_synced_interval: int = 0, **ddp_kwargs: Any) -> None:
        super().__init__()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.skip_rank_synced = skip_rank_synced
        self.check_synced_interval = int(check_synced_interval)
        self._steps = 0
        self._broadcast(list(module.parameters()) + list(module.buffers()))  # all of them, once

    @staticmethod
    def _broadcast(tensors: list[torch.Tensor]) -> None:
        if get_world_size() > 1:
            with torch.no_grad():
                for tensor in tensors:
                    _broadcast_tensor(tensor)

    def buffer_slots(self, synced: bool) -> list[BufferSlot]:
        """``(owner, name, buffer)`` of the declared rank-synchronised buffers (``synced``) or of the others."""
        slots = []
        for owner in self.module.modules():
            declared = frozenset(getattr(owner, RANK_SYNCED_ATTR, ()))
            slots += [(owner, name, buf) for name, buf in owner._buffers.items()
                      if buf is not None and (name in declared) == synced]
        return slots

    def _broadcast_buffers(self) -> None:
        """Rank 0's buffers that can differ to every rank, resizing those whose shape differs."""
        if get_world_size() == 1:
            return
        slots = self.buffer_slots(synced=False)
        if not self.skip_rank_synced:
            slots += self.buffer_slots(synced=True)
        shapes = [[tuple(buf.shape) for _, _, buf in slots]]
        broadcast_object_list(shapes, src=0)
        with torch.no_grad():
            targets = []
            for (owner, name, buf), shape in zip(slots, shapes[0]):
                if tuple(buf.shape) != shape:
                    buf = owner._buffers[name] = buf.new_empty(shape)
                targets.append(buf)
            _broadcast_coalesced(targets)

    def check_synced_buffers(self) -> None:
        """Raise ``RuntimeError`` on every rank unless the declared rank-synchronised buffers match rank 0's.

        Each rank reduces every declared buffer to a :func:`fingerprint` (a few integers over its raw bits, sensitive
        to any changed bit pattern and to the order of the rows) and the fingerprints are all-gathered: no buffer
        travels.
        """
        if get_world_size() == 1:
            return
        slots = self.buffer_slots(synced=True)
        with torch.no_grad():
            mine = [fingerprint(buf) for _, _, buf in slots]
        everywhere = all_gather_object(mine)
        names = [f"{type(owner).__name__}.{name}" for owner, name, _ in slots]
        differ = {r: [n for n, a, b in zip(names, prints, everywhere[0]) if a != b] for r, prints in
                  enumerate(everywhere)}
        if any(differ.values()) or len({len(prints) for prints in everywhere}) > 1:
            raise RuntimeError(f"buffers declared in {RANK_SYNCED_ATTR!r} differ from rank 0's: "
                               + "; ".join(f"rank {r}: {', '.join(d)}" for r, d in differ.items() if d))

    def train_step(self, data: Any, optim_wrapper: OptimWrapper) -> dict[str, torch.Tensor]:
        """The module's ``train_step`` with every optimizer step preceded by a gradient all-reduce."""
        if isinstance(optim_wrapper, OptimWrapperDict) or not isinstance(optim_wrapper, OptimWrapper):
            raise TypeError(f"GradSyncDataParallel needs one OptimWrapper, got {type(optim_wrapper).__name__}; models "
                            "with several optimizers (GANs) synchronise their own gradients under "
                            "MMSeparateDistributedDataParallel")
        with _synchronised_steps(optim_wrapper):
            log_vars = self.module.train_step(data, optim_wrapper)
        if self.broadcast_buffers:
            self._broadcast_buffers()
        self._steps += 1
        if self.check_synced_interval > 0 and self._steps % self.check_synced_interval == 0:
            self.check_synced_buffers()
        return log_vars

    def val_step(self, data: Any) -> list:
        """The module's ``val_step``."""
        return self.module.val_step(data)

    def test_step(self, data: Any) -> list:
        """The module's ``test_step``."""
        return self.module.test_step(data)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's ``forward``."""
        return self.module(*args, **kwargs)
