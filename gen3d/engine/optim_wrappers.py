"""Optimizer wrappers: bf16 autocast on CPU (mmengine's AmpOptimWrapper refuses CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper, OptimWrapperDict
from torch import nn

from gen3d.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS


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


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiOptimWrapperConstructor:
    """One optimizer wrapper per named submodule (GAN ``generator`` / ``discriminator``) in an OptimWrapperDict.

    Config::

        optim_wrapper = dict(
            constructor='MultiOptimWrapperConstructor',
            generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.002, betas=(0.0, 0.99))),
            discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.002, betas=(0.0, 0.99))))

    Each entry is built by mmengine's :class:`DefaultOptimWrapperConstructor` over ``model.<name>`` (a
    distributed wrapper around the model or around the submodule is looked through).

    Args:
        optim_wrapper_cfg: ``{submodule name: optim wrapper config (may hold paramwise_cfg)}``.
        paramwise_cfg: Unused (give ``paramwise_cfg`` per entry); accepted for mmengine's builder.

    Raises:
        ValueError: An empty config.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if not optim_wrapper_cfg:
            raise ValueError("MultiOptimWrapperConstructor needs one optim wrapper config per submodule")
        self.cfgs = {name: dict(cfg) for name, cfg in optim_wrapper_cfg.items()}

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers for ``model``'s submodules.

        Raises:
            AttributeError: A configured name that is not a submodule of the model.
        """
        model = model.module if is_model_wrapper(model) else model
        wrappers = {}
        for name, cfg in self.cfgs.items():
            if not isinstance(getattr(model, name, None), nn.Module):
                raise AttributeError(f"optim_wrapper.{name}: {type(model).__name__} has no submodule {name!r}")
            paramwise = cfg.pop("paramwise_cfg", None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(getattr(model, name))
        return OptimWrapperDict(**wrappers)
