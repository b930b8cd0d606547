"""Export a checkpoint into a deployable bundle and gate it against PyTorch.

``python tools/deploy.py DEPLOY_CONFIG MODEL_CONFIG CHECKPOINT --work-dir DIR [--data-root D] [--timing-cache F]``

Writes ``model.onnx`` (plus ``model_fp32.onnx`` for int8), ``manifest.json`` and, where TensorRT is installed and
the deploy config targets it, a TensorRT engine. Parity gates run before the manifest is written; a failing gate
exits non-zero with the numbers. ``MODEL_CONFIG`` may be ``-`` to use the config saved in the checkpoint.
"""

import argparse
import json
import logging
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export a gen3d checkpoint into a deploy bundle")
    parser.add_argument("deploy_config", help="deploy config, e.g. deploy/anomaly_onnxruntime-fp32_dynamic-batch.py")
    parser.add_argument("model_config", help="model config file, or '-' for the config saved in the checkpoint")
    parser.add_argument("checkpoint", help="trained checkpoint (.pth)")
    parser.add_argument("--work-dir", required=True, help="bundle folder to write")
    parser.add_argument("--data-root", help="dataset root for the parity and calibration images")
    parser.add_argument("--max-images", type=int, default=None,
                        help="images for the parity gates (anomaly: validation normals, topped up with training "
                             "normals where fewer, each with a synthetic-defect copy; default 128, other tasks 16)")
    parser.add_argument("--int8-label-agreement", type=float, default=1.0,
                        help="int8 gate: smallest accepted fraction of labels identical to PyTorch")
    parser.add_argument("--int8-auroc-drop", type=float, default=0.005,
                        help="int8 gate: largest accepted image-AUROC drop vs PyTorch")
    parser.add_argument("--int8-label-margin", type=float, default=0.01,
                        help="int8 gate: images whose PyTorch score is within this of the threshold (normalised "
                             "score 0.5) are reported, not gated")
    parser.add_argument("--timing-cache", default=None,
                        help="TensorRT timing-cache file, read when present and updated after a build (recorded in "
                             "the manifest's engine entry); default WORK_DIR/tensorrt_timing.cache, 'none' to skip")
    parser.add_argument("--quiet", action="store_true", help="only print errors and the summary")
    return parser.parse_args(argv)


def summary(manifest: dict, work_dir: str) -> str:
    """A short human-readable report of what was written."""
    lines = [f"bundle: {work_dir}",
             f"  onnx: {manifest['onnx']['file']} ({manifest['onnx']['precision']}, opset {manifest['onnx']['opset']},"
             f" {manifest['onnx']['exporter']} exporter, sha256 {manifest['onnx']['sha256'][:12]}...)",
             f"  mode: {manifest['mode']}; classes: {', '.join(manifest['model']['classes']) or '-'}",
             "  inputs: " + ", ".join(f"{e['name']} {e['dtype']}{e['shape']}" for e in manifest["inputs"]),
             "  outputs: " + ", ".join(f"{e['name']} {e['dtype']}{e['shape']}" for e in manifest["outputs"])]
    parity = manifest.get("parity", {})
    for key, value in ([("fp32", parity["fp32"]), ("int8", parity["int8"])] if "int8" in parity
                       else [("fp32", parity)]):
        lines.append(f"  parity {key}: " + json.dumps({k: v for k, v in value.items() if k != "eval_set"}))
    engine = manifest.get("engine")
    lines.append(f"  engine: {engine['file'] if engine else 'none'} ({manifest.get('engine_note')})")
    sealed = manifest.get("manifest_sha256", "")
    lines.append(f"  sealed: manifest_sha256 {sealed[:12]}... (edit on purpose? re-seal: python -m "
                 "gen3d.runtime.reseal " + work_dir + ")")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s")
    from mmengine.config import Config

    from gen3d.deploy.bundle import build_bundle
    from gen3d.deploy.onnx_export import ExportError
    from gen3d.deploy.parity import ParityError
    from gen3d.utils import CorruptCheckpointError, UnsafeCheckpointError

    try:
        deploy_cfg = Config.fromfile(args.deploy_config)
        if deploy_cfg.backend_config.get("type") == "tensorrt" and (args.timing_cache or "").lower() != "none":
            deploy_cfg.backend_config.timing_cache = osp.abspath(
                args.timing_cache or osp.join(args.work_dir, "tensorrt_timing.cache"))
        manifest = build_bundle(deploy_cfg, None if args.model_config == "-" else args.model_config,
                                args.checkpoint, args.work_dir, data_root=args.data_root, max_images=args.max_images,
                                int8_label_agreement=args.int8_label_agreement,
                                int8_auroc_drop=args.int8_auroc_drop, int8_label_margin=args.int8_label_margin)
    except ParityError as err:
        sys.exit(f"parity gate failed: {err}")
    except (ExportError, FileNotFoundError, ValueError, UnsafeCheckpointError, CorruptCheckpointError) as err:
        sys.exit(f"error: {err}")
    print(summary(manifest, args.work_dir))


if __name__ == "__main__":
    main()
