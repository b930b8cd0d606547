"""A distributed wrapper for models that write their own ``train_step`` around one optimizer (teacher-student, FST).

mmengine's ``MMDistributedDataParallel.train_step`` only runs ``forward(mode='loss')``, which would bypass a
teacher-student step (pseudo-labels, EMA teacher, FST's virtual future steps). :class:`GradSyncDataParallel` calls
the module's own ``train_step`` and makes the optimizer average the gradients over ranks right before each step,
which is what DDP's all-reduce amounts to. It also covers steps DDP cannot express: FST runs several
backward/step pairs per iteration on virtual batches, and each of them is averaged like a real step would be.

Rank 0's parameters and buffers are broadcast when the wrapper is built, so every rank starts identical; each
rank then applies the same averaged update. With ``broadcast_buffers=True`` (DDP's default) rank 0's buffers
(batch-norm statistics, the EMA teacher's, memory queues) are broadcast after every step, so all ranks and the
checkpoint agree; DDP does the same before each forward. Batch statistics are still computed per rank: set
``sync_bn='torch'`` in the config (CUDA) for synchronised batch norm, as the U2PL recipe does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from mmengine.dist import broadcast, broadcast_object_list, get_world_size
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from gen3d.registry import MODEL_WRAPPERS
from gen3d.utils.dist import average_gradients


def _broadcast_tensor(tensor: torch.Tensor) -> None:
    """In-place broadcast from rank 0 (bool through uint8: gloo has no bool collectives)."""
    if tensor.dtype == torch.bool:
        as_bytes = tensor.to(torch.uint8)
        broadcast(as_bytes, src=0)
        tensor.copy_(as_bytes.bool())
    else:
        broadcast(tensor, src=0)


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
        broadcast_buffers: Broadcast rank 0's buffers after every training step.
        **ddp_kwargs: Other DDP arguments a launcher may pass (``device_ids``, ``find_unused_parameters``);
            accepted and ignored, since no DDP reducer is built.
    """

    def __init__(self, module: nn.Module, broadcast_buffers: bool = True, **ddp_kwargs: Any) -> None:
        super().__init__()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self._broadcast(list(module.parameters()) + list(module.buffers()))

    @staticmethod
    def _broadcast(tensors: list[torch.Tensor]) -> None:
        if get_world_size() > 1:
            with torch.no_grad():
                for tensor in tensors:
                    _broadcast_tensor(tensor)

    def _broadcast_buffers(self) -> None:
        """Rank 0's buffers to every rank, resizing those whose shape differs (growing memory queues)."""
        if get_world_size() == 1:
            return
        slots = [(m, name, buf) for m in self.module.modules() for name, buf in m._buffers.items() if buf is not None]
        shapes = [[tuple(buf.shape) for _, _, buf in slots]]
        broadcast_object_list(shapes, src=0)
        with torch.no_grad():
            for (owner, name, buf), shape in zip(slots, shapes[0]):
                if tuple(buf.shape) != shape:
                    buf = owner._buffers[name] = buf.new_empty(shape)
                _broadcast_tensor(buf)

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
