"""Optimizer wrappers: bf16 autocast on CPU (mmengine's AmpOptimWrapper refuses CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from gen3d.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """An :class:`OptimWrapper` whose forward context runs under ``torch.autocast('cpu', dtype=bfloat16)``.

    bf16 keeps fp32's exponent range, so no loss scaling is needed. Parameters and optimizer state stay fp32.
    It is a speed-up where the CPU has bf16 instructions (AVX512-BF16 or AMX) and is still correct elsewhere.

    Args:
        dtype: Autocast dtype; only ``'bfloat16'`` is supported on CPU by torch.
        **kwargs: Passed to :class:`OptimWrapper` (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, dtype: str = "bfloat16", **kwargs) -> None:
        super().__init__(**kwargs)
        if dtype not in ("bfloat16", "bf16"):
            raise ValueError(f"CPUAutocastOptimWrapper supports dtype='bfloat16' only, got {dtype!r}")
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: torch.nn.Module) -> Iterator[None]:
        """Gradient-accumulation context of the parent plus CPU bf16 autocast."""
        with super().optim_context(model), torch.autocast(device_type="cpu", dtype=self.cast_dtype):
            yield
