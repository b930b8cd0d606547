"""Helpers of the ``gpu`` tests: an AMP training run through the Runner, a recorder of what it did, and the model on
the device against its ONNX on ONNX Runtime.

The same bodies run on CPU when ``GEN3D_GPU_TESTS_ON_CPU=1`` (see tests/conftest.py); AMP is then bf16 autocast
(``CPUAutocastOptimWrapper``), as ``tools/train.py --amp`` picks on a CPU machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

AMP_DTYPE = {"cuda": torch.float16, "cpu": torch.bfloat16}
AMP_WRAPPER = {"cuda": "AmpOptimWrapper", "cpu": "CPUAutocastOptimWrapper"}


def _tree(fn, value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_tree(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: _tree(fn, v) for k, v in value.items()}
    return value


class OnDevice(nn.Module):
    """The model on ``device`` behind a CPU interface: tensor arguments go to the device, outputs come back.

    Attributes it does not have are read from the wrapped model, so the deploy reference functions
    (``reference_outputs``, ``reference_logits``, ``reference_images``) take it in place of the model.
    """

    def __init__(self, model: nn.Module, device: str) -> None:
        super().__init__()
        self.inner = model.to(device)
        self.target = torch.device(device)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def forward(self, *args, **kwargs) -> Any:  # noqa: D102
        move = lambda t: t.to(self.target)  # noqa: E731
        out = self.inner(*_tree(move, args), **_tree(move, kwargs))
        return _tree(lambda t: t.detach().cpu(), out)


@contextmanager
def strict_fp32() -> Iterator[None]:
    """No TF32 in cuDNN convolutions and matmuls (torch enables it for convolutions by default)."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def ort_runner_for(onnx_path: str, device: str):
    """``(feeds -> outputs, provider)`` over ONNX Runtime: the CUDA EP for ``'cuda'`` where installed, else CPU."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = None
    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        for cuda in (("CUDAExecutionProvider", {"use_tf32": "0"}), "CUDAExecutionProvider"):  # older ORT: no use_tf32
            try:
                sess = ort.InferenceSession(onnx_path, opts, providers=[cuda, "CPUExecutionProvider"])
                break
            except Exception:  # noqa: BLE001 - an unknown provider option; retry without it
                continue
    sess = sess or ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return (lambda feeds: dict(zip(names, sess.run(names, dict(feeds))))), sess.get_providers()[0]


class StepRecorder(Hook):
    """Records an AMP run: trainable parameters after init and after training, logged losses, autocast dtypes."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}
        self.logs: list[dict[str, float]] = []
        self.dtypes: set[torch.dtype] = set()
        self.val_metrics: dict[str, Any] | None = None
        self._handles: list = []
        self._recording = False

    @staticmethod
    def _params(runner) -> dict[str, torch.Tensor]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return {n: p.detach().float().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}

    def _record(self, module, args, output) -> None:
        if self._recording:
            _tree(lambda t: self.dtypes.add(t.dtype) if t.is_floating_point() else None, output)

    def before_train(self, runner) -> None:  # noqa: D102
        self.before = self._params(runner)
        self._handles = [m.register_forward_hook(self._record) for m in runner.model.modules()]

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:  # noqa: D102
        self._recording = True

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:  # noqa: D102
        self._recording = False
        items = (outputs or {}).items()
        self.logs.append({k: float(v.detach() if isinstance(v, torch.Tensor) else v) for k, v in items
                          if hasattr(v, "__float__")})

    def after_val_epoch(self, runner, metrics=None) -> None:  # noqa: D102
        self.val_metrics = dict(metrics or {})

    def after_train(self, runner) -> None:  # noqa: D102
        for handle in self._handles:
            handle.remove()
        self.after = self._params(runner)


def train_with_amp(config: str, work_dir: str, data_root: str, cfg_options: dict | None = None):
    """``tools/train.py CONFIG --amp --work-dir W --data-root D --cfg-options ...`` in this process.

    Returns:
        ``(runner, recorder)`` after ``runner.train()``.
    """
    from gen3d.engine import Runner
    from gen3d.engine.launch import build_train_config

    cfg = build_train_config(config, work_dir, data_root, amp=True, cfg_options=cfg_options)
    # randomness.deterministic=True switches torch's deterministic algorithms on for the whole process: undo it
    cudnn = torch.backends.cudnn
    state = torch.are_deterministic_algorithms_enabled(), cudnn.deterministic, cudnn.benchmark
    try:
        runner = Runner.from_cfg(cfg)
        recorder = StepRecorder()
        runner.register_hook(recorder, priority="LOWEST")
        runner.train()
    finally:
        torch.use_deterministic_algorithms(state[0])
        cudnn.deterministic, cudnn.benchmark = state[1:]
    return runner, recorder


def wrapper_types(optim_wrapper) -> list[str]:
    """Type names of the (possibly dict of) optimizer wrapper(s)."""
    return [type(w).__name__ for w in _wrappers(optim_wrapper)]


def _wrappers(optim_wrapper) -> list:
    return list(optim_wrapper.values()) if hasattr(optim_wrapper, "optim_wrappers") else [optim_wrapper]


def assert_amp_run(runner, recorder: StepRecorder, device: str, changed_prefixes: Sequence[str]) -> None:
    """The run used the device's AMP wrapper and autocast dtype, logged finite losses and moved every group.

    Args:
        runner: The trained runner.
        recorder: Its :class:`StepRecorder`.
        device: ``'cuda'`` or ``'cpu'``.
        changed_prefixes: Parameter-name prefixes of which at least one parameter must have changed.
    """
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    assert next(model.parameters()).device.type == device
    assert set(wrapper_types(runner.optim_wrapper)) == {AMP_WRAPPER[device]}, wrapper_types(runner.optim_wrapper)
    assert AMP_DTYPE[device] in recorder.dtypes, f"no {AMP_DTYPE[device]} output in training: {recorder.dtypes}"
    assert recorder.logs, "no training iteration ran"
    losses = {k: v for log in recorder.logs for k, v in log.items() if k.startswith("loss")}
    assert losses and all(math.isfinite(v) for v in losses.values()), recorder.logs
    scalers = [getattr(w, "loss_scaler", None) for w in _wrappers(runner.optim_wrapper)]
    scales = [float(s.get_scale()) for s in scalers if s is not None]
    # fp16: GradScaler skips the steps whose gradients overflowed (then halves the scale); the scales say so
    assert_params_changed(recorder.before, recorder.after, changed_prefixes, note=f"loss scales {scales}")


def assert_params_changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor],
                          prefixes: Sequence[str], note: str = "") -> None:
    """Every parameter finite after training, and in each prefix group at least one that changed."""
    assert before and before.keys() == after.keys()
    bad = [n for n, p in after.items() if not torch.isfinite(p).all()]
    assert not bad, f"non-finite parameters after the AMP step: {bad[:5]}"
    changed = [n for n in after if not torch.equal(before[n], after[n])]
    for prefix in prefixes:
        assert any(n.startswith(prefix) for n in changed), f"no parameter under {prefix!r} changed {note}"


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b|`` in float64 (0 for empty arrays)."""
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max(initial=0.0))
