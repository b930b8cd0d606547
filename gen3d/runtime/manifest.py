"""The bundle manifest: what a deployed model expects and returns (stdlib only; no torch, no numpy).

A bundle is a folder written by ``tools/deploy.py``::

    model.onnx          the graph (preprocessing + model + post-processing, or the raw model)
    manifest.json       this contract
    model.engine        TensorRT engine, where TensorRT was installed at export (optional)

``manifest.json`` (``format_version`` 1)::

    {
      "format": "gen3d-bundle", "format_version": 1,
      "task": "anomaly",                                # "anomaly" | "segmentation" | "generation"
      "mode": "end2end",                                # "end2end" (pre/post in graph) | "raw"
      "model": {"type": "UniAD", "config": "<config file>", "checkpoint": "<file name>",
                "checkpoint_sha256": "...", "classes": ["bottle", ...]},
      "onnx": {"file": "model.onnx", "sha256": "...", "opset": 17, "exporter": "torchscript",
               "precision": "fp32" | "int8-qdq", "simplified": true},
      "inputs": [{"name": "image", "dtype": "uint8", "shape": ["batch", 224, 224, 3], "layout": "NHWC",
                  "color": "RGB"},
                 {"name": "class_index", "dtype": "int64", "shape": ["batch"]},
                 {"name": "image_threshold", "dtype": "float32", "shape": [C], "default": [...]},
                 {"name": "pixel_threshold", "dtype": "float32", "shape": [C], "default": [...]}],
      "preprocessing": {"in_graph": true, "resize": [224, 224], "interpolation": "bilinear",
                        "mean": [...], "std": [...], "scale": "0-255"},
      "outputs": [{"name": "pred_score", "dtype": "float32", "shape": ["batch"], "meaning": "..."},
                  {"name": "pred_label", "dtype": "uint8", ...}, {"name": "anomaly_map", "dtype": "float32",
                   "shape": ["batch", H, W], "normalized": true}, {"name": "pred_mask", "dtype": "uint8", ...}],
      "thresholds": {"<cls>": {"image": t, "pixel": t}},
      "versions": {"gen3d": "...", "torch": "...", "onnx": "...", "onnxruntime": "...", "tensorrt": null},
      "engine": null | {"file": "model.engine", "precision": "fp16", "profiles": [...], "cache_key": "..."},
      "parity": {"backend": "onnxruntime", "max_abs_diff_anomaly_map": 3e-6, "labels_identical": true, "images": 16}
    }

End-to-end outputs (anomaly): ``pred_score = clip(score / (2 * image_threshold[class]), 0, 1)`` (so the class's
threshold sits at 0.5; monotone, AUROC unchanged), ``pred_label = score >= image_threshold`` (uint8),
``anomaly_map = clip(map / (2 * pixel_threshold[class]), 0, 1)`` at the graph's output size and
``pred_mask = map >= pixel_threshold`` (uint8). An output entry with ``"normalized": false`` carries raw values.

Shapes use a string for a dynamic axis. Unknown keys are kept and ignored by readers (forward compatible).
"""

from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import Any

FORMAT = "gen3d-bundle"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
TASKS = ("anomaly", "segmentation", "generation")
REQUIRED_KEYS = ("format", "format_version", "task", "mode", "model", "onnx", "inputs", "outputs", "versions")


class ManifestError(ValueError):
    """A bundle's manifest is missing, unreadable, or does not match the files next to it."""


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def validate_manifest(manifest: dict[str, Any], where: str = "manifest") -> None:
    """Check the keys and values every reader relies on.

    Raises:
        ManifestError: Naming the key that is missing or wrong.
    """
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ManifestError(f"{where}: missing keys {missing}")
    if manifest["format"] != FORMAT:
        raise ManifestError(f"{where}: format is {manifest['format']!r}, expected {FORMAT!r}")
    if int(manifest["format_version"]) > FORMAT_VERSION:
        raise ManifestError(f"{where}: format_version {manifest['format_version']} is newer than this runtime "
                            f"({FORMAT_VERSION}); update gen3d")
    if manifest["task"] not in TASKS:
        raise ManifestError(f"{where}: unknown task {manifest['task']!r} (expected one of {TASKS})")
    for key in ("inputs", "outputs"):
        entries = manifest[key]
        if not isinstance(entries, list) or not entries or not all("name" in e for e in entries):
            raise ManifestError(f"{where}: {key} must be a non-empty list of {{'name': ...}} entries")
    if "file" not in manifest["onnx"]:
        raise ManifestError(f"{where}: onnx.file is missing")


def load_manifest(bundle_dir: str, verify_hashes: bool = True) -> dict[str, Any]:
    """Read and validate ``<bundle_dir>/manifest.json``; optionally check the ONNX file's hash.

    Raises:
        ManifestError: Missing or invalid manifest, missing model file, or a hash mismatch.
    """
    path = osp.join(bundle_dir, MANIFEST_FILE)
    if not osp.isfile(path):
        raise ManifestError(f"Not a gen3d bundle: {path} not found")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ManifestError(f"Cannot read {path}: {err}") from err
    validate_manifest(manifest, path)
    onnx_path = osp.join(bundle_dir, manifest["onnx"]["file"])
    if not osp.isfile(onnx_path):
        raise ManifestError(f"{path}: the model file {onnx_path} is missing")
    expected = manifest["onnx"].get("sha256")
    if verify_hashes and expected and sha256_file(onnx_path) != expected:
        raise ManifestError(f"{onnx_path} does not match the sha256 in {path} (file changed after export?)")
    return manifest


def write_manifest(bundle_dir: str, manifest: dict[str, Any]) -> str:
    """Validate and write ``manifest.json`` atomically; returns its path."""
    validate_manifest(manifest, "manifest to write")
    os.makedirs(bundle_dir, exist_ok=True)
    path = osp.join(bundle_dir, MANIFEST_FILE)
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=bundle_dir)
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=2, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
