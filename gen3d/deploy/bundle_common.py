"""Parts every bundle builder shares: the environment versions, custom-op listing, the TensorRT engine entry.

Used by :mod:`gen3d.deploy.anomaly_bundle`, :mod:`gen3d.deploy.segmentation_bundle` and
:mod:`gen3d.deploy.gan_bundle`; the dispatcher is :mod:`gen3d.deploy.bundle`. The parity gates they share are in
:mod:`gen3d.deploy.parity`.
"""

from __future__ import annotations

import os.path as osp
import platform

import onnx
import torch
from mmengine.config import Config

from gen3d.runtime.manifest import sha256_file


def environment_versions() -> dict[str, str | None]:
    """Versions written to every manifest (``versions``): gen3d, torch, onnx, onnxruntime, TensorRT, Python."""
    import onnx
    import onnxruntime

    import gen3d

    try:
        import tensorrt

        trt = tensorrt.__version__
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        trt = None
    return {"gen3d": gen3d.__version__, "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "tensorrt": trt, "python": platform.python_version()}



def custom_ops(onnx_path: str) -> list[str]:
    """``domain.OpType`` of every node outside the standard ONNX domains (e.g. ONNX Runtime contrib ops).

    A graph that has any runs in ONNX Runtime only (not in TensorRT or other runtimes); the manifest says so.
    """
    model = onnx.load(onnx_path, load_external_data=False)
    return sorted({f"{n.domain}.{n.op_type}" for n in model.graph.node if n.domain not in ("", "ai.onnx")})



def build_engine_entry(onnx_path: str, dcfg: Config, work_dir: str) -> tuple[dict | None, str]:
    """TensorRT engine where TensorRT imports; otherwise ``(None, reason)``."""
    if dcfg.backend_config.get("type") != "tensorrt":
        return None, "backend is not tensorrt"
    try:
        import tensorrt  # noqa: F401
    except Exception as err:  # noqa: BLE001
        return None, f"tensorrt is not importable ({type(err).__name__}: {err}); the ONNX file is the artifact"
    try:
        from gen3d.deploy.tensorrt_builder import build_engine
    except ImportError as err:
        return None, f"gen3d.deploy.tensorrt_builder is not available ({err})"
    info = build_engine(onnx_path, dict(dcfg.backend_config.to_dict()), work_dir)
    entry = info.to_manifest(work_dir) if hasattr(info, "to_manifest") else dict(info)
    entry["sha256"] = sha256_file(osp.join(work_dir, entry["file"]))  # verified by gen3d.runtime.manifest
    return entry, "built"


def engine_source_entry(engine: dict | None, onnx_path: str, work_dir: str) -> dict[str, dict]:
    """``{'onnx_fp16': {file, sha256}}`` when the engine was parsed from a converted copy inside the bundle.

    A strongly typed fp16 build parses ``<stem>_fp16.onnx`` (:mod:`gen3d.deploy.tensorrt_builder`); naming it at the
    manifest's top level seals it like every bundle file, so a changed copy fails verification. Empty otherwise
    (no engine, an engine built from ``onnx_path`` itself, or a source outside the bundle).
    """
    file = ((engine or {}).get("built_from") or {}).get("file")
    if not file or osp.isabs(file) or file.startswith("..") or osp.basename(file) == osp.basename(onnx_path):
        return {}
    return {"onnx_fp16": {"file": file, "sha256": sha256_file(osp.join(work_dir, file))}}

