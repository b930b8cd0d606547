"""Tiny bundles built with onnx.helper (no torch) that follow the manifest contract exactly.

end2end graph (the contract of gen3d.deploy.anomaly_wrapper): raw map = mean over RGB / 255 (N, H, W);
raw score = max of the raw map; pred_score = clip(raw / (2 * image_threshold[class]), 0, 1);
pred_label = raw >= image_threshold[class] (uint8); anomaly_map = clip(map / (2 * pixel_threshold[class]), 0, 1);
pred_mask = map >= pixel_threshold[class] (uint8). A dark frame is GOOD, a frame with a bright patch DEFECT.
raw graph: the raw map (N, 1, H, W) and score from a float32 (N, 3, H, W) tensor (mean 0, std 255 in the manifest).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from gen3d.runtime.manifest import sha256_file, write_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]  # not tests.conftest: this module is imported where torch is blocked
NO_TORCH_RUNNER = str(REPO_ROOT / "tests" / "test_runtime" / "no_torch_runner.py")
GAN_DEPLOY = str(REPO_ROOT / "deploy" / "gan_onnxruntime_fp32_dynamic.py")

CLASSES = ["bottle", "cable"]
IMAGE_THR = [0.5, 0.6]
PIXEL_THR = [0.5, 0.6]
OPSET = 17


def _save(model: onnx.ModelProto, path: str) -> None:
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def end2end_graph(path: str, size: tuple[int, int] | None = (16, 16), batch: int | str = "batch") -> None:
    h, w = size if size else ("height", "width")
    inputs = [helper.make_tensor_value_info("image", TensorProto.UINT8, [batch, h, w, 3]),
              helper.make_tensor_value_info("class_index", TensorProto.INT64, [batch]),
              helper.make_tensor_value_info("image_threshold", TensorProto.FLOAT, ["classes"]),
              helper.make_tensor_value_info("pixel_threshold", TensorProto.FLOAT, ["classes"])]
    outputs = [helper.make_tensor_value_info("pred_score", TensorProto.FLOAT, [batch]),
               helper.make_tensor_value_info("pred_label", TensorProto.UINT8, [batch]),
               helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, [batch, h, w]),
               helper.make_tensor_value_info("pred_mask", TensorProto.UINT8, [batch, h, w])]
    inits = [helper.make_tensor("inv255", TensorProto.FLOAT, [], [1 / 255]),
             helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
             helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
             helper.make_tensor("hw_axes", TensorProto.INT64, [2], [1, 2])]
    nodes = [helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["x"], ["mean"], axes=[3], keepdims=0),
             helper.make_node("Mul", ["mean", "inv255"], ["map"]),
             helper.make_node("ReduceMax", ["map"], ["raw"], axes=[1, 2], keepdims=0),
             helper.make_node("Gather", ["image_threshold", "class_index"], ["ithr"]),
             helper.make_node("Gather", ["pixel_threshold", "class_index"], ["pthr"]),
             helper.make_node("Div", ["raw", "ithr"], ["ratio"]),
             helper.make_node("Mul", ["ratio", "half"], ["score"]),
             helper.make_node("Clip", ["score", "zero", "one"], ["pred_score"]),
             helper.make_node("GreaterOrEqual", ["raw", "ithr"], ["label"]),
             helper.make_node("Cast", ["label"], ["pred_label"], to=TensorProto.UINT8),
             helper.make_node("Unsqueeze", ["pthr", "hw_axes"], ["pthr3"]),
             helper.make_node("Div", ["map", "pthr3"], ["map_ratio"]),
             helper.make_node("Mul", ["map_ratio", "half"], ["map_norm"]),
             helper.make_node("Clip", ["map_norm", "zero", "one"], ["anomaly_map"]),
             helper.make_node("GreaterOrEqual", ["map", "pthr3"], ["mask"]),
             helper.make_node("Cast", ["mask"], ["pred_mask"], to=TensorProto.UINT8)]
    graph = helper.make_graph(nodes, "fake_uniad_end2end", inputs, outputs, inits)
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), path)


def raw_graph(path: str, size: tuple[int, int] = (16, 16)) -> None:
    h, w = size
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, h, w])]
    outputs = [helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["batch", 1, h, w]),
               helper.make_tensor_value_info("pred_score", TensorProto.FLOAT, ["batch"])]
    nodes = [helper.make_node("ReduceMean", ["input"], ["anomaly_map"], axes=[1], keepdims=1),
             helper.make_node("ReduceMax", ["anomaly_map"], ["pred_score"], axes=[1, 2, 3], keepdims=0)]
    graph = helper.make_graph(nodes, "fake_uniad_raw", inputs, outputs)
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), path)


def make_bundle(bundle_dir, mode: str = "end2end", classes: list[str] | None = None,
                size: tuple[int, int] | None = (16, 16), engine: dict | None = None) -> str:
    """Write ``model.onnx`` + ``manifest.json`` into ``bundle_dir``; returns it as a string."""
    bundle_dir = str(bundle_dir)
    classes = list(CLASSES if classes is None else classes)
    import os

    os.makedirs(bundle_dir, exist_ok=True)
    onnx_path = os.path.join(bundle_dir, "model.onnx")
    c = len(classes)
    thresholds = {k: {"image": IMAGE_THR[i % 2], "pixel": PIXEL_THR[i % 2]} for i, k in enumerate(classes)}
    hw = list(size) if size else ["height", "width"]
    if mode == "end2end":
        end2end_graph(onnx_path, size)
        inputs = [{"name": "image", "dtype": "uint8", "shape": ["batch", *hw, 3], "layout": "NHWC", "color": "RGB"},
                  {"name": "class_index", "dtype": "int64", "shape": ["batch"]},
                  {"name": "image_threshold", "dtype": "float32", "shape": [c],
                   "default": [thresholds[k]["image"] for k in classes]},
                  {"name": "pixel_threshold", "dtype": "float32", "shape": [c],
                   "default": [thresholds[k]["pixel"] for k in classes]}]
        outputs = [{"name": n, "dtype": d, "shape": s} for n, d, s in (
            ("pred_score", "float32", ["batch"]), ("pred_label", "uint8", ["batch"]),
            ("anomaly_map", "float32", ["batch", *hw]), ("pred_mask", "uint8", ["batch", *hw]))]
        pre = {"in_graph": True, "resize": hw, "interpolation": "bilinear", "mean": [0, 0, 0], "std": [255] * 3,
               "scale": "0-255"}
    else:
        raw_graph(onnx_path, size)
        inputs = [{"name": "input", "dtype": "float32", "shape": ["batch", 3, *hw]}]
        outputs = [{"name": "anomaly_map", "dtype": "float32", "shape": ["batch", 1, *hw]},
                   {"name": "pred_score", "dtype": "float32", "shape": ["batch"]}]
        pre = {"in_graph": False, "resize": hw, "interpolation": "bilinear", "mean": [0, 0, 0], "std": [255] * 3,
               "scale": "0-255"}
    manifest = {
        "format": "gen3d-bundle", "format_version": 1, "task": "anomaly", "mode": mode,
        "model": {"type": "UniAD", "config": "fake.py", "checkpoint": "fake.pth", "classes": classes},
        "onnx": {"file": "model.onnx", "sha256": sha256_file(onnx_path), "opset": OPSET, "exporter": "onnx.helper",
                 "precision": "fp32", "simplified": False},
        "inputs": inputs, "preprocessing": pre, "outputs": outputs, "thresholds": thresholds,
        "versions": {"gen3d": "test", "onnx": onnx.__version__}, "engine": engine,
    }
    write_manifest(bundle_dir, manifest)
    return bundle_dir


def edit_manifest(bundle_dir, edit, seal: bool = True) -> dict:
    """Apply ``edit(manifest)`` to a bundle's manifest.json; re-seal it (as someone editing on purpose would) or not.

    Re-sealing keeps the file hashes in the manifest as they are (a wrong ``onnx.sha256`` stays wrong).
    """
    import json

    path = os.path.join(str(bundle_dir), "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    edit(manifest)
    if seal:
        write_manifest(str(bundle_dir), manifest)
    else:
        with open(path, "w") as f:
            json.dump(manifest, f)
    return manifest


def frame(bright: bool, size: tuple[int, int] = (24, 32)) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB: dark (max map value 40/255) or with a bright 8x8 patch (250/255)."""
    img = np.full((*size, 3), 40, np.uint8)
    if bright:
        img[4:12, 4:12] = 250
    return img


def run_without_torch(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``python no_torch_runner.py *args`` (torch, mmengine and timm imports blocked) from the repository root."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, NO_TORCH_RUNNER, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_never_imports_torch(code: str, *args: str) -> None:
    """``code`` runs with torch blocked, and, where torch is installed, runs without importing it at all."""
    out = run_without_torch("-c", code, *args)
    assert out.returncode == 0 and out.stdout.strip().endswith("NO_TORCH_OK"), out.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    code += "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'mmengine')], 'torch imported'\n"
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]


def build_generator_bundle(ckpt: str | Path, out: str | Path, deploy: str = GAN_DEPLOY) -> str:
    """A generator bundle of ``ckpt`` through gen3d's own deploy path, in ``out`` (imports torch: test process only)."""
    from mmengine.config import Config

    from gen3d.apis.gan_inference import load_generator
    from gen3d.deploy.gan_bundle import build_gan_bundle

    build_gan_bundle(Config.fromfile(deploy), load_generator(str(ckpt)), str(ckpt), str(out), max_images=8)
    return str(out)
