"""ONNX export with an explicit exporter, opset check, full checker and onnxslim with an output check.

The exporter is never left to torch's default (which changed to ``dynamo=True`` in torch 2.9): ``'torchscript'``
(``dynamo=False``) is the default because it writes the requested opset directly; ``'dynamo'`` is optional. The
opset of the written file is read back and must equal the requested one (TensorRT 8.6 on JetPack 6.0 stops at 17).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import torch
from torch import nn

DEFAULT_OPSET = 17
EXPORTERS = ("torchscript", "dynamo")
logger = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The exported file does not meet the contract (opset, checker, simplification changed outputs)."""


def onnx_opset(model: onnx.ModelProto | str) -> int:
    """Opset of the default (``''`` / ``ai.onnx``) domain of a model or file."""
    proto = onnx.load(model, load_external_data=False) if isinstance(model, str) else model
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ExportError("the model imports no default-domain opset")


def export_onnx(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: str,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: str = "torchscript",
) -> str:
    """Export ``module(*args)``, then check the file's opset and run ``onnx.checker`` (full check).

    Args:
        module: Module in eval mode.
        args: Example inputs (their shapes become the static dims).
        path: Output ``.onnx`` file.
        input_names: Graph input names, one per arg.
        output_names: Graph output names.
        dynamic_axes: ``{name: {axis: symbol}}``.
        opset: Required default-domain opset.
        exporter: ``'torchscript'`` (``dynamo=False``) or ``'dynamo'``.

    Returns:
        ``path``.

    Raises:
        ExportError: Unknown exporter, or the written opset differs from ``opset``.
    """
    if exporter not in EXPORTERS:
        raise ExportError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    module = module.eval()
    kwargs = dict(input_names=list(input_names), output_names=list(output_names), opset_version=opset,
                  dynamic_axes={k: dict(v) for k, v in (dynamic_axes or {}).items()} or None)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        if exporter == "torchscript":
            torch.onnx.export(module, args, path, dynamo=False, do_constant_folding=True, **kwargs)
        else:
            torch.onnx.export(module, args, path, dynamo=True, external_data=False, optimize=True, **kwargs)
    written = onnx_opset(path)
    if written != opset:
        raise ExportError(f"{path}: the {exporter} exporter wrote opset {written}, {opset} was requested")
    onnx.checker.check_model(path, full_check=True)
    return path


def run_onnx(path_or_bytes: str | bytes, feeds: Mapping[str, np.ndarray], threads: int = 1) -> dict[str, np.ndarray]:
    """Run a model on the CPU provider with default (full) optimisations; returns ``{output name: array}``."""
    from gen3d.deploy.parity.common import ort_runner

    return ort_runner(path_or_bytes, threads)(feeds)


def compare_outputs(ref: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Max absolute difference per output (``inf`` on a shape or name mismatch)."""
    from gen3d.deploy.parity.common import max_abs_diff

    diffs = {}
    for name, a in ref.items():
        b = out.get(name)
        diffs[name] = float("inf") if b is None or np.shape(a) != np.shape(b) else max_abs_diff(a, b)
    return diffs


def simplify_onnx(path: str, feeds: Mapping[str, np.ndarray], atol: float = 1e-5) -> bool:
    """Simplify ``path`` in place with onnxslim, keeping the result only if outputs are unchanged.

    Args:
        path: ONNX file (rewritten when simplification succeeds).
        feeds: Example inputs used for the before/after comparison.
        atol: Largest accepted difference on a float output, relative to its magnitude
            (``atol * max(1, max|output|)``: float32 rounding grows with the values); integer outputs must be
            identical.

    Returns:
        ``True`` when the simplified model was written.

    Raises:
        ExportError: onnxslim changed the outputs or the opset.
    """
    import onnxslim

    before = run_onnx(path, feeds)
    opset = onnx_opset(path)
    slim = onnxslim.slim(onnx.load(path))
    if onnx_opset(slim) != opset:
        raise ExportError(f"onnxslim changed the opset from {opset} to {onnx_opset(slim)}")
    after = run_onnx(slim.SerializeToString(), feeds)
    diffs = compare_outputs(before, after)
    limits = {k: 0.0 if v.dtype.kind in "biub" else atol * max(1.0, float(np.abs(v).max(initial=0.0)))
              for k, v in before.items()}
    bad = {k: v for k, v in diffs.items() if v > limits[k]}
    if bad:
        raise ExportError(f"onnxslim changed outputs (max |diff| per output): {bad}")
    onnx.save(slim, path)
    onnx.checker.check_model(path, full_check=True)
    logger.info("onnxslim: outputs unchanged (max |diff| %s)", diffs)
    return True
