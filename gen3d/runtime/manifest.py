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
               "precision": "fp32" | "int8-qdq", "simplified": true,
               "quantization": {"reduce_range": true, "symmetric_activations": false},   # int8-qdq only
               "calibration": {"images": 32, "normals_from": {...}}},                    # int8-qdq only
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

Sealing: ``manifest_sha256`` is the sha256 of the canonical JSON (sorted keys, ``(",", ":")`` separators, ASCII) of
every other key, so the classes, thresholds, preprocessing, inputs, outputs and mode are covered; every entry that
names a file (``onnx``, ``onnx_fp32``, ``engine``, ...: a dict with a ``file`` key) carries that file's ``sha256``.
:func:`write_manifest` seals; :func:`load_manifest` verifies and refuses a bundle that is not verified whole (a
missing hash, a mismatch, or a bundle written before sealing), naming the key or file. ``verify_hashes=False``
(``--allow-modified-bundle``) loads it anyway with a loud warning; :func:`reseal_bundle` (``python -m
gen3d.runtime.reseal BUNDLE``) seals a bundle that was edited on purpose. A file name that is absolute, holds
``..`` or a backslash, or resolves (symlinks followed) outside the bundle folder is refused in every case.
"""

from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import tempfile
import warnings
from typing import Any

from gen3d.runtime.paths import is_within

FORMAT = "gen3d-bundle"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
TASKS = ("anomaly", "segmentation", "generation")
REQUIRED_KEYS = ("format", "format_version", "task", "mode", "model", "onnx", "inputs", "outputs", "versions")
HASH_KEY = "manifest_sha256"
OPT_OUT = ("re-export it with tools/deploy.py; if you edited it on purpose, re-seal it with `python -m "
           "gen3d.runtime.reseal BUNDLE`, or load it unverified with --allow-modified-bundle (verify_hashes=False)")


class ManifestError(ValueError):
    """A bundle's manifest is missing, unreadable, or does not match the files next to it."""


class UnverifiedBundleWarning(UserWarning):
    """A bundle was loaded without verification (``verify_hashes=False`` / ``--allow-modified-bundle``)."""


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of every key but ``manifest_sha256`` (sorted keys, fixed separators)."""
    body = {k: v for k, v in manifest.items() if k != HASH_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def file_entries(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(key, entry)`` for every top-level entry that names a file (``onnx``, ``onnx_fp32``, ``engine``, ...)."""
    return [(k, v) for k, v in manifest.items() if isinstance(v, dict) and "file" in v]


def int8_full_range(manifest: dict[str, Any]) -> bool:
    """True when the bundle's ONNX file is int8 Q/DQ with full-range (8-bit) weights.

    ``onnx.quantization.reduce_range`` says how the weights were quantised; a bundle that does not record it (written
    before December 2026) was quantised with full-range weights.
    """
    onnx_entry = manifest.get("onnx") or {}
    return onnx_entry.get("precision") == "int8-qdq" and not (onnx_entry.get("quantization") or {}).get("reduce_range")


def bundle_file(bundle_dir: str, name: object, key: str = "file") -> str:
    """The path of a file a manifest names, checked to be a plain relative name inside the bundle folder.

    Args:
        bundle_dir: The bundle folder.
        name: The name from the manifest (e.g. ``manifest['onnx']['file']``).
        key: What to call it in the error (``'onnx.file'``).

    Raises:
        ManifestError: Not a string, absolute, with a backslash, ``..`` or a drive, or resolving (symlinks
            followed) outside ``bundle_dir``. Never allowed, not even with ``verify_hashes=False``.
    """
    parts = name.split("/") if isinstance(name, str) else []
    plain = (bool(parts) and "\\" not in name and ":" not in name and "\0" not in name
             and all(p not in ("", ".", "..") for p in parts))
    if not plain:
        raise ManifestError(f"{bundle_dir}: {key} = {name!r} is not a plain relative file name inside the bundle "
                            "(absolute paths, '..', backslashes and drives are refused, with or without "
                            "--allow-modified-bundle)")
    path = osp.join(bundle_dir, *parts)
    if not is_within(path, bundle_dir):
        raise ManifestError(f"{bundle_dir}: {key} = {name!r} resolves to {osp.realpath(path)}, outside the bundle "
                            "(a symlink?); refused, with or without --allow-modified-bundle")
    return path


def verification_problems(bundle_dir: str, manifest: dict[str, Any]) -> list[str]:
    """Why ``manifest`` (read from ``bundle_dir``) is not verified whole; empty when it is.

    Raises:
        ManifestError: A named file lies outside the bundle (see :func:`bundle_file`).
    """
    problems = []
    stored = manifest.get(HASH_KEY)
    if not stored:
        problems.append(f"{MANIFEST_FILE} has no {HASH_KEY} (written before bundles were sealed, or edited), so its "
                        "classes, thresholds and preprocessing are not covered by any hash")
    elif stored != manifest_digest(manifest):
        problems.append(f"{MANIFEST_FILE} does not match its {HASH_KEY}: a value in it (classes, thresholds, "
                        "preprocessing, inputs/outputs, mode, file hashes...) changed after export")
    for key, entry in file_entries(manifest):
        path = bundle_file(bundle_dir, entry["file"], f"{key}.file")
        if not osp.isfile(path):
            continue  # a missing optional file (engine, fp32 copy) is reported by whoever needs it
        if not isinstance(entry.get("sha256"), str) or not entry["sha256"]:
            problems.append(f"{key}.sha256 is missing, so {entry['file']} is not checked")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{path} does not match the sha256 in {key}.sha256 (file changed after export?)")
    return problems


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


def read_manifest(bundle_dir: str) -> dict[str, Any]:
    """Read and validate ``<bundle_dir>/manifest.json`` without checking any hash (see :func:`load_manifest`).

    Raises:
        ManifestError: Missing, unreadable or invalid manifest.
    """
    path = osp.join(bundle_dir, MANIFEST_FILE)
    if not osp.isfile(path):
        raise ManifestError(f"Not a gen3d bundle: {path} not found")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ManifestError(f"Cannot read {path}: {err}") from err
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    validate_manifest(manifest, path)
    return manifest


def load_manifest(bundle_dir: str, verify_hashes: bool = True) -> dict[str, Any]:
    """Read ``<bundle_dir>/manifest.json`` and verify the bundle whole: manifest hash, and every named file's hash.

    Args:
        bundle_dir: The bundle folder.
        verify_hashes: ``False`` (``--allow-modified-bundle``) loads a bundle that fails verification, with an
            :class:`UnverifiedBundleWarning` listing what failed. File names outside the bundle are refused anyway.

    Raises:
        ManifestError: Missing or invalid manifest, missing model file, a file outside the bundle, or (verifying)
            a missing hash or a mismatch: the message names the key or file and says how to opt out.
    """
    manifest = read_manifest(bundle_dir)
    path = osp.join(bundle_dir, MANIFEST_FILE)
    onnx_path = bundle_file(bundle_dir, manifest["onnx"]["file"], "onnx.file")
    problems = verification_problems(bundle_dir, manifest)  # checks every named path, always
    if not osp.isfile(onnx_path):
        raise ManifestError(f"{path}: the model file {onnx_path} is missing")
    if problems and verify_hashes:
        raise ManifestError(f"bundle {bundle_dir} is not verified: " + "; ".join(problems) + f". {OPT_OUT}")
    if not verify_hashes:
        warnings.warn(f"bundle {bundle_dir} loaded WITHOUT verification (--allow-modified-bundle / "
                      f"verify_hashes=False): " + ("; ".join(problems) if problems else "it would have passed")
                      + ". Its classes, thresholds and graph may not be the ones exported.",
                      UnverifiedBundleWarning, stacklevel=3)
    return manifest


def seal_manifest(bundle_dir: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """A sealed copy of ``manifest``: ready to write, with its ``manifest_sha256``.

    Named files present in ``bundle_dir`` that have no ``sha256`` get one; the copy is JSON round-tripped, so the
    hash is that of what is written.

    Raises:
        ManifestError: Invalid manifest, or a named file outside the bundle.
    """
    sealed = json.loads(json.dumps({k: v for k, v in manifest.items() if k != HASH_KEY}, allow_nan=False))
    validate_manifest(sealed, "manifest to write")
    for key, entry in file_entries(sealed):
        file = bundle_file(bundle_dir, entry["file"], f"{key}.file")
        if not entry.get("sha256") and osp.isfile(file):
            entry["sha256"] = sha256_file(file)
    sealed[HASH_KEY] = manifest_digest(sealed)
    return sealed


def write_manifest(bundle_dir: str, manifest: dict[str, Any]) -> str:
    """Validate, seal (:func:`seal_manifest`) and write ``manifest.json`` atomically; returns its path."""
    os.makedirs(bundle_dir, exist_ok=True)
    sealed = seal_manifest(bundle_dir, manifest)
    path = osp.join(bundle_dir, MANIFEST_FILE)
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=bundle_dir)
    with os.fdopen(fd, "w") as f:
        json.dump(sealed, f, indent=2, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def reseal_bundle(bundle_dir: str) -> list[str]:
    """Re-seal a bundle edited on purpose: re-hash every named file present and the manifest, and write it.

    Files outside the bundle are still refused. Returns what changed (``'onnx.sha256'``, ``'manifest_sha256'``...).

    Raises:
        ManifestError: Invalid manifest, or a named file outside the bundle.
    """
    manifest = read_manifest(bundle_dir)
    changed = []
    for key, entry in file_entries(manifest):
        file = bundle_file(bundle_dir, entry["file"], f"{key}.file")
        if osp.isfile(file):
            digest = sha256_file(file)
            if entry.get("sha256") != digest:
                entry["sha256"] = digest
                changed.append(f"{key}.sha256")
    if changed or manifest.get(HASH_KEY) != manifest_digest(manifest):
        changed.append(HASH_KEY)
        write_manifest(bundle_dir, manifest)
    return changed
