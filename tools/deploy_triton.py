"""Write a Triton Inference Server model repository from a gen3d bundle (``tools/deploy.py`` output).

``python tools/deploy_triton.py BUNDLE_DIR --repo DIR [--name N] [--backend onnxruntime|tensorrt] [--max-batch N]
[--instances N --kind auto|cpu|gpu] [--preferred-batch 4 8] [--max-queue-delay-us N] [--defaults input|embed]
[--overwrite]``

Writes ``DIR/N/config.pbtxt`` and ``DIR/N/1/model.onnx`` (or ``model.plan``), plus ``labels.txt`` for segmentation
bundles with class names; see :mod:`gen3d.deploy.triton` and deploy/README.md ("Triton Inference Server").
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Write a Triton model repository from a gen3d bundle")
    parser.add_argument("bundle", help="bundle folder (manifest.json + model.onnx [+ engine])")
    parser.add_argument("--repo", required=True, help="model repository folder (new or empty, or see --overwrite)")
    parser.add_argument("--name", help="model name = folder name (default: the bundle folder's name)")
    parser.add_argument("--backend", choices=["onnxruntime", "tensorrt"], default="onnxruntime",
                        help="onnxruntime (model.onnx) or tensorrt (the bundle's engine as model.plan)")
    parser.add_argument("--max-batch", type=int, default=None,
                        help="max_batch_size (default: 8, the engine's profile max for tensorrt, or 0 where the "
                             "graph has tensors without a batch axis)")
    parser.add_argument("--instances", type=int, default=1, help="instance_group count")
    parser.add_argument("--kind", choices=["auto", "cpu", "gpu"], default="auto",
                        help="instance_group kind (tensorrt: gpu)")
    parser.add_argument("--preferred-batch", type=int, nargs="+", default=[],
                        help="dynamic_batching preferred_batch_size values")
    parser.add_argument("--max-queue-delay-us", type=int, default=0,
                        help="dynamic_batching max_queue_delay_microseconds (Triton's default: 0)")
    parser.add_argument("--defaults", choices=["input", "embed"], default="input",
                        help="inputs with manifest defaults (thresholds, truncation_psi): 'input' = required "
                             "inputs, model copied byte for byte; 'embed' = a model copy holding the defaults as "
                             "initializers (optional inputs with --max-batch 0, fixed and batchable otherwise)")
    parser.add_argument("--int8-kernels", choices=["auto", "exact", "fused"], default="auto",
                        help="int8 Q/DQ on the onnxruntime backend: exact = Q/DQ as written (graph level -1), "
                             "fused = int8 kernels (wrong for full-range weights on x86 without VNNI); auto: exact "
                             "for full-range weights")
    parser.add_argument("--overwrite", action="store_true", help="replace NAME/ in a repository that is not empty")
    parser.add_argument("--allow-modified-bundle", action="store_true",
                        help="use a bundle that fails hash verification (with a warning)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gen3d.deploy.triton import TritonOptions, write_triton_repo
    from gen3d.runtime.manifest import ManifestError

    opts = TritonOptions(name=args.name, backend=args.backend, max_batch=args.max_batch, instances=args.instances,
                         kind=args.kind, preferred_batch=tuple(args.preferred_batch),
                         max_queue_delay_us=args.max_queue_delay_us, defaults=args.defaults,
                         int8_kernels=args.int8_kernels, overwrite=args.overwrite)
    try:
        result = write_triton_repo(args.bundle, args.repo, opts, verify_hashes=not args.allow_modified_bundle)
    except (ValueError, ManifestError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cfg = result["config"]
    print(f"model: {result['model_dir']} ({cfg['platform']}, max_batch_size {cfg['max_batch_size']})")
    print("  files: " + ", ".join(result["files"]))
    print("  inputs: " + ", ".join(f"{t['name']} {t['data_type']}{t['dims']}" + (" optional" if t.get("optional")
                                                                              else "") for t in cfg["input"]))
    print("  outputs: " + ", ".join(f"{t['name']} {t['data_type']}{t['dims']}" for t in cfg["output"]))
    for note in result["notes"]:
        print(f"  note: {note}")
    print(f"serve: tritonserver --model-repository={osp.abspath(args.repo)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
